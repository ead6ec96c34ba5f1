"""The reader's judgement of one answer whose entity lost one nullable field to an error.

A node that lost its schema fails a profile's `viewingHistory` alone: GraphQL nulls that
nullable field, keeps the profile and its `playCount`, and names the path in the error.  The
judge must count that field as an error and still judge the rest (it once read the null history
and crashed the scenario, CI on ab7b550).
"""

from __future__ import annotations

from .check import judge_read
from .ledger import Ledger, Window
from .load import Answer, Owned


def _answer(errors: list[dict], profile: dict | None) -> Answer:
    page = {"edges": [], "pageInfo": {"hasNextPage": False}}
    data = {
        "kv": {"items": page}, "ts": page, "ff": page,
        "ev": {"count": "0"}, "acc": {"count": "0"}, "cla": {"count": "0"}, "cle": {"count": "0"},
        "_entities": [profile, {"playCount": {"count": "0"}}],
    }
    return Answer("UNAVAILABLE" if errors else "ok", {"data": data, "errors": errors}, 1.0, 0.1)


def _verdicts(answer: Answer) -> dict[str, tuple[str, str]]:
    findings = judge_read(Ledger(), Owned("jr", 0), answer, Window(0, 0))
    return {f.what.removesuffix(" w0"): (f.verdict, f.code) for f in findings}


def test_a_failed_viewing_history_is_an_error_and_the_profiles_count_is_still_judged() -> None:
    error = {"message": "unavailable", "path": ["_entities", 0, "viewingHistory"],
             "extensions": {"code": "UNAVAILABLE"}}
    verdicts = _verdicts(_answer([error], {"playCount": {"count": "0"}, "viewingHistory": None}))
    assert verdicts["_entities.0.viewingHistory"] == ("error", "UNAVAILABLE")
    assert verdicts["profile playCount"] == ("ok", "")
    assert verdicts["title playCount"] == ("ok", "")
    assert "viewingHistory" not in verdicts


def test_a_failed_play_count_is_an_error_and_the_history_is_still_judged() -> None:
    error = {"message": "unavailable", "path": ["_entities", 0, "playCount", "count"],
             "extensions": {"code": "UNAVAILABLE"}}
    history = {"edges": [], "pageInfo": {"hasNextPage": False}}
    verdicts = _verdicts(_answer([error], {"playCount": None, "viewingHistory": history}))
    assert verdicts["_entities.0.playCount"] == ("error", "UNAVAILABLE")
    assert verdicts["viewingHistory"] == ("ok", "")


def test_a_null_history_without_an_error_is_not_read_as_empty() -> None:
    verdicts = _verdicts(_answer([], {"playCount": {"count": "0"}, "viewingHistory": None}))
    assert verdicts["_entities.0.viewingHistory"] == ("error", "NULL")
