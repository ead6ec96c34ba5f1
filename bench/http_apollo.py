"""6. The HTTP layer against Apollo Server: the query of benchmark 1 over HTTP, prepared data.

Ours is `python -m subgraph serve` with the prepared-data double of benchmark 1 in place of the
store (`python -m bench.serve --prepared`: the shipped app, schema, HTTP view and uvicorn
settings, only the gateway differs), with whatever event loop and HTTP parser `serve` uses;
when those are not asyncio and h11, a second server forced to asyncio and h11 shows what they
bring.  The peer is Apollo Server 5 (`startStandaloneServer`) with `@apollo/subgraph`, our SDL,
resolvers that mirror ours and the same prepared data (`bench/peer/server.mjs`), one Node
process.  Their responses must be equal.

One `bench.loadgen` process drives all of them at concurrency 1, 8 and 32, window by window
in turn, so they share the machine's noise.  Per server: throughput, p50, p99, and the CPU time
of the server process per answered request; the figure of the target is the ratio of CPU ms
per request, ours / Apollo.  To say what the rest is, the same request is measured layer by
layer, in CPU time per request on both sides, in alternating rounds: execution alone
(graphql-core's / graphql-js's `execute`), the request pipeline (`Schema.execute` /
`executeOperation`), ours through the ASGI app called directly (`create_app` over the double,
its lifespan run, logging as `serve` does: no socket, no uvicorn), and each server over HTTP,
one request at a time (its threads' on-CPU time from /proc).  Each layer is the difference to
the one inside it; the last, the HTTP server and the socket.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import logging.config
import os
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

from . import Options, as_served
from .doubles import PlaybackData, PreparedGateway, profile_ids
from .graphql_exec import QUERY, Ours, representations
from .node_peer import PEER_DIR, NodePeer, PeerUnavailable, ensure_installed
from .report import Table, Target, fmt
from .serve import serving_with
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
)
from .timing import cpu_ms_per_run, median, ratio, timed

NAME = "http_apollo"
PROFILES = 100
EVENTS = 10
CONCURRENCY = (1, 8, 32)
TARGET_RATIO = 1.5
PLAIN = {"loop": "asyncio", "http": "h11"}
LABELS = {"ours": "ours: serve", "ours_plain": "ours: asyncio + h11", "apollo": "Apollo Server 5"}


def run(options: Options) -> dict[str, Any]:
    ids = profile_ids(PROFILES)
    data = PlaybackData.build(ids, EVENTS)
    variables = representations(ids)
    ours = Ours(PreparedGateway(data), variables)
    figures: dict[str, Any] = {
        "query": "entities_100: the query of graphql_exec, 100 representations",
        "results": {},
    }
    apollo_skipped = None
    try:
        ensure_installed()
        if shutil.which("node") is None:
            raise PeerUnavailable("node is not installed")
    except PeerUnavailable as exc:
        apollo_skipped = figures["apollo_skipped"] = str(exc)
    with tempfile.TemporaryDirectory(prefix="bench-http-apollo-") as tmp, \
            contextlib.ExitStack() as stack:
        tmpdir = Path(tmp)
        body = tmpdir / "entities_100.json"
        body.write_bytes(json.dumps({"query": QUERY, "variables": variables}).encode())
        servers = [_ours(stack, tmpdir, "ours", [])]
        figures["ours_serves_with"] = serving_with(servers[0].log)
        if not _is_plain(figures["ours_serves_with"]):
            servers.append(_ours(stack, tmpdir, "ours_plain",
                                 ["--loop", PLAIN["loop"], "--http", PLAIN["http"]]))
            figures["ours_plain_serves_with"] = serving_with(servers[-1].log)
        if apollo_skipped is None:
            setup = tmpdir / "setup.json"
            setup.write_text(json.dumps({"sdl": ours.schema.as_str(), "data": data.to_json()}))
            servers.append(_apollo(stack, tmpdir, setup))
        figures["same_response"] = _same_responses(servers, body.read_bytes())
        for c in CONCURRENCY:
            for name, row in measure(servers, body, c, options).items():
                figures["results"].setdefault(name, []).append(row)
        try:  # the breakdown explains the figures above: its failure does not lose them
            figures["in_process"], figures["in_process_loop"] = as_served.run(
                lambda: _in_process(
                    ours, data, variables, servers, body.read_bytes(), options,
                    apollo=apollo_skipped is None,
                )
            )
        except Exception as exc:
            figures["in_process_error"] = f"{type(exc).__name__}: {exc}"
            figures["partial_failure"] = True
    _judge(figures)
    return figures


def _ours(stack: contextlib.ExitStack, tmpdir: Path, name: str, extra: list[str]) -> Server:
    port = free_port()
    command = [sys.executable, "-m", "bench.serve", "--prepared", *extra,
               "--host", "127.0.0.1", "--port", str(port)]
    return stack.enter_context(running(name, command, port, tmpdir / f"{name}.log"))


def _apollo(stack: contextlib.ExitStack, tmpdir: Path, setup: Path) -> Server:
    node = shutil.which("node") or "node"
    port = free_port()
    return stack.enter_context(running(
        "apollo", [node, "server.mjs", str(setup), str(port)], port, tmpdir / "apollo.log",
        cwd=PEER_DIR, env={"NODE_ENV": "production"},
    ))


def _is_plain(said: dict[str, str] | None) -> bool:
    if said is None:
        return False
    return said["loop"].startswith("asyncio.") and said["http"] == "H11Protocol"


def _same_responses(servers: list[Server], body: bytes) -> dict[str, bool]:
    """Each server's `data` against ours (the first), and no errors anywhere."""
    answers = {s.name: post(s.port, body, s.path) for s in servers}
    for name, answer in answers.items():
        if answer.get("errors"):
            raise RuntimeError(f"{name} answered with errors: {answer['errors'][0]}")
    ours = answers[servers[0].name]["data"]
    entities = ours["_entities"]
    if len(entities) != PROFILES or any(
        len(e["viewingHistory"]["edges"]) != EVENTS for e in entities
    ):
        raise RuntimeError("ours did not answer every profile's events")
    return {name: a["data"] == ours for name, a in answers.items() if name != servers[0].name}


