"""The benchmarks' non-timing logic: CPU and memory accounting from /proc, reading answers,
summing windows, the soak's verdict, which benchmarks run (bench/)."""

from __future__ import annotations

import argparse
import asyncio
from pathlib import Path

import pytest

from bench import Options, choose
from bench.loadgen import Endpoint, read_response
from bench.procstat import (
    CLOCK_TICKS,
    PAGE_BYTES,
    threads_cpu_seconds,
    tree_cpu_seconds,
    tree_rss_bytes,
)
from bench.serving import summarise
from bench.soak import verdict, warmup_seconds

MIB = 1024 * 1024


def _process(proc: Path, pid: int, ppid: int, utime: int, stime: int, *, cutime: int = 0,
             cstime: int = 0, rss_pages: int = 0) -> None:
    """A /proc/<pid> with the fields procstat reads (a command name with spaces and a ')')."""
    (proc / str(pid)).mkdir(parents=True)
    rest = ["0"] * 9 + [str(utime), str(stime), str(cutime), str(cstime)] + ["0"] * 6
    (proc / str(pid) / "stat").write_text(f"{pid} (my (odd) name) S {ppid} {' '.join(rest)}\n")
    (proc / str(pid) / "statm").write_text(f"1000 {rss_pages} 10 0 0 0 0\n")


def test_tree_cpu_adds_live_descendants_and_reaped_children_but_not_strangers(
    tmp_path: Path,
) -> None:
    _process(tmp_path, 10, 1, utime=100, stime=50, cutime=7, cstime=3)  # the supervisor
    _process(tmp_path, 11, 10, utime=200, stime=20)  # a worker
    _process(tmp_path, 12, 11, utime=5, stime=5)  # the worker's child
    _process(tmp_path, 20, 1, utime=999, stime=999)  # another process: not counted
    (tmp_path / "self").mkdir()  # not a pid
    expected = (100 + 50 + 7 + 3 + 200 + 20 + 5 + 5) / CLOCK_TICKS
    assert tree_cpu_seconds(10, tmp_path) == pytest.approx(expected)


def test_tree_rss_adds_the_tree(tmp_path: Path) -> None:
    _process(tmp_path, 10, 1, 0, 0, rss_pages=100)
    _process(tmp_path, 11, 10, 0, 0, rss_pages=50)
    _process(tmp_path, 20, 1, 0, 0, rss_pages=7)
    assert tree_rss_bytes(10, tmp_path) == 150 * PAGE_BYTES


def test_threads_cpu_adds_every_thread_in_nanoseconds(tmp_path: Path) -> None:
    for tid, ns in ((10, 1_500_000), (11, 2_000_001), (12, 0)):
        (tmp_path / "10" / "task" / str(tid)).mkdir(parents=True)
        (tmp_path / "10" / "task" / str(tid) / "schedstat").write_text(f"{ns} 77 3\n")
    (tmp_path / "10" / "task" / "13").mkdir()  # a thread that ended while we looked
    assert threads_cpu_seconds(10, tmp_path) == pytest.approx(0.003500001)


def _read(raw: bytes) -> tuple[int, bytes, bool]:
    async def read() -> tuple[int, bytes, bool]:
        reader = asyncio.StreamReader()
        reader.feed_data(raw)
        reader.feed_eof()
        return await read_response(reader)

    return asyncio.run(read())


def test_answers_are_read_by_content_length_or_chunks() -> None:
    assert _read(b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nhello") == (200, b"hello", True)
    chunked = (b"HTTP/1.1 400 Bad Request\r\nTransfer-Encoding: chunked\r\nConnection: close"
               b"\r\n\r\n3\r\nhel\r\n2;x=y\r\nlo\r\n0\r\n\r\n")
    assert _read(chunked) == (400, b"hello", False)


def test_load_targets_are_name_port_pid() -> None:
    assert Endpoint.parse("ours=4001:123") == Endpoint("ours", 4001, 123)
    with pytest.raises(argparse.ArgumentTypeError, match="NAME=PORT:PID"):
        Endpoint.parse("ours:4001")


def test_cpu_per_request_is_over_all_windows() -> None:
    windows = [
        {"requests": 10, "seconds": 1.0, "rps": 10.0, "p50_ms": 5.0, "p99_ms": 9.0,
         "failures": 0, "server_cpu_s": 0.5, "client_cpu_s": 0.1},
        {"requests": 30, "seconds": 1.0, "rps": 30.0, "p50_ms": 4.0, "p99_ms": 8.0,
         "failures": 1, "server_cpu_s": 0.3, "client_cpu_s": 0.1},
    ]
    row = summarise(windows, "500 oops", 8)
    assert row["server_cpu_ms_per_request"] == 20.0  # 0.8 s over 40 answers
    assert row["server_cpu_percent"] == 40.0
    assert row["rps"] == 20.0 and row["p50_ms"] == 4.5
    assert row["failures"] == 1 and row["first_failure"] == "500 oops"


def test_soak_warmup_is_two_minutes_or_a_quarter_of_a_short_run() -> None:
    assert warmup_seconds(600) == 120
    assert warmup_seconds(120) == 30


def test_soak_is_flat_when_every_sample_after_the_warmup_is_within_tolerance() -> None:
    samples = [(0, 50 * MIB), (30, 90 * MIB), (60, 100 * MIB), (90, 109 * MIB), (120, 95 * MIB)]
    v = verdict(samples, warmup=60, errors=0)
    assert v["passed"] and v["flat"]
    assert v["baseline_bytes"] == 100 * MIB  # growth during the warm-up does not count
    assert v["max_deviation"] == 0.09 and v["min_deviation"] == -0.05


def test_soak_fails_on_growth_on_errors_or_on_errors_in_the_log() -> None:
    growing = [(60, 100 * MIB), (90, 105 * MIB), (120, 111 * MIB)]
    v = verdict(growing, warmup=60, errors=0)
    assert v["flat"] is False and v["passed"] is False and "+11.0%" in v["reason"]
    steady = [(60, 100 * MIB), (90, 100 * MIB)]
    assert verdict(steady, warmup=60, errors=3)["passed"] is False
    assert verdict(steady, warmup=60, errors=0, log_errors=1)["passed"] is False


def test_soak_too_short_to_judge_says_so() -> None:
    v = verdict([(0, MIB), (30, MIB)], warmup=30, errors=0)
    assert v["judged"] is False and v["passed"] is None


def test_the_soak_runs_only_when_asked_for() -> None:
    names, on_request = ["graphql_exec", "http", "soak"], {"soak"}
    assert choose(names, on_request, None, set()) == ["graphql_exec", "http"]
    assert choose(names, on_request, None, {"soak"}) == ["soak"]
    assert choose(names, on_request, ["http"], {"soak"}) == ["http", "soak"]
    assert choose(names, on_request, ["soak"], set()) == ["soak"]


def test_every_benchmark_reports_a_skip_as_a_table_and_an_unjudged_target(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Without the servers a benchmark needs, its tables and targets say why (the cache tier
    failed on the missing figures instead)."""
    from bench import cache_tier, store_cassandra

    monkeypatch.delenv("SUBGRAPH_BENCH_CASSANDRA", raising=False)
    monkeypatch.delenv("SUBGRAPH_BENCH_MEMCACHED", raising=False)
    for module in (cache_tier, store_cassandra):
        figures = module.run(Options(quick=True))
        assert "skipped" in figures
        (table,) = module.tables(figures)
        assert table.notes == [f"skipped: {figures['skipped']}"]
        assert [t.met for t in module.targets(figures)] == [None]
