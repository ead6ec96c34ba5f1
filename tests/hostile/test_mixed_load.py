"""Hostile and valid requests at once: valid ones still succeed, with the right data, in time."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any

import httpx

from .cases import FAST, Case, HttpRequest, RawRequest, field_error, gql
from .client import Outcome, Session, check
from .conftest import BEFORE_READ, Before, Run
from .corpus import CORPUS
from .corpus.documents import bomb
from .corpus.ops import ADD, PUT, add, count, kv_items, put
from .server import Server

COUNTER = 'counter(namespace: "page_views", name: "doc") { count }'


def _hostile_sample(n: int) -> list[Case]:
    """`n` cases spread over the corpus: ones that need no setup and answer fast."""
    eligible = [c for c in CORPUS if not callable(c.request) and c.verify is None
                and c.seconds <= FAST]
    step = len(eligible) / n
    return [eligible[int(i * step)] for i in range(n)]


def _valid_requests(before: Before) -> list[tuple[HttpRequest, Callable[[Any], bool]]]:
    views = gql('{ counter(namespace: "page_views", name: "before-views") { count } }')
    theme = gql('{ kvRecord(namespace: "profile_settings", id: "before-kv") '
                '{ items(keys: ["theme"]) { edges { node { text } } } } }')
    return [
        (gql(BEFORE_READ), lambda data: data == before.data),
        (gql("{ __typename }"), lambda data: data == {"__typename": "Query"}),
        (views, lambda data: data == {"counter": {"count": "12"}}),
        (theme, lambda data: data["kvRecord"]["items"]["edges"] == [{"node": {"text": "dark"}}]),
    ]


def _valid(outcome: Outcome, expected: Callable[[Any], bool]) -> str | None:
    body = outcome.body
    if outcome.status != 200 or not isinstance(body, dict) or body.get("errors"):
        return outcome.brief()
    return None if expected(body["data"]) else f"wrong data: {outcome.brief()}"


def test_valid_requests_succeed_with_their_data_amid_50_hostile_ones(
    session: Session, before: Before, run: Run
) -> None:
    hostile = _hostile_sample(50)
    valid = [_valid_requests(before)[i % 4] for i in range(50)]
    jobs: list[tuple[str, Any]] = [("hostile", c) for c in hostile] + [("valid", v) for v in valid]
    jobs = [jobs[i // 2 + (i % 2) * 50] for i in range(100)]  # interleaved

    def run_job(job: tuple[str, Any]) -> str | None:
        kind, item = job
        if kind == "hostile":
            # The exact code is the corpus's business; here: the status, and no crash.
            outcome = session.send(item.request, timeout=15)
            statuses = {item.expect.status} | ({item.expect.also.status} if item.expect.also
                                               else set())
            if outcome.status not in statuses or "INTERNAL_SERVER_ERROR" in outcome.codes():
                return f"hostile {item.name}: {outcome.brief()}"
            return None
        request, expected = item
        outcome = session.send(request, timeout=15)
        problem = _valid(outcome, expected)
        if problem is None and outcome.seconds > 5:
            problem = f"took {outcome.seconds:.2f}s"
        return None if problem is None else f"valid request: {problem}"

    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=25) as pool:
        problems = [p for p in pool.map(run_job, jobs) if p]
    run.scenarios["50-hostile-50-valid"] = round(time.perf_counter() - started, 3)
    assert problems == [], "\n".join(problems[:20])


def test_retries_of_one_write_in_parallel_add_once(session: Session, run: Run) -> None:
    request = gql(ADD, add("counter_accurate_fast", "parallel-retry", 7, "parallel-retry"))
    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=20) as pool:
        outcomes = list(pool.map(lambda _: session.send(request, timeout=15), range(20)))
    run.scenarios["20-parallel-retries"] = round(time.perf_counter() - started, 3)
    for outcome in outcomes:
        assert outcome.status == 200 and not outcome.codes(), outcome.brief()
        assert outcome.body["data"]["addCount"]["count"] == "7", outcome.brief()
    assert count(session, "counter_accurate_fast", "parallel-retry") == "7"


def test_one_key_sent_in_parallel_with_different_inputs_writes_one_of_them(
    session: Session, run: Run
) -> None:
    requests = [gql(ADD, add("counter_accurate_fast", "parallel-reuse", delta, "parallel-reuse"))
                for delta in range(1, 11)]
    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=10) as pool:
        outcomes = list(pool.map(lambda r: session.send(r, timeout=15), requests))
    run.scenarios["10-parallel-key-reuses"] = round(time.perf_counter() - started, 3)
    winners = [o for o in outcomes if o.status == 200 and not o.codes()]
    for outcome in outcomes:
        if outcome not in winners:
            check(field_error("IDEMPOTENCY_KEY_REUSED"), outcome)
    assert len(winners) == 1, [o.brief() for o in outcomes]
    final = count(session, "counter_accurate_fast", "parallel-reuse")
    assert final == winners[0].body["data"]["addCount"]["count"]


def test_health_answers_within_half_a_second_while_fragment_bombs_run(
    server: Server, session: Session, run: Run
) -> None:
    """A bomb that held the event loop would stall every poll it overlaps; a busy machine (other
    processes on these 2 cores) delays a poll now and then.  So: nineteen polls in twenty within
    half a second, and none stalled for seconds."""
    bombs = [gql(bomb(40, COUNTER)), gql(bomb(14, COUNTER)), gql(bomb(40, "a: " + COUNTER)),
             gql(bomb(20, "__typename", "namespaces { name } "))] * 2
    done = threading.Event()
    health: list[float] = []
    statuses: set[int] = set()

    def poll() -> None:
        while not done.is_set():
            started = time.perf_counter()
            try:
                statuses.add(httpx.get(f"{server.base}/healthz", timeout=5).status_code)
            except httpx.TransportError:
                statuses.add(0)
            health.append(time.perf_counter() - started)
            time.sleep(0.02)

    poller = threading.Thread(target=poll)
    poller.start()
    try:
        with ThreadPoolExecutor(max_workers=8) as pool:
            outcomes = list(pool.map(lambda r: session.send(r, timeout=15), bombs))
    finally:
        done.set()
        poller.join()
    assert health, "no /healthz poll ran while the bombs ran"
    health.sort()
    p95, slowest = health[int(len(health) * 0.95)], health[-1]
    run.scenarios["bombs-slowest-healthz"] = round(slowest, 3)
    run.scenarios["bombs-healthz-p95"] = round(p95, 3)
    for outcome in outcomes:
        assert outcome.status == 200 and isinstance(outcome.body, dict), outcome.brief()
        assert outcome.seconds < 3, outcome.brief()
    assert statuses == {200}, statuses
    assert p95 < 0.5 and slowest < 2, f"/healthz p95 {p95:.2f}s, slowest {slowest:.2f}s"


@contextmanager
def _stalled_uploads(server: Server, n: int) -> Iterator[None]:
    """`n` connections that announce a body and send a few bytes of it, then nothing."""
    sockets = []
    try:
        for _ in range(n):
            s = socket.create_connection(("127.0.0.1", server.port), timeout=5)
            s.sendall(b"POST /graphql HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                      b"Content-Length: 100000\r\n\r\n{\"query\":")
            sockets.append(s)
        yield
    finally:
        for s in sockets:
            s.close()


def test_stalled_uploads_do_not_hold_up_other_clients(
    server: Server, session: Session, before: Before, run: Run
) -> None:
    started = time.perf_counter()
    with _stalled_uploads(server, 30):
        for request, expected in _valid_requests(before) * 3:
            outcome = session.send(request, timeout=10)
            assert _valid(outcome, expected) is None, outcome.brief()
            assert outcome.seconds < FAST, outcome.brief()
    run.scenarios["30-stalled-uploads"] = round(time.perf_counter() - started, 3)


def test_clients_hanging_up_mid_request_leave_the_server_serving(
    server: Server, session: Session, before: Before, run: Run
) -> None:
    heavy = gql("query($r: [_Any!]!) { _entities(representations: $r) { ... on Profile { "
                "viewingHistory(first: 20) { edges { node { id title { playCount { count } } } } }"
                " } } }", {"r": [{"__typename": "Profile", "id": f"hang-{i}"}
                                 for i in range(100)]})
    content = heavy.content() or b""
    head = (b"POST /graphql HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Content-Length: %d\r\n\r\n" % len(content))
    started = time.perf_counter()
    for _ in range(30):
        with socket.create_connection(("127.0.0.1", server.port), timeout=5) as s:
            s.sendall(head + content)
    for request, expected in _valid_requests(before):
        outcome = session.send(request, timeout=10)
        assert _valid(outcome, expected) is None, outcome.brief()
    assert httpx.get(f"{server.base}/healthz", timeout=2).status_code == 200
    run.scenarios["30-hang-ups"] = round(time.perf_counter() - started, 3)


def test_big_bodies_in_parallel_are_refused_while_valid_requests_succeed(
    session: Session, before: Before, run: Run
) -> None:
    big = next(c for c in CORPUS if c.name == "body-one-byte-over-max")
    chunked = next(c for c in CORPUS if c.name == "chunked-body-growing-past-max-unterminated")
    jobs: list[Any] = [big, chunked] * 4 + _valid_requests(before) * 4

    def run_job(job: Any) -> str | None:
        if isinstance(job, Case):
            assert isinstance(job.request, HttpRequest | RawRequest)
            outcome = session.send(job.request, timeout=20)
            try:
                check(job.expect, outcome)
            except AssertionError as exc:
                return f"{job.name}: {exc}"
            return None
        request, expected = job
        return _valid(session.send(request, timeout=20), expected)

    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=12) as pool:
        problems = [p for p in pool.map(run_job, jobs) if p]
    run.scenarios["8-big-bodies-16-valid"] = round(time.perf_counter() - started, 3)
    assert problems == [], "\n".join(problems)


def test_parallel_writes_to_one_record_all_land(session: Session, run: Run) -> None:
    requests = [gql(PUT, put("profile_settings", "parallel-record",
                             [{"key": f"k{i:02d}", "text": str(i)}], f"parallel-put-{i}"))
                for i in range(30)]
    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=15) as pool:
        outcomes = list(pool.map(lambda r: session.send(r, timeout=15), requests))
    run.scenarios["30-parallel-puts"] = round(time.perf_counter() - started, 3)
    for outcome in outcomes:
        assert outcome.status == 200 and not outcome.codes(), outcome.brief()
    items = kv_items(session, "profile_settings", "parallel-record")
    assert items == [{"key": f"k{i:02d}", "text": str(i)} for i in range(30)]
