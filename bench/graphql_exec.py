"""1. GraphQL execution in-process: ours against graphql-js on the same query and data.

`_entities` with 100 Profile representations selecting ten events of viewing history each and the
play count, through the real schema, resolvers and per-request dataloaders, with the abstractions
answering from memory (`bench.doubles`), so only the GraphQL layer is timed.  The peer is
graphql-js on Node (`bench/peer`): the same SDL, resolvers batching through `dataloader` into the
same prepared data, the same query; its responses must equal ours.

Ours runs as `serve` runs it (`bench.as_served`): on uvloop when it is installed, with the
serving process's collector settings.  Runs alternate by round (ours, then the peer) and the
ratio is of medians over all rounds; the per-round ratios show how steady it was.  Figures:

- `ours`: `Schema.execute` (strawberry's whole pipeline: extensions, parser and validation
  caches, execution), a fresh request context each time;
- `ours_core_execute`: graphql-core's `execute` on our schema with a document parsed once, no
  extensions: what the pipeline around execution costs is the difference;
- `ours_core_standard`: the same with Strawberry's standard execution context (graphql-core's
  own executor) instead of ours (`subgraph.execution.FastExecutor`): what the executor gains;
- `peer_execute`: graphql-js `execute` on a document parsed and validated once (what the
  target of the issue compares with); `peer_apollo`: `ApolloServer.executeOperation`.
"""

from __future__ import annotations

import cProfile
import inspect
import json
import pstats
import sysconfig
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import graphql
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext

from subgraph.context import Context
from subgraph.limits import Limits
from subgraph.schema import build_schema

from . import Options, as_served
from .doubles import PlaybackData, PreparedGateway, profile_ids
from .node_peer import NodePeer, PeerUnavailable
from .report import Table, Target, fmt
from .timing import median, ratio, summary, timed

NAME = "graphql_exec"
PROFILES = 100
EVENTS = 10
TARGET_RATIO = 1.0  # issue 14 (it was 2.0 in issue 6)
PROFILE_TOP = 15

QUERY = """
query Entities($representations: [_Any!]!) {
  _entities(representations: $representations) {
    ... on Profile {
      viewingHistory(first: 10) {
        edges { node { id startedAt positionSeconds durationSeconds title { id } } }
      }
      playCount { count }
    }
  }
}
"""

Run = Callable[[int], Awaitable[Any]]


def representations(ids: list[str]) -> dict[str, Any]:
    return {"representations": [{"__typename": "Profile", "id": i} for i in ids]}


class Ours:
    """Our two ways in: the whole strawberry pipeline, and graphql-core's execute alone."""

    def __init__(self, gateway: Any, variables: dict[str, Any]) -> None:
        self.limits = Limits()
        self.schema = build_schema(self.limits)
        self.gateway = gateway
        self.variables = variables
        self._document = graphql.parse(QUERY)
        try:
            from strawberry.execution.is_awaitable import optimized_is_awaitable
        except ImportError:  # an older strawberry: graphql-core's default check
            optimized_is_awaitable = None
        self._is_awaitable = optimized_is_awaitable

    def _variables(self) -> dict[str, Any]:
        # Fresh, as a parsed request body is: strawberry's `_entities` pops `__typename` off each
        # representation.  Copying 100 small dicts costs microseconds against milliseconds.
        return {"representations": [dict(r) for r in self.variables["representations"]]}

    async def execute(self, i: int = 0) -> Any:
        context = Context.create(self.gateway, self.limits)
        return await self.schema.execute(
            QUERY, variable_values=self._variables(), context_value=context
        )

    async def core_execute(self, i: int = 0, executor_class: Any = None) -> Any:
        context = Context.create(self.gateway, self.limits)
        result = graphql.execute(
            self.schema._schema, self._document, context_value=context,
            variable_values=self._variables(),
            executor_class=executor_class or self.schema.execution_context_class,
            is_awaitable=self._is_awaitable,
        )
        return await result if inspect.isawaitable(result) else result

    async def core_execute_standard(self, i: int = 0) -> Any:
        """`core_execute` with Strawberry's standard executor instead of ours."""
        return await self.core_execute(i, StrawberryGraphQLCoreExecutionContext)


def run(options: Options) -> dict[str, Any]:
    figures, loop = as_served.run(lambda: _run(options))
    return {**figures, "loop": loop}


