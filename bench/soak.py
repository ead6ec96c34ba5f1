"""7. Soak: mixed reads and writes against `python -m subgraph serve` on SQLite, for minutes.

Runs only with `python -m bench --soak` (`--soak-seconds`, default 600).  The store is a
temporary SQLite file seeded as benchmark 2's; `serve` runs as shipped (one worker) and
`bench.mixload`, a separate process, keeps 8 connections busy with half reads, half writes.
Every 30 s (each interval line of the load generator) the server's resident set (RSS, its
process tree, from /proc) and CPU time are read.

Verdict: the warm-up is the first 2 minutes (a quarter of a run shorter than 8 minutes); the
RSS at its end is the baseline, and every later sample must be within 10% of it (above or
below: flat); no request may fail and the server's log may hold no error.
"""

from __future__ import annotations

import asyncio
import json
import re
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from . import Options
from .procstat import tree_cpu_seconds, tree_rss_bytes
from .report import Table, Target, fmt
from .serving import ROOT, free_port, running, subgraph_serve

NAME = "soak"
CONCURRENCY = 8
SAMPLE_SECONDS = 30.0
WARMUP_SECONDS = 120.0
TOLERANCE = 0.10
MIB = 1024 * 1024
LOG_ERROR = re.compile(r"\b(ERROR|CRITICAL)\b|Traceback \(most recent call last\)")


def warmup_seconds(total: float) -> float:
    """The first two minutes, or a quarter of a shorter run (so that a quick check is judged)."""
    return min(WARMUP_SECONDS, total / 4)


def verdict(
    samples: list[tuple[float, int]], warmup: float, errors: int, log_errors: int = 0,
    tolerance: float = TOLERANCE,
) -> dict[str, Any]:
    """Judge `(seconds, rss bytes)` samples: flat within `tolerance` of the first sample at or
    after `warmup`, and no error.  Fewer than two samples after the warm-up cannot be judged."""
    after = [(t, rss) for t, rss in samples if t >= warmup]
    out: dict[str, Any] = {
        "warmup_seconds": warmup, "tolerance": tolerance, "errors": errors,
        "log_errors": log_errors, "samples_after_warmup": len(after),
    }
    if len(after) < 2:
        out.update(judged=False, flat=None, passed=None,
                   reason="fewer than two RSS samples after the warm-up: run longer")
        return out
    baseline = after[0][1]
    deviations = [(rss - baseline) / baseline for _, rss in after[1:]]
    flat = all(abs(d) <= tolerance for d in deviations)
    passed = flat and errors == 0 and log_errors == 0
    reasons = []
    if not flat:
        reasons.append(f"RSS moved {max(deviations, key=abs):+.1%} from the baseline")
    if errors:
        reasons.append(f"{errors} failed requests")
    if log_errors:
        reasons.append(f"{log_errors} error lines in the server's log")
    out.update(
        judged=True, flat=flat, passed=passed, baseline_bytes=baseline,
        min_deviation=round(min(deviations), 4), max_deviation=round(max(deviations), 4),
        reason="; ".join(reasons) or "flat, no error",
    )
    return out


def run(options: Options) -> dict[str, Any]:
    from .http_load import seed

    seconds = options.soak_seconds
    with tempfile.TemporaryDirectory(prefix="bench-soak-") as tmp:
        tmpdir = Path(tmp)
        url = f"sqlite:///{tmpdir / 'gateway.db'}"
        asyncio.run(seed(url))
        port = free_port()
        log = tmpdir / "serve.log"
        with running("serve", subgraph_serve(url, port), port, log) as server:
            samples, totals = _soak(server.port, server.pid, seconds)
        log_lines = [line for line in log.read_text(errors="replace").splitlines()
                     if LOG_ERROR.search(line)]
    errors = sum(s["errors"] for s in samples[1:])
    judged = verdict([(s["t"], s["rss_bytes"]) for s in samples], warmup_seconds(seconds),
                     errors, len(log_lines))
    return {
        "store": "sqlite (temporary file)",
        "server": "python -m subgraph serve (one worker)",
        "seconds": seconds,
        "concurrency": CONCURRENCY,
        "samples": samples,
        "totals": totals,
        "first_log_error": log_lines[0][:300] if log_lines else None,
        "verdict": judged,
    }


