"""In-process benchmarks take serve's collector settings and give Python's own back after."""

from __future__ import annotations

import gc

import pytest

from bench import as_served
from subgraph.gc_tuning import DEFAULT_THRESHOLD, ENV


def test_the_collector_has_serves_settings_inside_and_its_own_after(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv(ENV, raising=False)
    before = gc.get_threshold()
    try:
        with as_served.collector() as tuned:
            assert tuned
            assert gc.get_threshold()[0] == DEFAULT_THRESHOLD
            assert gc.get_freeze_count() > 0
        assert gc.get_threshold() == before
        assert gc.get_freeze_count() == 0
    finally:
        gc.unfreeze()
        gc.set_threshold(*before)


def test_the_collector_keeps_pythons_settings_when_serve_would(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(ENV, "0")
    before = gc.get_threshold()
    with as_served.collector() as tuned:
        assert not tuned
        assert gc.get_threshold() == before
    assert gc.get_threshold() == before


def test_a_benchmark_runs_on_the_loop_serve_runs_on() -> None:
    async def main() -> int:
        return 7

    result, loop = as_served.run(main)
    assert result == 7
    try:
        import uvloop  # noqa: F401
    except ImportError:
        assert loop == "asyncio"
    else:
        assert loop == "uvloop"
