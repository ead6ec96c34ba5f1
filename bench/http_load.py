"""2. End to end on each store: `python -m subgraph serve` over HTTP on seeded data, beside the
sum of its parts.

Stores: SQLite (a temporary file) always; Cassandra when SUBGRAPH_BENCH_CASSANDRA is set (keyspace
`bench_e2e`, dropped first), else skipped with the reason.  Each holds 100 profiles with ten
playbacks each, every profile's play count (`profile_plays`, accurate) and the `page_views`
counter `x`.

`python -m subgraph serve` runs as shipped (one worker) and `bench.loadgen`, a separate
process, drives it at concurrency 1, 8 and 32 with a small query (one counter) and the query of
benchmark 1 (`entities_100`); on SQLite, `serve --workers 2` too, with `entities_100` at
concurrency 1 and 8.  The server's CPU (its process tree, from /proc) is reported beside
throughput and latency, as percent of one core and as CPU ms per request, since the load
generator shares the machine's cores.

Then, the one-worker server idle, one `entities_100` request and its parts, timed from this
process in alternating rounds:

- over HTTP: one request at a time to that server, on a keep-alive connection;
- in-process: `Schema.execute` over a real `DataGateway` on the same store (no HTTP);
- execution alone: the same over the prepared data of benchmark 1 (no store);
- raw reads: the reads that request makes, recorded from the store and replayed with the driver
  alone (`bench.rawreads`).

The sum of the parts is execution alone + raw reads; what the in-process request takes beyond
it is the layers in between (abstractions, backend, thread hand-offs, decoding, the dataloaders'
batches); what the request over HTTP takes beyond the in-process one is the HTTP layer.
"""

from __future__ import annotations

import asyncio
import contextlib
import http.client
import json
import tempfile
import traceback
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

from abstractions.gateway import DataGateway
from abstractions.tokens import IdempotencyToken, now_micros

from . import Options
from .doubles import PlaybackData, PreparedGateway, playback_event, profile_ids
from .graphql_exec import QUERY as ENTITIES_QUERY
from .graphql_exec import Ours, representations
from .rawreads import CassandraRecorder, CassandraReplay, SQLiteRecorder, SQLiteReplay
from .report import Table, Target, fmt, skipped
from .serving import (
    HTTP_COLUMNS,
    Server,
    failure_notes,
    free_port,
    http_row,
    measure,
    post,
    running,
    subgraph_serve,
)
from .timing import median, timed

NAME = "http"
KEYSPACE = "bench_e2e"
PROFILES = 100
EVENTS = 10
CONCURRENCY = (1, 8, 32)
WORKERS = 2
WORKERS_CONCURRENCY = (1, 8)
TARGET_RPS = 40.0
SMALL_QUERY = '{ counter(namespace: "page_views", name: "x") { count } }'
MANY_WORKERS = f"entities_100, {WORKERS} workers"


def _bodies(tmpdir: Path) -> dict[str, Path]:
    bodies = {
        "counter": {"query": SMALL_QUERY},
        "entities_100": {"query": ENTITIES_QUERY,
                         "variables": representations(profile_ids(PROFILES))},
    }
    paths = {}
    for name, body in bodies.items():
        paths[name] = tmpdir / f"{name}.json"
        paths[name].write_bytes(json.dumps(body).encode())
    return paths


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


def run(options: Options) -> dict[str, Any]:
    figures: dict[str, Any] = {
        "server": "python -m subgraph serve (as shipped)",
        "queries": {"counter": SMALL_QUERY, "entities_100": "the query of graphql_exec"},
        "stores": {},
    }
    for store, measure_store in (("sqlite", _sqlite), ("cassandra", _cassandra)):
        try:
            figures["stores"][store] = measure_store(options)
        except Exception as exc:  # the other store still runs; the run fails at the end
            figures["stores"][store] = {"error": f"{type(exc).__name__}: {exc}",
                                        "traceback": traceback.format_exc()}
            figures["partial_failure"] = True
    sqlite = figures["stores"]["sqlite"].get("results", {}).get("entities_100", [])
    c1 = next((r for r in sqlite if r["concurrency"] == 1), None)
    figures["target_rps"] = TARGET_RPS
    figures["target_met"] = c1 is not None and c1["failures"] == 0 and c1["rps"] >= TARGET_RPS
    return figures


