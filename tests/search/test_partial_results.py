"""A search a cluster answers 200 with only part of the answer is an error, never short hits."""

from __future__ import annotations

from typing import Any

import pytest

from backends.base import StoreTimeout, StoreUnavailable

from .fakes import ENGINES, FakeClient, answer, index_with

HIT = {"_source": {}}

pytestmark = pytest.mark.parametrize("engine", ENGINES)


async def run_search(engine: str, response: dict[str, Any]) -> Any:
    index = index_with(engine, FakeClient(answer(engine, response)))
    return await index._search("search", "ts-x-0", {})


async def test_hits_from_only_some_shards_are_unavailable_not_a_short_answer(engine: str) -> None:
    """A red index (a primary unassigned, its node gone) answers with the other shards' hits."""
    partial = {
        "timed_out": False,
        "_shards": {"total": 3, "successful": 2, "skipped": 0, "failed": 1,
                    "failures": [{"shard": 2, "index": "ts-x-0",
                                  "reason": {"type": "no_shard_available_action_exception"}}]},
        "hits": {"hits": [HIT]},
    }
    with pytest.raises(StoreUnavailable, match="1 of 3 shards failed"):
        await run_search(engine, partial)


async def test_a_search_that_timed_out_is_a_timeout_not_what_it_had_found(engine: str) -> None:
    late = {"timed_out": True, "_shards": {"total": 1, "successful": 1, "failed": 0},
            "hits": {"hits": [HIT]}}
    with pytest.raises(StoreTimeout):
        await run_search(engine, late)


async def test_a_whole_answer_is_returned_as_plain_json(engine: str) -> None:
    whole = {"timed_out": False, "_shards": {"total": 2, "successful": 2, "failed": 0},
             "hits": {"hits": [HIT]}}
    got = await run_search(engine, whole)
    assert got == whole
    assert type(got) is dict  # not the Elasticsearch client's ObjectApiResponse
