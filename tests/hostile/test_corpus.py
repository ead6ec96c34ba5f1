"""Each case of the corpus, sent alone: the contracted status and code, fast, nothing leaked."""

from __future__ import annotations

from collections import Counter

import httpx
import pytest

from .cases import FAST, Case, RawRequest
from .client import Session, check
from .conftest import Run
from .corpus import CORPUS

CATEGORIES = {"transport", "documents", "domain"}


def test_corpus_has_at_least_300_distinct_cases_in_every_category() -> None:
    names = Counter(case.name for case in CORPUS)
    assert [name for name, n in names.items() if n > 1] == []
    assert len(CORPUS) >= 300
    assert {case.category for case in CORPUS} == CATEGORIES


@pytest.mark.parametrize("case", CORPUS, ids=[f"{c.category}-{c.name}" for c in CORPUS])
def test_hostile_request_gets_the_contracted_answer_in_time(
    case: Case, session: Session, run: Run
) -> None:
    request = case.request(session) if callable(case.request) else case.request
    run.corpus_started()
    try:
        outcome = session.send(request, timeout=case.seconds + 5)
    except httpx.TransportError as exc:
        run.record(case.name, case.category, case.seconds + 5)
        pytest.fail(f"no answer within {case.seconds + 5}s: {exc!r}")
    run.record(case.name, case.category, outcome.seconds)
    check(case.expect, outcome)
    assert outcome.seconds <= case.seconds, (
        f"answered in {outcome.seconds:.2f}s, over the {case.seconds}s bound")
    if case.verify is not None:
        case.verify(session, outcome)


MALFORMED_HTTP = {
    "not-http": b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03 hello\r\n\r\n",
    "header-of-100-kib": b"POST /graphql HTTP/1.1\r\nHost: x\r\nX-Pad: " + b"a" * 102_400
    + b"\r\n\r\n",
    "length-and-chunked": b"POST /graphql HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n"
    b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
    "negative-length": b"POST /graphql HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n",
    "two-lengths": b"POST /graphql HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n"
    b"Content-Length: 3\r\n\r\n{}",
    "bad-chunk-size": b"POST /graphql HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
    b"Transfer-Encoding: chunked\r\n\r\nzz\r\n{}\r\n0\r\n\r\n",
}


@pytest.mark.parametrize("raw", MALFORMED_HTTP.values(), ids=MALFORMED_HTTP.keys())
def test_malformed_http_gets_a_4xx_or_a_closed_connection_and_harms_nothing(
    raw: bytes, session: Session
) -> None:
    """Below the app (uvicorn's parser): no contract on the body, only no 5xx and no damage."""
    outcome = session.send(RawRequest(raw), timeout=5)
    assert outcome.status == 0 or 400 <= outcome.status < 500, outcome.brief()
    assert outcome.seconds < FAST, outcome.brief()
    assert httpx.get(f"{session.base}/healthz", timeout=2).status_code == 200
