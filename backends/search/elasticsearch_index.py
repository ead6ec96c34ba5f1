"""`ElasticsearchIndex`: the cluster index on Elasticsearch, through the official client.

`AsyncElasticsearch` (the `elasticsearch` package, 9.x, over aiohttp) pairs with an Elasticsearch
9 cluster: the client sends `compatible-with=9` media types and checks that the server answers
as Elasticsearch (`X-Elastic-Product`), so it refuses OpenSearch, and an 8.x client would be
refused by a 9.x server's compatibility check in turn.  Differences from OpenSearch 2.19 that
show here, with Elasticsearch 9.2:

- answers are `ObjectApiResponse` / `ListApiResponse` objects, not dicts: `_plain` takes their
  JSON body, so that `_whole` sees the `_shards` of a partial answer;
- errors are elastic-transport's (`ConnectionError`, `TlsError`, `ConnectionTimeout`) and the
  client's `ApiError` with the status in `meta.status` and the JSON in `body`;
- the client refuses a server that is not Elasticsearch (`UnsupportedProductError`), said here
  as "the server is not Elasticsearch" rather than a bare failure.

The request bodies are the same (`bodies`), sent with `body=`, which both clients take.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .cluster import ClusterIndex
from .errors import Failure

if TYPE_CHECKING:
    from elasticsearch import AsyncElasticsearch


class ElasticsearchIndex(ClusterIndex):
    """Events of TimeSeries namespaces indexed in Elasticsearch (`elasticsearch://` URLs)."""

    backend = "elasticsearch"
    engine = "Elasticsearch"

    def _connect(self) -> AsyncElasticsearch:
        try:
            import aiohttp  # noqa: F401  (AsyncElasticsearch's default transport)
            from elasticsearch import AsyncElasticsearch
        except ImportError as exc:  # pragma: no cover - a broken install
            raise RuntimeError(
                "the Elasticsearch search index needs elasticsearch and aiohttp:"
                " pip install 'elasticsearch[async]'"
            ) from exc
        config = self.config
        scheme = "https" if config.use_ssl else "http"
        tls: dict[str, Any] = {}
        if config.use_ssl:
            tls = {"verify_certs": config.verify, "ssl_show_warn": config.verify}
            if config.ca is not None:
                tls["ca_certs"] = config.ca
        return AsyncElasticsearch(
            hosts=[{"scheme": scheme, "host": host, "port": port} for host, port in config.hosts],
            basic_auth=(config.username, config.password or "") if config.username else None,
            request_timeout=config.timeout,
            # As for OpenSearch: one attempt per node, the abstraction retries writes itself.
            max_retries=len(config.hosts) - 1,
            retry_on_timeout=False,
            **tls,
        )

    def _failure(self, exc: BaseException) -> Failure | None:
        import elastic_transport
        from elasticsearch import UnsupportedProductError

        # A transport error's text is its class's summary ("TLS error") unless earlier attempts
        # failed too; the cause (aiohttp's, e.g. CERTIFICATE_VERIFY_FAILED) is in `message`.
        detail = str(exc.message) if isinstance(exc, elastic_transport.TransportError) else None
        if isinstance(exc, elastic_transport.ConnectionTimeout):
            return Failure(timed_out=True, detail=detail)
        if isinstance(exc, elastic_transport.ConnectionError):
            tls = isinstance(exc, elastic_transport.TlsError)
            return Failure(unreachable=True, tls=tls, detail=detail)
        if isinstance(exc, UnsupportedProductError):
            return Failure(other_engine=True)
        if isinstance(exc, elastic_transport.ApiError):
            return Failure(status=exc.meta.status, body=exc.body)
        if isinstance(exc, elastic_transport.TransportError):
            return Failure(detail=detail)
        return None

    def _plain(self, response: Any) -> Any:
        import elastic_transport

        return response.body if isinstance(response, elastic_transport.ApiResponse) else response
