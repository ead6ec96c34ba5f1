"""What the figures were measured on: CPU, cores, memory, load, runtimes and library versions."""

from __future__ import annotations

import os
import platform
import shutil
import sqlite3
import subprocess
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

PACKAGES = (
    "strawberry-graphql", "graphql-core", "starlette", "uvicorn", "h11", "httptools", "uvloop",
    "aiodataloader", "cassandra-driver",
)
ROOT = Path(__file__).resolve().parent.parent


def describe() -> dict[str, Any]:
    return {
        "cpu": _cpu_model(),
        "cores": os.cpu_count(),
        "cores_usable": len(os.sched_getaffinity(0)),
        "memory_gib": _memory_gib(),
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "os": platform.platform(),
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "node": _node_version(),
        "sqlite": sqlite3.sqlite_version,
        "packages": {name: _version(name) for name in PACKAGES},
        # What `serve` is told to use (auto: uvloop and httptools when installed).
        "serve_loop": os.environ.get("SUBGRAPH_LOOP") or "auto",
        "serve_http": os.environ.get("SUBGRAPH_HTTP") or "auto",
        "commit": _commit(),
    }


def one_line(info: dict[str, Any]) -> str:
    pkgs = info["packages"]
    return (
        f"{info['cpu']}, {info['cores_usable']}/{info['cores']} cores, {info['memory_gib']} GiB, "
        f"load {info['load_average'][0]}; {info['python']}, Node {info['node'] or '-'}; "
        f"strawberry {pkgs['strawberry-graphql']}, graphql-core {pkgs['graphql-core']}, "
        f"uvicorn {pkgs['uvicorn']} (httptools {pkgs['httptools'] or 'no'}, "
        f"uvloop {pkgs['uvloop'] or 'no'}; serve --loop {info['serve_loop']} "
        f"--http {info['serve_http']}); commit {info['commit'] or '-'}"
    )


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _memory_gib() -> float | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return round(int(line.split()[1]) / 1024 / 1024, 1)
    except OSError:
        pass
    return None


def _node_version() -> str | None:
    node = shutil.which("node")
    if node is None:
        return None
    done = subprocess.run([node, "--version"], capture_output=True, text=True, check=False)
    return done.stdout.strip().lstrip("v") or None


def _version(name: str) -> str | None:
    try:
        return version(name)
    except PackageNotFoundError:
        return None


def _commit() -> str | None:
    """HEAD, marked `+dirty` when the work tree has changes (read-only git commands)."""
    git = shutil.which("git")
    if git is None:
        return None
    head = subprocess.run(
        [git, "-C", str(ROOT), "rev-parse", "--short", "HEAD"],
        capture_output=True, text=True, check=False,
    ).stdout.strip()
    if not head:
        return None
    dirty = subprocess.run(
        [git, "-C", str(ROOT), "status", "--porcelain", "--untracked-files=no"],
        capture_output=True, text=True, check=False,
    ).stdout.strip()
    return head + ("+dirty" if dirty else "")