# --- the stores ---------------------------------------------------------------------------------


def _sqlite(options: Options) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="bench-http-") as tmp:
        tmpdir = Path(tmp)
        path = tmpdir / "gateway.db"
        url = f"sqlite:///{path}"
        asyncio.run(seed(url))
        bodies = _bodies(tmpdir)
        figures: dict[str, Any] = {"store": "sqlite (temporary file)", "results": {}}
        with _load(figures, url, tmpdir, bodies, options) as server:
            client = OverHTTP(server.port, bodies["entities_100"].read_bytes())
            try:
                figures["parts"] = asyncio.run(_sqlite_parts(url, path, client, options))
            finally:
                client.close()
        port = free_port()
        command = subgraph_serve(url, port, "--workers", str(WORKERS))
        with running("serve_workers", command, port, tmpdir / "workers.log") as server:
            _check(server, bodies)
            figures["results"][MANY_WORKERS] = [
                measure([server], bodies["entities_100"], c, options)[server.name]
                for c in WORKERS_CONCURRENCY
            ]
        return figures


def _cassandra(options: Options) -> dict[str, Any]:
    from .store_cassandra import _drop_keyspace, node_contact

    contact, skip = node_contact()
    if contact is None:
        return {"skipped": skip}
    from backends.cassandra import CassandraStore

    url = f"cassandra://{contact}/{KEYSPACE}"
    asyncio.run(_drop_keyspace(CassandraStore.from_url(url).config))
    asyncio.run(seed(url))
    with tempfile.TemporaryDirectory(prefix="bench-http-cassandra-") as tmp:
        tmpdir = Path(tmp)
        bodies = _bodies(tmpdir)
        figures: dict[str, Any] = {"store": url, "results": {}}
        with _load(figures, url, tmpdir, bodies, options) as server:
            client = OverHTTP(server.port, bodies["entities_100"].read_bytes())
            try:
                figures["parts"] = asyncio.run(_cassandra_parts(url, client, options))
            finally:
                client.close()
    return figures


@contextlib.contextmanager
def _load(figures: dict[str, Any], url: str, tmpdir: Path, bodies: dict[str, Path],
          options: Options) -> Iterator[Server]:
    """Both queries at every concurrency through one `serve`, which then stays up."""
    port = free_port()
    with running("serve", subgraph_serve(url, port), port, tmpdir / "serve.log") as server:
        _check(server, bodies)
        for name, body in bodies.items():
            figures["results"][name] = [
                measure([server], body, c, options)[server.name] for c in CONCURRENCY
            ]
        yield server


class OverHTTP:
    """One request at a time to the idle server, on a keep-alive connection: the over-HTTP
    side of the parts, timed in the same rounds as the others."""

    def __init__(self, port: int, body: bytes) -> None:
        self._conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        self._body = body
        self._headers = {"Content-Type": "application/json", "Accept": "application/json"}

    async def request(self, i: int = 0) -> None:
        self._conn.request("POST", "/graphql", self._body, self._headers)
        response = self._conn.getresponse()
        answer = response.read()
        if response.status != 200 or b'"errors"' in answer:
            raise RuntimeError(f"over HTTP: {response.status} {answer[:300]!r}")

    def close(self) -> None:
        self._conn.close()


