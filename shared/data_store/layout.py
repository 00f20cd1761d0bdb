"""Where things live in the backup store: blob names, point ids, record hashing (pure).

```
<env>/manifests/<pointId>.json                    one per complete point, written last
<env>/points/<pointId>/<table>/rows-<seq>.zz      changed (or, for a full copy, all) rows
<env>/points/<pointId>/<table>/deleted-<seq>.zz   ids deleted since the previous point
<env>/index/<table>/<shard>                       append blobs: where each record's versions are
<env>/index/<table>/s0                            the same, for small chunks (one blob)
<env>/index/<table>/<shard>.<n>                   a shard's next generations, once one is full
```
"""

from __future__ import annotations

import hashlib
import re
import secrets
from collections.abc import Iterable
from datetime import UTC, datetime

from shared.inputs import is_guid, is_table_name

INDEX_SHARDS = 16
# A chunk of fewer records (an incremental's changes, typically) appends to the small family of
# SMALL_INDEX_SHARDS blobs instead: one append rather than one per shard (a daily incremental's
# frequent path), for a lookup that reads the small blob beside its wide shard, at once.
SMALL_INDEX_SHARDS = 1
# Stores written before the small family became one blob spread it over 4 (`s0`..`s3`); their
# blocks stay where they are, so a lookup also reads the record's blob of those.
LEGACY_SMALL_INDEX_SHARDS = 4
SMALL_CHUNK_ROWS = 2500
# An append blob takes at most 50,000 appends (Blob Storage refuses the next with
# BlockCountExceedsLimit). A writer that sees an index blob reach ROLL_OVER_BLOCKS appends goes on
# in its next generation (`index_generation`); a reader reads a generation's successor only when
# the generation holds at least this many. So it may be lowered in a later version, never
# raised: a reader would stop at a full generation whose successor holds the newer entries.
ROLL_OVER_BLOCKS = 49_000
POINT_ID = re.compile(r"^\d{8}T\d{6}\d{3}Z-[0-9a-f]{8}$")
ROWS = "rows"
DELETED = "deleted"


def new_point_id(at: datetime) -> str:
    """A point id that sorts by time: `20261203T020000123Z-1a2b3c4d`."""
    moment = at.astimezone(UTC)
    return f"{moment:%Y%m%dT%H%M%S}{moment.microsecond // 1000:03d}Z-{secrets.token_hex(4)}"


def check_table(table: str) -> str:
    if not is_table_name(table):
        raise ValueError(f"{table!r} is not a Dataverse logical name (lowercase, a-z 0-9 _)")
    return table


def check_point_id(point_id: str) -> str:
    if not POINT_ID.fullmatch(point_id):
        raise ValueError(f"{point_id!r} is not a point id (see new_point_id)")
    return point_id


def _env(env: str) -> str:
    # Every name starts here: an environment is a GUID, in one case, so a caller's spelling can
    # never split one environment's points over two folders (or reach outside its own).
    if not is_guid(env):
        raise ValueError(f"{env!r} is not an environment id (GUID)")
    return env.strip().lower()


def manifest_prefix(env: str) -> str:
    return f"{_env(env)}/manifests/"


def manifest_name(env: str, point_id: str) -> str:
    return f"{manifest_prefix(env)}{point_id}.json"


def point_prefix(env: str, point_id: str) -> str:
    return f"{points_root(env)}{point_id}/"


def points_root(env: str) -> str:
    return f"{_env(env)}/points/"


def chunk_file(kind: str, seq: int, write_id: str | None = None) -> str:
    """A chunk's name in its table's folder (without `.zz`), as a manifest's `FileEntry` names
    it: `rows-000003`, or `rows-000003.<write id>` when that one existed already (a re-run, or
    two runs of one step at once). A chunk is never overwritten: a manifest may name it."""
    return f"{kind}-{seq:06d}" if write_id is None else f"{kind}-{seq:06d}.{write_id}"


def chunk_key(file: str) -> str:
    """The chunk a file is a write of: `rows-000003` for `rows-000003` and `rows-000003.<id>`."""
    return file.split(".", 1)[0]


def rewritten(files: Iterable[str]) -> dict[str, str]:
    """Of chunk files written, those not under their plain name: chunk -> file."""
    return {chunk_key(f): f for f in files if f != chunk_key(f)}


def chunk_seq(file: str) -> tuple[str, int]:
    """(kind, sequence number) of a chunk file's name."""
    kind, _, seq = chunk_key(file).partition("-")
    return kind, int(seq)


def chunk_name(env: str, point_id: str, table: str, file: str) -> str:
    # Any chunk past the count a commit declares is ignored.
    return f"{point_prefix(env, point_id)}{table}/{file}.zz"


def index_shards(chunk_rows: int) -> int:
    """How many index blobs the family a chunk of `chunk_rows` records appends to has."""
    return SMALL_INDEX_SHARDS if chunk_rows < SMALL_CHUNK_ROWS else INDEX_SHARDS


def index_name(env: str, table: str, hashed: int, *, chunk_rows: int) -> str:
    """The index blob a chunk of `chunk_rows` records appends a record's entry to."""
    if chunk_rows < SMALL_CHUNK_ROWS:
        return _small_name(env, table, hashed, SMALL_INDEX_SHARDS)
    return f"{_env(env)}/index/{table}/{hashed % INDEX_SHARDS:02x}"


def _small_name(env: str, table: str, hashed: int, shards: int) -> str:
    return f"{_env(env)}/index/{table}/s{hashed % shards:x}"


def index_generation(name: str, generation: int) -> str:
    """The blob of an index blob's `generation` (0: the blob itself)."""
    return name if generation == 0 else f"{name}.{generation}"


def small_index_names(env: str, table: str) -> list[str]:
    """The small family's blobs of a table."""
    return [index_name(env, table, shard, chunk_rows=0) for shard in range(SMALL_INDEX_SHARDS)]


def index_names(env: str, table: str, hashed: int) -> tuple[str, ...]:
    """Every index blob that may hold a record's entries: its wide shard, the small blob and,
    where a store written before holds it apart, the record's legacy small shard."""
    legacy = _small_name(env, table, hashed, LEGACY_SMALL_INDEX_SHARDS)
    names = (index_name(env, table, hashed, chunk_rows=SMALL_CHUNK_ROWS),
             index_name(env, table, hashed, chunk_rows=0))
    return names if legacy in names else (*names, legacy)


def record_digest(record_id: str) -> bytes:
    """A record id's 4-byte hash, as an index entry stores it (big-endian `record_hash`)."""
    return hashlib.blake2b(record_id.strip().lower().encode(), digest_size=4).digest()


def record_hash(record_id: str) -> int:
    """32 bits of a record id's hash: its index shard, and its key inside the shard."""
    return int.from_bytes(record_digest(record_id), "big")

