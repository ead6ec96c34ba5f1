"""Types shared by every connection: Relay's PageInfo."""

from __future__ import annotations

from collections.abc import Sequence

import strawberry


@strawberry.type(description="Where a page of a connection ends, and whether more follow.")
class PageInfo:
    has_next_page: bool = strawberry.field(
        description="True when another page can be fetched with `after: endCursor`."
    )
    end_cursor: str | None = strawberry.field(
        description="Opaque cursor of the last edge; pass it as `after` for the next page."
    )


def page_info(next_page_token: str | None, cursors: Sequence[str]) -> PageInfo:
    """Relay's PageInfo for a page of an abstraction (`ItemPage`, `EventPage`)."""
    return PageInfo(
        has_next_page=next_page_token is not None,
        end_cursor=cursors[-1] if cursors else None,
    )
