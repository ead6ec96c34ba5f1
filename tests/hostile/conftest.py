"""One server for the whole package, data written before the corpus, and the run's numbers.

The server is started once (package scope), stopped with SIGTERM at the end (it must exit
cleanly within 10 s), and the run's summary (cases, slowest case, RSS before and after, log
volume of the corpus) is written to `hostile-summary.json` in pytest's base temp directory and
printed as one line at the end of the session.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from .client import Session
from .server import Server

MIB = 1024 * 1024
SUMMARY = pytest.StashKey[dict[str, Any]]()


@dataclass
class Run:
    """What this run measured; `summary()` is what the closing note reports."""

    server: Server
    rss_before: int
    rss_after: int | None = None
    latencies: dict[str, float] = field(default_factory=dict)
    categories: Counter[str] = field(default_factory=Counter)
    scenarios: dict[str, float] = field(default_factory=dict)
    corpus_log: list[int] = field(default_factory=list)  # [start, end] byte offsets
    shutdown: dict[str, Any] = field(default_factory=dict)

    def corpus_started(self) -> None:
        if not self.corpus_log:
            self.corpus_log = [self.server.log_size(), self.server.log_size()]

    def record(self, name: str, category: str, seconds: float) -> None:
        self.latencies[name] = seconds
        self.categories[category] += 1
        self.corpus_log[1] = self.server.log_size()

    def summary(self) -> dict[str, Any]:
        start, end = self.corpus_log or [0, 0]
        corpus_log = self.server.log_text(start, end)
        whole_log = self.server.log_text()
        slowest = max(self.latencies.items(), key=lambda kv: kv[1], default=("-", 0.0))
        return {
            "cases": len(self.latencies),
            "cases_by_category": dict(sorted(self.categories.items())),
            "scenarios": dict(self.scenarios),
            "slowest_case": slowest[0],
            "slowest_seconds": round(slowest[1], 4),
            "rss_before_mib": round(self.rss_before / MIB, 1),
            "rss_after_mib": round(self.rss_after / MIB, 1) if self.rss_after else None,
            "corpus_log_bytes": end - start,
            "corpus_log_lines": corpus_log.count("\n"),
            "corpus_log_tracebacks": corpus_log.count("Traceback"),
            "whole_log_bytes": len(whole_log.encode()),
            "whole_log_tracebacks": whole_log.count("Traceback"),
            "shutdown": self.shutdown,
            "log_file": str(self.server.log),
        }


@pytest.fixture(scope="package")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """The server; `run` stops it with SIGTERM, this only cleans up after a failed start."""
    process = Server(tmp_path_factory.mktemp("hostile"))
    try:
        process.wait_until_healthy()
        yield process
    finally:
        if process.alive():
            process.terminate()


@pytest.fixture(scope="package")
def session(server: Server) -> Iterator[Session]:
    client = Session(server.base)
    yield client
    client.close()


@dataclass(frozen=True)
class Before:
    """Data written before the corpus, and how it read back then."""

    query: str
    data: dict[str, Any]


BEFORE_WRITE = """
mutation Before($bin: String!, $long: String!, $t1: DateTime!, $t2: DateTime!) {
  kv: putItems(input: {namespace: "profile_settings", id: "before-kv",
      idempotencyKey: "before-kv-1", items: [
        {key: "theme", text: "dark"}, {key: "lang", text: "fr-CA"}, {key: "bin", value: $bin},
        {key: "emoji", text: "👩‍👩‍👧 ✓ שלום e\u0301"}, {key: "long", text: $long}]}) { id }
  ev: writeEvents(input: {namespace: "viewing_history", idempotencyKey: "before-ev-1", events: [
        {seriesId: "before-series", eventTime: $t1, eventId: "e1",
         items: [{key: "title_id", text: "t-before"}, {key: "device", text: "tv"}]},
        {seriesId: "before-series", eventTime: $t2, eventId: "e2",
         items: [{key: "title_id", text: "t-other"}, {key: "note", value: $bin}]}]}) {
    accepted }
  c1: addCount(input: {namespace: "page_views", name: "before-views", delta: "5",
      idempotencyKey: "before-c1"}) { count }
  c2: addCount(input: {namespace: "page_views", name: "before-views", delta: 7,
      idempotencyKey: "before-c2"}) { count }
  c3: addCount(input: {namespace: "counter_accurate_fast", name: "before-acc", delta: "-3",
      idempotencyKey: "before-c3"}) { count }
  p1: recordPlayback(input: {profileId: "before-p", titleId: "before-t", startedAt: $t1,
      positionSeconds: 60, durationSeconds: 120, device: "tv", idempotencyKey: "before-p1"}) {
    event { id } }
  p2: recordPlayback(input: {profileId: "before-p", titleId: "before-t", startedAt: $t2,
      positionSeconds: 600, durationSeconds: 30, idempotencyKey: "before-p2"}) { event { id } }
}
"""

BEFORE_READ = """
query BeforeRead {
  kvRecord(namespace: "profile_settings", id: "before-kv") {
    items(first: 10) { edges { node { key value text } } } }
  timeSeries(namespace: "viewing_history", id: "before-series", first: 10) {
    edges { node { eventId eventTime items { key value text } } } }
  views: counter(namespace: "page_views", name: "before-views") { count }
  acc: counter(namespace: "counter_accurate_fast", name: "before-acc") { count }
  _entities(representations: [{__typename: "Profile", id: "before-p"}]) {
    ... on Profile { playCount { count }
      viewingHistory(first: 10) { edges { node {
        id positionSeconds durationSeconds device startedAt title { id } } } } } }
}
"""


@pytest.fixture(scope="package")
def before(session: Session) -> Before:
    """Writes the before-data through GraphQL and reads it back once."""
    now = datetime.now(UTC).replace(microsecond=0)
    session.data(BEFORE_WRITE, {
        "bin": "AAEC/f7/", "long": "long value " * 1000,
        "t1": (now - timedelta(hours=2)).isoformat(), "t2": (now - timedelta(hours=1)).isoformat(),
    })
    data = session.data(BEFORE_READ)
    assert len(data["kvRecord"]["items"]["edges"]) == 5, data
    assert len(data["timeSeries"]["edges"]) == 2, data
    assert data["views"] == {"count": "12"}
    assert data["acc"] == {"count": "-3"}
    [profile] = data["_entities"]
    assert profile["playCount"] == {"count": "2"}
    assert len(profile["viewingHistory"]["edges"]) == 2
    return Before(BEFORE_READ, data)


WARM_UP = """
query WarmUp {
  _entities(representations: [{__typename: "Profile", id: "before-p"},
                              {__typename: "Title", id: "before-t"},
                              {__typename: "Account", id: "before-a"}]) {
    ... on Profile {
      viewingStats { plays byDevice { device plays } topTitles(first: 3) { plays } } }
    ... on Title { viewingStats { plays distinctProfiles } }
    ... on Account { balanceCents invoices(first: 5) { edges { node { id } } } }
  }
  aggregateEvents(namespace: "viewing_history", since: "2026-01-01T00:00:00Z",
                  until: "2026-01-02T00:00:00Z", groupBy: ["device"],
                  sum: ["position_seconds"]) { keys count sums }
}
"""
FIRST_EXPORT = 'operation="retention"'


def warm_up(server: Server, session: Session, seconds: float = 30) -> None:
    """Every part the corpus may reach is loaded before RSS is measured: the analytics reads
    (DuckDB, pyiceberg, pyarrow are imported on first use), the relational store, and the
    background export's first pass (it starts a few seconds after the server).  RSS growth is
    then what the corpus costs, not the imports' one-time cost."""
    session.data(WARM_UP)
    deadline = time.monotonic() + seconds
    while FIRST_EXPORT not in httpx.get(f"{server.base}/metrics", timeout=5).text:
        assert time.monotonic() < deadline, "the first analytics export pass did not run"
        time.sleep(0.2)


