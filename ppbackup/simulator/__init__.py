"""Local Power Platform simulator: the BAP admin API and PP API subset the app calls, with the
platform's rules, simulated time, throttling and fault injection (docs/platform-wire.md)."""

from __future__ import annotations

from ppbackup.simulator.app import SimulatorApp
from ppbackup.simulator.clock import SimClock
from ppbackup.simulator.faults import Faults
from ppbackup.simulator.model import OperationKind
from ppbackup.simulator.options import SimOptions
from ppbackup.simulator.persistence import load_state, save_state
from ppbackup.simulator.seed import default_seed, seed_many
from ppbackup.simulator.server import (
    DEFAULT_PORT,
    Simulator,
    check_loopback,
    run_simulator,
    serve,
)
from ppbackup.simulator.state import SimState

__all__ = [
    "DEFAULT_PORT",
    "Faults",
    "OperationKind",
    "SimClock",
    "SimOptions",
    "SimState",
    "Simulator",
    "SimulatorApp",
    "check_loopback",
    "default_seed",
    "load_state",
    "run_simulator",
    "save_state",
    "seed_many",
    "serve",
]
