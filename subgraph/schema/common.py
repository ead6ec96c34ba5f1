"""Types shared by every connection: Relay's PageInfo."""

from __future__ import annotations

import strawberry


@strawberry.type(description="Where a page of a connection ends, and whether more follow.")
class PageInfo:
    has_next_page: bool = strawberry.field(
        description="True when another page can be fetched with `after: endCursor`."
    )
    end_cursor: str | None = strawberry.field(
        description="Opaque cursor of the last edge; pass it as `after` for the next page."
    )
