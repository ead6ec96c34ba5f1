"""memcached, the cache tier's engine (Debian's ``memcached`` package), on local ports.

``start`` installs the package with apt-get when ``memcached`` is missing (as root), then
starts ``--nodes N`` servers on 127.0.0.1, ports ``DATA_GATEWAY_MEMCACHED_PORT`` (default
11211) and up, and prints them comma-separated (``SUBGRAPH_CACHE=memcached://$(...)``).
``--node N`` (re)starts one of them; ``kill --node N`` SIGKILLs one (the cache's loss);
``stop`` stops them all.  Each server keeps 64 MiB, nothing on disk: a restart is empty.
Run state (PID files, logs) lives in ``<run dir>/memcached``.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import subprocess
import sys

from common import (
    ServiceError,
    locked,
    log,
    pid_alive,
    read_pid,
    run_dir,
    spawn_detached,
    stop_pids,
    wait_for_port,
    write_pid,
)

NAME = "memcached"
PACKAGE = "memcached"
HOST = "127.0.0.1"
MEMORY_MB = 64
DEFAULT_PORT = 11211


def base_port() -> int:
    return int(os.environ.get("DATA_GATEWAY_MEMCACHED_PORT", DEFAULT_PORT))


def _binary() -> str | None:
    return shutil.which("memcached") or (
        "/usr/bin/memcached" if os.path.exists("/usr/bin/memcached") else None
    )


def _install() -> str:
    apt = shutil.which("apt-get")
    if apt is None or os.geteuid() != 0:
        raise ServiceError("memcached is not installed and this is not a root shell with "
                           f"apt-get: install Debian's package (apt-get install {PACKAGE})")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    log(f"{NAME}: installing Debian's {PACKAGE} package (apt-get)")
    for command in ([apt, "update", "-qq"], [apt, "install", "-y", "-qq", PACKAGE]):
        result = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
        if result.returncode != 0:
            raise ServiceError(f"{' '.join(command[:2])} failed (exit {result.returncode}):\n"
                               f"{(result.stdout + result.stderr)[-2000:]}")
    binary = _binary()
    if binary is None:
        raise ServiceError(f"{PACKAGE} installed but no memcached binary found")
    return binary


def _port(node: int) -> int:
    return base_port() + node - 1


def _pid_file(node: int):  # type: ignore[no-untyped-def]
    return run_dir(NAME) / f"node{node}.pid"


def _marker(node: int) -> str:
    return f"-p {_port(node)} "


def _running(node: int) -> int | None:
    pid = read_pid(_pid_file(node))
    return pid if pid is not None and pid_alive(pid, _marker(node)) else None


def _nodes_on_disk() -> list[int]:
    folder = run_dir(NAME)
    if not folder.is_dir():
        return []
    return sorted(int(p.stem[4:]) for p in folder.glob("node*.pid") if p.stem[4:].isdigit())


def _start_node(binary: str, node: int, timeout: float) -> None:
    if _running(node) is not None:
        return
    folder = run_dir(NAME)
    folder.mkdir(parents=True, exist_ok=True)
    port = _port(node)
    user = ["-u", "root"] if os.geteuid() == 0 else []
    cmd = [binary, "-l", HOST, "-p", str(port), "-U", "0", "-m", str(MEMORY_MB), "-c", "1024",
           *user, "-v"]
    process = spawn_detached(cmd, cwd=folder, log_path=folder / f"node{node}.log")
    write_pid(_pid_file(node), process.pid)
    if not wait_for_port(HOST, port, timeout, alive=lambda: pid_alive(process.pid)):
        raise ServiceError(f"{NAME} node {node} did not listen on {HOST}:{port} "
                           f"(see {folder / f'node{node}.log'})")
    log(f"{NAME}: node {node} on {HOST}:{port} (pid {process.pid})")


def start(args: argparse.Namespace) -> None:
    binary = _binary() or _install()
    timeout = args.timeout or 15.0
    with locked(run_dir(NAME) / "lock"):
        nodes = [args.node] if getattr(args, "node", None) else list(
            range(1, max(1, args.nodes) + 1))
        if getattr(args, "wipe", False) and not getattr(args, "node", None):
            _stop([n for n in _nodes_on_disk() if n not in nodes])
        for node in nodes:
            _start_node(binary, node, timeout)
    print(",".join(f"{HOST}:{_port(n)}" for n in nodes), flush=True)


def _stop(nodes: list[int]) -> None:
    targets = [(pid, _marker(n)) for n in nodes if (pid := _running(n)) is not None]
    stop_pids(targets, timeout=10)
    for node in nodes:
        _pid_file(node).unlink(missing_ok=True)


def stop(args: argparse.Namespace) -> None:
    with locked(run_dir(NAME) / "lock"):
        _stop([args.node] if getattr(args, "node", None) else _nodes_on_disk())


def kill(args: argparse.Namespace) -> None:
    pid = _running(args.node)
    if pid is None:
        raise ServiceError(f"{NAME} node {args.node} is not running")
    os.kill(pid, signal.SIGKILL)
    log(f"{NAME}: node {args.node} killed (pid {pid})")


def status() -> str:
    nodes = _nodes_on_disk()
    if not nodes:
        return f"{NAME}: not running"
    parts = [f"node {n} {HOST}:{_port(n)} " + (f"up (pid {pid})" if (pid := _running(n)) else
                                               "down") for n in nodes]
    return f"{NAME}: " + "; ".join(parts)


if __name__ == "__main__":
    from common import service_main

    sys.exit(service_main(sys.argv[1:], __doc__ or NAME, start=start, stop=stop, status=status))
