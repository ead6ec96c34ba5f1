"""The fault suite's judge (tests/faults/ledger.py, check.py): what a read may answer.

The fault scenarios take minutes and need a ring; the rules they judge by are checked here, in
the ordinary suite, so that a wrong rule cannot hide a product bug (or invent one).
"""

from __future__ import annotations

from tests.faults.check import judge_events, judge_items
from tests.faults.ledger import FINAL, Ledger, Window, Write

COUNTER = "title_plays/c"


def _write(ledger: Ledger, effects: tuple[tuple[object, ...], ...]) -> Write:
    return ledger.add(Write("kind", f"k{len(ledger.writes)}", "doc", {}, "field", effects))


def _add(ledger: Ledger, delta: int) -> Write:
    return _write(ledger, (("add", COUNTER, delta),))


def _clear(ledger: Ledger) -> Write:
    return _write(ledger, (("clear", COUNTER, 0),))


def _acked(ledger: Ledger, write: Write) -> Write:
    ledger.sent(write)
    ledger.answered(write, True, "ok")
    return write


def _unknown(ledger: Ledger, write: Write) -> Write:
    ledger.sent(write)
    ledger.answered(write, False, "NO_ANSWER")
    return write


def test_acked_adds_are_the_floor_and_unknown_ones_the_ceiling() -> None:
    ledger = Ledger()
    _acked(ledger, _add(ledger, 3))
    _unknown(ledger, _add(ledger, 4))
    _add(ledger, 100)  # never sent
    expectation = ledger.counter_values(COUNTER, FINAL)
    assert (expectation.low, expectation.high) == (3, 7)
    assert expectation.judge(3) is None and expectation.judge(7) is None
    assert expectation.judge(2) == "wrong"
    assert expectation.judge(8) == "duplicate"


def test_a_write_acked_after_the_read_began_may_or_may_not_show() -> None:
    ledger = Ledger()
    _acked(ledger, _add(ledger, 1))
    window = ledger.window()
    _acked(ledger, _add(ledger, 2))
    window = ledger.close(window)
    _acked(ledger, _add(ledger, 4))  # sent after the answer: must not show
    expectation = ledger.counter_values(COUNTER, window)
    assert (expectation.low, expectation.high) == (1, 3)


def test_a_clear_resets_what_came_before_it() -> None:
    ledger = Ledger()
    _acked(ledger, _add(ledger, 5))
    _acked(ledger, _clear(ledger))
    _acked(ledger, _add(ledger, 2))
    assert ledger.counter_values(COUNTER, FINAL).values == {2}
    assert ledger.counter_values(COUNTER, FINAL).judge(7) == "duplicate"


def test_an_unknown_clear_leaves_both_counts_possible() -> None:
    ledger = Ledger()
    _acked(ledger, _add(ledger, 5))
    _unknown(ledger, _clear(ledger))
    _acked(ledger, _add(ledger, 2))
    expectation = ledger.counter_values(COUNTER, FINAL)
    assert expectation.values == {2, 7}
    assert expectation.judge(5) == "wrong"


def test_a_late_retry_may_land_where_it_was_retried() -> None:
    ledger = Ledger()
    _acked(ledger, _add(ledger, 5))
    clear = _unknown(ledger, _clear(ledger))  # first attempt: did it reach the store?
    _acked(ledger, _add(ledger, 2))
    _acked(ledger, clear)  # retried after the add: a first claim lands here
    assert ledger.counter_values(COUNTER, FINAL).values == {0, 2}


def test_items_acked_must_show_and_deleted_ones_must_not() -> None:
    ledger = Ledger()
    put_a = _acked(ledger, _write(ledger, (("kv", "r", "a", "1"),)))
    _acked(ledger, _write(ledger, (("kv", "r", "b", "2"),)))
    _acked(ledger, _write(ledger, (("kv-", "r", "b"),)))
    assert judge_items(ledger, "r", {"a": "1"}, True, FINAL).verdict == "ok"
    empty = judge_items(ledger, "r", {}, True, FINAL)
    assert (empty.verdict, empty.missing) == ("wrong", 1)
    assert "empty answer" in empty.detail
    back = judge_items(ledger, "r", {"a": "1", "b": "2"}, True, FINAL)
    assert back.problems == ("b back after an acked delete",)
    assert judge_items(ledger, "r", {"a": "9"}, True, FINAL).problems == ("a='9', wrote '1'",)
    assert put_a.state.value == "acked"


def test_a_page_of_events_is_judged_down_to_its_oldest_event() -> None:
    ledger = Ledger()
    times = [f"2026-01-01T00:00:0{i}+00:00" for i in range(3)]
    for i, when in enumerate(times):
        _acked(ledger, _write(ledger, (("event", "s", f"e{i}", when),)))
    newest_two = {"e2": times[2], "e1": times[1]}
    assert judge_events(ledger.events("s"), newest_two, False, FINAL, True).verdict == "ok"
    assert judge_events(ledger.events("s"), newest_two, True, FINAL, True).missing == 1
    phantom = judge_events(ledger.events("s"), {"x": times[0]}, True, FINAL, False)
    assert phantom.problems == ("x never written",)


def test_a_window_opened_before_a_send_does_not_expect_it() -> None:
    ledger = Ledger()
    window = ledger.close(ledger.window())
    late = _acked(ledger, _add(ledger, 1))
    assert not Window(window.t0, window.t1).maybe(late)
