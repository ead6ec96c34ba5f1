"""Edge cursors signed on first access: a read-only sequence that behaves like the list it was."""

from __future__ import annotations

import pytest

from abstractions.cursors import Cursors
from abstractions.tokens import PageTokens


class CountingTokens(PageTokens):
    def __init__(self) -> None:
        super().__init__(b"secret")
        self.signed = 0

    def encode(self, scope: str, state: dict[str, object]) -> str:
        self.signed += 1
        return super().encode(scope, state)


def test_cursors_are_signed_once_when_read_and_equal_the_eager_list() -> None:
    tokens = CountingTokens()
    sources = [3, 1, 2]
    cursors = Cursors(tokens, "scope", sources, lambda n: {"n": n})
    assert tokens.signed == 0 and len(cursors) == 3 and cursors
    eager = [PageTokens(b"secret").encode("scope", {"n": n}) for n in sources]
    assert cursors[-1] == eager[-1] and tokens.signed == 1
    assert cursors[-1] == eager[-1] and tokens.signed == 1  # kept
    assert list(cursors) == eager and cursors == eager and eager == cursors
    assert cursors[1:] == eager[1:] and tokens.signed == 3
    assert tokens.decode("scope", cursors[0]) == {"n": 3}
    assert list(zip(sources, cursors, strict=True)) == list(zip(sources, eager, strict=True))
    assert cursors != eager[:2] and repr(cursors) == repr(eager)
    with pytest.raises(IndexError):
        cursors[3]
    assert not Cursors(tokens, "scope", [], lambda n: {"n": n})
