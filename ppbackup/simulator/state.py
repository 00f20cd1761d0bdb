"""The simulated tenant and its rules (wire contract, "Platform rules the simulator enforces").

`SimState` is the only mutable model. One re-entrant lock guards it: every public method takes
the lock, first settles operations that have ended by the simulated clock (applying their effects
in end-time order), then reads or changes. The lock is coarse on purpose: every call is
microseconds of dictionary work, and a single lock makes rules such as "one lifecycle operation
per environment" trivially race-free under dozens of concurrent HTTP workers.
"""

from __future__ import annotations

import itertools
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, TypedDict

from ppbackup.simulator import rules
from ppbackup.simulator.clock import SimClock
from ppbackup.simulator.errors import SimError, bad_request, busy, not_found
from ppbackup.simulator.geo import default_region, slug
from ppbackup.simulator.model import (
    KNOWN_SKUS,
    LIFECYCLE_KINDS,
    RUN_STAGE,
    SKU_DEFAULT,
    SKU_PRODUCTION,
    SKU_SANDBOX,
    STAGE_WEIGHTS,
    Backup,
    Environment,
    Operation,
    OperationKind,
)
from ppbackup.simulator.options import SimOptions

DEFAULT_TENANT_ID = "4a1d7e6c-2b3f-4c5d-8e9f-0a1b2c3d4e5f"
_SYSTEM_BACKUPS = uuid.UUID("0f4c2b1e-9d7a-4e3b-8c6f-5a2d1e0b9c8d")  # namespace of their ids
# Seeded/added environments exist "since long ago" so that restore points a few days back are
# inside the window unless retention rules say otherwise.
DEFAULT_ENVIRONMENT_AGE = timedelta(days=120)

FailureHook = Callable[[OperationKind, str], bool]
RestoreHook = Callable[[str, str, datetime], None]
"""(source id, target id, restore point): an environment restore finished; the Dataverse data
follows it (`DataverseApi.on_restore`)."""


def _raise(problem: SimError | None) -> None:
    if problem is not None:
        raise problem


@dataclass(frozen=True, slots=True)
class RestoreRequest:
    """A parsed PP API restore body."""

    source_environment_id: str
    restore_point: datetime
    skip_audit_data: bool = False
    environment_name_to_override: str | None = None
    security_group_id_to_override: str | None = None


class EnvironmentDetails(TypedDict, total=False):
    """The optional details of a new environment, as `SimState.add_environment` takes them."""

    location: str
    azure_region: str | None
    managed: bool
    is_default: bool
    env_id: str | None
    content: str | None