def _check(server: Server, bodies: dict[str, Path]) -> None:
    """Both queries answer without errors, and the big one with every profile's events."""
    for name, body in bodies.items():
        answer = post(server.port, body.read_bytes())
        if answer.get("errors"):
            raise RuntimeError(f"{name} failed over HTTP: {answer['errors'][0]}")
    entities = post(server.port, bodies["entities_100"].read_bytes())["data"]["_entities"]
    _check_entities(entities)


def _check_entities(entities: list[dict[str, Any]]) -> None:
    edges = sum(len(e["viewingHistory"]["edges"]) for e in entities)
    if len(entities) != PROFILES or edges != PROFILES * EVENTS:
        raise RuntimeError(f"expected {PROFILES * EVENTS} events, got {edges}")


# --- the parts of one request -------------------------------------------------------------------


async def _sqlite_parts(
    url: str, path: Path, client: OverHTTP, options: Options
) -> dict[str, Any]:
    recorder = SQLiteRecorder()
    with recorder.patched():  # before the gateway opens a connection
        gateway = DataGateway.from_url(url)
        await gateway.start(background=False)
        try:
            store = await _warm(gateway)
            recorder.clear()
            recorder.recording = True
            await store.execute()
            recorder.recording = False
            replay = SQLiteReplay(path, recorder.recorded())
            try:
                async def raw(i: int) -> None:
                    replay.run()

                figures = await _time_parts(client, store, raw, options)
                figures["raw_statements"] = replay.statements
                figures["raw_rows"] = replay.run()
                return figures
            finally:
                replay.close()
        finally:
            await gateway.stop()


async def _cassandra_parts(url: str, client: OverHTTP, options: Options) -> dict[str, Any]:
    from .store_cassandra import RawDriver

    gateway = DataGateway.from_url(url)
    await gateway.start(background=False)
    driver = RawDriver(gateway.store.config)  # type: ignore[attr-defined]
    try:
        db = gateway.store.db  # type: ignore[attr-defined]
        await driver.connect(like=db.cluster)
        store = await _warm(gateway)
        recorder = CassandraRecorder(db.session)
        try:
            recorder.recording = True
            await store.execute()
            recorder.recording = False
        finally:
            recorder.close()
        replay = CassandraReplay(driver, recorder.recorded())
        await replay.prepare()

        async def raw(i: int) -> None:
            await replay.run()

        figures = await _time_parts(client, store, raw, options)
        figures["raw_statements"] = replay.statements
        figures["raw_rows"] = await replay.run()
        return figures
    finally:
        await driver.close()
        await gateway.stop()


async def _warm(gateway: DataGateway) -> Ours:
    """Our request path over `gateway`, checked and warmed up."""
    store = Ours(gateway, representations(profile_ids(PROFILES)))
    for _ in range(3):
        result = await store.execute()
        if result.errors:
            raise RuntimeError(f"in-process request failed: {result.errors[0]}")
    _check_entities(result.data["_entities"])
    return store


async def _time_parts(
    client: OverHTTP, store: Ours, raw: Callable[[int], Awaitable[None]], options: Options
) -> dict[str, Any]:
    """Medians of the request over HTTP and of its parts, alternating by round so that they
    share the machine's noise."""
    prepared = Ours(PreparedGateway(PlaybackData.build(profile_ids(PROFILES), EVENTS)),
                    representations(profile_ids(PROFILES)))
    sides: dict[str, Callable[[int], Awaitable[Any]]] = {
        "over_http": client.request, "in_process": store.execute, "execution": prepared.execute,
        "raw_reads": raw,
    }
    for run in sides.values():
        await timed(run, warmup=options.pick(10, 3), runs=0)
    samples: dict[str, list[float]] = {name: [] for name in sides}
    for _ in range(options.pick(10, 4)):
        for name, run in sides.items():
            samples[name] += await timed(run, warmup=1, runs=options.pick(5, 3))
    ms = {name: round(median(s), 3) for name, s in samples.items()}
    ms["sum_of_parts"] = round(ms["execution"] + ms["raw_reads"], 3)
    ms["between"] = round(ms["in_process"] - ms["sum_of_parts"], 3)
    ms["http_layer"] = round(ms["over_http"] - ms["in_process"], 3)
    return {"ms": ms, "runs": len(samples["in_process"])}


