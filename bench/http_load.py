"""2. HTTP end to end: throughput and latency through uvicorn on the embedded store.

`python -m subgraph serve` runs as shipped (one uvicorn worker, access log on, written to a file)
on a temporary SQLite file seeded with 100 profiles of ten playbacks each.  `bench.loadgen`, a
separate process, drives it at concurrency 1, 8 and 32 with a small query (one counter) and the
query of benchmark 1.  Each figure is the median over measured windows after a warm-up.  The
server's CPU (utime + stime from /proc) is reported beside them, as percent of one core and as
CPU milliseconds per request, since the load generator shares the machine's cores.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from abstractions.gateway import DataGateway
from abstractions.tokens import IdempotencyToken, now_micros

from . import Options
from .doubles import playback_event, profile_ids
from .graphql_exec import QUERY as ENTITIES_QUERY
from .graphql_exec import representations
from .report import Table, fmt
from .timing import median

NAME = "http"
ROOT = Path(__file__).resolve().parent.parent
PROFILES = 100
EVENTS = 10
CONCURRENCY = (1, 8, 32)
SMALL_QUERY = '{ counter(namespace: "page_views", name: "x") { count } }'


def _bodies() -> dict[str, bytes]:
    return {
        "counter": json.dumps({"query": SMALL_QUERY}).encode(),
        "entities_100": json.dumps(
            {"query": ENTITIES_QUERY, "variables": representations(profile_ids(PROFILES))}
        ).encode(),
    }


async def seed(store_url: str) -> None:
    """100 profiles with ten playbacks each and a play count, and the page_views counter `x`."""
    gateway = DataGateway.from_url(store_url)
    await gateway.start(background=False)
    try:
        now = now_micros()
        events = [
            playback_event(p, n, now=now)
            for p in profile_ids(PROFILES) for n in range(EVENTS)
        ]
        await gateway.timeseries.write_events("viewing_history", events)
        for p in profile_ids(PROFILES):
            await gateway.counters.add("profile_plays", p, EVENTS, IdempotencyToken.new())
        await gateway.counters.add("page_views", "x", 1)
    finally:
        await gateway.stop()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _post(port: int, body: bytes) -> dict[str, Any]:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/graphql", data=body,
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())


@contextlib.contextmanager
def server(store_url: str, log: Path) -> Iterator[tuple[int, int]]:
    """`python -m subgraph serve` on a free port; yields (port, pid), stops it with SIGTERM."""
    port = _free_port()
    with log.open("w") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "subgraph", "serve", "--store", store_url,
             "--host", "127.0.0.1", "--port", str(port)],
            cwd=ROOT, stdout=out, stderr=subprocess.STDOUT,
        )
        try:
            deadline = time.monotonic() + 60
            while True:
                if proc.poll() is not None:
                    raise RuntimeError(f"the server exited: {log.read_text()[-2000:]}")
                try:
                    with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=2):
                        break
                except OSError:
                    if time.monotonic() > deadline:
                        raise RuntimeError("the server did not get ready in 60 s") from None
                    time.sleep(0.1)
            yield port, proc.pid
        finally:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def _load(
    port: int, pid: int, body: Path, concurrency: int, options: Options
) -> dict[str, Any]:
    args = [
        sys.executable, "-m", "bench.loadgen", "--port", str(port), "--body", str(body),
        "--concurrency", str(concurrency), "--server-pid", str(pid),
        "--warmup", str(options.seconds(1.5, 0.5)),
        "--duration", str(options.seconds(3.0, 1.0)),
        "--windows", str(options.pick(5, 3)),
        "--min-requests", str(concurrency * options.pick(2, 1)),
    ]
    done = subprocess.run(args, cwd=ROOT, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"bench.loadgen failed: {done.stderr[-2000:]}")
    result = json.loads(done.stdout)
    windows = result["windows"]
    requests = sum(w["requests"] for w in windows)
    seconds = sum(w["seconds"] for w in windows)
    server_cpu = sum(w["server_cpu_s"] for w in windows)
    client_cpu = sum(w["client_cpu_s"] for w in windows)
    return {
        "concurrency": concurrency,
        "rps": round(median([w["rps"] for w in windows]), 1),
        "p50_ms": round(median([w["p50_ms"] for w in windows]), 3),
        "p99_ms": round(median([w["p99_ms"] for w in windows]), 3),
        "server_cpu_percent": round(100 * server_cpu / seconds, 1),
        "server_cpu_ms_per_request": round(1000 * server_cpu / requests, 3) if requests else None,
        "client_cpu_percent": round(100 * client_cpu / seconds, 1),
        "requests": requests,
        "failures": sum(w["failures"] for w in windows),
        "first_failure": result["first_failure"],
        "windows": windows,
    }


def run(options: Options) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="bench-http-") as tmp:
        tmpdir = Path(tmp)
        store_url = f"sqlite:///{tmpdir / 'gateway.db'}"
        asyncio.run(seed(store_url))
        bodies = {}
        for name, body in _bodies().items():
            bodies[name] = tmpdir / f"{name}.json"
            bodies[name].write_bytes(body)
        figures: dict[str, Any] = {
            "store": "sqlite (temporary file)",
            "server": "python -m subgraph serve (1 uvicorn worker, access log on)",
            "queries": {"counter": SMALL_QUERY, "entities_100": "the query of graphql_exec"},
            "results": {},
        }
        with server(store_url, tmpdir / "server.log") as (port, pid):
            _check(port, bodies)
            for name, body in bodies.items():
                figures["results"][name] = [
                    _load(port, pid, body, c, options) for c in CONCURRENCY
                ]
        return figures


def _check(port: int, bodies: dict[str, Path]) -> None:
    """Both queries answer without errors, and the big one with every profile's events."""
    for name, body in bodies.items():
        answer = _post(port, body.read_bytes())
        if answer.get("errors"):
            raise RuntimeError(f"{name} failed over HTTP: {answer['errors'][0]}")
    entities = _post(port, bodies["entities_100"].read_bytes())["data"]["_entities"]
    edges = sum(len(e["viewingHistory"]["edges"]) for e in entities)
    if len(entities) != PROFILES or edges != PROFILES * EVENTS:
        raise RuntimeError(f"expected {PROFILES * EVENTS} events, got {edges}")


def tables(figures: dict[str, Any]) -> list[Table]:
    table = Table(
        "2. HTTP end to end: uvicorn + SQLite, closed-loop load from a separate process",
        ["query", "conc", "req/s", "p50 ms", "p99 ms", "server CPU %", "CPU ms/req",
         "client CPU %", "failed"],
    )
    for name, rows in figures["results"].items():
        for r in rows:
            table.rows.append([
                name, str(r["concurrency"]), fmt(r["rps"], 0), fmt(r["p50_ms"], 2),
                fmt(r["p99_ms"], 2), fmt(r["server_cpu_percent"], 0),
                fmt(r["server_cpu_ms_per_request"], 2), fmt(r["client_cpu_percent"], 0),
                str(r["failures"]),
            ])
    table.notes.append(
        "server CPU % is of one core (one worker process); CPU ms/req is the server's CPU time "
        "per answered request"
    )
    for rows in figures["results"].values():
        for r in rows:
            if r["first_failure"]:
                table.notes.append(f"first failure: {r['first_failure']}")
                break
    return [table]
