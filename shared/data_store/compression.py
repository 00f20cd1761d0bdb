"""The data store's one compressor: Zstandard frames written, Zstandard or zlib frames read.

Everything the store compresses (row frames, record index blocks, a restore's working files)
goes through `compress` and comes back through `decompress`. Zstandard at level 1 compresses
Dataverse rows ~4x faster than zlib level 3 did (~1.1 GB/s against ~265 MB/s), to a smaller
size (~0.09 of the JSON against ~0.12), and reads them back ~4x faster (docs/data-store.md,
"Format choice"). Points are kept for years, so files written before the switch stay readable:
a frame says what it is by its first bytes (Zstandard's magic number; a zlib stream's header
byte), and `decompress` reads either.

zstandard's compressors and decompressors are not safe to share between threads (a backup
compresses its tables at once), so each thread has its own.
"""

from __future__ import annotations

import threading
import zlib
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import zstandard

LEVEL = 1
ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
# A zlib stream's first byte: deflate (CM 8) with a window of at most 32 KiB (CINFO <= 7).
_ZLIB_FIRST = frozenset(0x08 | (window << 4) for window in range(8))


class _PerThread(threading.local):
    compressor: zstandard.ZstdCompressor | None = None
    decompressor: zstandard.ZstdDecompressor | None = None


_local = _PerThread()


def _compressor() -> zstandard.ZstdCompressor:
    if _local.compressor is None:
        import zstandard  # imported on first use: never while the host indexes the app

        # The content size in each frame's header: a frame that decompresses to more or less
        # than it says is an error (libzstd checks it), not a silent short read.
        _local.compressor = zstandard.ZstdCompressor(level=LEVEL, write_content_size=True)
    return _local.compressor


def _decompressor() -> zstandard.ZstdDecompressor:
    if _local.decompressor is None:
        import zstandard

        _local.decompressor = zstandard.ZstdDecompressor()
    return _local.decompressor


def compress(data: bytes) -> bytes:
    """One Zstandard frame of `data`."""
    return _compressor().compress(data)


def decompress(frame: bytes) -> bytes:
    """What one frame holds, Zstandard or zlib; ValueError for anything else, for a frame cut
    short, and for bytes after the frame (a frame's offset or length read wrong)."""
    text, rest = _inflate(frame)
    if rest:
        raise ValueError("bytes after the end of a compressed frame")
    return text


def frames_of(data: bytes) -> Iterator[bytes]:
    """What each frame of a run of frames holds, in order (a row file is such a run)."""
    rest = data
    while rest:
        text, rest = _inflate(rest)
        yield text


def _inflate(data: bytes) -> tuple[bytes, bytes]:
    """(the first frame's content, the bytes after it)."""
    reader: Any
    broken: type[Exception]
    if data[:4] == ZSTD_MAGIC:
        import zstandard

        reader, broken = _decompressor().decompressobj(), zstandard.ZstdError
    elif data[:1] and data[0] in _ZLIB_FIRST:
        reader, broken = zlib.decompressobj(), zlib.error
    else:
        raise ValueError("not a compressed frame (neither Zstandard nor zlib)")
    # Both readers stop at their frame's end and keep what follows as `unused_data`.
    try:
        text = reader.decompress(data) + reader.flush()
    except broken as exc:
        raise ValueError(f"a compressed frame does not decompress: {exc}") from exc
    if not reader.eof:
        raise ValueError("a compressed frame ends before its end")
    return text, bytes(reader.unused_data)
