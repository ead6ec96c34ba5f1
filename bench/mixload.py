"""Mixed reads and writes for the soak, run as its own process: `python -m bench.mixload`.

`--concurrency` keep-alive connections each go round `MIX` (half reads, half writes: every
mutation kind the read path of benchmark 1 depends on) for `--seconds`.  Ids come from bounded
sets (the 100 seeded profiles, 5 titles, 100 KV records, 20 extra series), so the server's
legitimate state (loaders, counters waiting for their rollup, statement caches) reaches a
steady size, and a resident set still growing after the warm-up is a leak.  Every write has a
fresh idempotency key.

Every `--interval` seconds it prints one JSON line: the seconds since the start, requests and
errors in the interval (an error: not 200, a body with `"errors"`, or no answer in `--timeout`),
the first error's text, p50/p99 latency; the soak (`bench.soak`) reads the server's RSS at
each line.  A last line has `"done": true` and the totals.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import sys
import time
import uuid
from collections import Counter
from collections.abc import Callable
from typing import Any

from .doubles import TITLES, profile_ids
from .graphql_exec import QUERY as ENTITIES_QUERY
from .loadgen import Connection, request_bytes
from .timing import percentile

PROFILES = profile_ids(100)
RECORDS = [f"soak-kv-{i:03d}" for i in range(100)]
SERIES = [f"soak-series-{i:02d}" for i in range(20)]

COUNTER = "query Count($ns: String!, $name: String!) { counter(namespace: $ns, name: $name) " \
          "{ count } }"
KV_READ = "query Kv($id: ID!) { kvRecord(namespace: \"profile_settings\", id: $id) " \
          "{ items(first: 10) { edges { node { key text } } } } }"
PLAY = ("mutation Play($in: RecordPlaybackInput!) { recordPlayback(input: $in) "
        "{ event { id } profilePlayCount { count } titlePlayCount { count } } }")
ADD = "mutation Add($in: AddCountInput!) { addCount(input: $in) { count } }"
PUT = "mutation Put($in: PutItemsInput!) { putItems(input: $in) { id } }"
WRITE = "mutation Write($in: WriteEventsInput!) { writeEvents(input: $in) { accepted } }"

Body = dict[str, Any]


def _key() -> str:
    return uuid.uuid4().hex


def read_entities(rng: random.Random) -> Body:
    reps = [{"__typename": "Profile", "id": p} for p in rng.sample(PROFILES, 10)]
    return {"query": ENTITIES_QUERY, "variables": {"representations": reps}}


def read_counter(rng: random.Random) -> Body:
    if rng.random() < 0.5:
        return {"query": COUNTER, "variables": {"ns": "page_views", "name": "x"}}
    return {"query": COUNTER, "variables": {"ns": "profile_plays", "name": rng.choice(PROFILES)}}


def read_kv(rng: random.Random) -> Body:
    return {"query": KV_READ, "variables": {"id": rng.choice(RECORDS)}}


def record_playback(rng: random.Random) -> Body:
    return {"query": PLAY, "variables": {"in": {
        "profileId": rng.choice(PROFILES), "titleId": rng.choice(TITLES),
        "positionSeconds": rng.randrange(7200), "durationSeconds": rng.randrange(1, 7200),
        "device": rng.choice(("tv", "phone", "laptop")), "idempotencyKey": _key(),
    }}}


def add_count(rng: random.Random) -> Body:
    return {"query": ADD, "variables": {"in": {
        "namespace": "page_views", "name": "x", "delta": "1", "idempotencyKey": _key(),
    }}}


def put_items(rng: random.Random) -> Body:
    items = [{"key": "theme", "text": rng.choice(("dark", "light"))},
             {"key": "volume", "text": str(rng.randrange(100))}]
    return {"query": PUT, "variables": {"in": {
        "namespace": "profile_settings", "id": rng.choice(RECORDS), "items": items,
        "idempotencyKey": _key(),
    }}}


def write_events(rng: random.Random) -> Body:
    events = [{"seriesId": rng.choice(SERIES),
               "items": [{"key": "title_id", "text": rng.choice(TITLES)},
                         {"key": "position_seconds", "text": str(rng.randrange(7200))}]}
              for _ in range(5)]
    return {"query": WRITE, "variables": {"in": {
        "namespace": "viewing_history", "events": events, "idempotencyKey": _key(),
    }}}


MIX: tuple[Callable[[random.Random], Body], ...] = (
    read_entities, read_counter, record_playback, read_kv, add_count,
    read_entities, put_items, read_counter, write_events, record_playback,
)


class Mix:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.latencies: list[float] = []
        self.kinds: Counter[str] = Counter()
        self.errors = 0
        self.first_error: str | None = None
        self.totals = Counter[str]()
        self.stopping = False

    async def worker(self, index: int) -> None:
        args = self.args
        rng = random.Random(args.seed + index)
        conn = Connection(args.host, args.port, args.timeout)
        step = index  # workers start at different places in the mix
        try:
            while not self.stopping:
                make = MIX[step % len(MIX)]
                step += 1
                raw = request_bytes(args.host, args.port, args.path,
                                    json.dumps(make(rng)).encode())
                start = time.perf_counter()
                try:
                    status, body = await conn.request(raw)
                except Exception as exc:
                    self._error(f"{make.__name__}: no answer: {type(exc).__name__}: {exc}")
                    await asyncio.sleep(0.05)
                    continue
                self.latencies.append(time.perf_counter() - start)
                self.kinds[make.__name__] += 1
                if status != 200 or b'"errors"' in body:
                    self._error(f"{make.__name__}: {status} {body[:300]!r}")
        finally:
            conn.close()

    def _error(self, what: str) -> None:
        self.errors += 1
        self.first_error = self.first_error or what

    def interval(self, elapsed: float) -> dict[str, Any]:
        ms = [x * 1000 for x in self.latencies]
        line = {
            "t": round(elapsed, 1), "requests": len(ms), "errors": self.errors,
            "first_error": self.first_error, "p50_ms": round(percentile(ms, 50), 2),
            "p99_ms": round(percentile(ms, 99), 2), "by_kind": dict(self.kinds),
        }
        self.totals.update({"requests": len(ms), "errors": self.errors})
        self.latencies, self.kinds, self.errors, self.first_error = [], Counter(), 0, None
        return line

    async def run(self) -> None:
        args = self.args
        workers = [asyncio.create_task(self.worker(i)) for i in range(args.concurrency)]
        start = time.monotonic()
        end = start + args.seconds
        while (now := time.monotonic()) < end:
            await asyncio.sleep(min(args.interval, end - now))
            _emit(self.interval(time.monotonic() - start))
        self.stopping = True
        await asyncio.gather(*workers)
        _emit({"done": True, **self.totals})


def _emit(line: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(line) + "\n")
    sys.stdout.flush()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.mixload", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--path", default="/graphql")
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=600.0)
    parser.add_argument("--interval", type=float, default=30.0)
    parser.add_argument("--timeout", type=float, default=30.0)
    parser.add_argument("--seed", type=int, default=14)
    asyncio.run(Mix(parser.parse_args(argv)).run())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
