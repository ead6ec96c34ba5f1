"""A serving process's garbage collector: frozen after the app is built, a larger young
generation (subgraph.gc_tuning); 0 leaves Python's own settings; nonsense is refused."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from subgraph.gc_tuning import DEFAULT_THRESHOLD, ENV, threshold, tune


@pytest.fixture
def restored() -> Iterator[None]:
    before = gc.get_threshold()
    gc.unfreeze()  # whatever an earlier import of subgraph.asgi froze
    yield
    gc.unfreeze()
    gc.set_threshold(*before)


def test_a_serving_process_freezes_and_collects_less_often(restored: None) -> None:
    assert tune({}) is True
    assert gc.get_threshold() == (DEFAULT_THRESHOLD, 10, 10)
    assert gc.get_freeze_count() > 0


def test_the_threshold_is_the_operators_and_zero_keeps_pythons(restored: None) -> None:
    python_own = gc.get_threshold()
    assert tune({ENV: "0"}) is False
    assert gc.get_threshold() == python_own and gc.get_freeze_count() == 0
    assert tune({ENV: " 2000 "}) is True
    assert gc.get_threshold() == (2000, 10, 10)


@pytest.mark.parametrize("text", ["lots", "-1", "1e5", "12.5"])
def test_a_threshold_that_is_not_a_count_is_refused(text: str) -> None:
    with pytest.raises(ValueError, match=f"{ENV}=.*a whole number"):
        threshold({ENV: text})
