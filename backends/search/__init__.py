"""TimeSeries search on a search cluster, OpenSearch or Elasticsearch, chosen by a search URL.

    config.py               the search URL: engine, hosts, TLS, index prefix, timeout, shards
                            and replicas
    bodies.py               every request body (index template, mappings, bulk actions, queries,
                            aggregations) and the index layout, as pure functions; both engines
                            take the same (the Elasticsearch API)
    cluster.py              `ClusterIndex`: sends them, with a deadline, and checks answers
    opensearch_index.py     `OpenSearchIndex`: opensearch-py's asyncio client
    elasticsearch_index.py  `ElasticsearchIndex`: the official `elasticsearch` asyncio client
    errors.py               client errors as `StoreError`s (UNAVAILABLE to the GraphQL layer)
"""

from __future__ import annotations

from .cluster import ClusterIndex
from .config import SearchConfig
from .elasticsearch_index import ElasticsearchIndex
from .opensearch_index import OpenSearchIndex

ENGINES: dict[str, type[ClusterIndex]] = {
    "opensearch": OpenSearchIndex,
    "elasticsearch": ElasticsearchIndex,
}


def open_search_index(url: str) -> ClusterIndex:
    """An index for `opensearch://` or `elasticsearch://host[:port][,host...][?options]` (not
    yet opened); the scheme chooses the engine."""
    config = SearchConfig.from_url(url)
    return ENGINES[config.engine](config)


__all__ = [
    "ClusterIndex",
    "ElasticsearchIndex",
    "OpenSearchIndex",
    "SearchConfig",
    "open_search_index",
]
