"""A closed-loop HTTP/1.1 load generator, run as its own process: `python -m bench.loadgen`.

`--concurrency` keep-alive connections each send the same prepared POST and wait for the answer
before sending the next.  After a warm-up, `--windows` windows are measured, each `--duration`
seconds long, stretched until `--min-requests` answers came (so that slow requests at high
concurrency still give a median).  At the end it prints one JSON object with, per window:
requests, throughput, p50/p99 latency, failed answers, and the CPU seconds the server (from
/proc/<pid>/stat) and this process used in it.  Raw asyncio streams and a pre-encoded request
keep the client's own cost per request small, since it shares the machine with the server.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import resource
import sys
import time
from pathlib import Path
from typing import Any

from .timing import percentile

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
MAX_WINDOW = 60.0


def cpu_seconds(pid: int) -> float:
    """utime + stime of a process, in seconds."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    fields = stat[stat.rindex(")") + 2:].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def own_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


class Connection:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    async def request(self, raw: bytes) -> tuple[int, bytes]:
        self.writer.write(raw)
        head = await self.reader.readuntil(b"\r\n\r\n")
        lines = head.split(b"\r\n")
        status = int(lines[0].split(b" ", 2)[1])
        length = None
        for line in lines[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        if length is None:
            raise RuntimeError("the server answered without Content-Length")
        return status, await self.reader.readexactly(length)


class Load:
    def __init__(self, args: argparse.Namespace) -> None:
        body = Path(args.body).read_bytes()
        self.raw = (
            f"POST {args.path} HTTP/1.1\r\nHost: {args.host}:{args.port}\r\n"
            f"Content-Type: application/json\r\nAccept: application/json\r\n"
            f"Content-Length: {len(body)}\r\n\r\n"
        ).encode() + body
        self.args = args
        self.recording = False
        self.stopping = False
        self.latencies: list[float] = []
        self.target, self.enough = 0, asyncio.Event()
        self.failures = 0
        self.first_failure: str | None = None

    async def worker(self, conn: Connection) -> None:
        while not self.stopping:
            start = time.perf_counter()
            status, body = await conn.request(self.raw)
            elapsed = time.perf_counter() - start
            if self.recording:
                self.latencies.append(elapsed)
                if len(self.latencies) >= self.target:
                    self.enough.set()
                if status != 200 or b'"errors"' in body:
                    self.failures += 1
                    self.first_failure = self.first_failure or f"{status} {body[:300]!r}"

    async def window(self, seconds: float, min_requests: int) -> dict[str, Any]:
        """Measure for `seconds`, longer if needed to see `min_requests` answers (at most 60 s)."""
        self.latencies, self.failures = [], 0
        server0 = cpu_seconds(self.args.server_pid)
        own0, t0 = own_cpu_seconds(), time.perf_counter()
        self.target, self.enough = min_requests, asyncio.Event()
        self.recording = True
        await asyncio.sleep(seconds)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.enough.wait(), MAX_WINDOW - seconds)
        self.recording = False
        wall = time.perf_counter() - t0
        server_cpu = cpu_seconds(self.args.server_pid) - server0
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

    async def run(self) -> dict[str, Any]:
        conns = []
        for _ in range(self.args.concurrency):
            reader, writer = await asyncio.open_connection(self.args.host, self.args.port)
            conns.append(Connection(reader, writer))
        workers = [asyncio.create_task(self.worker(c)) for c in conns]
        # Warm-up: the given time, and until every connection has had an answer.
        await self.window(self.args.warmup, self.args.concurrency)
        windows = [
            await self.window(self.args.duration, self.args.min_requests)
            for _ in range(self.args.windows)
        ]
        self.stopping = True
        await asyncio.gather(*workers)
        for conn in conns:
            conn.writer.close()
        return {"windows": windows, "first_failure": self.first_failure}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.loadgen", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--path", default="/graphql")
    parser.add_argument("--body", required=True, help="file holding the POST body")
    parser.add_argument("--concurrency", type=int, default=1)
    parser.add_argument("--warmup", type=float, default=1.0)
    parser.add_argument("--duration", type=float, default=3.0)
    parser.add_argument("--windows", type=int, default=3)
    parser.add_argument("--min-requests", type=int, default=0,
                        help="extend a window until this many answers came (at most 60 s)")
    parser.add_argument("--server-pid", type=int, required=True)
    args = parser.parse_args(argv)
    result = asyncio.run(Load(args).run())
    sys.stdout.write(json.dumps(result) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
