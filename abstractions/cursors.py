"""Relay edge cursors that are signed when read, not when a page is made.

A page of N items has N cursors, each an HMAC-signed page token; signing them all up front
costs more than reading the page from a fast store, and most callers use only the last one (or
none).  `Cursors` is a read-only sequence that signs cursor i the first time it is asked for,
and keeps it.  It compares equal to a list of the same strings.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any, overload

from .tokens import PageTokens


class Cursors(Sequence[str]):
    """`tokens.encode(scope, state(source))` for each source, computed on first access."""

    __slots__ = ("_done", "_scope", "_sources", "_state", "_tokens")

    def __init__(
        self,
        tokens: PageTokens,
        scope: str | Callable[[], str],
        sources: Sequence[Any],
        state: Callable[[Any], dict[str, Any]],
    ) -> None:
        """`scope` may be a function that makes it, called when the first cursor is signed."""
        self._tokens = tokens
        self._scope = scope
        self._sources = sources
        self._state = state
        self._done: list[str | None] = [None] * len(sources)

    def __len__(self) -> int:
        return len(self._done)

    @overload
    def __getitem__(self, index: int) -> str: ...

    @overload
    def __getitem__(self, index: slice) -> list[str]: ...

    def __getitem__(self, index: int | slice) -> str | list[str]:
        if isinstance(index, slice):
            return [self._at(i) for i in range(*index.indices(len(self._done)))]
        if index < 0:
            index += len(self._done)
        if not 0 <= index < len(self._done):
            raise IndexError("cursor index out of range")
        return self._at(index)

    def _at(self, i: int) -> str:
        found = self._done[i]
        if found is None:
            scope = self._scope
            if not isinstance(scope, str):
                scope = self._scope = scope()
            found = self._done[i] = self._tokens.encode(scope, self._state(self._sources[i]))
        return found

    def __iter__(self) -> Iterator[str]:
        for i in range(len(self._done)):
            yield self._at(i)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Cursors | list):
            return len(self) == len(other) and list(self) == list(other)
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return repr(list(self))