async def _run(options: Options) -> dict[str, Any]:
    ids = profile_ids(PROFILES)
    data = PlaybackData.build(ids, EVENTS)
    gateway = PreparedGateway(data)
    variables = representations(ids)
    ours = Ours(gateway, variables)

    first = await ours.execute()
    if first.errors:
        raise RuntimeError(f"our execution failed: {first.errors[0]}")
    core_first = await ours.core_execute()
    before = gateway.calls.total()
    await ours.execute()
    calls = gateway.calls.total() - before

    # Short rounds, many of them: both sides see the same spells of noise from other processes.
    warmup = options.pick(50, 20)
    rounds = options.pick(20, 8)
    per_round = options.pick(10, 5)
    samples: dict[str, list[float]] = {
        "ours": [], "ours_core_execute": [], "ours_core_standard": [], "peer_execute": [],
        "peer_apollo": [],
    }
    round_ratios: list[float] = []
    figures: dict[str, Any] = {
        "query": " ".join(QUERY.split()),
        "representations": PROFILES,
        "events_per_profile": EVENTS,
        "abstraction_calls_per_request": calls,
        "core_execute_same_response": core_first.data == first.data,
    }
    standard_first = await ours.core_execute_standard()
    figures["standard_executor_same_response"] = (
        standard_first.data == first.data and not standard_first.errors
    )

    # Timed as a server runs it: its collector settings (and its loop: `run`).
    with as_served.collector() as tuned:
        figures["serve_gc_settings"] = tuned
        peer: NodePeer | None = None
        try:
            peer = NodePeer(ours.schema.as_str(), QUERY, variables, data.to_json())
        except PeerUnavailable as exc:
            figures["peer_skipped"] = str(exc)
        try:
            ours_json = json.loads(json.dumps(first.data))
            if peer is not None:
                figures["peer_versions"] = peer.versions
                figures["same_response"] = {
                    mode: result.get("data") == ours_json and not result.get("errors")
                    for mode, result in peer.results.items()
                }
                peer.time("execute", warmup=warmup * 4, runs=1)
                peer.time("apollo", warmup=warmup * 4, runs=1)
            await timed(ours.execute, warmup=warmup, runs=0)
            await timed(ours.core_execute, warmup=warmup // 2, runs=0)
            for _ in range(rounds):
                ours_round = await timed(ours.execute, warmup=2, runs=per_round)
                samples["ours"] += ours_round
                samples["ours_core_execute"] += await timed(
                    ours.core_execute, warmup=2, runs=per_round
                )
                samples["ours_core_standard"] += await timed(
                    ours.core_execute_standard, warmup=1, runs=per_round
                )
                if peer is not None:
                    peer_round = peer.time("execute", warmup=5, runs=per_round)
                    samples["peer_execute"] += peer_round
                    samples["peer_apollo"] += peer.time("apollo", warmup=5, runs=per_round)
                    round_ratios.append(ratio(median(ours_round), median(peer_round)) or 0.0)
        finally:
            if peer is not None:
                peer.close()

    for name, values in samples.items():
        if values:
            figures[name] = summary(values)
    if peer is not None:
        base = median(samples["peer_execute"])
        figures["ratio"] = ratio(median(samples["ours"]), base)
        figures["ratio_rounds"] = round_ratios
        figures["ratio_of_minimums"] = ratio(
            min(samples["ours"]), min(samples["peer_execute"])
        )
        figures["ratio_core_execute"] = ratio(median(samples["ours_core_execute"]), base)
        figures["ratio_core_standard"] = ratio(median(samples["ours_core_standard"]), base)
        figures["ratio_vs_apollo"] = ratio(
            median(samples["ours"]), median(samples["peer_apollo"])
        )
        figures["target_ratio"] = TARGET_RATIO
        figures["target_met"] = figures["ratio"] is not None and figures["ratio"] <= TARGET_RATIO
    figures["profile"] = await _profile(ours.execute, options.pick(30, 10))
    return figures


# --- profile ------------------------------------------------------------------------------------

_PREFIXES = (
    (sysconfig.get_paths()["purelib"] + "/", ""),
    (str(Path(__file__).resolve().parent.parent) + "/", ""),
    (sysconfig.get_paths()["stdlib"] + "/", "stdlib/"),
)


_LOOP_FRAMES = ("<method 'run' of '_contextvars.Context' objects>",)


def _where(file: str, line: int, func: str) -> str:
    for prefix, short in _PREFIXES:
        if file.startswith(prefix):
            file = short + file[len(prefix):]
            break
    return f"{func} ({file}:{line})" if line else func


async def _profile(run: Run, runs: int) -> dict[str, Any]:
    """cProfile over `runs` requests: the top functions by own and by cumulative time.

    Times are per request; cProfile slows every call, so they are larger than the timings above
    and say where time goes, not how much there is.  A coroutine's cumulative time counts only
    while it runs, not while it waits.
    """
    await run(0)
    profiler = cProfile.Profile()
    profiler.enable()
    for i in range(runs):
        await run(i)
    profiler.disable()
    stats = pstats.Stats(profiler).stats  # type: ignore[attr-defined]
    total = sum(tt for (_, _, tt, _, _) in stats.values())
    rows = [
        {
            "function": _where(*key),
            "calls": nc // runs,
            "own_ms": round(tt / runs * 1000, 3),
            "cumulative_ms": round(ct / runs * 1000, 3),
            "own_share": round(tt / total, 4) if total else None,
        }
        for key, (_, nc, tt, ct, _) in stats.items()
    ]
    # The event loop's own frames hold everything cumulatively: they say nothing.
    ours = [r for r in rows if not r["function"].startswith(_LOOP_FRAMES) and
            "stdlib/asyncio/" not in r["function"]]
    return {
        "runs": runs,
        "total_ms_per_request": round(total / runs * 1000, 3),
        "by_own_time": sorted(rows, key=lambda r: -r["own_ms"])[:PROFILE_TOP],
        "by_cumulative_time": sorted(ours, key=lambda r: -r["cumulative_ms"])[:PROFILE_TOP],
    }


# --- report -------------------------------------------------------------------------------------


def targets(figures: dict[str, Any]) -> list[Target]:
    what = "GraphQL execution in-process, ours / graphql-js execute (medians)"
    if "ratio" not in figures:
        return [Target(what, f"<= {TARGET_RATIO}x", None, None,
                       f"peer skipped: {figures.get('peer_skipped')}")]
    return [Target(what, f"<= {TARGET_RATIO}x", fmt(figures["ratio"], 2, "x"),
                   figures["target_met"],
                   f"of the fastest runs {fmt(figures['ratio_of_minimums'], 2, 'x')}")]


def tables(figures: dict[str, Any]) -> list[Table]:
    table = Table(
        f"1. GraphQL execution in-process: _entities x {figures['representations']} Profiles, "
        f"{figures['events_per_profile']} events each + playCount",
        ["implementation", "ms/request", "p90 ms", "runs", "ours / this"],
    )
    labels = {
        "ours": "ours: strawberry Schema.execute",
        "ours_core_execute": "ours: graphql-core execute only",
        "ours_core_standard": "ours: execute, standard executor",
        "peer_execute": "graphql-js execute (peer)",
        "peer_apollo": "Apollo Server executeOperation",
    }
    for key, label in labels.items():
        s = figures.get(key)
        if s is None:
            continue
        versus = None
        if key != "ours" and "ours" in figures:
            versus = ratio(figures["ours"]["median_ms"], s["median_ms"])
        table.rows.append([
            label, fmt(s["median_ms"], 3), fmt(s["p90_ms"], 3), str(s["runs"]),
            fmt(versus, 2, "x") if versus else "",
        ])
    if "ratio" in figures:
        rounds = figures["ratio_rounds"]
        table.notes.append(
            f"ratio ours/graphql-js = {fmt(figures['ratio'], 2)}x (per round "
            f"{fmt(min(rounds), 2)}..{fmt(max(rounds), 2)}, of the fastest runs "
            f"{fmt(figures['ratio_of_minimums'], 2)}x); target <= {TARGET_RATIO}x: "
            f"{'met' if figures['target_met'] else 'not met'}"
        )
        same = figures.get("same_response", {})
        table.notes.append(
            "peer responses equal ours: "
            + ", ".join(f"{m} {'yes' if ok else 'NO'}" for m, ok in same.items())
            + "; standard executor "
            + ("yes" if figures.get("standard_executor_same_response") else "NO")
            + f"; abstraction calls per request: {figures['abstraction_calls_per_request']}"
        )
    else:
        table.notes.append(f"peer skipped: {figures.get('peer_skipped')}")
    if "loop" in figures:
        table.notes.append(
            f"ours timed as serve runs: on {figures['loop']}, "
            + ("serve's collector settings (subgraph.gc_tuning)"
               if figures.get("serve_gc_settings") else "Python's own collector settings")
        )
    return [table]


def profile_tables(figures: dict[str, Any]) -> list[Table]:
    prof = figures["profile"]
    out = []
    for key, title in (("by_own_time", "own"), ("by_cumulative_time", "cumulative")):
        table = Table(
            f"1. profile of ours (cProfile, {prof['runs']} requests): top {PROFILE_TOP} by "
            f"{title} time, ms per request",
            ["function", "calls", "own ms", "cum ms", "own %"],
        )
        for row in prof[key]:
            table.rows.append([
                row["function"][:110], str(row["calls"]), fmt(row["own_ms"], 3),
                fmt(row["cumulative_ms"], 3), fmt((row["own_share"] or 0) * 100, 1),
            ])
        table.notes.append(
            f"profiled total {fmt(prof['total_ms_per_request'], 1)} ms/request (cProfile overhead "
            "included)"
        )
        out.append(table)
    return out
