"""History store latency at scale: newest-50 per environment vs a point read, on Azurite.

    python bench/history_bench.py [--operations 100000 --environments 1000 --samples 200]

Starts its own Azurite (in memory), bulk-loads the history with `HistoryStore.import_operations`
(the same entities `create` writes, in entity group transactions), then measures, interleaved in
one run so that both see the same machine state:

- store.list(environment_id=<random environment>, limit=50)   "newest 50 for one environment"
- store.get(<random operation id>)                             "point read"
- TableClient.get_entity on the same row                       the raw round-trip floor
- TableClient.query_entities, one 51-row page of the partition the raw floor of the listing

and prints the medians and the ratio newest-50 / point read (target <= 3).

`--shards N` (experiment only) spreads environments over N shard tables instead of the layout's
16, to show what Azurite's whole-table scans cost at this size.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import TYPE_CHECKING

from ppbackup.azurite import running_azurite
from shared.operations import (
    BACKUP_STEPS,
    RESTORE_STEPS,
    Operation,
    OperationKind,
    OperationStatus,
    Step,
    StepStatus,
    new_operation_id,
)
from shared.storage import keys
from shared.storage.connection import table_service
from shared.storage.history import HistoryStore
from shared.storage.keys import normalize_environment_id, row_key

if TYPE_CHECKING:
    from azure.data.tables import TableClient, TableEntity

TARGET_RATIO = 3.0
START = datetime(2026, 1, 1, tzinfo=UTC)


def environment_ids(count: int, rng: random.Random) -> list[str]:
    return [
        f"{rng.getrandbits(32):08x}-{rng.getrandbits(16):04x}-4{rng.getrandbits(12):03x}-"
        f"8{rng.getrandbits(12):03x}-{rng.getrandbits(48):012x}"
        for _ in range(count)
    ]


def synthetic_operations(
    count: int, environments: list[str], rng: random.Random
) -> Iterator[Operation]:
    """A year of history, environment by environment (so bulk batches fill up): mostly finished
    backups, some restores; an environment's newest operation is sometimes still running (those
    are the rows an environment listing re-reads from the main table)."""
    gap = timedelta(seconds=365 * 24 * 3600 / max(count, 1))
    for first in range(len(environments)):
        env = environments[first]
        for i in range(first, count, len(environments)):
            created = START + gap * i + timedelta(milliseconds=rng.randrange(1000))
            created = created.replace(microsecond=created.microsecond // 1000 * 1000)
            newest = i + len(environments) >= count
            yield synthetic_operation(env, created, running=newest and rng.random() < 0.1, rng=rng)


def synthetic_operation(
    env: str, created: datetime, *, running: bool, rng: random.Random
) -> Operation:
    kind = OperationKind.RESTORE if rng.random() < 0.2 else OperationKind.BACKUP
    if running:
        status = OperationStatus.RUNNING
    else:
        status = OperationStatus.SUCCEEDED if rng.random() < 0.93 else OperationStatus.FAILED
    ended = None if running else created + timedelta(minutes=rng.randrange(5, 600))
    names = RESTORE_STEPS if kind is OperationKind.RESTORE else BACKUP_STEPS
    steps = tuple(
        Step(
            name=name,
            status=StepStatus.RUNNING if running and n == 0 else StepStatus.SUCCEEDED,
            started_at=created,
            ended_at=ended,
            detail=None if rng.random() < 0.7 else "Completed by the platform in time",
            platform_operation_id=f"{rng.getrandbits(128):032x}",
            request_ids=tuple(f"{rng.getrandbits(128):032x}" for _ in range(rng.randrange(1, 6))),
        )
        for n, name in enumerate(names)
    )
    return Operation(
        operation_id=new_operation_id(kind, created),
        kind=kind,
        status=status,
        environment_id=env,
        created_at=created,
        updated_at=ended or created,
        ended_at=ended,
        label=f"Pre-update {created:%Y-%m-%d %H:%M}Z",
        requested_by="pipeline",
        steps=steps,
        options={"dryRun": False} if kind is OperationKind.RESTORE else {},
    )


def chunks(operations: Iterator[Operation], size: int) -> Iterator[list[Operation]]:
    chunk: list[Operation] = []
    for operation in operations:
        chunk.append(operation)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


@dataclass
class Timings:
    samples: dict[str, list[float]]

    def add(self, name: str, fn: Callable[[], object]) -> object:
        started = time.perf_counter_ns()
        result = fn()
        self.samples.setdefault(name, []).append((time.perf_counter_ns() - started) / 1e6)
        return result

    def median(self, name: str) -> float:
        return statistics.median(self.samples[name])

    def p90(self, name: str) -> float:
        return statistics.quantiles(self.samples[name], n=10)[-1]


def load(
    store: HistoryStore, operations: int, environments: list[str], rng: random.Random
) -> list[str]:
    """Bulk-load the history; the ids written, for picking point reads."""
    ids: list[str] = []

    def tracked() -> Iterator[Operation]:
        for operation in synthetic_operations(operations, environments, rng):
            ids.append(operation.operation_id)
            yield operation

    # Chunks bound memory; each holds whole environments' histories (the generator is
    # environment-major), so the per-environment batches are full.
    per_env = max(1, -(-operations // len(environments)))
    started = time.monotonic()
    written = sum(
        store.import_operations(chunk) for chunk in chunks(tracked(), max(per_env * 50, 100))
    )
    print(
        f"loaded {written} operations over {len(environments)} environments "
        f"in {time.monotonic() - started:.1f} s",
        flush=True,
    )
    return ids


def raw_page(table: TableClient, partition: str) -> list[TableEntity]:
    pages = table.query_entities(
        "PartitionKey eq @pk", parameters={"pk": partition}, results_per_page=51
    ).by_page()
    return list(next(pages))


def measure(
    store: HistoryStore,
    connection: str,
    environments: list[str],
    ids: list[str],
    samples: int,
    rng: random.Random,
) -> Timings:
    service = table_service(connection)
    raw_main = service.get_table_client(store.operations_table)
    timings = Timings({})
    # Warm-up: lazily created tables, connection pools, Azurite's JIT.
    for env, operation_id in zip(environments[:20], ids[:20], strict=False):
        store.list(environment_id=env, limit=50)
        store.get(operation_id)
        raw_main.get_entity("ops", row_key(operation_id))
    for _ in range(samples):
        env = rng.choice(environments)
        operation_id = rng.choice(ids)
        shard = store.environment_table(env)
        env_key = normalize_environment_id(env)
        assert shard is not None
        assert env_key is not None
        probes: list[tuple[str, Callable[[], object]]] = [
            ("list", partial(store.list, environment_id=env, limit=50)),
            ("get", partial(store.get, operation_id)),
            ("raw_get", partial(raw_main.get_entity, "ops", row_key(operation_id))),
            ("raw_query", partial(raw_page, service.get_table_client(shard), env_key)),
        ]
        rng.shuffle(probes)  # no probe always runs first, or always right after another
        for name, probe in probes:
            timings.add(name, probe)
    return timings


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--operations", type=int, default=100_000)
    parser.add_argument("--environments", type=int, default=1_000)
    parser.add_argument("--samples", type=int, default=200)
    parser.add_argument("--seed", type=int, default=20261121)
    parser.add_argument(
        "--shards",
        type=int,
        default=keys.SHARD_COUNT,
        help="experiment only: environment shard tables (the layout has 64)",
    )
    parser.add_argument("--check", action="store_true", help="exit 1 if the ratio misses")
    args = parser.parse_args(argv)
    if args.shards not in (16, 32, 64, 128, 256):
        parser.error("--shards must be a power of two from 16 to 256")
    keys.SHARD_COUNT = args.shards
    rng = random.Random(args.seed)
    environments = environment_ids(args.environments, rng)

    with running_azurite() as azurite:
        store = HistoryStore.from_connection(azurite.connection_string, prefix="bench")
        ids = load(store, args.operations, environments, rng)
        timings = measure(store, azurite.connection_string, environments, ids, args.samples, rng)

    print(f"samples: {args.samples} of each, interleaved; {args.shards} shard tables")
    for name, title in (
        ("list", "store.list(environment_id, limit=50)"),
        ("get", "store.get(operation_id)"),
        ("raw_get", "raw TableClient.get_entity"),
        ("raw_query", "raw 51-row partition query"),
    ):
        print(
            f"  {title:38s} median {timings.median(name):6.2f} ms  p90 {timings.p90(name):6.2f} ms"
        )
    list_ms, get_ms = timings.median("list"), timings.median("get")
    ratio = list_ms / get_ms
    print(f"raw point-read floor: median {timings.median('raw_get'):.2f} ms")
    print(
        f"history: newest-50 median {list_ms:.2f} ms / point-read median {get_ms:.2f} ms "
        f"= {ratio:.2f} (target <= {TARGET_RATIO:g})"
    )
    return 1 if args.check and ratio > TARGET_RATIO else 0


if __name__ == "__main__":
    sys.exit(main())
