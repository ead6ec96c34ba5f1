"""Medians and timed loops: every figure the benchmarks report comes through here."""

from __future__ import annotations

import gc
import statistics
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any


def median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else float("nan")


def percentile(values: Sequence[float], q: float) -> float:
    """The `q`-th percentile (0-100) by the nearest-rank method: a value that was observed."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = max(1, min(len(ordered), round(q / 100 * len(ordered) + 0.5)))
    return ordered[rank - 1]


def summary(samples_ms: Sequence[float]) -> dict[str, Any]:
    """Median and spread of a list of per-run milliseconds."""
    return {
        "median_ms": round(median(samples_ms), 4),
        "min_ms": round(min(samples_ms), 4) if samples_ms else None,
        "p90_ms": round(percentile(samples_ms, 90), 4),
        "runs": len(samples_ms),
    }


def ratio(numerator: float, denominator: float) -> float | None:
    return round(numerator / denominator, 3) if denominator > 0 else None


async def timed(
    run: Callable[[int], Awaitable[object]], *, warmup: int, runs: int, offset: int = 0
) -> list[float]:
    """Milliseconds of `runs` calls of `run(i)`, after `warmup` untimed ones.

    A collection before the timed runs keeps garbage of earlier work out of them; the collector
    stays on while timing, as it is in production.
    """
    for i in range(warmup):
        await run(offset + i)
    gc.collect()
    samples = []
    for i in range(runs):
        start = time.perf_counter_ns()
        await run(offset + warmup + i)
        samples.append((time.perf_counter_ns() - start) / 1e6)
    return samples


async def cpu_ms_per_run(
    run: Callable[[int], Awaitable[object]], *, runs: int, offset: int = 0
) -> float:
    """CPU milliseconds of this process (all its threads) per call of `run`, over `runs` calls:
    what a server would spend on them, whatever else holds the machine's cores meanwhile."""
    start = time.process_time()
    for i in range(runs):
        await run(offset + i)
    return (time.process_time() - start) * 1000 / runs
