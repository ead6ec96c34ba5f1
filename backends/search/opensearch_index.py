"""`OpenSearchIndex`: the cluster index on OpenSearch, through opensearch-py's asyncio client.

The official `elasticsearch` client cannot serve here: it requires the `X-Elastic-Product`
header in every answer and sends `compatible-with` media types, both of which OpenSearch 2.x
refuses.
"""

from __future__ import annotations

import ssl
from typing import TYPE_CHECKING

from .cluster import ClusterIndex
from .errors import Failure

if TYPE_CHECKING:
    from opensearchpy import AsyncOpenSearch


class OpenSearchIndex(ClusterIndex):
    """Events of TimeSeries namespaces indexed in OpenSearch (`opensearch://` URLs)."""

    backend = "opensearch"
    engine = "OpenSearch"

    def _connect(self) -> AsyncOpenSearch:
        try:
            import aiohttp  # noqa: F401  (AsyncOpenSearch's transport)
            from opensearchpy import AsyncOpenSearch
        except ImportError as exc:  # pragma: no cover - a broken install
            raise RuntimeError(
                "the OpenSearch search index needs opensearch-py and aiohttp:"
                " pip install 'opensearch-py[async]'"
            ) from exc
        config = self.config
        auth = (config.username, config.password or "") if config.username else None
        return AsyncOpenSearch(
            hosts=[{"host": host, "port": port} for host, port in config.hosts],
            use_ssl=config.use_ssl,
            verify_certs=config.verify,
            ca_certs=config.ca,
            ssl_show_warn=config.verify,
            http_auth=auth,
            timeout=config.timeout,
            # One attempt per node: the abstraction retries writes itself, and a search that
            # fails fast tells the client to retry sooner than one that waits.
            max_retries=len(config.hosts) - 1,
            retry_on_timeout=False,
        )

    def _failure(self, exc: BaseException) -> Failure | None:
        from opensearchpy import exceptions as os_errors

        if isinstance(exc, os_errors.ConnectionTimeout):
            return Failure(timed_out=True)
        if isinstance(exc, os_errors.ConnectionError):
            # The asyncio client raises a plain ConnectionError with aiohttp's TLS error as
            # its info, the synchronous one an SSLError.
            tls = isinstance(exc, os_errors.SSLError) or isinstance(exc.info, ssl.SSLError)
            return Failure(unreachable=True, tls=tls)
        if isinstance(exc, os_errors.TransportError):
            status = exc.status_code if isinstance(exc.status_code, int) else None
            return Failure(status=status, body=exc.info)
        if isinstance(exc, os_errors.OpenSearchException):
            return Failure()
        return None
