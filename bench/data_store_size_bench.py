"""Stored bytes per row against the row's JSON size, on Azurite.

    python bench/data_store_size_bench.py [--rows 100000 --page 5000]

Writes one full point of Dataverse-like account rows (bench/data_rows.py) through the store, in
pages as a data backup would, and an incremental of 1% of them; counts every byte the point
left in the container (row chunks, the record index's appends, the manifest) and divides by the
rows' compact JSON. Target <= 0.25. Next to it, measured in the same run: the same rows as one
zlib stream and as one xz stream (what compressing the table as a single file would reach, with
no frames and no index), the floor the framing is judged against.
"""

from __future__ import annotations

import argparse
import lzma
import random
import zlib
from datetime import UTC, datetime, timedelta

from data_rows import account, owners  # bench/ is on the path: run as `python bench/...`

from ppbackup.azurite import running_azurite
from shared.data_store import FULL, INCREMENTAL, TableCommit, new_point_id, open_data_store
from shared.data_store.frames import encode_row

TARGET = 0.25
ENV = "00000000-0000-4000-8000-00000000b001"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--page", type=int, default=5000)
    args = parser.parse_args(argv)
    rng = random.Random(2026)
    people = owners(rng)
    rows = [account(n, rng, people) for n in range(args.rows)]
    json_bytes = sum(len(encode_row(r)) for r in rows)
    whole = b"\n".join(encode_row(r) for r in rows)
    zlib_whole = len(zlib.compress(whole, 9))
    xz_whole = len(lzma.compress(whole, preset=6))
    del whole

    with running_azurite() as azurite:
        store = open_data_store(azurite.connection_string, "ppbackup-data")
        store.ensure_container()
        at = datetime(2026, 12, 1, 2, tzinfo=UTC)
        full = new_point_id(at)
        pages = [rows[i:i + args.page] for i in range(0, len(rows), args.page)]
        for seq, page in enumerate(pages):
            store.write_rows(ENV, full, "account", seq, page, id_column="accountid")
        store.commit_point(ENV, full, at, None,
                           [TableCommit("account", FULL, "accountid", len(pages))])
        container = store.container  # the bench counts what is there, as a bill would
        full_bytes = sum(b.size for b in container.list_blobs(name_starts_with=f"{ENV}/"))

        changed = [dict(r, name=r["name"] + " (changed)")
                   for r in rng.sample(rows, len(rows) // 100)]
        inc = new_point_id(at + timedelta(days=1))
        store.write_rows(ENV, inc, "account", 0, changed, id_column="accountid")
        store.commit_point(ENV, inc, at + timedelta(days=1), None,
                           [TableCommit("account", INCREMENTAL, "accountid", 1, previous=full)])
        after = sum(b.size for b in container.list_blobs(name_starts_with=f"{ENV}/"))
        inc_json = sum(len(encode_row(r)) for r in changed)

    figure = full_bytes / json_bytes
    print(f"rows {len(rows):,}, JSON {json_bytes / len(rows):.0f} B/row")
    print(f"full point:        {full_bytes / len(rows):7.1f} B/row stored = "
          f"{figure:.3f} of the JSON  (target <= {TARGET})")
    print(f"incremental (1%):  {(after - full_bytes) / len(changed):7.1f} B/row stored = "
          f"{(after - full_bytes) / inc_json:.3f} of the JSON")
    print(f"floor, one zlib-9 stream of the table: {zlib_whole / json_bytes:.3f}; "
          f"one xz-6 stream: {xz_whole / json_bytes:.3f}")
    return 0 if figure <= TARGET else 1


if __name__ == "__main__":
    raise SystemExit(main())
