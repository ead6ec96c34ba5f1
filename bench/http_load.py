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
import json
import tempfile
import traceback
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any, Protocol

from abstractions.gateway import DataGateway
from abstractions.tokens import IdempotencyToken, now_micros

from . import Options, as_served
from .doubles import PlaybackData, PreparedGateway, playback_event, profile_ids
from .graphql_exec import QUERY as ENTITIES_QUERY
from .graphql_exec import Ours, representations
from .rawreads import CassandraRecorder, CassandraReplay, SQLiteRecorder, SQLiteReplay
from .report import Table, Target, fmt, skipped
from .serving import (
    HTTP_COLUMNS,
    OverHTTP,
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
PARTS_SECONDS = 90.0  # the parts' runs are cut to fit this when a store is slow
MIN_PART_RUNS = 3
PROBES = 2  # attempts at a query before it is reported unanswered
LEFT_BEHIND_SECONDS = 15.0

Run = Callable[[int], Awaitable[Any]]


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
        with _load(figures, url, tmpdir, bodies, options) as server, \
                _client(figures, server, bodies) as client:
            parts, loop = as_served.run(lambda: _sqlite_parts(url, path, client, options))
            figures["parts"] = {**parts, "loop": loop}
        port = free_port()
        command = subgraph_serve(url, port, "--workers", str(WORKERS))
        with running("serve_workers", command, port, tmpdir / "workers.log") as server:
            _measure_query(figures, "entities_100", server, bodies["entities_100"],
                           WORKERS_CONCURRENCY, MANY_WORKERS, options)
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
        with _load(figures, url, tmpdir, bodies, options) as server, \
                _client(figures, server, bodies) as client:
            parts, loop = as_served.run(lambda: _cassandra_parts(url, client, options))
            figures["parts"] = {**parts, "loop": loop}
    return figures


@contextlib.contextmanager
def _load(figures: dict[str, Any], url: str, tmpdir: Path, bodies: dict[str, Path],
          options: Options) -> Iterator[Server]:
    """Both queries at every concurrency through one `serve`, which then stays up; a query
    the server cannot answer is not loaded (`unmeasured` says why)."""
    port = free_port()
    with running("serve", subgraph_serve(url, port), port, tmpdir / "serve.log") as server:
        for name, body in bodies.items():
            _measure_query(figures, name, server, body, CONCURRENCY, name, options)
        yield server


def _measure_query(
    figures: dict[str, Any], name: str, server: Server, body: Path,
    concurrency: tuple[int, ...], label: str, options: Options,
) -> None:
    problem = _probe(server, body)
    if problem is not None:
        figures.setdefault("unmeasured", {})[label] = problem
        return
    figures["results"][label] = [
        measure([server], body, c, options)[server.name] for c in concurrency
    ]


def _probe(server: Server, body: Path) -> str | None:
    """None when the query answers without errors (and, for entities_100, with every event);
    else the last failure of PROBES attempts (a cold first request may pass its deadline)."""
    problem = None
    for _ in range(PROBES):
        try:
            answer = post(server.port, body.read_bytes(), timeout=60)
        except OSError as exc:
            problem = f"no answer: {exc}"
            continue
        if not answer.get("errors"):
            if "_entities" in answer["data"]:
                _check_entities(answer["data"]["_entities"])
            return None
        problem = json.dumps(answer["errors"][0])[:300]
    return problem


@contextlib.contextmanager
def _client(
    figures: dict[str, Any], server: Server, bodies: dict[str, Path]
) -> Iterator[OverHTTP | None]:
    """The over-HTTP side of the parts, unless the server could not answer entities_100."""
    if "entities_100" in figures.get("unmeasured", {}):
        yield None
        return
    client = OverHTTP(server.port, bodies["entities_100"].read_bytes())
    try:
        yield client
    finally:
        client.close()


def _check_entities(entities: list[dict[str, Any]]) -> None:
    edges = sum(len(e["viewingHistory"]["edges"]) for e in entities)
    if len(entities) != PROFILES or edges != PROFILES * EVENTS:
        raise RuntimeError(f"expected {PROFILES * EVENTS} events, got {edges}")


# --- the parts of one request -------------------------------------------------------------------


class Recorder(Protocol):
    recording: bool

    def clear(self) -> None: ...

    def sent(self) -> str: ...


class Replay(Protocol):
    statements: int

    async def run(self) -> int: ...


async def _sqlite_parts(
    url: str, path: Path, client: OverHTTP | None, options: Options
) -> dict[str, Any]:
    recorder = SQLiteRecorder()
    with recorder.patched():  # before the gateway opens a connection
        gateway = DataGateway.from_url(url)
        await gateway.start(background=False)
        replay: SQLiteReplay | None = None

        async def replaying() -> Replay:
            nonlocal replay
            replay = SQLiteReplay(path, recorder.recorded())
            return replay

        try:
            return await _parts(gateway, recorder, replaying, client, options)
        finally:
            if replay is not None:
                replay.close()
            await gateway.stop()


async def _cassandra_parts(
    url: str, client: OverHTTP | None, options: Options
) -> dict[str, Any]:
    from .store_cassandra import RawDriver

    gateway = DataGateway.from_url(url)
    await gateway.start(background=False)
    db = gateway.store.db  # type: ignore[attr-defined]
    driver = RawDriver(gateway.store.config)  # type: ignore[attr-defined]
    recorder = CassandraRecorder(db.session)

    async def replaying() -> Replay:
        replay = CassandraReplay(driver, recorder.recorded())
        await replay.prepare()
        return replay

    try:
        await driver.connect(like=db.cluster)
        return await _parts(gateway, recorder, replaying, client, options)
    finally:
        recorder.close()
        await driver.close()
        await gateway.stop()


async def _parts(
    gateway: DataGateway, recorder: Recorder, replaying: Callable[[], Awaitable[Replay]],
    client: OverHTTP | None, options: Options,
) -> dict[str, Any]:
    """Record the reads of one warm request, then time the parts.  If the in-process request
    fails (a store deadline), say so with what its first attempt sent the store."""
    store = Ours(gateway, representations(profile_ids(PROFILES)))
    recorder.recording = True
    first = await store.execute()
    recorder.recording = False
    if first.errors:
        return {"error": f"the in-process request failed: {first.errors[0].message}",
                "sent_before_failing": recorder.sent(), "left_behind": await _left_behind()}
    _check_entities(first.data["_entities"])
    await store.execute()
    recorder.clear()
    recorder.recording = True
    await store.execute()
    recorder.recording = False
    replay = await replaying()

    async def raw(i: int) -> None:
        await replay.run()

    with as_served.collector():  # in process as serve runs (its loop: `as_served.run`)
        figures = await _time_parts(client, store, raw, options)
    figures["raw_statements"] = replay.statements
    figures["raw_rows"] = await replay.run()
    return figures


async def _left_behind() -> dict[str, int]:
    """The tasks a failed request left running: waited for (at most LEFT_BEHIND_SECONDS) and
    their errors retrieved, so that they are counted here rather than logged at shutdown."""
    tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
    if not tasks:
        return {"tasks": 0, "failed": 0}
    done, _ = await asyncio.wait(tasks, timeout=LEFT_BEHIND_SECONDS)
    failed = sum(1 for t in done if not t.cancelled() and t.exception() is not None)
    return {"tasks": len(tasks), "failed": failed}


async def _time_parts(
    client: OverHTTP | None, store: Ours, raw: Callable[[int], Awaitable[None]],
    options: Options,
) -> dict[str, Any]:
    """Medians of the request over HTTP (when it answers there) and of its parts, alternating
    by round so that they share the machine's noise.  Runs per side: up to 50 (12 with
    --quick), fewer when one run of every side takes so long that they would not fit in
    PARTS_SECONDS (at least 3)."""
    prepared = Ours(PreparedGateway(PlaybackData.build(profile_ids(PROFILES), EVENTS)),
                    representations(profile_ids(PROFILES)))
    failures: Counter[str] = Counter()

    def counted(name: str, run: Run) -> Run:
        async def counting(i: int) -> None:
            result = await run(i)
            if result is False or getattr(result, "errors", None):
                failures[name] += 1

        return counting

    sides = {
        name: counted(name, run) for name, run in (
            ("over_http", client.request if client is not None else None),
            ("in_process", store.execute), ("execution", prepared.execute), ("raw_reads", raw),
        ) if run is not None
    }
    one = 0.0  # seconds of one run of every side
    for run in sides.values():
        one += sum(await timed(run, warmup=0, runs=1)) / 1000
    rounds, per_round = options.pick(10, 4), options.pick(5, 3)
    budget = options.seconds(PARTS_SECONDS, PARTS_SECONDS / 3)
    if one * rounds * per_round > budget:
        runs = max(MIN_PART_RUNS, int(budget / one))
        rounds = min(rounds, runs)
        per_round = max(1, runs // rounds)
    warmup = options.pick(10, 3) if one < 1 else 0
    for run in sides.values():
        await timed(run, warmup=warmup, runs=0)
    samples: dict[str, list[float]] = {name: [] for name in sides}
    failures.clear()  # of the timed runs (and their one warm-up each) only
    for _ in range(rounds):
        for name, run in sides.items():
            samples[name] += await timed(run, warmup=1 if warmup else 0, runs=per_round)
    ms = {name: round(median(s), 3) for name, s in samples.items()}
    ms["sum_of_parts"] = round(ms["execution"] + ms["raw_reads"], 3)
    ms["between"] = round(ms["in_process"] - ms["sum_of_parts"], 3)
    if "over_http" in ms:
        ms["http_layer"] = round(ms["over_http"] - ms["in_process"], 3)
    return {"ms": ms, "runs": rounds * per_round, "failures": dict(failures)}


# --- report -------------------------------------------------------------------------------------


def targets(figures: dict[str, Any]) -> list[Target]:
    what = "SQLite end to end: entities_100 over HTTP at concurrency 1, one worker"
    sqlite = figures["stores"].get("sqlite", {})
    rows = sqlite.get("results", {}).get("entities_100", [])
    c1 = next((r for r in rows if r["concurrency"] == 1), None)
    if c1 is None:
        unanswered = sqlite.get("unmeasured", {}).get("entities_100")
        if unanswered:
            return [Target(what, f">= {TARGET_RPS:g} req/s", None, False,
                           f"the server does not answer it: {unanswered}")]
        return [Target(what, f">= {TARGET_RPS:g} req/s", None, None,
                       sqlite.get("error") or sqlite.get("skipped") or "no figures")]
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
            out.append(_parts_table(title, found["parts"]))
    return out


def _http_table(heading: str, found: dict[str, Any], judged: bool) -> Table:
    table = Table(heading, ["query", *HTTP_COLUMNS[1:]])
    labelled = []
    for name, rows in found["results"].items():
        for r in rows:
            table.rows.append(http_row(name, r))
            labelled.append((name, r))
    for name, problem in found.get("unmeasured", {}).items():
        table.notes.append(f"{name}: not measured, the server does not answer it: {problem}")
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


def _parts_table(title: str, parts: dict[str, Any]) -> Table:
    heading = f"2. Where one entities_100 request's time goes on {title} (ms)"
    if "error" in parts:
        left = parts.get("left_behind", {})
        note = (f"not measured: {parts['error']}; its first attempt sent "
                f"{parts['sent_before_failing']} before failing")
        if left.get("tasks"):
            note += (f", and left {left['tasks']} tasks running ({left['failed']} of them then "
                     "failed, their errors retrieved by nobody but this benchmark)")
        return Table(heading, [], notes=[note])
    ms = parts["ms"]
    table = Table(heading, ["part", "ms"])
    if "over_http" in ms:
        table.rows.append(["over HTTP, one request at a time", fmt(ms["over_http"], 2)])
    table.rows += [
        ["in-process: Schema.execute over the store's gateway", fmt(ms["in_process"], 2)],
        ["  execution alone (prepared data, benchmark 1's double)", fmt(ms["execution"], 2)],
        [f"  raw driver: the same reads ({parts['raw_statements']} statements, "
         f"{parts['raw_rows']} rows)", fmt(ms["raw_reads"], 2)],
        ["  sum of parts: execution + raw reads", fmt(ms["sum_of_parts"], 2)],
        ["  layers in between: in-process - sum of parts", fmt(ms["between"], 2)],
    ]
    if "http_layer" in ms:
        table.rows.append(["HTTP layer: over HTTP - in-process", fmt(ms["http_layer"], 2)])
    for side, n in parts.get("failures", {}).items():
        table.notes.append(f"{side.replace('_', ' ')}: {n} of the timed runs answered with "
                           "errors (their times are in the median)")
    table.notes.append(
        f"medians of {parts['runs']} runs each, in alternating rounds, after the load (the "
        "server idle but for these requests); the raw reads are the recorded statements of "
        "one request, replayed with the driver alone (bench/rawreads.py)"
        + (f"; in process as serve runs: on {parts['loop']}, with serve's collector settings"
           if "loop" in parts else "")
    )
    return table