def _soak(port: int, pid: int, seconds: float) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Run the load, reading the server's RSS and CPU at the start and at each interval."""
    samples = [{"t": 0.0, "rss_bytes": tree_rss_bytes(pid), "cpu_s": tree_cpu_seconds(pid),
                "requests": 0, "errors": 0}]
    command = [sys.executable, "-m", "bench.mixload", "--port", str(port),
               "--concurrency", str(CONCURRENCY), "--seconds", str(seconds),
               "--interval", str(SAMPLE_SECONDS)]
    totals: dict[str, Any] = {}
    with subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          text=True) as load:
        assert load.stdout is not None and load.stderr is not None
        for line in load.stdout:
            interval = json.loads(line)
            if interval.get("done"):
                totals = interval
                continue
            try:
                rss, cpu = tree_rss_bytes(pid), tree_cpu_seconds(pid)
            except OSError as exc:
                raise RuntimeError(f"the server is gone at {interval['t']} s: {exc}") from exc
            samples.append({**interval, "rss_bytes": rss, "cpu_s": cpu})
        stderr = load.stderr.read()
    if load.returncode != 0:
        raise RuntimeError(f"bench.mixload failed: {stderr[-2000:]}")
    return samples, totals


def targets(figures: dict[str, Any]) -> list[Target]:
    v = figures["verdict"]
    what = "Soak: server RSS flat within 10% after the warm-up, and no error"
    if not v["judged"]:
        return [Target(what, "flat, 0 errors", None, None, v["reason"])]
    measured = (f"{v['min_deviation']:+.1%}..{v['max_deviation']:+.1%} of "
                f"{fmt(v['baseline_bytes'] / MIB, 1)} MiB, {v['errors']} errors")
    return [Target(what, "flat, 0 errors", measured, v["passed"],
                   f"{figures['seconds']:g} s, warm-up {v['warmup_seconds']:g} s")]


def tables(figures: dict[str, Any]) -> list[Table]:
    v = figures["verdict"]
    table = Table(
        f"7. Soak: mixed reads and writes at concurrency {figures['concurrency']} against "
        f"python -m subgraph serve on SQLite, {figures['seconds']:g} s",
        ["t s", "requests", "req/s", "errors", "p50 ms", "p99 ms", "server CPU %", "RSS MiB",
         "vs baseline"],
    )
    samples = figures["samples"]
    baseline = v.get("baseline_bytes")
    for before, s in zip([None, *samples], samples, strict=False):
        span = s["t"] - before["t"] if before else 0
        table.rows.append([
            fmt(s["t"], 0), str(s["requests"]) if before else "-",
            fmt(s["requests"] / span, 1) if span else "-",
            str(s["errors"]) if before else "-",
            fmt(s.get("p50_ms"), 1) if before else "-", fmt(s.get("p99_ms"), 1) if before else "-",
            fmt(100 * (s["cpu_s"] - before["cpu_s"]) / span, 0) if span and before else "-",
            fmt(s["rss_bytes"] / MIB, 1),
            f"{(s['rss_bytes'] - baseline) / baseline:+.1%}"
            if baseline and s["t"] >= v["warmup_seconds"] else "",
        ])
    table.notes.append(
        f"warm-up: the first {v['warmup_seconds']:g} s; baseline: the first RSS sample at or "
        f"after its end; tolerance +-{v['tolerance']:.0%}"
    )
    verdict_text = {True: "PASS", False: "FAIL", None: "not judged"}[v["passed"]]
    table.notes.append(f"verdict: {verdict_text} ({v['reason']}); failed requests "
                       f"{v['errors']}, error lines in the server's log {v['log_errors']}")
    firsts = [s["first_error"] for s in samples if s.get("first_error")]
    if firsts:
        table.notes.append(f"first failed request: {firsts[0]}")
    if figures.get("first_log_error"):
        table.notes.append(f"first error in the server's log: {figures['first_log_error']}")
    return [table]
