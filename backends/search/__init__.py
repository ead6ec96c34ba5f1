"""TimeSeries search on OpenSearch (the Elasticsearch API), chosen by a search URL.

    config.py   the search URL: hosts, TLS, index prefix, timeout, shards and replicas
    bodies.py   every request body (index template, mappings, bulk actions, queries,
                aggregations) and the index layout, as pure functions
    client.py   `OpenSearchIndex`: sends them with opensearch-py's asyncio client
    errors.py   client errors as `StoreError`s (UNAVAILABLE to the GraphQL layer)
"""

from __future__ import annotations

from .client import OpenSearchIndex
from .config import SearchConfig


def open_search_index(url: str) -> OpenSearchIndex:
    """An index for `opensearch://host[:port][,host...][?options]` (not yet opened)."""
    return OpenSearchIndex(SearchConfig.from_url(url))


__all__ = ["OpenSearchIndex", "SearchConfig", "open_search_index"]
