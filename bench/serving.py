"""Servers under load: start one on a free port, wait until it answers GraphQL, stop it; drive
one or more with `bench.loadgen` and sum up its windows."""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import Options
from .procstat import threads_cpu_seconds
from .report import Table, fmt
from .timing import median

ROOT = Path(__file__).resolve().parent.parent
READY_SECONDS = 90.0
STOP_SECONDS = 30.0
PROBE = json.dumps({"query": "{ __typename }"}).encode()


def free_port() -> int:
    """A port nobody listens on now (the machine is shared: never a fixed one)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def post(port: int, body: bytes, path: str = "/graphql", timeout: float = 30) -> dict[str, Any]:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}{path}", data=body,
        headers={"Content-Type": "application/json", "Accept": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=timeout) as response:
        return json.loads(response.read())


@dataclass(frozen=True, slots=True)
class Server:
    """A running server: where it listens, its process (whose tree's CPU is measured), its log."""

    name: str
    port: int
    pid: int
    path: str
    log: Path


@contextlib.contextmanager
def running(
    name: str, command: Sequence[str], port: int, log: Path, *, path: str = "/graphql",
    env: dict[str, str] | None = None, cwd: Path = ROOT,
) -> Iterator[Server]:
    """Run `command` (which listens on `port`) until the block ends, then SIGTERM it.

    Ready when a POST of `{ __typename }` to `path` answers 200; if the process exits first,
    the error carries the end of its log.
    """
    with log.open("w") as out:
        proc = subprocess.Popen(
            list(command), cwd=cwd, stdout=out, stderr=subprocess.STDOUT,
            env={**os.environ, **(env or {})},
        )
        try:
            deadline = time.monotonic() + READY_SECONDS
            while True:
                if proc.poll() is not None:
                    raise RuntimeError(f"{name} exited ({proc.returncode}): {_tail(log)}")
                try:
                    post(port, PROBE, path, timeout=5)
                    break
                except OSError:
                    if time.monotonic() > deadline:
                        raise RuntimeError(
                            f"{name} did not answer in {READY_SECONDS:.0f} s: {_tail(log)}"
                        ) from None
                    time.sleep(0.1)
            yield Server(name, port, proc.pid, path, log)
        finally:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=STOP_SECONDS)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def _tail(log: Path) -> str:
    try:
        return log.read_text(errors="replace")[-2000:]
    except OSError:
        return "(no log)"


def subgraph_serve(store_url: str, port: int, *extra: str) -> list[str]:
    """`python -m subgraph serve` as shipped, on the loopback address."""
    return [sys.executable, "-m", "subgraph", "serve", "--store", store_url,
            "--host", "127.0.0.1", "--port", str(port), *extra]


def measure(
    servers: Sequence[Server], body: Path, concurrency: int, options: Options
) -> dict[str, dict[str, Any]]:
    """One `bench.loadgen` run over `servers` (their windows interleaved): a row per server."""
    paths = {s.path for s in servers}
    if len(paths) != 1:
        raise ValueError("servers compared in one run must serve the same path")
    args = [
        sys.executable, "-m", "bench.loadgen", "--body", str(body), "--path", paths.pop(),
        "--concurrency", str(concurrency),
        "--warmup", str(options.seconds(1.5, 0.5)),
        "--duration", str(options.seconds(3.0, 1.0)),
        "--windows", str(options.pick(5, 3)),
        "--min-requests", str(concurrency * options.pick(2, 1)),
    ]
    for s in servers:
        args += ["--target", f"{s.name}={s.port}:{s.pid}"]
    done = subprocess.run(args, cwd=ROOT, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"bench.loadgen failed: {done.stderr[-2000:]}")
    result = json.loads(done.stdout)["targets"]
    return {
        s.name: summarise(result[s.name]["windows"], result[s.name]["first_failure"], concurrency)
        for s in servers
    }


def summarise(
    windows: list[dict[str, Any]], first_failure: str | None, concurrency: int
) -> dict[str, Any]:
    """Medians over the windows; CPU per request over all of them (total CPU / total answers,
    so a short window weighs what it holds)."""
    requests = sum(w["requests"] for w in windows)
    seconds = sum(w["seconds"] for w in windows)
    server_cpu = sum(w["server_cpu_s"] for w in windows)
    client_cpu = sum(w["client_cpu_s"] for w in windows)
    return {
        "concurrency": concurrency,
        "rps": round(median([w["rps"] for w in windows]), 1),
        "p50_ms": round(median([w["p50_ms"] for w in windows]), 3),
        "p99_ms": round(median([w["p99_ms"] for w in windows]), 3),
        "server_cpu_percent": round(100 * server_cpu / seconds, 1) if seconds else None,
        "server_cpu_ms_per_request": round(1000 * server_cpu / requests, 3) if requests else None,
        "client_cpu_percent": round(100 * client_cpu / seconds, 1) if seconds else None,
        "requests": requests,
        "failures": sum(w["failures"] for w in windows),
        "first_failure": first_failure,
        "windows": windows,
    }


class OverHTTP:
    """One request at a time to an idle server, on a keep-alive connection, from this process:
    to time a request over HTTP in the same rounds as its parts measured in-process."""

    def __init__(self, port: int, body: bytes, path: str = "/graphql") -> None:
        self._conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        self._path = path
        self._body = body
        self._headers = {"Content-Type": "application/json", "Accept": "application/json"}

    async def request(self, i: int = 0) -> bool:
        """One request; whether it was answered without errors.  A connection the server
        closed while idle (its keep-alive timeout) is opened again, once."""
        for attempt in (1, 2):
            try:
                self._conn.request("POST", self._path, self._body, self._headers)
                response = self._conn.getresponse()
                answer = response.read()
                return response.status == 200 and b'"errors"' not in answer
            except ConnectionError:  # http.client.RemoteDisconnected is one
                self._conn.close()
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    async def server_cpu_ms(self, pid: int, runs: int) -> float:
        """CPU ms per request of the server's process (its threads' on-CPU time) over `runs`
        requests, one at a time."""
        start = threads_cpu_seconds(pid)
        for i in range(runs):
            if not await self.request(i):
                raise RuntimeError("the server answered with errors")
        return (threads_cpu_seconds(pid) - start) * 1000 / runs

    def close(self) -> None:
        self._conn.close()


HTTP_COLUMNS = ["server", "conc", "req/s", "p50 ms", "p99 ms", "server CPU %", "CPU ms/req",
                "client CPU %", "failed"]


def http_row(label: str, r: dict[str, Any]) -> list[str]:
    """A row of HTTP_COLUMNS."""
    return [
        label, str(r["concurrency"]), fmt(r["rps"], 1), fmt(r["p50_ms"], 2), fmt(r["p99_ms"], 2),
        fmt(r["server_cpu_percent"], 0), fmt(r["server_cpu_ms_per_request"], 2),
        fmt(r["client_cpu_percent"], 0), str(r["failures"]),
    ]


def failure_notes(table: Table, rows: Sequence[tuple[str, dict[str, Any]]]) -> None:
    """The first failure of each configuration that had one."""
    for label, r in rows:
        if r.get("first_failure"):
            table.notes.append(f"first failure ({label}, c={r['concurrency']}): "
                               f"{r['first_failure']}")
