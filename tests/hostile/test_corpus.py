"""Each case of the corpus, sent alone: the contracted status and code, fast, nothing leaked."""

from __future__ import annotations

from collections import Counter

import httpx
import pytest

from .cases import Case
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
