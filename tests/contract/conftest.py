"""Fixtures of the contract suite, on top of the shared `gateway` fixture in tests/conftest.py."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

import pytest

from abstractions.gateway import DataGateway
from abstractions.namespaces import Namespaces
from abstractions.tokens import PageTokens
from tests.conftest import make_store

Reopen = Callable[[], Awaitable[DataGateway]]


@pytest.fixture
async def reopen(
    backend: str, tmp_path: Path, namespaces: Namespaces
) -> AsyncIterator[Reopen]:
    """Open another gateway over the same storage as `gateway` (a restart, or a replica)."""
    async with AsyncExitStack() as stack:

        async def open_again() -> DataGateway:
            gw = DataGateway(
                make_store(backend, tmp_path), namespaces, page_tokens=PageTokens(b"test")
            )
            await gw.start(background=False)
            stack.push_async_callback(gw.stop)
            return gw

        yield open_again


class StoreCalls:
    """Counts calls into chosen methods of a store (to check that a batch is one call)."""

    def __init__(self, store: Any, monkeypatch: pytest.MonkeyPatch, *names: str) -> None:
        self.counts = dict.fromkeys(names, 0)
        for name in names:
            monkeypatch.setattr(store, name, self._wrap(name, getattr(store, name)))

    def _wrap(self, name: str, method: Callable[..., Awaitable[Any]]) -> Callable[..., Any]:
        async def counted(*args: Any, **kwargs: Any) -> Any:
            self.counts[name] += 1
            return await method(*args, **kwargs)

        return counted


@pytest.fixture
def store_calls(
    gateway: DataGateway, monkeypatch: pytest.MonkeyPatch
) -> Callable[..., StoreCalls]:
    """`store_calls("kv_get", ...)` starts counting calls of those store methods."""
    return lambda *names: StoreCalls(gateway.store, monkeypatch, *names)
