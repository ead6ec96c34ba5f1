"""The search test nodes: where they are, the marks of tests that need one, their URLs, and
how a test's indices are deleted.  Used by tests/search and tests/federation.

`make test` starts an OpenSearch node (SUBGRAPH_TEST_OPENSEARCH, e.g. http://127.0.0.1:9200, or
the secure node's https://user:password@host:port?ca=FILE) and an Elasticsearch node
(SUBGRAPH_TEST_ELASTICSEARCH, e.g. http://127.0.0.1:9230).
"""

from __future__ import annotations

import os
from urllib.parse import parse_qsl, urlsplit

import pytest

from backends.search import open_search_index

OPENSEARCH = os.environ.get("SUBGRAPH_TEST_OPENSEARCH")  # e.g. "http://127.0.0.1:9200"
ELASTICSEARCH = os.environ.get("SUBGRAPH_TEST_ELASTICSEARCH")  # e.g. "http://127.0.0.1:9230"
NODES = {"opensearch": OPENSEARCH, "elasticsearch": ELASTICSEARCH}
DEFAULT_NODES = {"opensearch": "http://127.0.0.1:9200", "elasticsearch": "http://127.0.0.1:9230"}


def needs(engine: str) -> list[pytest.MarkDecorator]:
    """The marks of a test that needs `engine`'s node: its marker, and a skip without it."""
    variable = f"SUBGRAPH_TEST_{engine.upper()}"
    return [
        getattr(pytest.mark, engine),
        pytest.mark.skipif(
            not NODES[engine],
            reason=f"needs an {engine} node: set {variable}=http://host:port (make test does)",
        ),
    ]


ENGINES = [pytest.param(engine, id=engine, marks=needs(engine)) for engine in NODES]
"""Each engine as a test parameter, marked and skipped without its node."""


def _node(engine: str) -> str:
    return NODES[engine] or DEFAULT_NODES[engine]


def node_address(engine: str = "opensearch") -> tuple[str, int]:
    parts = urlsplit(_node(engine))
    return parts.hostname or "127.0.0.1", parts.port or 9200


def node_access(engine: str = "opensearch") -> tuple[str, str, dict[str, str]]:
    """Scheme, credentials (``user:password@`` or empty) and options (``ca``) of a test node."""
    parts = urlsplit(_node(engine))
    tls = parts.scheme in ("https", "opensearchs", "elasticsearchs")
    userinfo = parts.netloc.rpartition("@")[0]
    return (f"{engine}s" if tls else engine), f"{userinfo}@" if userinfo else "", dict(
        parse_qsl(parts.query)
    )


def search_url(prefix: str, engine: str = "opensearch", *, host: str | None = None,
               port: int | None = None, **options: object) -> str:
    """The URL of `engine`'s test node (or of `host:port`) with this test's index prefix."""
    node_host, node_port = node_address(engine)
    scheme, credentials, node_options = node_access(engine)
    merged = {"prefix": prefix, "replicas": 0, **node_options, **options}
    query = "&".join(f"{k}={v}" for k, v in merged.items())
    return f"{scheme}://{credentials}{host or node_host}:{port or node_port}?{query}"


async def delete_prefix(url: str, prefix: str) -> None:
    """Delete the indices and templates of `prefix` on the node of `url`.

    Indices by name: Elasticsearch refuses a wildcard delete (`action.destructive_requires_name`
    is true by default since 8.0; OpenSearch 2.19 still defaults to false).
    """
    index = open_search_index(url)
    await index.open()
    client = index._client
    try:
        rows = index._plain(await client.cat.indices(
            index=f"{prefix}*", format="json", h="index", expand_wildcards="all"))
        names = [row["index"] for row in rows]
        if names:
            await client.indices.delete(index=",".join(names), ignore_unavailable=True)
        try:
            await client.indices.delete_index_template(name=f"{prefix}*")
        except Exception as exc:  # both clients' NotFoundError: no template to delete
            if getattr(exc, "status_code", None) != 404:
                raise
    finally:
        await index.close()
