"""The control plane as data: which namespaces exist and how they are set."""

from __future__ import annotations

from enum import Enum

import strawberry

from .demand import assumed


@strawberry.enum(description="The data abstraction a namespace belongs to.")
class Abstraction(Enum):
    KV = strawberry.enum_value("kv", description="Key-Value.")
    TIMESERIES = strawberry.enum_value("timeseries", description="TimeSeries.")
    COUNTER = strawberry.enum_value("counter", description="Distributed Counter.")
    RELATIONAL = strawberry.enum_value(
        "relational", description="Relational: tables, index queries, transactions."
    )


@strawberry.type(description="One setting of a namespace.")
class NamespaceSetting:
    key: str = strawberry.field(description="The setting's name, as in the namespaces file.")
    text: str = strawberry.field(description="Its value as plain text.")


@strawberry.type(description="A named dataset with its abstraction and settings.")
class Namespace:
    name: str = strawberry.field(description="The namespace name.")
    abstraction: Abstraction = strawberry.field(description="Its abstraction.")
    settings: list[NamespaceSetting] = strawberry.field(
        description="Its settings.", directives=[assumed(32)]
    )