class InProcessApp:
    """Our ASGI app (`create_app` over the prepared double) called directly, its lifespan run:
    a request as uvicorn would hand it over, without socket or HTTP parser."""

    def __init__(self, data: PlaybackData, body: bytes) -> None:
        from subgraph.app import Settings, create_app

        self.app = create_app(Settings(store_url="prepared:bench.doubles.PreparedGateway"),
                              gateway=PreparedGateway(data))  # type: ignore[arg-type]
        self.body = body
        self.scope = {
            "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1",
            "method": "POST", "scheme": "http", "path": "/graphql", "raw_path": b"/graphql",
            "query_string": b"", "root_path": "", "client": ("127.0.0.1", 40000),
            "server": ("127.0.0.1", 4001),
            "headers": [(b"host", b"127.0.0.1:4001"), (b"content-type", b"application/json"),
                        (b"accept", b"application/json"),
                        (b"content-length", str(len(body)).encode())],
        }
        self._lifespan: asyncio.Task[None] | None = None
        self._saved: tuple[int, list[logging.Handler]] = (logging.WARNING, [])
        self._to_app: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self._from_app: asyncio.Queue[dict[str, Any]] = asyncio.Queue()

    async def start(self) -> None:
        """Log as `serve` does (each request's line, formatted, written: here to /dev/null),
        then run the app's startup."""
        from subgraph.logs import logging_config

        config = logging_config("text", "INFO")
        config["handlers"]["default"] = {"class": "logging.FileHandler",
                                         "formatter": "default", "filename": os.devnull}
        self._saved = logging.getLogger().level, logging.getLogger().handlers[:]
        logging.config.dictConfig(config)
        scope = {"type": "lifespan", "asgi": {"version": "3.0"}, "state": {}}
        self._lifespan = asyncio.create_task(
            self.app(scope, self._to_app.get, self._from_app.put)  # type: ignore[arg-type]
        )
        await self._to_app.put({"type": "lifespan.startup"})
        said = await self._from_app.get()
        if said["type"] != "lifespan.startup.complete":
            raise RuntimeError(f"the app did not start: {said}")

    async def stop(self) -> None:
        await self._to_app.put({"type": "lifespan.shutdown"})
        await self._from_app.get()
        if self._lifespan is not None:
            await self._lifespan
        root = logging.getLogger()
        for handler in root.handlers:
            handler.close()
        root.setLevel(self._saved[0])
        root.handlers = self._saved[1]

    async def request(self, i: int = 0) -> bytes:
        sent = False
        parts: list[bytes] = []
        status = 0

        async def receive() -> dict[str, Any]:
            nonlocal sent
            if sent:
                await asyncio.Event().wait()  # no disconnect while the answer is made
            sent = True
            return {"type": "http.request", "body": self.body, "more_body": False}

        async def send(message: dict[str, Any]) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            elif message["type"] == "http.response.body":
                parts.append(message.get("body", b""))

        await self.app({**self.scope, "state": {}}, receive, send)  # type: ignore[arg-type]
        body = b"".join(parts)
        if status != 200 or b'"errors"' in body:
            raise RuntimeError(f"the app answered {status}: {body[:300]!r}")
        return body


