"""CPU time and resident memory of a server process and its children, read from /proc.

A server with `--workers 2` is a supervisor whose workers do the work, so figures are of the
whole process tree: every live descendant's own CPU time, plus what the root has collected of
children that ended (`cutime` + `cstime`).  Threads are included: /proc/<pid>/stat sums a
process's threads (the SQLite threads, Node's libuv and V8 helpers).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
PAGE_BYTES = os.sysconf("SC_PAGE_SIZE")
PROC = Path("/proc")


def _stat_fields(pid: int, proc: Path = PROC) -> list[str]:
    """The fields of /proc/<pid>/stat after the command name (which may hold spaces): the
    first is the state (field 3 of proc(5)), so field N of proc(5) is at index N - 3."""
    stat = (proc / str(pid) / "stat").read_text()
    return stat[stat.rindex(")") + 2:].split()


def cpu_seconds(pid: int, proc: Path = PROC) -> float:
    """utime + stime of one process (all its threads), in seconds."""
    fields = _stat_fields(pid, proc)
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def threads_cpu_seconds(pid: int, proc: Path = PROC) -> float:
    """On-CPU time of every live thread of `pid` (/proc/<pid>/task/*/schedstat, nanoseconds):
    for spans of a few requests, where utime/stime's clock ticks (10 ms) are too coarse."""
    total = 0
    for task in (proc / str(pid) / "task").iterdir():
        try:
            total += int((task / "schedstat").read_text().split()[0])
        except (OSError, ValueError, IndexError):
            continue  # ended while we looked
    return total / 1e9


def descendants(pid: int, proc: Path = PROC) -> list[int]:
    """The live processes below `pid`, found by their parent ids."""
    children: dict[int, list[int]] = {}
    for entry in _pids(proc):
        try:
            parent = int(_stat_fields(entry, proc)[1])
        except (OSError, ValueError, IndexError):
            continue  # ended while we looked
        children.setdefault(parent, []).append(entry)
    found: list[int] = []
    todo = [pid]
    while todo:
        below = children.get(todo.pop(), [])
        found += below
        todo += below
    return found


def tree_cpu_seconds(pid: int, proc: Path = PROC) -> float:
    """CPU seconds of `pid`, of its live descendants, and of the children it has reaped."""
    fields = _stat_fields(pid, proc)
    reaped = (int(fields[13]) + int(fields[14])) / CLOCK_TICKS
    return reaped + _tree_sum(pid, cpu_seconds, proc)


def rss_bytes(pid: int, proc: Path = PROC) -> int:
    """Resident set size of one process (/proc/<pid>/statm, in pages)."""
    return int((proc / str(pid) / "statm").read_text().split()[1]) * PAGE_BYTES


def tree_rss_bytes(pid: int, proc: Path = PROC) -> int:
    """Resident set size of `pid` and its live descendants, added up."""
    return int(_tree_sum(pid, rss_bytes, proc))


def _tree_sum(pid: int, of: Callable[[int, Path], float], proc: Path) -> float:
    """`of(pid)` plus `of` each live descendant (one that ends meanwhile counts nothing)."""
    total = of(pid, proc)
    for child in descendants(pid, proc):
        try:
            total += of(child, proc)
        except (OSError, ValueError, IndexError):
            continue
    return total


def _pids(proc: Path) -> Iterator[int]:
    for entry in proc.iterdir():
        if entry.name.isdigit():
            yield int(entry.name)