# --- report -------------------------------------------------------------------------------------


def targets(figures: dict[str, Any]) -> list[Target]:
    what = "SQLite end to end: entities_100 over HTTP at concurrency 1, one worker"
    rows = figures["stores"].get("sqlite", {}).get("results", {}).get("entities_100", [])
    c1 = next((r for r in rows if r["concurrency"] == 1), None)
    if c1 is None:
        return [Target(what, f">= {TARGET_RPS:g} req/s", None, None, "no figures")]
    note = f"{c1['failures']} failed" if c1["failures"] else ""
    return [Target(what, f">= {TARGET_RPS:g} req/s", f"{fmt(c1['rps'], 1)} req/s",
                   figures["target_met"], note)]


STORE_TITLES = {"sqlite": "SQLite", "cassandra": "Cassandra"}


def tables(figures: dict[str, Any]) -> list[Table]:
    out = []
    for store, title in STORE_TITLES.items():
        found = figures["stores"].get(store, {})
        heading = (f"2. End to end on {title}: python -m subgraph serve over HTTP, "
                   f"{PROFILES} profiles x {EVENTS} playbacks seeded")
        if "skipped" in found:
            out.append(skipped(heading, found["skipped"]))
            continue
        if "error" in found:
            out.append(Table(f"{heading}: failed", ["error"], [[found["error"]]]))
            continue
        out.append(_http_table(heading, found, store == "sqlite"))
        if "parts" in found:
            out.append(_parts_table(title, found))
    return out


def _http_table(heading: str, found: dict[str, Any], judged: bool) -> Table:
    table = Table(heading, ["query", *HTTP_COLUMNS[1:]])
    labelled = []
    for name, rows in found["results"].items():
        for r in rows:
            table.rows.append(http_row(name, r))
            labelled.append((name, r))
    table.notes.append(
        "server CPU % is of one core (all of the server's processes); CPU ms/req is the "
        "server's CPU time per answered request"
    )
    if judged:
        c1 = next((r for r in found["results"].get("entities_100", [])
                   if r["concurrency"] == 1), None)
        if c1 is not None:
            met = c1["rps"] >= TARGET_RPS and not c1["failures"]
            table.notes.append(f"target: entities_100 at c=1 >= {TARGET_RPS:g} req/s; measured "
                               f"{fmt(c1['rps'], 1)}: {'met' if met else 'not met'}")
    failure_notes(table, labelled)
    return table


def _parts_table(title: str, found: dict[str, Any]) -> Table:
    parts = found["parts"]
    ms = parts["ms"]
    table = Table(f"2. Where one entities_100 request's time goes on {title} (ms)",
                  ["part", "ms"])
    table.rows += [
        ["over HTTP, one request at a time", fmt(ms["over_http"], 2)],
        ["in-process: Schema.execute over the store's gateway", fmt(ms["in_process"], 2)],
        ["  execution alone (prepared data, benchmark 1's double)", fmt(ms["execution"], 2)],
        [f"  raw driver: the same reads ({parts['raw_statements']} statements, "
         f"{parts['raw_rows']} rows)", fmt(ms["raw_reads"], 2)],
        ["  sum of parts: execution + raw reads", fmt(ms["sum_of_parts"], 2)],
        ["  layers in between: in-process - sum of parts", fmt(ms["between"], 2)],
        ["HTTP layer: over HTTP - in-process", fmt(ms["http_layer"], 2)],
    ]
    table.notes.append(
        f"medians of {parts['runs']} runs each, in alternating rounds, after the load (the "
        "server idle but for these requests); the raw reads are the recorded statements of "
        "one request, replayed with the driver alone (bench/rawreads.py)"
    )
    return table
