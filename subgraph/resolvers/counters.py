"""Generic counter fields: counter, counters, addCount, clearCount."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

import strawberry

from abstractions.errors import CounterOverflow, Forbidden, TooLarge
from subgraph.idempotency import check_key
from subgraph.schema import counter as counter_types

from .common import context
from .playback import counter_of

if TYPE_CHECKING:
    from subgraph.schema.inputs import AddCountInput, ClearCountInput


async def counter(info: strawberry.Info, namespace: str, name: str) -> counter_types.Counter:
    count = await context(info).loaders.counts.load((name, namespace))
    return counter_of(info, namespace, name, count)


async def counters(
    info: strawberry.Info, namespace: str, names: list[str]
) -> list[counter_types.Counter | CounterOverflow | Forbidden]:
    """The counters in the order asked; a counter past 64 bits, or one the caller may not read,
    is its error, at its index.

    graphql-core completes an exception in a list as that item's error (null, with the error's
    path and code), so the other counters keep their counts; any other failure fails the field.
    """
    limit = context(info).limits.max_names
    if len(names) > limit:
        raise TooLarge(f"at most {limit} names per request")
    loads = context(info).loaders.counts
    counts = await asyncio.gather(
        *(loads.load((n, namespace)) for n in names), return_exceptions=True
    )
    out: list[counter_types.Counter | CounterOverflow | Forbidden] = []
    for name, count in zip(names, counts, strict=True):
        if isinstance(count, CounterOverflow | Forbidden):
            out.append(count)
        elif isinstance(count, BaseException):
            raise count
        else:
            out.append(counter_of(info, namespace, name, count))
    return out


async def add_count(info: strawberry.Info, input: AddCountInput) -> counter_types.Counter:
    ctx = context(info)
    counters_api = ctx.gateway.counters
    check_key(input.idempotency_key)
    counters_api.check_add(input.namespace, input.name, input.delta)
    facts = {"namespace": input.namespace, "name": input.name, "delta": input.delta}
    attempt = await ctx.idempotency.begin("addCount", input.idempotency_key, input, facts)
    # A retry replays the first attempt (the same input, or an attempt stored without a digest).
    facts = attempt.facts
    namespace, name, delta = facts["namespace"], facts["name"], facts["delta"]
    if attempt.done:
        count = await counters_api.get(namespace, name, after_write=True)
    else:
        # best_effort counters ignore the token (they are not idempotent by design).  The token
        # is the recorded attempt's: a retry applies it however late (within the retention).
        count = await counters_api.add_and_get(
            namespace, name, delta, attempt.token, replay=True
        )
        await ctx.idempotency.finish("addCount", input.idempotency_key, attempt)
    return counter_of(info, namespace, name, count)


async def clear_count(info: strawberry.Info, input: ClearCountInput) -> counter_types.Counter:
    ctx = context(info)
    namespace, name = input.namespace, input.name
    check_key(input.idempotency_key)
    ctx.gateway.counters.check_clear(namespace, name)
    attempt = await ctx.idempotency.begin(
        "clearCount", input.idempotency_key, input, {"namespace": namespace, "name": name}
    )
    if not attempt.done:
        await ctx.gateway.counters.clear(namespace, name, attempt.token, replay=True)
        await ctx.idempotency.finish("clearCount", input.idempotency_key, attempt)
    count = await ctx.gateway.counters.get(namespace, name, after_write=True)
    return counter_of(info, namespace, name, count)