async def _in_process(
    ours: Ours, data: PlaybackData, variables: dict[str, Any], servers: list[Server],
    body: bytes, options: Options, *, apollo: bool,
) -> dict[str, Any]:
    """CPU ms per request of each layer of the same request, medians over alternating rounds:
    execution alone (graphql-core's / graphql-js's `execute`), the request pipeline
    (`Schema.execute` / `executeOperation`), ours through the ASGI app, and each server over
    HTTP one request at a time (its threads' on-CPU time, `bench.procstat`).  CPU time, on
    both sides and in the same rounds, so that one layer can be taken from the next."""
    rounds, per_round = options.pick(10, 4), options.pick(10, 5)
    app = InProcessApp(data, body)
    by_name = {s.name: s for s in servers}
    clients = {name: OverHTTP(by_name[name].port, body, by_name[name].path)
               for name in ("ours", "apollo") if name in by_name}
    ours_runs = {"ours_execute": ours.core_execute, "ours": ours.execute,
                 "ours_app": app.request}
    samples: dict[str, list[float]] = {
        name: [] for name in (*ours_runs, "apollo_execute", "apollo", "ours_http", "apollo_http")
    }
    peer = NodePeer(ours.schema.as_str(), QUERY, variables, data.to_json()) if apollo else None
    await app.start()
    try:
        # Ours in process as serve runs (its loop: `as_served.run`): its collector settings.
        with as_served.collector():
            for run in ours_runs.values():
                await timed(run, warmup=options.pick(30, 10), runs=0)
            if peer is not None:
                peer.time("execute", warmup=100, runs=1)
                peer.time("apollo", warmup=100, runs=1)
            for _ in range(rounds):
                for name, run in ours_runs.items():
                    samples[name].append(await cpu_ms_per_run(run, runs=per_round))
                if peer is not None:
                    samples["apollo_execute"].append(
                        peer.cpu_ms("execute", warmup=2, runs=per_round)
                    )
                    samples["apollo"].append(peer.cpu_ms("apollo", warmup=2, runs=per_round))
                for name, client in clients.items():
                    await client.request()
                    samples[f"{name}_http"].append(
                        await client.server_cpu_ms(by_name[name].pid, per_round)
                    )
    finally:
        await app.stop()
        for client in clients.values():
            client.close()
        if peer is not None:
            peer.close()
    return {name: round(median(s), 3) for name, s in samples.items() if s}


def _judge(figures: dict[str, Any]) -> None:
    results = figures["results"]
    figures["breakdown"] = _breakdown(figures)
    if "apollo" not in results:
        return
    apollo = {r["concurrency"]: r for r in results["apollo"]}
    figures["cpu_ratio"] = {
        str(r["concurrency"]): ratio(r["server_cpu_ms_per_request"] or 0,
                                     apollo[r["concurrency"]]["server_cpu_ms_per_request"] or 0)
        for r in results["ours"]
    }
    figures["rps_ratio"] = {
        str(r["concurrency"]): ratio(r["rps"], apollo[r["concurrency"]]["rps"])
        for r in results["ours"]
    }
    ratios = list(figures["cpu_ratio"].values())
    figures["target_ratio"] = TARGET_RATIO
    figures["target_met"] = all(x is not None and x <= TARGET_RATIO for x in ratios)


def _breakdown(figures: dict[str, Any]) -> dict[str, dict[str, float | None]]:
    """Each side's CPU per request over HTTP (one request at a time) split into layers: each the
    difference of two medians measured in the same rounds, the last (HTTP server and socket)
    what the server spends beyond the outermost layer measured in-process."""
    inproc = figures.get("in_process", {})
    layers = {"ours": ("ours_execute", "ours", "ours_app"),
              "apollo": ("apollo_execute", "apollo", None)}
    out: dict[str, dict[str, float | None]] = {}
    for side, (execute, pipeline, app) in layers.items():
        total = inproc.get(f"{side}_http")
        if execute not in inproc or total is None:
            continue
        outer = inproc[app] if app else inproc[pipeline]
        out[side] = {
            "execution": inproc[execute],
            "pipeline": round(inproc[pipeline] - inproc[execute], 3),
            "app": round(inproc[app] - inproc[pipeline], 3) if app else None,
            "server": round(total - outer, 3),
            "total": total,
        }
    return out


