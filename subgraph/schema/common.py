"""Types shared by every connection: Relay's PageInfo, and edge cursors made when selected."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import strawberry

CURSOR = "Opaque cursor of this edge."


def edge_cursor(self: Any) -> str:
    """An edge's `cursor`: signed only when a query selects it (`abstractions.cursors`)."""
    return self.cursors[self.at]


def end_cursor(self: Any) -> str | None:
    cursors = self.cursors
    return cursors[-1] if cursors else None


@strawberry.type(description="Where a page of a connection ends, and whether more follow.")
class PageInfo:
    has_next_page: bool = strawberry.field(
        description="True when another page can be fetched with `after: endCursor`."
    )
    end_cursor: str | None = strawberry.field(
        resolver=end_cursor,
        description="Opaque cursor of the last edge; pass it as `after` for the next page.",
    )
    cursors: strawberry.Private[Sequence[str]]


def page_info(next_page_token: str | None, cursors: Sequence[str]) -> PageInfo:
    """Relay's PageInfo for a page of an abstraction (`ItemPage`, `EventPage`)."""
    return PageInfo(has_next_page=next_page_token is not None, cursors=cursors)
