"""After the corpus and the mixed load (this file runs last): the server came through whole."""

from __future__ import annotations

import time
from datetime import UTC, datetime

import httpx

from .client import Session
from .conftest import MIB, Before, Run
from .corpus.ops import (
    ADD,
    PLAY,
    PUT,
    WRITE,
    add,
    count,
    events,
    history,
    kv_items,
    play,
    put,
    series_items,
)
from .server import Server

MAX_RSS_GROWTH = 150 * MIB
MAX_CORPUS_LOG = 10 * MIB


def test_health_answers_after_the_corpus(server: Server) -> None:
    assert server.alive()
    started = time.perf_counter()
    response = httpx.get(f"{server.base}/healthz", timeout=5)
    assert response.status_code == 200
    assert time.perf_counter() - started < 0.5
    assert httpx.get(f"{server.base}/readyz", timeout=5).status_code == 200


def test_data_written_before_the_corpus_reads_back_identical(
    session: Session, before: Before
) -> None:
    assert session.data(before.query) == before.data


def test_a_valid_write_then_read_works_after_the_corpus(session: Session) -> None:
    stamp = datetime.now(UTC).strftime("%H%M%S%f")
    rid = f"after-{stamp}"
    session.data(PUT, put("profile_settings", rid, [{"key": "k", "text": "fine"}], rid))
    assert kv_items(session, "profile_settings", rid) == [{"key": "k", "text": "fine"}]
    session.data(ADD, add("page_views", rid, 4, f"{rid}-add"))
    assert count(session, "page_views", rid) == "4"
    session.data(WRITE, events("viewing_history", [
        {"seriesId": f"{rid}-series", "items": [{"key": "note", "text": "fine"}]}], f"{rid}-ev"))
    assert series_items(session, f"{rid}-series") == [[{"key": "note", "text": "fine"}]]
    session.data(PLAY, play(rid, f"{rid}-play", device="tv"))
    plays, events_ = history(session, rid)
    assert plays == "1" and [e["device"] for e in events_] == ["tv"]


def test_memory_grows_less_than_150_mib_over_the_run(server: Server, run: Run) -> None:
    run.rss_after = server.rss_bytes()
    growth = run.rss_after - run.rss_before
    assert growth < MAX_RSS_GROWTH, f"RSS grew {growth / MIB:.1f} MiB"


def test_corpus_leaves_no_traceback_and_a_bounded_log(server: Server, run: Run) -> None:
    start, end = run.corpus_log or [0, 0]
    text = server.log_text()
    assert "Traceback" not in text, text[text.index("Traceback") - 300:][:3000]
    assert end - start < MAX_CORPUS_LOG, f"the corpus logged {(end - start) / MIB:.1f} MiB"
