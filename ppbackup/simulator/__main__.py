"""`python -m ppbackup.simulator [--port N] [--state FILE] [--speed X] [--seed N]`.

The same as `ppbackup simulator`; handy before the CLI is wired and for the client's own tests.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from ppbackup.simulator.options import SimOptions
from ppbackup.simulator.server import DEFAULT_PORT, serve


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m ppbackup.simulator", description=__doc__)
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help="0 = any free port")
    parser.add_argument("--state", type=Path, default=None, help="load from / save to this file")
    parser.add_argument("--speed", type=float, default=1.0,
                        help="simulated seconds per real second (3600: an hour a second)")
    parser.add_argument("--seed", type=int, default=None, help="fault RNG seed")
    parser.add_argument("--rows", type=int, default=SimOptions().dataverse_rows,
                        help="seeded rows per Dataverse data table of each environment")
    parser.add_argument("--verbose", action="store_true", help="log every request")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO)
    serve(args.port, args.state, args.speed, seed=args.seed,
          options=SimOptions(dataverse_rows=args.rows))


if __name__ == "__main__":
    main()
