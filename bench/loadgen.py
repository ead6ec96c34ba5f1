"""A closed-loop HTTP/1.1 load generator, run as its own process: `python -m bench.loadgen`.

`--concurrency` keep-alive connections each send the same prepared POST and wait for the answer
before sending the next.  Several servers can be compared in one run (`--target NAME=PORT:PID`,
repeated): they take turns, one window each, the first of each round alternating, so that both
see the same spells of noise from other work on the machine; the idle one uses no CPU.

Each target is warmed up first (`--warmup` seconds, and until every connection has had an
answer).  Then `--windows` rounds: in each, every target in turn gets fresh connections (so no
keep-alive timeout of the server can close an idle one), a short re-warm (`--rewarm`), and one
measured window of `--duration` seconds, stretched until `--min-requests` answers came (so that
slow requests at high concurrency still give a median).  Per window: requests, throughput,
p50/p99 latency, failed answers (not 200, or a body with `"errors"`, or no answer within
`--timeout`: the connection is then opened again), and the CPU seconds the server's process
tree (bench.procstat) and this process used in it.  It prints one JSON object at the end.

Raw asyncio streams and a pre-encoded request keep the client's own cost per request small,
since it shares the machine with the server.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import resource
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .procstat import tree_cpu_seconds
from .timing import percentile

MAX_WINDOW = 60.0
RECONNECT_PAUSE = 0.05


def own_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def request_bytes(host: str, port: int, path: str, body: bytes) -> bytes:
    """One POST of JSON, as a GraphQL client sends it."""
    return (
        f"POST {path} HTTP/1.1\r\nHost: {host}:{port}\r\n"
        f"Content-Type: application/json\r\nAccept: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    ).encode() + body


class Connection:
    """One keep-alive connection, opened on first use and again after any failure."""

    def __init__(self, host: str, port: int, timeout: float) -> None:
        self.host, self.port, self.timeout = host, port, timeout
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None

    async def request(self, raw: bytes) -> tuple[int, bytes]:
        """Send `raw`, read the answer: (status, body).  Any failure closes the connection."""
        try:
            async with asyncio.timeout(self.timeout):
                if self._writer is None:
                    self._reader, self._writer = await asyncio.open_connection(
                        self.host, self.port
                    )
                assert self._reader is not None
                self._writer.write(raw)
                status, body, keep = await read_response(self._reader)
        except BaseException:
            self.close()
            raise
        if not keep:
            self.close()
        return status, body

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
        self._reader = self._writer = None


async def read_response(reader: asyncio.StreamReader) -> tuple[int, bytes, bool]:
    """(status, body, keep-alive) of one HTTP/1.1 response: Content-Length or chunked."""
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    status = int(lines[0].split(b" ", 2)[1])
    headers: dict[bytes, bytes] = {}
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        headers[name.strip().lower()] = value.strip()
    keep = headers.get(b"connection", b"").lower() != b"close"
    if b"content-length" in headers:
        return status, await reader.readexactly(int(headers[b"content-length"])), keep
    if headers.get(b"transfer-encoding", b"").lower() == b"chunked":
        parts = []
        while True:
            size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
            if size == 0:
                await reader.readuntil(b"\r\n")  # no trailers expected: the final CRLF
                return status, b"".join(parts), keep
            parts.append(await reader.readexactly(size))
            await reader.readexactly(2)
    raise RuntimeError("the server answered without Content-Length or chunked encoding")


@dataclass(frozen=True, slots=True)
class Endpoint:
    name: str
    port: int
    pid: int

    @classmethod
    def parse(cls, text: str) -> Endpoint:
        """`NAME=PORT:PID`."""
        name, _, rest = text.partition("=")
        port, _, pid = rest.partition(":")
        if not (name and port.isdigit() and pid.isdigit()):
            raise argparse.ArgumentTypeError(f"expected NAME=PORT:PID, not {text!r}")
        return cls(name, int(port), int(pid))


class Turn:
    """`concurrency` workers on fresh connections to one target, until `stop`."""

    def __init__(self, load: Load, target: Endpoint) -> None:
        args = load.args
        self.load = load
        self.raw = request_bytes(args.host, target.port, args.path, load.body)
        self.conns = [
            Connection(args.host, target.port, args.timeout) for _ in range(args.concurrency)
        ]
        self.recording = False
        self.stopping = False
        self.latencies: list[float] = []
        self.failures = 0
        self.answered: set[int] = set()
        self.all_answered = asyncio.Event()
        self.target, self.enough = 0, asyncio.Event()
        self.workers = [
            asyncio.create_task(self.worker(i, c)) for i, c in enumerate(self.conns)
        ]

    async def worker(self, index: int, conn: Connection) -> None:
        while not self.stopping:
            start = time.perf_counter()
            try:
                status, body = await conn.request(self.raw)
            except Exception as exc:
                failure = f"no answer: {type(exc).__name__}: {exc}"
                self._failed(failure)
                await asyncio.sleep(RECONNECT_PAUSE)
                continue
            elapsed = time.perf_counter() - start
            self.answered.add(index)
            if len(self.answered) == len(self.conns):
                self.all_answered.set()
            if not self.recording:
                continue
            self.latencies.append(elapsed)
            if len(self.latencies) >= self.target:
                self.enough.set()
            if status != 200 or b'"errors"' in body:
                self._failed(f"{status} {body[:300]!r}")

    def _failed(self, what: str) -> None:
        if self.recording:
            self.failures += 1
            self.load.first_failure = self.load.first_failure or what

    async def warm(self, seconds: float) -> None:
        """`seconds`, and until every connection has had an answer (at most MAX_WINDOW)."""
        await asyncio.sleep(seconds)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.all_answered.wait(), MAX_WINDOW)

    async def window(self, seconds: float, min_requests: int, pid: int) -> dict[str, Any]:
        """Measure for `seconds`, longer if needed to see `min_requests` answers."""
        self.latencies, self.failures = [], 0
        server0 = tree_cpu_seconds(pid)
        own0, t0 = own_cpu_seconds(), time.perf_counter()
        self.target, self.enough = min_requests, asyncio.Event()
        self.recording = True
        await asyncio.sleep(seconds)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.enough.wait(), max(0.0, MAX_WINDOW - seconds))
        self.recording = False
        wall = time.perf_counter() - t0
        server_cpu = tree_cpu_seconds(pid) - server0
        client_cpu = own_cpu_seconds() - own0
        ms = [x * 1000 for x in self.latencies]
        return {
            "requests": len(ms),
            "seconds": round(wall, 3),
            "rps": round(len(ms) / wall, 1),
            "p50_ms": round(percentile(ms, 50), 3),
            "p99_ms": round(percentile(ms, 99), 3),
            "failures": self.failures,
            "server_cpu_s": round(server_cpu, 3),
            "client_cpu_s": round(client_cpu, 3),
        }

    async def stop(self) -> None:
        """Let each worker finish its request in flight, then close the connections."""
        self.stopping = True
        await asyncio.gather(*self.workers, return_exceptions=True)
        for conn in self.conns:
            conn.close()


class Load:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.body = Path(args.body).read_bytes()
        self.first_failure: str | None = None

    async def run(self) -> dict[str, Any]:
        args = self.args
        targets: list[Endpoint] = args.target
        for target in targets:
            turn = Turn(self, target)
            await turn.warm(args.warmup)
            await turn.stop()
        windows: dict[str, list[dict[str, Any]]] = {t.name: [] for t in targets}
        failures: dict[str, str | None] = {}
        for w in range(args.windows):
            shift = w % len(targets)
            for target in targets[shift:] + targets[:shift]:
                self.first_failure = failures.get(target.name)
                turn = Turn(self, target)
                try:
                    await turn.warm(args.rewarm)
                    windows[target.name].append(
                        await turn.window(args.duration, args.min_requests, target.pid)
                    )
                finally:
                    await turn.stop()
                failures[target.name] = self.first_failure
        return {
            "targets": {
                t.name: {"windows": windows[t.name], "first_failure": failures.get(t.name)}
                for t in targets
            }
        }


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.loadgen", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--target", type=Endpoint.parse, action="append",
                        help="NAME=PORT:PID of a server to load; repeat to compare several")
    parser.add_argument("--port", type=int, help="one server's port (with --server-pid)")
    parser.add_argument("--server-pid", type=int, help="its process id, for its CPU time")
    parser.add_argument("--path", default="/graphql")
    parser.add_argument("--body", required=True, help="file holding the POST body")
    parser.add_argument("--concurrency", type=int, default=1)
    parser.add_argument("--warmup", type=float, default=1.0)
    parser.add_argument("--rewarm", type=float, default=0.3,
                        help="seconds of load on fresh connections before each window")
    parser.add_argument("--duration", type=float, default=3.0)
    parser.add_argument("--windows", type=int, default=3)
    parser.add_argument("--min-requests", type=int, default=0,
                        help="extend a window until this many answers came (at most 60 s)")
    parser.add_argument("--timeout", type=float, default=30.0,
                        help="seconds to wait for an answer before counting it failed")
    args = parser.parse_args(argv)
    if args.port is not None:
        if args.server_pid is None:
            parser.error("--port needs --server-pid")
        args.target = [*(args.target or []), Endpoint("server", args.port, args.server_pid)]
    if not args.target:
        parser.error("give --target NAME=PORT:PID, or --port and --server-pid")
    if len({t.name for t in args.target}) != len(args.target):
        parser.error("target names must differ")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    result = asyncio.run(Load(args).run())
    sys.stdout.write(json.dumps(result) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
