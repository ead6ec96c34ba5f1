"""What each engine's client returns and raises, for tests of the index without a node.

opensearch-py answers with dicts and raises `TransportError(status, error, info)`; the official
`elasticsearch` client answers with `ObjectApiResponse`s and raises `ApiError(message, meta,
body)`.  `answer` and `api_error` make the one `engine`'s client would, and `FakeClient` gives
them out in order in place of a real client.
"""

from __future__ import annotations

from typing import Any

from elastic_transport import ApiResponseMeta, HttpHeaders, NodeConfig, ObjectApiResponse
from elasticsearch import ApiError
from opensearchpy.exceptions import TransportError

from backends.search import ClusterIndex, open_search_index

ENGINES = ["opensearch", "elasticsearch"]


def meta(status: int) -> ApiResponseMeta:
    """What the Elasticsearch client knows of an answer besides its body."""
    return ApiResponseMeta(status=status, http_version="1.1", headers=HttpHeaders(),
                           duration=0.0, node=NodeConfig("http", "127.0.0.1", 9))


def answer(engine: str, body: dict[str, Any]) -> Any:
    """A 200 answer with `body`, as `engine`'s client returns it."""
    return ObjectApiResponse(body=body, meta=meta(200)) if engine == "elasticsearch" else body


def api_error(engine: str, status: int, body: dict[str, Any]) -> Exception:
    """An error answer with `status` and `body`, as `engine`'s client raises it."""
    if engine == "elasticsearch":
        return ApiError("x", meta=meta(status), body=body)
    return TransportError(status, "x", body)


class FakeClient:
    """Answers `search` with the given outcomes, in order (an exception is raised)."""

    def __init__(self, *outcomes: Any) -> None:
        self.outcomes = list(outcomes)
        self.calls = 0

    async def search(self, **_: Any) -> Any:
        self.calls += 1
        outcome = self.outcomes.pop(0)
        if isinstance(outcome, Exception):
            raise outcome
        return outcome


def index_with(engine: str, client: FakeClient) -> ClusterIndex:
    """An index of `engine` whose client is `client` (never opened: no node needed)."""
    index = open_search_index(f"{engine}://127.0.0.1:9")
    index._client = client
    return index
