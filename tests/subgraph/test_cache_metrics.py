"""/metrics counts the look-aside cache per namespace (the embedded LRU here)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from abstractions.gateway import DataGateway
from abstractions.namespaces import KVNamespace

from .conftest import GraphQLClient, new_gateway, subgraph_namespaces
from .test_metrics import scrape, value

RECORD = '{ kvRecord(namespace: "profile_settings", id: "r") { items { edges { cursor } } } }'


@pytest.fixture
def data_gateway(db_path: Path, monkeypatch: pytest.MonkeyPatch) -> DataGateway:
    monkeypatch.delenv("SUBGRAPH_CACHE", raising=False)  # the embedded default: the LRU
    ns = subgraph_namespaces().get("profile_settings", KVNamespace)
    return new_gateway(db_path, dataclasses.replace(ns, cache_ttl_seconds=30))


async def test_hits_and_misses_are_counted_per_namespace(client: GraphQLClient) -> None:
    await client.data(RECORD)
    await client.data(RECORD)
    await client.data(RECORD)
    text = await scrape(client)
    events = "subgraph_cache_events_total"
    assert value(text, events, namespace="profile_settings", event="miss") == 1
    assert value(text, events, namespace="profile_settings", event="hit") == 2
    assert client.gateway.cache is not None and client.gateway.cache.backend == "lru"
    assert "subgraph_cache_evictions" in text