class SimState:
    """Environments, backups and lifecycle operations of one simulated tenant."""

    def __init__(
        self,
        clock: SimClock,
        options: SimOptions | None = None,
        *,
        tenant_id: str = DEFAULT_TENANT_ID,
        failure_hook: FailureHook | None = None,
    ) -> None:
        self.clock = clock
        self.options = options or SimOptions()
        self.tenant_id = tenant_id
        self.failure_hook = failure_hook
        self.restore_hook: RestoreHook | None = None
        self.lock = threading.RLock()
        self.environments: dict[str, Environment] = {}
        self.backups: dict[str, Backup] = {}
        self.operations: dict[str, Operation] = {}
        self._active: dict[str, str] = {}  # environment id -> running lifecycle operation id
        self._seq = itertools.count(1)

    # ------------------------------------------------------------------ housekeeping

    def next_seq(self) -> int:
        return next(self._seq)

    def restart_sequence(self, after: int) -> None:
        self._seq = itertools.count(after + 1)

    def clear(self) -> None:
        with self.lock:
            self.environments.clear()
            self.backups.clear()
            self.operations.clear()
            self._active.clear()

    def now(self) -> datetime:
        with self.lock:
            return self.settle()

    def settle(self) -> datetime:
        """Apply every operation that has released by now, oldest first; return now."""
        with self.lock:
            now = self.clock.now()
            due = [
                self.operations[op_id]
                for op_id in self._active.values()
                if self.operations[op_id].releases_at <= now
            ]
            for op in sorted(due, key=lambda o: o.releases_at):
                self._finish(op)
            return now

    def reindex_active(self) -> None:
        """Rebuild the environment locks from the operations (after loading a saved state)."""
        with self.lock:
            self._active = {
                op.environment_id: op.id
                for op in sorted(self.operations.values(), key=lambda o: o.seq)
                if op.kind in LIFECYCLE_KINDS and not op.applied
            }

    # ------------------------------------------------------------------ environments

    def add_environment(
        self,
        display_name: str,
        *,
        sku: str = SKU_SANDBOX,
        location: str = "unitedstates",
        azure_region: str | None = None,
        managed: bool = False,
        is_default: bool = False,
        env_id: str | None = None,
        content: str | None = None,
        created_at: datetime | None = None,
    ) -> Environment:
        if sku not in KNOWN_SKUS:
            raise ValueError(f"unknown environment type {sku!r}; expected one of {KNOWN_SKUS}")
        with self.lock:
            now = self.settle()
            if is_default or sku == SKU_DEFAULT:
                is_default, sku = True, SKU_DEFAULT
                if any(e.is_default for e in self.environments.values()):
                    raise ValueError("the tenant already has a default environment")
                env_id = env_id or f"Default-{self.tenant_id}"
            env_id = env_id or str(uuid.uuid4())
            if env_id in self.environments:
                raise ValueError(f"environment {env_id} already exists")
            created = created_at or now - DEFAULT_ENVIRONMENT_AGE
            domain = slug(display_name)
            if any(e.domain_name == domain for e in self.environments.values()):
                domain = f"{domain}{env_id.replace('-', '')[:6].lower()}"
            env = Environment(
                id=env_id,
                display_name=display_name,
                sku=sku,
                location=location,
                azure_region=azure_region or default_region(location),
                managed=managed,
                is_default=is_default,
                created_at=created,
                seq=self.next_seq(),
                domain_name=domain,
            )
            env.record_content(created, content or f"{display_name} data v1")
            self.environments[env_id] = env
            return env

    def environment(self, env_id: str) -> Environment:
        with self.lock:
            self.settle()
            env = self.environments.get(env_id)
            if env is None:
                raise not_found("Environment", env_id)
            return env

    def list_environments(self) -> list[Environment]:
        with self.lock:
            self.settle()
            return sorted(self.environments.values(), key=lambda e: e.seq)

    def set_content(self, env_id: str, marker: str) -> None:
        """Simulate users changing the environment's data (what a later restore must bring back)."""
        with self.lock:
            env = self.environment(env_id)
            env.record_content(self.clock.now(), marker)

    def active_operation(self, env_id: str) -> Operation | None:
        with self.lock:
            self.settle()
            op_id = self._active.get(env_id)
            return self.operations[op_id] if op_id else None

    def retention_days(self, env: Environment) -> int:
        if env.sku == SKU_PRODUCTION:
            return self.options.production_retention_days
        return self.options.sandbox_retention_days

    def restorable_from(self, env: Environment, now: datetime) -> datetime:
        """Earliest point of `env` that can still be restored."""
        earliest = max(now - timedelta(days=self.retention_days(env)), env.created_at)
        if env.retention_floor is not None:
            earliest = max(earliest, env.retention_floor)
        return earliest

    def restore_candidates(self, source_id: str) -> list[Environment]:
        """Valid restore targets for `source_id` (the rules `validate_restore` enforces)."""
        with self.lock:
            source = self.environment(source_id)
            itself = self.options.restore_candidates_include_source
            return [
                env for env in self.list_environments()
                if rules.restore_target_problem(env, source) is None
                and (itself or env.id != source.id)
            ]

    # ------------------------------------------------------------------ backups

    def list_backups(self, env_id: str) -> list[Backup]:
        """Unexpired backups of `env_id`, manual (and system, if on), newest point first;
        expired manual ones are dropped for good."""
        with self.lock:
            now = self.settle()
            env = self.environment(env_id)
            self._purge_expired(now)
            found = [b for b in self.backups.values() if b.environment_id == env_id]
            found += self.system_backups(env, now)
            return sorted(found, key=lambda b: b.list_key, reverse=True)

    def system_backups(self, env: Environment, now: datetime) -> list[Backup]:
        """The platform's own backups: one a day over the retention window (reference §3.2:
        system backups are listed beside manual ones; `createdBy.type` tells them apart).

        Derived, not stored: each day's backup is at a fixed time of day per environment, its
        id is stable (uuid5 of environment and day), and it exists from the earliest restorable
        point (retention, environment creation, a Production -> Sandbox cut) up to now.
        """
        if not self.options.system_backups or env.is_default:
            return []
        earliest = self.restorable_from(env, now)
        offset = timedelta(minutes=uuid.uuid5(_SYSTEM_BACKUPS, env.id).int % 240)
        keep = timedelta(days=self.retention_days(env))
        # A Production -> Sandbox switch cut what existed then to 7 days, as for manual backups
        # (`_cut_retention`); switching back does not give it back.
        sandbox_keep = timedelta(days=self.options.sandbox_retention_days)
        cut_at = env.retention_floor + sandbox_keep if env.retention_floor else None
        day = datetime.combine(earliest.date(), datetime.min.time(), tzinfo=earliest.tzinfo)
        found: list[Backup] = []
        while day + offset <= now:
            point = day + offset
            cut = cut_at is not None and point < cut_at
            expiry = point + (min(keep, sandbox_keep) if cut else keep)
            if point >= earliest and expiry > now:
                found.append(Backup(
                    id=str(uuid.uuid5(_SYSTEM_BACKUPS, f"{env.id}/{day.date().isoformat()}")),
                    environment_id=env.id, label="", point=point, expiry=expiry, seq=0,
                    system=True,
                ))
            day += timedelta(days=1)
        return found

    def _purge_expired(self, now: datetime) -> None:
        for backup_id in [b.id for b in self.backups.values() if b.expiry <= now]:
            del self.backups[backup_id]

    def create_backup(self, env_id: str, label: str, *, point: datetime | None = None) -> Backup:
        """A manual backup: a label on a point in time (reference §3.2).

        `point` lets a test back-date a backup; the API always uses now.
        """
        with self.lock:
            now = self.settle()
            env = self.environment(env_id)
            _raise(rules.backup_problem(env))
            if env_id in self._active:
                raise busy(env_id)
            point = point or now
            backup = Backup(
                id=str(uuid.uuid4()),
                environment_id=env_id,
                label=label,
                point=point,
                expiry=point + timedelta(days=self.retention_days(env)),
                seq=self.next_seq(),
            )
            self.backups[backup.id] = backup
            self._record_instant_operation(
                env_id, OperationKind.BACKUP, now, {"backupId": backup.id}
            )
            return backup

    def delete_backup(self, env_id: str, backup_id: str) -> None:
        with self.lock:
            now = self.settle()
            self.environment(env_id)
            self._purge_expired(now)
            backup = self.backups.get(backup_id)
            if backup is None or backup.environment_id != env_id:
                env = self.environment(env_id)
                if any(b.id == backup_id for b in self.system_backups(env, now)):
                    _raise(rules.system_backup_delete_problem())
                raise not_found("Backup", backup_id)
            del self.backups[backup_id]

    # ------------------------------------------------------------------ operations

    def operation(self, op_id: str) -> Operation:
        with self.lock:
            self.settle()
            op = self.operations.get(op_id)
            if op is None:
                raise not_found("Operation", op_id)
            return op

    def list_operations(self, env_id: str | None = None) -> list[Operation]:
        """Operations, newest first, optionally of one environment."""
        with self.lock:
            self.settle()
            if env_id is not None:
                self.environment(env_id)
            ops = [o for o in self.operations.values() if env_id in (None, o.environment_id)]
            return sorted(ops, key=lambda o: o.seq, reverse=True)

    def _record_instant_operation(
        self, env_id: str, kind: OperationKind, now: datetime, params: dict[str, Any]
    ) -> None:
        op = Operation(
            id=str(uuid.uuid4()), kind=kind, environment_id=env_id, created_at=now,
            seq=self.next_seq(), params=params, applied=True,
        )
        self.operations[op.id] = op

    def _start(
        self,
        env_id: str,
        kind: OperationKind,
        duration: float,
        params: dict[str, Any],
        created_monotonic: float | None,
    ) -> Operation:
        now = self.clock.now()
        fail = self.failure_hook is not None and self.failure_hook(kind, env_id)
        op = Operation(
            id=str(uuid.uuid4()),
            kind=kind,
            environment_id=env_id,
            created_at=now,
            seq=self.next_seq(),
            queued_seconds=self.options.queued_seconds,
            stage_seconds=tuple(duration * w for w in STAGE_WEIGHTS),
            fail_stage=RUN_STAGE if fail else None,
            error_code=f"{kind.value}Failed" if fail else None,
            error_message=f"The {kind.value} operation failed (simulated fault)." if fail else None,
            settle_lag_seconds=self.options.settle_lag_seconds,
            params=params,
            created_monotonic=created_monotonic,
        )
        self.operations[op.id] = op
        self._active[env_id] = op.id
        return op

    def _finish(self, op: Operation) -> None:
        env = self.environments[op.environment_id]
        if not op.will_fail:
            if op.kind is OperationKind.RESTORE:
                self._apply_restore(env, op)
            elif op.kind is OperationKind.MODIFY_SKU:
                self._apply_sku(env, str(op.params["environmentSku"]), op.ends_at)
            elif op.kind is OperationKind.RUNTIME_STATE:
                runtime = op.params.get("runtimeState")
                background = op.params.get("backgroundOperationsState")
                if runtime:
                    env.runtime_state = str(runtime)
                if background:
                    env.background_operations = str(background)
        op.applied = True
        if self._active.get(op.environment_id) == op.id:
            del self._active[op.environment_id]

    # ------------------------------------------------------------------ restore

    def validate_restore(self, target_id: str, request: RestoreRequest) -> None:
        """Every platform rule of a restore; raises the first one broken (400) or 404."""
        with self.lock:
            now = self.settle()
            target = self.environment(target_id)
            source = self.environments.get(request.source_environment_id)
            if source is None:
                raise bad_request(
                    "SourceEnvironmentNotFound",
                    f"Source environment '{request.source_environment_id}' was not found.",
                    "sourceEnvironmentId",
                )
            _raise(rules.restore_target_problem(target, source))
            _raise(rules.restore_point_problem(
                request.restore_point, now=now,
                settle_seconds=self.options.backup_settle_seconds,
                restorable_from=self.restorable_from(source, now),
            ))

    def start_restore(
        self, target_id: str, request: RestoreRequest, *, created_monotonic: float | None = None
    ) -> Operation:
        with self.lock:
            self.validate_restore(target_id, request)
            if target_id in self._active:
                raise busy(target_id)
            params: dict[str, Any] = {
                "sourceEnvironmentId": request.source_environment_id,
                "restorePointDateTime": request.restore_point.isoformat(),
                "skipAuditData": request.skip_audit_data,
                "environmentNameToOverride": request.environment_name_to_override,
                "securityGroupIdToOverride": request.security_group_id_to_override,
            }
            return self._start(
                target_id, OperationKind.RESTORE, self.options.restore_seconds, params,
                created_monotonic,
            )

    def _apply_restore(self, target: Environment, op: Operation) -> None:
        source = self.environments[str(op.params["sourceEnvironmentId"])]
        point = datetime.fromisoformat(str(op.params["restorePointDateTime"]))
        data = source.content_at(point)
        if data is not None:
            target.record_content(op.ends_at, data.marker)
        if self.restore_hook is not None:
            self.restore_hook(source.id, target.id, point)
        # "The newly restored environment is placed in administration mode" (reference §3.3).
        target.runtime_state = "AdminMode"
        target.background_operations = "Disabled"
        if op.params.get("environmentNameToOverride"):
            target.display_name = str(op.params["environmentNameToOverride"])
        if op.params.get("securityGroupIdToOverride"):
            target.security_group_id = str(op.params["securityGroupIdToOverride"])
        window = self.options.admin_mode_forbidden_seconds
        if window > 0:
            target.admin_forbidden_until = op.ends_at + timedelta(seconds=window)

    # ------------------------------------------------------------------ type change

    def start_modify_sku(
        self, env_id: str, sku: str, *, created_monotonic: float | None = None
    ) -> Operation:
        with self.lock:
            env = self.environment(env_id)
            _raise(rules.modify_sku_problem(env, sku))
            if env_id in self._active:
                raise busy(env_id)
            # After the busy check: a blind re-send during the switch is a 409, not a 400.
            _raise(rules.sku_unchanged_problem(env, sku))
            return self._start(
                env_id, OperationKind.MODIFY_SKU, self.options.modify_sku_seconds,
                {"environmentSku": sku, "previousSku": env.sku}, created_monotonic,
            )

    def _apply_sku(self, env: Environment, sku: str, at: datetime) -> None:
        was_production = env.sku == SKU_PRODUCTION
        env.sku = sku
        if was_production and sku != SKU_PRODUCTION:
            self.cut_retention(env, at)

    def cut_retention(self, env: Environment, at: datetime) -> None:
        """Production -> Sandbox: every backup now expires 7 days after its point, at once."""
        keep = timedelta(days=self.options.sandbox_retention_days)
        for backup in [b for b in self.backups.values() if b.environment_id == env.id]:
            backup.expiry = min(backup.expiry, backup.point + keep)
            if backup.expiry <= at:
                del self.backups[backup.id]
        floor = at - keep
        env.retention_floor = max(env.retention_floor or floor, floor)

    # ------------------------------------------------------------------ runtime state

    def start_runtime_change(
        self,
        env_id: str,
        *,
        runtime_state: str | None,
        background_operations: str | None,
        created_monotonic: float | None = None,
    ) -> Operation:
        with self.lock:
            now = self.settle()
            env = self.environment(env_id)
            _raise(rules.admin_mode_window_problem(env, now))
            if env_id in self._active:
                raise busy(env_id)
            return self._start(
                env_id,
                OperationKind.RUNTIME_STATE,
                self.options.runtime_state_seconds,
                {"runtimeState": runtime_state, "backgroundOperationsState": background_operations},
                created_monotonic,
            )
