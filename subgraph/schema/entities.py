"""Entities owned by other subgraphs and extended here: Profile and Title.

References resolve without a backend call: only the key is needed until a field asks for data,
and those fields go through the request's dataloaders.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Annotated

import strawberry

from . import bounds
from .access import AUTHENTICATED
from .counter import Counter
from .demand import PAGE
from .scalars import Long

if TYPE_CHECKING:
    from .analytics import ViewingStats
    from .billing import InvoiceConnection, InvoiceStatus
    from .playback import PlaybackEventConnection

Connection = Annotated["PlaybackEventConnection", strawberry.lazy("subgraph.schema.playback")]
Invoices = Annotated["InvoiceConnection", strawberry.lazy("subgraph.schema.billing")]
Status = Annotated["InvoiceStatus", strawberry.lazy("subgraph.schema.billing")]
Stats = Annotated["ViewingStats", strawberry.lazy("subgraph.schema.analytics")]
STATS_SINCE = strawberry.argument(
    description="Only events at or after this (default: 30 days before `until`)."
)
STATS_UNTIL = strawberry.argument(description="Only events before this (default: now).")


@strawberry.federation.type(
    keys=["id"], description="A viewer profile, owned by the profiles subgraph."
)
class Profile:
    id: strawberry.ID = strawberry.field(description="The profile's id.")

    @classmethod
    def resolve_reference(cls, id: strawberry.ID) -> Profile:
        return cls(id=id)

    @strawberry.field(
        description=(
            "What the profile watched, newest first (namespace `viewing_history`): for the "
            "profile's owner (`profile_ids` claim) or scope `viewing_history:read`."
        ),
        directives=[PAGE, AUTHENTICATED],
    )
    async def viewing_history(
        self,
        info: strawberry.Info,
        first: Annotated[int, strawberry.argument(description=bounds.FIRST)] = 20,
        after: Annotated[
            str | None, strawberry.argument(description="Cursor from `pageInfo.endCursor`.")
        ] = None,
        since: Annotated[
            datetime | None, strawberry.argument(description="Only events at or after this.")
        ] = None,
        until: Annotated[
            datetime | None,
            strawberry.argument(description="Only events before this: after `since`."),
        ] = None,
        title_id: Annotated[
            strawberry.ID | None, strawberry.argument(description="Only plays of this title.")
        ] = None,
    ) -> Connection | None:
        return await playback_resolvers.viewing_history(
            info, str(self.id), first, after, since, until, title_id
        )

    @strawberry.field(
        description="How often the profile started a playback (`profile_plays`): for the "
        "profile's owner or scope `viewing_history:read`.",
        directives=[AUTHENTICATED],
    )
    async def play_count(self, info: strawberry.Info) -> Counter | None:
        return await playback_resolvers.play_count(info, "profile_plays", str(self.id))

    @strawberry.field(
        description="Aggregates of what the profile watched (namespace `viewing_history`): "
        "for the profile's owner or scope `viewing_history:read`.",
        directives=[AUTHENTICATED],
    )
    def viewing_stats(
        self,
        info: strawberry.Info,
        since: Annotated[datetime | None, STATS_SINCE] = None,
        until: Annotated[datetime | None, STATS_UNTIL] = None,
    ) -> Stats:
        return analytics_resolvers.stats(info, "series_id", str(self.id), since, until)


@strawberry.federation.type(keys=["id"], description="A title, owned by the titles subgraph.")
class Title:
    id: strawberry.ID = strawberry.field(description="The title's id.")

    @classmethod
    def resolve_reference(cls, id: strawberry.ID) -> Title:
        return cls(id=id)

    @strawberry.field(
        description="How often the title was played (`title_plays`): any authenticated caller.",
        directives=[AUTHENTICATED],
    )
    async def play_count(self, info: strawberry.Info) -> Counter | None:
        return await playback_resolvers.play_count(info, "title_plays", str(self.id))

    @strawberry.field(
        description="Aggregates of the title's plays across profiles (namespace "
        "`viewing_history`): any authenticated caller.",
        directives=[AUTHENTICATED],
    )
    def viewing_stats(
        self,
        info: strawberry.Info,
        since: Annotated[datetime | None, STATS_SINCE] = None,
        until: Annotated[datetime | None, STATS_UNTIL] = None,
    ) -> Stats:
        return analytics_resolvers.stats(info, "title_id", str(self.id), since, until)


@strawberry.federation.type(
    keys=["id"], description="A billing account, owned by the accounts subgraph."
)
class Account:
    id: strawberry.ID = strawberry.field(description="The account's id.")

    @classmethod
    def resolve_reference(cls, id: strawberry.ID) -> Account:
        return cls(id=id)

    @strawberry.field(
        description="The account's invoices, newest first (namespace `billing`): scope "
        "`billing:read`.",
        directives=[PAGE, AUTHENTICATED],
    )
    async def invoices(
        self,
        info: strawberry.Info,
        status: Annotated[
            Status | None, strawberry.argument(description="Only invoices with this status.")
        ] = None,
        first: Annotated[int, strawberry.argument(description=bounds.FIRST)] = 20,
        after: Annotated[
            str | None, strawberry.argument(description="Cursor from `pageInfo.endCursor`.")
        ] = None,
    ) -> Invoices | None:
        return await billing_resolvers.invoices(info, str(self.id), status, first, after)

    @strawberry.field(
        description="What the account owes: the open invoices' amounts not yet paid, in cents "
        "(scope `billing:read`; null with FORBIDDEN without it).",
        directives=[AUTHENTICATED],
    )
    async def balance_cents(self, info: strawberry.Info) -> Long | None:
        return Long(await billing_resolvers.balance_cents(info, str(self.id)))


# Imported last: the resolvers build PlaybackEvents, whose module imports these entities.
from subgraph.resolvers import analytics as analytics_resolvers  # noqa: E402
from subgraph.resolvers import billing as billing_resolvers  # noqa: E402
from subgraph.resolvers import playback as playback_resolvers  # noqa: E402
