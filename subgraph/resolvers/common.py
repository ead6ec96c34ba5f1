"""Argument checks shared by resolvers."""

from __future__ import annotations

from datetime import datetime

import strawberry

from abstractions.errors import InvalidArgument, TooLarge
from subgraph.context import Context
from subgraph.schema.playback import datetime_to_micros
from subgraph.schema.scalars import b64decode


def context(info: strawberry.Info) -> Context:
    return info.context


def check_first(info: strawberry.Info, first: int) -> int:
    limit = context(info).limits.max_first
    if not 1 <= first <= limit:
        raise InvalidArgument(f"first must be between 1 and {limit}")
    return first


def check_count(info: strawberry.Info, count: int, what: str) -> None:
    limit = context(info).limits.max_items_per_write
    if count > limit:
        raise TooLarge(f"at most {limit} {what} per request")


def interval(since: datetime | None, until: datetime | None) -> tuple[int | None, int | None]:
    start = datetime_to_micros(since) if since is not None else None
    end = datetime_to_micros(until) if until is not None else None
    if start is not None and end is not None and start >= end:
        raise InvalidArgument("since must be before until")
    return start, end


def input_bytes(key: str, text: str | None, value: str | None) -> bytes:
    """An input item's value, given as text or as base64 (exactly one of them)."""
    if (text is None) == (value is None):
        raise InvalidArgument(f"item {key!r}: give exactly one of text or value")
    return text.encode() if text is not None else b64decode(value or "")
