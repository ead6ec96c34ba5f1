"""The Counter type: a distributed counter's value as its namespace's mode reads it."""

from __future__ import annotations

from enum import Enum

import strawberry

from . import bounds
from .scalars import Long


@strawberry.enum(description="How a counter namespace trades accuracy for cost.")
class CounterMode(Enum):
    BEST_EFFORT = strawberry.enum_value(
        "best_effort", description="A fast in-store counter; retries may count twice."
    )
    EVENTUAL = strawberry.enum_value("eventual", description=bounds.EVENTUAL)
    ACCURATE = strawberry.enum_value(
        "accurate", description="The rollup plus every add since, computed at read time."
    )


@strawberry.type(description="A named count in a counter namespace.")
class Counter:
    namespace: str = strawberry.field(description="The counter namespace.")
    name: str = strawberry.field(description="The counter's name within its namespace.")
    count: Long = strawberry.field(description="The current count, as the mode reads it.")
    mode: CounterMode = strawberry.field(description="The namespace's consistency mode.")
