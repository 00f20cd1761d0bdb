"""One record's versions across a year of daily points, against 365 single small blob reads.

    python bench/record_history_bench.py [--rows 1000000 --points 365 --change 0.01
                                          --full-every 30 --samples 20]

Builds, on Azurite, a year of daily points of one table as a data backup would: a full copy,
then incrementals of `--change` of the rows (updated, and a tenth as many deleted), a new full
copy whenever the chain reaches `--full-every` (`needs_full_copy`). Then, interleaved per sample
so both see the same machine: `DataStore.record_versions` for a random record, and the floor,
365 sequential downloads of one 1 KiB blob. Figure = median lookup / median floor; target <= 1.
Building the year at the default size writes ~13 million rows: run it on a quiet machine.
"""

from __future__ import annotations

import argparse
import random
import statistics
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from data_rows import account, owners  # bench/ is on the path: run as `python bench/...`

from ppbackup.azurite import running_azurite
from shared.data_store import (
    FULL,
    INCREMENTAL,
    TableCommit,
    needs_full_copy,
    new_point_id,
    open_data_store,
)

TARGET = 1.0
ENV = "00000000-0000-4000-8000-00000000b002"
START = datetime(2026, 1, 1, 2, tzinfo=UTC)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--points", type=int, default=365)
    parser.add_argument("--change", type=float, default=0.01)
    parser.add_argument("--full-every", type=int, default=30)
    parser.add_argument("--samples", type=int, default=20)
    parser.add_argument("--page", type=int, default=5000)
    args = parser.parse_args(argv)
    rng = random.Random(365)
    people = owners(rng)
    versions = [0] * args.rows
    alive = bytearray(b"\x01") * args.rows

    def rid(n: int) -> str:
        return f"00000000-0000-4000-8000-{n:012x}"

    def current(n: int) -> dict[str, Any]:
        result = account(n, random.Random(n * 1_000_003 + versions[n]), people)
        result["accountid"] = rid(n)
        result["versionnumber"] = versions[n]
        return result

    with running_azurite() as azurite:
        store = open_data_store(azurite.connection_string, "ppbackup-data")
        store.ensure_container()
        previous: str | None = None
        chain = 0
        began = time.perf_counter()
        for day in range(args.points):
            at = START + timedelta(days=day)
            point = new_point_id(at)
            why = needs_full_copy(None if previous is None else chain, args.full_every)
            deleted: list[str] = []
            if why:
                live = [n for n in range(args.rows) if alive[n]]
                pages = [live[i:i + args.page] for i in range(0, len(live), args.page)]
            else:
                touched = rng.sample(range(args.rows), int(args.rows * args.change))
                gone = touched[: len(touched) // 10]
                for n in touched:
                    versions[n] += 1
                    alive[n] = 1
                for n in gone:
                    alive[n] = 0
                deleted = [rid(n) for n in gone]
                changed = touched[len(gone):]
                pages = [changed[i:i + args.page] for i in range(0, len(changed), args.page)]
            for seq, page in enumerate(pages):
                store.write_rows(ENV, point, "account", seq, (current(n) for n in page),
                                 id_column="accountid")
            if deleted:
                store.write_deleted(ENV, point, "account", 0, deleted, id_column="accountid")
            store.commit_point(ENV, point, at, None, [TableCommit(
                "account", FULL if why else INCREMENTAL, "accountid", len(pages),
                1 if deleted else 0, None if why else previous)])
            chain = 0 if why else chain + 1
            previous = point
        built = time.perf_counter() - began
        print(f"built {args.points} points of {args.rows:,} rows in {built:.0f} s")

        container = store.container
        container.upload_blob("floor/one-kib", b"x" * 1024, overwrite=True)
        floor_blob = container.get_blob_client("floor/one-kib")
        lookups: list[float] = []
        floors: list[float] = []
        found: list[int] = []
        for _ in range(args.samples):
            n = rng.randrange(args.rows)
            t = time.perf_counter()
            history = store.record_versions(ENV, "account", rid(n))
            lookups.append(time.perf_counter() - t)
            found.append(len(history))
            t = time.perf_counter()
            for _ in range(365):
                floor_blob.download_blob().readall()
            floors.append(time.perf_counter() - t)
    lookup, floor = statistics.median(lookups), statistics.median(floors)
    print(f"record versions: median {lookup * 1000:.1f} ms ({statistics.median(found):.0f} "
          f"versions); 365 single 1 KiB reads: median {floor * 1000:.1f} ms")
    print(f"figure = {lookup / floor:.3f} (target <= {TARGET})")
    return 0 if lookup / floor <= TARGET else 1


if __name__ == "__main__":
    raise SystemExit(main())
