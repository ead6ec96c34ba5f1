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
per request, ours / Apollo.  To say what the rest is, each side's in-process execution of the
same request (benchmark 1's `Schema.execute` and `executeOperation`, timed here too) is taken
from its CPU per request at concurrency 1: what remains is the HTTP server, the request's
parsing, the view around execution and the response's encoding.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

from . import Options
from .doubles import PlaybackData, PreparedGateway, profile_ids
from .graphql_exec import QUERY, Ours, representations
from .node_peer import PEER_DIR, NodePeer, PeerUnavailable, ensure_installed
from .report import Table, Target, fmt
from .serve import serving_with
from .serving import (
    HTTP_COLUMNS,
    Server,
    failure_notes,
    free_port,
    http_row,
    measure,
    post,
    running,
)
from .timing import median, ratio, timed

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
    figures["in_process"] = asyncio.run(_in_process(ours, data, variables, options,
                                                    apollo=apollo_skipped is None))
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


async def _in_process(
    ours: Ours, data: PlaybackData, variables: dict[str, Any], options: Options, *, apollo: bool
) -> dict[str, Any]:
    """Median ms of our `Schema.execute` and of Apollo's `executeOperation`, alternating by
    round, on an idle machine (no server is loaded now)."""
    rounds, per_round = options.pick(10, 4), options.pick(10, 5)
    samples: dict[str, list[float]] = {"ours": [], "apollo": []}
    peer = NodePeer(ours.schema.as_str(), QUERY, variables, data.to_json()) if apollo else None
    try:
        await timed(ours.execute, warmup=options.pick(30, 10), runs=0)
        if peer is not None:
            peer.time("apollo", warmup=100, runs=1)
        for _ in range(rounds):
            samples["ours"] += await timed(ours.execute, warmup=1, runs=per_round)
            if peer is not None:
                samples["apollo"] += peer.time("apollo", warmup=3, runs=per_round)
    finally:
        if peer is not None:
            peer.close()
    return {name: round(median(s), 3) for name, s in samples.items() if s}


def _judge(figures: dict[str, Any]) -> None:
    results = figures["results"]
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
    inproc = figures.get("in_process", {})
    rest = {}
    for name in ("ours", "apollo"):
        c1 = next((r for r in results[name] if r["concurrency"] == 1), None)
        if c1 and c1["server_cpu_ms_per_request"] and name in inproc:
            rest[name] = round(c1["server_cpu_ms_per_request"] - inproc[name], 3)
    figures["rest_ms"] = rest


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
        table.notes.append(
            f"'ours: asyncio + h11' is forced to {_said(figures['ours_plain_serves_with'])}")
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
    inproc, rest = figures.get("in_process", {}), figures.get("rest_ms", {})
    if inproc:
        parts = [f"{'ours Schema.execute' if n == 'ours' else 'Apollo executeOperation'} "
                 f"{fmt(ms, 2)} ms" for n, ms in inproc.items()]
        table.notes.append("in-process execution of the same request: " + ", ".join(parts))
    if rest:
        table.notes.append(
            "the rest of the CPU per request at c=1 (HTTP server, request parsing, the view "
            "around execution, response encoding): " + ", ".join(
                f"{'ours' if n == 'ours' else 'Apollo'} {fmt(ms, 2)} ms" for n, ms in rest.items()
            )
        )
    failure_notes(table, labelled)
    return [table]