@pytest.fixture(scope="package")
def run(
    server: Server, session: Session, before: Before,
    tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest,
) -> Iterator[Run]:
    """The run's numbers; at the end: RSS after, SIGTERM (exit 0 within 10 s), the summary."""
    warm_up(server, session)
    measured = Run(server, server.rss_bytes())
    yield measured
    status: int | None = None
    if server.alive():
        measured.rss_after = measured.rss_after or server.rss_bytes()
        status, seconds = server.terminate(seconds=10)
        measured.shutdown = {"exit_status": status, "seconds": round(seconds, 2)}
    summary = measured.summary()
    path = tmp_path_factory.getbasetemp() / "hostile-summary.json"
    path.write_text(json.dumps(summary, indent=2))
    summary["summary_file"] = str(path)
    summary["concurrency"] = len(measured.scenarios)
    request.config.stash[SUMMARY] = summary
    assert status == 0, f"after SIGTERM the server ended with {measured.shutdown}"


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    summary = terminalreporter.config.stash.get(SUMMARY, None)
    if summary is None:
        return
    terminalreporter.write_line(
        "hostile: {cases} cases {cases_by_category} + {concurrency} concurrency scenarios, "
        "slowest {slowest_case} "
        "{slowest_seconds}s, RSS {rss_before_mib} -> {rss_after_mib} MiB, corpus log "
        "{corpus_log_bytes} bytes / {corpus_log_lines} lines / {corpus_log_tracebacks} "
        "tracebacks, shutdown {shutdown}; {summary_file}".format(**summary)
    )
