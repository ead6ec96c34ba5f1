"""The vocabulary of the corpus: what a case sends, what must come back, and how fast.

A `Case` is data: a request (or a function that prepares one with setup writes), an `Expect`
(exact status, the `extensions.code` that must be among the errors, where data may be) and a
latency bound.  The constructors below name the shapes of answer the contract knows.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from .client import Outcome, Session

JSON = "application/json"
GRAPHQL_RESPONSE = "application/graphql-response+json"
ANY_JSON = "json"  # either JSON media type (transport refusals: the contract names none)
FAST = 2.0  # seconds: the default bound of a case
SLOW = 5.0  # seconds: deliberately expensive cases (megabyte bodies, big lists)

Body = bytes | Callable[[], bytes]


@dataclass(frozen=True, slots=True)
class HttpRequest:
    """An ordinary request, sent with httpx; `body` may be a function for big bodies."""

    method: str = "POST"
    path: str = "/graphql"
    headers: tuple[tuple[str, str], ...] = (("content-type", JSON),)
    body: Body | None = None
    params: tuple[tuple[str, str], ...] = ()

    def content(self) -> bytes | None:
        return self.body() if callable(self.body) else self.body


@dataclass(frozen=True, slots=True)
class RawRequest:
    """Bytes over a socket, for framing httpx will not produce (lying lengths, endless chunks).

    `head` is sent first, then each part of `parts()` until the server answers or stops reading.
    """

    head: bytes
    parts: Callable[[], Iterable[bytes]] = lambda: ()


Request = HttpRequest | RawRequest
Errors = Literal["none", "some", "allowed", "any"]
Data = Literal["absent", "present", "nonnull", "any"]


@dataclass(frozen=True, slots=True)
class Expect:
    """What the answer must be.

    `errors`: "none"; "some" (one error carries one of `codes`); "allowed" (none, or every
    error's code among `codes`); "any".  `data`: "absent" (no key, or null), "present" (the
    key, even null), "nonnull", "any".  `path`: the expected error is a field error.  `also`:
    another answer the contract allows as well.
    """

    status: int
    codes: frozenset[str] = frozenset()
    errors: Errors = "none"
    data: Data = "any"
    path: bool = False
    json: bool = True
    content_type: str | None = JSON
    check: Callable[[dict[str, Any]], None] | None = None
    also: Expect | None = None  # an equally acceptable answer


def refused(status: int, code: str) -> Expect:
    """A transport-level refusal: `status`, a JSON error body with `code`, no data."""
    return Expect(status, frozenset({code}), "some", "absent", content_type=ANY_JSON)


def request_error(*codes: str, accept: str = JSON) -> Expect:
    """A GraphQL request error: 200 under application/json, 400 under graphql-response+json."""
    status = 400 if accept == GRAPHQL_RESPONSE else 200
    return Expect(status, frozenset(codes), "some", "absent", content_type=accept)


def field_error(*codes: str, check: Callable[[dict[str, Any]], None] | None = None) -> Expect:
    """A field error: 200, `data` present (possibly null), the error carries a `path`."""
    return Expect(200, frozenset(codes), "some", "present", path=True, check=check)


def ok(check: Callable[[dict[str, Any]], None] | None = None, accept: str = JSON) -> Expect:
    """A success: 200, data, no errors; `check` sees `data`."""
    return Expect(200, errors="none", data="nonnull", content_type=accept, check=check)


def ok_or(*codes: str, check: Callable[[dict[str, Any]], None] | None = None) -> Expect:
    """200 with data, or refused with nothing but `codes` (valid input the server may decline)."""
    return Expect(200, frozenset(codes), "allowed", check=check)


def answered() -> Expect:
    """200 with any GraphQL outcome: only the latency and the absence of leaks count."""
    return Expect(200, errors="any")


def status_only(status: int) -> Expect:
    """Only the status (pages outside the GraphQL contract, such as 404)."""
    return Expect(status, errors="any", json=False, content_type=None)


@dataclass(frozen=True, slots=True)
class Case:
    """One hostile (or control) request and the answer the contract demands."""

    name: str
    category: str
    request: Request | Callable[[Session], Request]
    expect: Expect
    seconds: float = FAST
    verify: Callable[[Session, Outcome], None] | None = None
    tags: frozenset[str] = field(default_factory=frozenset)


# --- request builders --------------------------------------------------------------------------

_UNSET: Any = object()


def body_of(
    query: Any = _UNSET,
    variables: Any = _UNSET,
    operation: Any = _UNSET,
    extensions: Any = _UNSET,
) -> dict[str, Any]:
    body: dict[str, Any] = {}
    for key, value in (("query", query), ("variables", variables),
                       ("operationName", operation), ("extensions", extensions)):
        if value is not _UNSET:
            body[key] = value
    return body


def encode(obj: Any) -> bytes:
    """JSON with every non-ASCII character escaped: lone surrogates travel as `\\udXXX`."""
    return json.dumps(obj, ensure_ascii=True, separators=(",", ":")).encode("ascii")


def gql(
    query: Any,
    variables: Any = _UNSET,
    *,
    operation: Any = _UNSET,
    accept: str | None = None,
    utf8: bool = False,
) -> HttpRequest:
    """A POST of a GraphQL document; `utf8` sends non-ASCII as raw UTF-8 instead of escapes."""
    body = body_of(query, variables, operation)
    content: Body
    if utf8:
        content = json.dumps(body, ensure_ascii=False).encode("utf-8")
    elif variables is not _UNSET and _is_big(variables):
        content = lambda: encode(body)  # noqa: E731 - built only when sent
    else:
        content = encode(body)
    headers: tuple[tuple[str, str], ...] = (("content-type", JSON),)
    if accept is not None:
        headers += (("accept", accept),)
    return HttpRequest(headers=headers, body=content)


def _is_big(variables: Any) -> bool:
    return len(repr(variables)) > 100_000


def post(
    body: Body | None,
    content_type: str | None = JSON,
    *,
    headers: tuple[tuple[str, str], ...] = (),
    method: str = "POST",
    path: str = "/graphql",
) -> HttpRequest:
    """Bytes as the body, under `content_type` (None: no Content-Type header)."""
    all_headers = ((("content-type", content_type),) if content_type is not None else ()) + headers
    return HttpRequest(method=method, path=path, headers=all_headers, body=body)


PREFLIGHT = (("apollo-require-preflight", "true"),)


def get(
    path: str = "/graphql",
    accept: str = JSON,
    *,
    headers: tuple[tuple[str, str], ...] = PREFLIGHT,
    **params: str,
) -> HttpRequest:
    """A GET; by default with the header that shows it is no cross-site forgery (`headers=()`:
    a GET any web page could make a browser send)."""
    return HttpRequest(method="GET", path=path, headers=(("accept", accept), *headers),
                       params=tuple(params.items()))


def raw(head: str, parts: Callable[[], Iterable[bytes]] = lambda: ()) -> RawRequest:
    """A raw request: `head` gets CRLF line ends and the blank line that ends the headers."""
    lines = head.strip().splitlines()
    return RawRequest(("\r\n".join(line.strip() for line in lines) + "\r\n\r\n").encode(), parts)