def targets(figures: dict[str, Any]) -> list[Target]:
    what = "HTTP CPU ms/request, ours / Apollo Server (entities_100, every concurrency)"
    if "cpu_ratio" not in figures:
        return [Target(what, f"<= {TARGET_RATIO}x", None, None,
                       figures.get("apollo_skipped") or "no Apollo figures")]
    worst = max(x for x in figures["cpu_ratio"].values() if x is not None)
    measured = ", ".join(f"c={c} {fmt(x, 2, 'x')}" for c, x in figures["cpu_ratio"].items())
    return [Target(what, f"<= {TARGET_RATIO}x", measured, figures["target_met"],
                   f"worst {fmt(worst, 2, 'x')}")]


def _said(said: dict[str, str] | None) -> str:
    if said is None:
        return "unknown (bench.serve did not say)"
    return f"loop {said['loop']}, http {said['http']}"


def tables(figures: dict[str, Any]) -> list[Table]:
    table = Table(
        "6. HTTP layer against Apollo Server: entities_100 over HTTP on prepared data, "
        "one process each, the same load generator",
        HTTP_COLUMNS,
    )
    results = figures["results"]
    labelled = []
    for c in CONCURRENCY:
        for name, label in LABELS.items():
            row = next((r for r in results.get(name, []) if r["concurrency"] == c), None)
            if row is not None:
                table.rows.append(http_row(label, row))
                labelled.append((label, row))
    table.notes.append(f"ours serves with {_said(figures.get('ours_serves_with'))} "
                       "(what python -m subgraph serve uses)")
    if "ours_plain_serves_with" in figures:
        said = figures["ours_plain_serves_with"]
        forced = "" if _is_plain(said) else " (NOT what was asked: the override did not take)"
        table.notes.append(f"'ours: asyncio + h11' is forced to {_said(said)}{forced}")
    else:
        table.notes.append("no asyncio + h11 row: serve already runs on them")
    if "cpu_ratio" in figures:
        table.notes.append(
            "CPU ms per request, ours / Apollo: "
            + ", ".join(f"c={c} {fmt(x, 2, 'x')}" for c, x in figures["cpu_ratio"].items())
            + f"; target <= {TARGET_RATIO}x at every concurrency: "
            + ("met" if figures["target_met"] else "not met")
        )
        table.notes.append(
            "req/s, ours / Apollo: "
            + ", ".join(f"c={c} {fmt(x, 2, 'x')}" for c, x in figures["rps_ratio"].items())
        )
        same = figures.get("same_response", {})
        table.notes.append("responses equal ours: " + ", ".join(
            f"{LABELS.get(n, n)} {'yes' if ok else 'NO'}" for n, ok in same.items()))
    else:
        table.notes.append(f"Apollo Server skipped: {figures.get('apollo_skipped')}")
    failure_notes(table, labelled)
    if "in_process_error" in figures:
        table.notes.append(f"the layer-by-layer breakdown failed: {figures['in_process_error']}")
    return [table, *_breakdown_table(figures.get("breakdown", {}),
                                     figures.get("in_process_loop"))]


BREAKDOWN = (
    ("execution", "execution alone: graphql-core execute / graphql-js execute"),
    ("pipeline", "+ request pipeline: Schema.execute / executeOperation"),
    ("app", "+ Starlette app and our view (the ASGI app in-process)"),
    ("server", "+ HTTP server and socket: the rest, over HTTP"),
    ("total", "= server CPU per request over HTTP, one at a time"),
)


def _breakdown_table(
    breakdown: dict[str, dict[str, float | None]], loop: str | None
) -> list[Table]:
    if "ours" not in breakdown:
        return []
    sides = [s for s in ("ours", "apollo") if s in breakdown]
    table = Table("6. What the CPU per request is made of, one request at a time (ms)",
                  ["layer", *("ours" if s == "ours" else "Apollo" for s in sides)])
    for key, label in BREAKDOWN:
        table.rows.append([label, *(fmt(breakdown[s][key], 2) for s in sides)])
    table.notes.append(
        "CPU time per request, medians over alternating rounds: in-process (process_time, Node's "
        "process.cpuUsage) and of each server's threads over HTTP (/proc/<pid>/task/*/schedstat); "
        "each layer is the difference to the one inside it. Apollo's executeOperation already "
        "runs most of its HTTP pipeline, so its last line is the socket and Node's http server"
    )
    if loop is not None:
        table.notes.append(
            f"ours in process runs as serve does: on {loop}, with "
            "serve's collector settings (bench.as_served)"
        )
    return [table]
