"""Benchmarks of the subgraph against its peers: `python -m bench` (see bench/README.md).

Each benchmark is one module with `NAME`, `run(options) -> dict` (the figures, JSON-ready, or
`{"skipped": reason}`), `tables(figures) -> list[Table]` (how the figures print) and, when the
issues set it targets, `targets(figures) -> list[Target]` (each judged).  Timings are
medians over repeated runs after a warm-up; comparisons are ratios measured in the same run, since
the machine is shared and absolute times drift while ratios hold.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Options:
    """How hard to measure: `quick` cuts repetitions and durations (same figures, wider noise);
    `soak_seconds` is how long the soak runs."""

    quick: bool = False
    soak_seconds: float = 600.0

    def pick(self, full: int, quick: int) -> int:
        return quick if self.quick else full

    def seconds(self, full: float, quick: float) -> float:
        return quick if self.quick else full


def choose(names: Sequence[str], on_request: set[str], only: Sequence[str] | None,
           add: set[str]) -> list[str]:
    """The benchmarks to run, in the order of `names`: those in `only` and in `add` (`--soak`);
    when neither names any, all but those run only on request."""
    wanted = set(only or ()) | add
    if not wanted:
        wanted = set(names) - on_request
    return [name for name in names if name in wanted]
