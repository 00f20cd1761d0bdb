"""The simulator behind the socket: request pipeline plus the helpers tests drive it with.

Every API request goes through

    latency -> token bucket (429) -> random 429 -> injected 5xx -> route -> maybe drop

and is counted. Faults that refuse a request (429, 5xx) act *before* the route runs, so nothing
happened on the platform; a dropped response acts *after*, so the action happened but the client
never hears of it (the "outcome unknown" case the client must reconcile). Control requests
(`/_sim/...`) skip the pipeline and the counters.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import Any, Unpack

from ppbackup.simulator import persistence, seed, wire
from ppbackup.simulator._config import apply_changes, as_json
from ppbackup.simulator.api import PlatformApi
from ppbackup.simulator.clock import SimClock
from ppbackup.simulator.control import CONTROL_PREFIX, handle_control
from ppbackup.simulator.dataverse import control as dataverse_control
from ppbackup.simulator.dataverse.api import DataverseApi, is_dataverse_path
from ppbackup.simulator.dataverse.api import route_name as dataverse_route_name
from ppbackup.simulator.errors import SimError
from ppbackup.simulator.faults import FaultInjector
from ppbackup.simulator.messages import Request, Response
from ppbackup.simulator.model import SKU_SANDBOX
from ppbackup.simulator.options import SimOptions
from ppbackup.simulator.state import EnvironmentDetails, SimState
from ppbackup.simulator.stats import Stats
from ppbackup.simulator.throttle import TokenBucket

logger = logging.getLogger(__name__)


def is_control(path: str) -> bool:
    return path == CONTROL_PREFIX or path.startswith(CONTROL_PREFIX + "/")


def _injected_error(status: int, path: str) -> SimError:
    """An injected error whose body looks like the platform's for the statuses the client
    treats specially (wire contract, "Errors"); a generic code otherwise."""
    if status == 401:
        return SimError(401, "InvalidAuthenticationToken", "The access token is invalid.")
    if status == 403:
        # The text the client recognises as "not registered as a management application".
        return SimError(
            403, "Forbidden",
            f"The service principal does not have permission to access the path '{path}'.",
        )
    return SimError(status, "SimulatedFault", f"Injected HTTP {status}.")


class SimulatorApp:
    """State, faults, throttle, stats and routing, without a socket."""

    def __init__(
        self,
        *,
        clock: SimClock | None = None,
        options: SimOptions | None = None,
        seed: int | None = None,
    ) -> None:
        self.clock = clock or SimClock()
        self.initial_options = replace(options) if options is not None else SimOptions()
        self.initial_options.validate()
        self.options = replace(self.initial_options)
        self.seed = seed
        self.faults = FaultInjector(seed)
        self.state = SimState(
            self.clock, self.options, failure_hook=self.faults.should_fail_operation
        )
        self.counters = Stats()
        self.base_url = "http://127.0.0.1"
        self.api = PlatformApi(self.state, self.faults, lambda: self.base_url)
        self.dataverse = DataverseApi(self.state, lambda: self.base_url)
        self.state.restore_hook = self.dataverse.on_restore
        self._bucket_lock = threading.Lock()
        self._bucket: TokenBucket | None = None
        self._bucket_key: tuple[float, int] | None = None

    # ------------------------------------------------------------------ pipeline

    def handle(self, request: Request) -> Response | None:
        """Answer a request; None means "close the connection without answering"."""
        response: Response | None
        if is_control(request.path):
            response = handle_control(self, request)
        else:
            response = self._handle_api(request)
        if response is not None:
            response.headers["x-ms-request-id"] = str(uuid.uuid4())
        return response

    def _handle_api(self, request: Request) -> Response | None:
        if is_dataverse_path(request.path):
            return self._pipeline(request, dataverse_route_name(request),
                                  self.dataverse.error_response, self.dataverse.handle)
        resolved = self.api.resolve(request)
        return self._pipeline(
            request, resolved.name,
            lambda error: self.api.error_response(error, resolved.dialect),
            lambda req: self.api.dispatch(req, resolved),
        )

    def _pipeline(
        self,
        request: Request,
        name: str,
        render_error: Callable[[SimError], Response],
        dispatch: Callable[[Request], Response],
    ) -> Response | None:
        delay = self.faults.latency_seconds()
        if delay > 0:
            time.sleep(delay)
        response = self._refusal(request, render_error)
        if response is None:
            try:
                response = dispatch(request)
            except Exception:
                logger.exception("simulator.handler_failed %s %s", request.method, request.path)
                response = render_error(
                    SimError(500, "InternalServerError", "The simulator failed unexpectedly.")
                )
            if self.faults.should_drop(request.method, request.path):
                self.counters.record(name, None)
                return None
        self.counters.record(name, response.status)
        return response

    def _refusal(
        self, request: Request, render_error: Callable[[SimError], Response]
    ) -> Response | None:
        """A 429 or injected error answered before the platform does anything, or None."""
        bucket = self._current_bucket()
        wait = bucket.try_acquire() if bucket is not None else None
        if wait is None:
            wait = self.faults.random_throttle()
        if wait is not None:
            response = render_error(
                SimError(429, "TooManyRequests", "Rate limit exceeded; retry later.")
            )
            response.headers["Retry-After"] = str(wait)
            return response
        status = self.faults.error_status(request.method, request.path)
        if status is not None:
            return render_error(_injected_error(status, request.path))
        return None

    def _current_bucket(self) -> TokenBucket | None:
        rate, burst = self.options.throttle_rate, self.options.throttle_burst
        with self._bucket_lock:
            if rate is None:
                self._bucket, self._bucket_key = None, None
            elif self._bucket_key != (rate, burst):
                self._bucket, self._bucket_key = TokenBucket(rate, burst), (rate, burst)
            return self._bucket

    # ------------------------------------------------------------------ tenant helpers

    def add_environment(
        self, display_name: str, *, type: str = SKU_SANDBOX, **details: Unpack[EnvironmentDetails]
    ) -> str:
        """Add an environment (`SimState.add_environment`); returns its id (`Default-<tenant>` for
        the default one)."""
        return self.state.add_environment(display_name, sku=type, **details).id

    def seed_default(self) -> dict[str, str]:
        return seed.default_seed(self.state)

    def seed_many(
        self, count: int, *, type: str = "Production",
        location: str = "unitedstates", managed: bool = False, prefix: str = "Bench",
    ) -> list[str]:
        return seed.seed_many(self.state, count, type=type, location=location, managed=managed,
                              prefix=prefix)

    def set_content(self, env_id: str, marker: str) -> None:
        """Change an environment's data now (a later restore of an earlier point undoes it)."""
        self.state.set_content(env_id, marker)

    def content(self, env_id: str) -> str:
        return self.state.environment(env_id).current_content.marker

    # ------------------------------------------------------------------ Dataverse

    def dataverse_url(self, env_id: str) -> str:
        """The environment's Dataverse `instanceApiUrl` (Web API root: + /api/data/v9.2/)."""
        return self.dataverse.org_url(env_id)

    def dataverse_writes(self, env_id: str) -> list[dict[str, Any]]:
        """What clients wrote through the Web API (create/update/delete), oldest first."""
        return dataverse_control.writes(self.dataverse.org(env_id))

    def dataverse_change(
        self, env_id: str, table: str, action: str, row_id: str | None = None,
        values: dict[str, Any] | None = None,
    ) -> str:
        """A user changes a row (not in the write log; change tracking sees it). Returns its id."""
        return dataverse_control.change_row(
            self.dataverse.org(env_id), table, action, row_id, values or {}, self.now())

    def dataverse_add_column(self, env_id: str, table: str, name: str, type: str) -> None:
        dataverse_control.add_column(self.dataverse.org(env_id), table, name, type)

    def dataverse_remove_column(self, env_id: str, table: str, name: str) -> None:
        dataverse_control.remove_column(self.dataverse.org(env_id), table, name)

    def dataverse_expire_tokens(self, env_id: str) -> None:
        dataverse_control.expire_tokens(self.dataverse.org(env_id))

    def dataverse_invalidate_tokens(self, env_id: str) -> None:
        """Every delta link handed out so far answers 400 "The $deltatoken value is not valid.":
        what a restore or a copy into the environment leaves (a new database)."""
        dataverse_control.invalidate_tokens(self.dataverse.org(env_id))

    def dataverse_revoke(self, env_id: str, table: str, privilege: str = "Read", *,
                         revoked: bool = True) -> None:
        """Take `privilege` on `table` from the app user (403 PrivilegeDenied) or give it back."""
        dataverse_control.set_privilege(self.dataverse.org(env_id), table, privilege, revoked)

    def dataverse_recycle_bin(self, env_id: str, enabled: bool = True) -> None:
        """Keep deleted rows in the environment's recycle bin (off by default) or stop."""
        dataverse_control.set_recycle_bin(self.dataverse.org(env_id), enabled)

    def environment(self, env_id: str) -> dict[str, Any]:
        """The environment as BAP GET shows it."""
        return self.api.environment_json(self.state.environment(env_id))

    def add_backup(self, env_id: str, label: str, *, point: datetime | None = None) -> str:
        """Create a backup as the API would, optionally back-dated to `point`; returns its id."""
        return self.state.create_backup(env_id, label, point=point).id

    def backups(self, env_id: str) -> list[dict[str, Any]]:
        """Unexpired backups of `env_id`, newest first, in the PP API shape."""
        return [wire.backup_json(b, self.state.tenant_id) for b in self.state.list_backups(env_id)]

    def operations(
        self, env_id: str | None = None, *, kind: str | None = None
    ) -> list[dict[str, Any]]:
        """Operations newest first, PP API shape plus `environmentId` and BAP `state`."""
        with self.state.lock:
            now = self.state.settle()
            out = []
            for op in self.state.list_operations(env_id):
                if kind is not None and op.kind.value != kind:
                    continue
                target = self.state.environments.get(op.environment_id)
                body = wire.pp_operation(op, now, self.state.tenant_id, target)
                body.update(environmentId=op.environment_id, state=op.state_at(now).value,
                            params=op.params)
                out.append(body)
            return out

    # ------------------------------------------------------------------ knobs

    def set_faults(self, **changes: Any) -> dict[str, Any]:
        """Change fault switches (see `Faults`); `seed=` reseeds the RNG. Returns all switches."""
        self.faults.set(**changes)
        return self.faults.snapshot()

    def clear_faults(self) -> None:
        self.faults.clear()

    def set_options(self, **changes: Any) -> dict[str, Any]:
        """Change behaviour options (see `SimOptions`) at runtime. Returns all options."""
        with self.state.lock:
            apply_changes(self.options, changes)
            return as_json(self.options)

    def set_throttle(self, rate: float | None, burst: int | None = None) -> None:
        """Token bucket: `rate` requests per real second (None = off), `burst` stored."""
        changes: dict[str, Any] = {"throttle_rate": rate}
        if burst is not None:
            changes["throttle_burst"] = burst
        self.set_options(**changes)

    def now(self) -> datetime:
        return self.state.now()

    def advance(self, seconds: float) -> datetime:
        """Move simulated time forward; operations due by then finish. Returns the new now."""
        self.clock.advance(seconds)
        return self.state.now()

    def set_speed(self, speed: float) -> None:
        self.clock.set_speed(speed)

    def stats(self) -> dict[str, Any]:
        """Counters since start/reset: per endpoint and status, 429s, 5xx, drops, concurrency."""
        return self.counters.snapshot()

    def reset_stats(self) -> None:
        self.counters.reset()

    def reset(self, *, populate: bool = True) -> None:
        """Back to the start: empty (or default-seeded) tenant, no faults, initial options,
        zeroed counters. The clock keeps running (simulated time never goes back)."""
        with self.state.lock:
            self.state.clear()
            apply_changes(self.options, as_json(self.initial_options))
            self.faults.clear()
            self.faults.reseed(self.seed)
            self.counters.reset()
            self.dataverse.reset()
            if populate:
                self.seed_default()

    def snapshot(self) -> dict[str, Any]:
        return {
            "now": wire.fmt_time(self.now()),
            "speed": self.clock.speed,
            "url": self.base_url,
            "options": as_json(self.options),
            "faults": self.faults.snapshot(),
            "state": persistence.dump_state(self.state),
        }

    def save_state(self, path: Path) -> None:
        persistence.save_state(self.state, path, {"dataverse": self.dataverse.dump()})

    def load_state(self, path: Path) -> None:
        saved = persistence.load_state(self.state, path)
        self.dataverse.load(saved.get("dataverse", []))
