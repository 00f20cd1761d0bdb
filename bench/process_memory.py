"""A process's memory as the benchmarks measure it: Linux's /proc/<pid>/status.

Not `resource.getrusage(...).ru_maxrss`: a process started by another keeps, in that figure, the
peak of the process it was forked from (Linux carries it through fork and exec), so a child's
"peak" can be its parent's. `VmHWM` is the peak of the process's own memory.
"""

from __future__ import annotations

from pathlib import Path


def rss_kib(pid: int | str = "self", field: str = "VmHWM") -> int:
    """`field` of /proc/<pid>/status in KiB: `VmHWM` the peak resident set, `VmRSS` the current."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"{field} not found for process {pid}")


def peak_rss_kib() -> int:
    """This process's peak resident set (KiB)."""
    return rss_kib("self", "VmHWM")
