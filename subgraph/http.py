"""GraphQL over HTTP: what a request must be before any GraphQL work starts, and its answer.

Every refusal is a JSON body `{"errors": [{"message", "extensions": {"code"}}]}`:

- cross-site request forgery (refused as Apollo Server and Router refuse it): a GET or POST
  that a browser would send from any site without a CORS preflight (no Content-Type, or one of
  text/plain, application/x-www-form-urlencoded, multipart/form-data) and without a non-empty
  `Apollo-Require-Preflight` or `X-Apollo-Operation-Name` header is refused with 400
  (BAD_REQUEST) before its body or query string is read.  The GraphiQL page (a GET without
  `query` that accepts HTML) is served without one: it runs nothing, and its own requests are
  POSTs of JSON;
- transport: a body over `max_body_bytes` is refused with 413 before it is read whole (by its
  Content-Length, else as it streams); a compressed body (any Content-Encoding) or a media type
  other than `application/json` with 415; bytes that are not UTF-8, text that is not JSON or
  nests too deep, JSON that is not one object, and request parameters of the wrong JSON type
  with 400 (BAD_REQUEST); methods other than GET and POST, and mutations over GET, with 405; a
  body that does not arrive within the deadline with 408;
- request errors (the document too large, lone surrogates in any string, variables too many or
  too deep, parse and validation failures, limits, an operation that cannot be chosen): no
  `data` entry, HTTP 200 for `application/json` and 400 for `application/graphql-response+json`,
  as the GraphQL-over-HTTP specification says for each media type.

A browser's GET (HTML accepted, no `query` parameter) gets the GraphiQL page of
subgraph/graphiql.py, before and without authentication: the page holds no data.

Any other request is authenticated first (subgraph/auth.py), before its body is read: a bad
token, or no token for anything but `_service`/`__typename`, is refused with 401
(UNAUTHENTICATED, whatever the media type) and a `WWW-Authenticate: Bearer` challenge.  The
request's Caller is kept on `request.state.caller` for the context.

A request also has a deadline (`request_timeout`): past it, its execution and the dataloader
batches it started are cancelled and it is answered with REQUEST_TIMEOUT.

Each request is measured and logged once it is answered, refused or not (`subgraph.telemetry`):
one log line, its duration and error codes in the metrics, its operation's span.
"""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from collections.abc import Mapping
from typing import Any

import orjson
from cross_web import HTTPException, StarletteRequestAdapter
from graphql import GraphQLError
from opentelemetry.trace import StatusCode
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send
from strawberry.asgi import GraphQL
from strawberry.exceptions import MissingQueryError
from strawberry.http import GraphQLHTTPResponse, GraphQLRequestData, process_result
from strawberry.schema.base import BaseSchema
from strawberry.schema.exceptions import CannotGetOperationTypeError, InvalidOperationTypeError
from strawberry.types import ExecutionResult
from strawberry.types.graphql import OperationType

from abstractions.access import Caller

from .auth import Authenticator, Unauthenticated, disabled, public_only
from .errors import classify
from .graphiql import graphiql_assets
from .limits import Limits
from .telemetry import RequestRecord, Telemetry

log = logging.getLogger("subgraph.http")

JSON = "application/json"
GRAPHQL_RESPONSE = "application/graphql-response+json"
TIMEOUT = "REQUEST_TIMEOUT"
# What a browser sends cross-site without asking the server first (the Fetch standard's
# CORS-safelisted Content-Types), and the headers that make it ask (Apollo's names).
SIMPLE_MEDIA_TYPES = frozenset(
    {"application/x-www-form-urlencoded", "multipart/form-data", "text/plain"}
)
PREFLIGHT_HEADERS = ("apollo-require-preflight", "x-apollo-operation-name")
_TOKEN = frozenset("!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyz")


class RequestRefused(Exception):
    """A request answered with an error before (or instead of) GraphQL execution.

    `status` None: a GraphQL request error, whose status follows the response's media type.
    """

    def __init__(
        self, status: int | None, code: str, message: str, headers: Mapping[str, str] | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.headers = dict(headers or {})


class _Adapter(StarletteRequestAdapter):
    """Strawberry's request adapter, with the Starlette request reachable for streaming."""

    @property
    def request(self) -> Request:
        return self._request


def negotiate(accept: str) -> str:
    """The response media type: the GraphQL one when the client accepts it at least as well as
    JSON (the specification prefers it), else JSON."""
    if GRAPHQL_RESPONSE not in accept.lower():
        return JSON
    quality = {JSON: 0.0, GRAPHQL_RESPONSE: 0.0}
    for entry in accept.lower().split(","):
        media, *params = (part.strip() for part in entry.split(";"))
        q = 1.0
        for param in params:
            key, _, value = param.partition("=")
            if key.strip() == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        if media in quality:
            quality[media] = max(quality[media], q)
        elif media in ("*/*", "application/*"):
            quality[JSON] = max(quality[JSON], q)
    graphql = quality[GRAPHQL_RESPONSE]
    return GRAPHQL_RESPONSE if graphql > 0 and graphql >= quality[JSON] else JSON


# Types orjson would write where json.dumps refuses or writes otherwise: sent to the fallback.
_ORJSON_OPTIONS = (
    orjson.OPT_PASSTHROUGH_DATACLASS | orjson.OPT_PASSTHROUGH_DATETIME
    | orjson.OPT_PASSTHROUGH_SUBCLASS
)


def encode_json(data: object) -> bytes:
    """A response body: the JSON value `json.dumps` gives, made by orjson (10x faster).

    orjson writes UTF-8 where json.dumps escapes non-ASCII text (the same JSON value), and
    refuses (a TypeError) what json.dumps may take or write its own way: ints past 64 bits,
    keys that are not `str`, lone surrogates, nesting past 254 levels, dataclasses, datetimes,
    subclasses of str, int, float, dict and list.  Those bodies are json.dumps', as before.
    Left to orjson, where json.dumps differs: NaN and infinities (null, not json.dumps' invalid
    `NaN`; graphql-core never serialises them: a Float must be finite), and Enum members and
    UUIDs (written, where json.dumps raises; no response holds one: leaves are serialised).
    """
    try:
        return orjson.dumps(data, option=_ORJSON_OPTIONS)
    except TypeError:
        return json.dumps(data, separators=(",", ":")).encode()


def error_response(
    media_type: str, status: int | None, code: str, message: str,
    headers: Mapping[str, str] | None = None,
) -> Response:
    if status is None:
        status = 400 if media_type == GRAPHQL_RESPONSE else 200
    body = {"errors": [{"message": message, "extensions": {"code": code}}]}
    return Response(encode_json(body), status, headers=headers, media_type=media_type)


# The most a request without a token may send: `{ _service { sdl } }` fits many times over.
ANONYMOUS_MAX_BODY_BYTES = 16 * 1024


async def read_body(request: Request, limit: int) -> bytes:
    """The body, refused with 413 as soon as it is known to be over `limit` bytes."""
    declared = request.headers.get("content-length")
    if declared is not None:
        if not (declared.strip().isascii() and declared.strip().isdigit()):
            raise RequestRefused(400, "BAD_REQUEST", "Content-Length is not a number")
        if int(declared) > limit:
            raise _too_large(limit)
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise _too_large(limit)
        chunks.append(chunk)
    return b"".join(chunks)


def _too_large(limit: int) -> RequestRefused:
    return RequestRefused(
        413, "PAYLOAD_TOO_LARGE", f"the request body is over the limit of {limit} bytes"
    )


def _unauthenticated(refused: Unauthenticated) -> RequestRefused:
    return RequestRefused(
        401, "UNAUTHENTICATED", refused.message, {"WWW-Authenticate": refused.challenge}
    )


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def decode_json(text: str | bytes, what: str) -> Any:
    """Strict JSON: UTF-8 only, no NaN/Infinity, nesting bounded by the interpreter's stack."""
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError:
            raise RequestRefused(400, "BAD_REQUEST", f"the {what} is not UTF-8") from None
    try:
        return json.loads(text, parse_constant=_no_constant)
    except RecursionError:
        raise RequestRefused(400, "BAD_REQUEST", f"the {what} nests too deeply") from None
    except ValueError as exc:  # JSONDecodeError, NaN, integers over 4300 digits
        message = exc.msg if isinstance(exc, json.JSONDecodeError) else str(exc)
        raise RequestRefused(400, "BAD_REQUEST", f"the {what} is not JSON: {message}") from None


def media_essence(content_type: str) -> str | None:
    """`type/subtype` of a Content-Type in lower case, or None when it does not parse as a
    MIME type (then a browser would not have sent it without a preflight)."""
    kind, slash, rest = content_type.strip(" \t\r\n").lower().partition("/")
    subtype = rest.partition(";")[0].rstrip(" \t\r\n")
    if not (slash and kind and subtype and set(kind) <= _TOKEN and set(subtype) <= _TOKEN):
        return None
    return f"{kind}/{subtype}"


def check_preflighted(request: Request) -> None:
    """Refuse a request a browser could have sent from another site without a CORS preflight.

    Such a request runs from the victim's network position (a subgraph on their loopback or
    intranet) with whatever credentials the browser attaches, and the page that forged it needs
    no answer for a mutation to do harm.  A request is preflighted when its Content-Type parses
    and is not one of SIMPLE_MEDIA_TYPES, or when it carries a non-empty header of
    PREFLIGHT_HEADERS.
    """
    content_type = request.headers.get("content-type")
    if content_type is not None and media_essence(content_type) not in SIMPLE_MEDIA_TYPES:
        return
    if any(request.headers.get(name, "").strip() for name in PREFLIGHT_HEADERS):
        return
    raise RequestRefused(
        400, "BAD_REQUEST",
        "refused as a possible cross-site request forgery: a browser can send this request "
        "from any web site. Send POST with Content-Type: application/json, or add the header "
        "Apollo-Require-Preflight: true (or a non-empty X-Apollo-Operation-Name), which GET "
        "requests need",
    )


def _check_media(request: Request) -> None:
    encoding = request.headers.get("content-encoding", "").strip().lower()
    if encoding not in ("", "identity"):
        raise RequestRefused(
            415, "UNSUPPORTED_MEDIA_TYPE",
            f"Content-Encoding {encoding!r} is not accepted: send the body uncompressed",
        )
    media, _, params = request.headers.get("content-type", "").partition(";")
    charset = "utf-8"
    for param in params.split(";"):
        key, _, value = param.partition("=")
        if key.strip().lower() == "charset":
            charset = value.strip().strip('"').lower()
    if media.strip().lower() != JSON or charset not in ("utf-8", "utf8"):
        raise RequestRefused(
            415, "UNSUPPORTED_MEDIA_TYPE", "send the request as Content-Type: application/json"
        )


def _unicode(text: str, what: str) -> None:
    """Refuse lone surrogates (legal JSON escapes, not Unicode text) where strings enter."""
    if not text.isascii():
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            raise RequestRefused(
                None, "BAD_USER_INPUT",
                f"{what}: a string holds a lone surrogate, which is not Unicode text",
            ) from None


def _check_values(root: Mapping[str, Any], what: str, limits: Limits) -> None:
    """Bound a JSON value's size and depth before graphql-core coerces it; check its text."""
    stack: list[tuple[Any, int]] = [(root, 1)]
    count = 0
    while stack:
        value, depth = stack.pop()
        count += 1
        if count > limits.max_variable_values:
            raise RequestRefused(
                None, "BAD_USER_INPUT",
                f"{what}: more than {limits.max_variable_values} values",
            )
        if depth > limits.max_variable_depth:
            raise RequestRefused(
                None, "BAD_USER_INPUT",
                f"{what}: nested deeper than {limits.max_variable_depth} levels",
            )
        kind = type(value)
        if kind is str:
            _unicode(value, what)
        elif kind is dict:
            for key, item in value.items():
                _unicode(key, what)
                stack.append((item, depth + 1))
        elif kind is list:
            stack.extend((item, depth + 1) for item in value)


def request_data(data: Any, limits: Limits) -> GraphQLRequestData:
    """The GraphQL request in a decoded body or query string, checked before any parsing."""
    if not isinstance(data, dict):
        kind = "a list (batching is not supported)" if isinstance(data, list) else type(
            data).__name__.replace("NoneType", "null")
        raise RequestRefused(400, "BAD_REQUEST", f"the request must be a JSON object, not {kind}")
    query = data.get("query")
    if not isinstance(query, str) or not query.strip():
        raise RequestRefused(400, "BAD_REQUEST", "the request has no `query` string")
    if len(query) > limits.max_document_bytes:
        raise _document_too_large(limits)
    _unicode(query, "the query")
    if len(query.encode("utf-8")) > limits.max_document_bytes:
        raise _document_too_large(limits)
    name = data.get("operationName")
    if name is not None:
        if not isinstance(name, str):
            raise RequestRefused(400, "BAD_REQUEST", "`operationName` must be a string or null")
        _unicode(name, "operationName")
    parts: dict[str, dict[str, Any] | None] = {}
    for part in ("variables", "extensions"):
        value = data.get(part)
        if value is not None and not isinstance(value, dict):
            raise RequestRefused(400, "BAD_REQUEST", f"`{part}` must be an object or null")
        if value:
            _check_values(value, f"the {part}", limits)
        parts[part] = value
    return GraphQLRequestData(
        query=query, variables=parts["variables"], operation_name=name,
        extensions=parts["extensions"], protocol="http",
    )


def _document_too_large(limits: Limits) -> RequestRefused:
    return RequestRefused(
        413, "PAYLOAD_TOO_LARGE",
        f"the query document is over {limits.max_document_bytes} bytes; send large values "
        "as variables",
    )


def is_request_error(result: ExecutionResult) -> bool:
    """Errors before execution: no `data` entry in the response (GraphQL over HTTP)."""
    errors = result.errors
    return bool(
        result.data is None and errors
        and all(e.path is None and (e.extensions or {}).get("code") != TIMEOUT for e in errors)
    )


class GraphQLView(GraphQL):
    """Strawberry's ASGI view with the checks above, the deadline and media types."""

    request_adapter_class = _Adapter

    def __init__(
        self, schema: BaseSchema, limits: Limits, auth: Authenticator | None = None,
        telemetry: Telemetry | None = None,
    ) -> None:
        super().__init__(schema, graphql_ide="graphiql")
        self.limits = limits
        self.auth = auth or disabled()
        self.telemetry = telemetry or Telemetry()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await super().__call__(scope, receive, send)
            return
        request = Request(scope, receive)
        if self.graphql_ide and self.should_render_graphql_ide(request):
            # The page holds no data: a browser gets it without a token (subgraph.graphiql).
            await (await self.render_graphql_ide(request))(scope, receive, send)
            return
        record = self.telemetry.begin(request.method, request.headers)
        request.state.record = record
        try:
            response = await self._respond(request, record)
            record.status = response.status_code
            await response(scope, receive, send)
        except BaseException:
            record.status = record.status or 500
            raise
        finally:
            self.telemetry.end(record)

    async def _respond(self, request: Request, record: RequestRecord) -> Response:
        media_type = negotiate(request.headers.get("accept", ""))
        try:
            await self.authenticate(request)
            return await self.run(request)
        except RequestRefused as refused:
            record.codes[refused.code] += 1
            record.refusal = refused.message
            return error_response(
                media_type, refused.status, refused.code, refused.message, refused.headers
            )
        except HTTPException as exc:
            code = "UNSUPPORTED_MEDIA_TYPE" if exc.status_code == 415 else "BAD_REQUEST"
            headers = {"Allow": "GET, POST"} if exc.status_code == 405 else None
            record.codes[code] += 1
            record.refusal = exc.reason
            return error_response(media_type, exc.status_code, code, exc.reason, headers)

    async def render_graphql_ide(self, request: Request) -> Response:
        return graphiql_assets().page(bearer=self.auth.enabled)

    async def authenticate(self, request: Request) -> None:
        """Set `request.state.caller`; a request without a token is marked to be checked for
        public fields once its document is read (`parse_http_body`)."""
        try:
            caller = await self.auth.authenticate(request.headers.getlist("authorization"))
        except Unauthenticated as refused:
            raise _unauthenticated(refused) from None
        request.state.caller = caller or Caller.anonymous()
        request.state.token_missing = caller is None

    def _check_public(self, http: Request, data: GraphQLRequestData) -> GraphQLRequestData:
        """A request without a token may run only an operation on PUBLIC_FIELDS."""
        if getattr(http.state, "token_missing", False):
            if not public_only(data.query, data.operation_name, self.limits.max_tokens):
                raise self._token_needed()
            self.auth.count("anonymous")
        return data

    def _token_needed(self) -> RequestRefused:
        self.auth.count("missing")
        return _unauthenticated(Unauthenticated(
            "missing", "this request needs a bearer token (Authorization: Bearer <jwt>)"
        ))

    async def get_sub_response(self, request: Any) -> Response:
        response = await super().get_sub_response(request)
        response.media_type = negotiate(request.headers.get("accept", ""))
        return response

    async def parse_http_body(self, request: Any) -> GraphQLRequestData:
        # Strawberry has served the GraphiQL page before this: it needs no preflight.
        http: Request = request.request
        check_preflighted(http)
        if http.method == "GET":
            params = dict(http.query_params)
            for part in ("variables", "extensions"):
                if part in params:
                    text = params[part]
                    params[part] = decode_json(text, f"`{part}` parameter") if text else None
            return self._check_public(http, request_data(params, self.limits))
        _check_media(http)
        timeout = self.limits.request_timeout
        anonymous = getattr(http.state, "token_missing", False)
        # Without a token only a public operation can run, and one fits in far less than the
        # limit: a stranger does not get to make the server read megabytes first.
        limit = min(self.limits.max_body_bytes, ANONYMOUS_MAX_BODY_BYTES) if anonymous else (
            self.limits.max_body_bytes
        )
        try:
            async with asyncio.timeout(timeout):  # a body trickled in slowly holds no slot long
                body = await read_body(http, limit)
        except RequestRefused as refused:
            if anonymous and refused.status == 413:
                raise self._token_needed() from None
            raise
        except ClientDisconnect:
            raise RequestRefused(400, "BAD_REQUEST", "the client closed the request") from None
        except TimeoutError:
            raise RequestRefused(
                408, "REQUEST_TIMEOUT", f"the request body did not arrive within {timeout:g}s"
            ) from None
        data = request_data(decode_json(body, "request body"), self.limits)
        return self._check_public(http, data)

    async def execute_single(  # type: ignore[override]
        self,
        request: Any,
        request_adapter: Any,
        sub_response: Any,
        context: Any,
        root_value: Any,
        request_data: GraphQLRequestData,
    ) -> ExecutionResult:
        method = request_adapter.method
        try:
            with self.telemetry.operation() as span:
                async with asyncio.timeout(self.limits.request_timeout):
                    result = await self.schema.execute(
                        request_data.query,
                        root_value=root_value,
                        variable_values=request_data.variables,
                        context_value=context,
                        operation_name=request_data.operation_name,
                        allowed_operation_types=OperationType.from_http(method),
                        operation_extensions=request_data.extensions,
                    )
                if span is not None and result.errors:
                    span.set_status(StatusCode.ERROR, f"{len(result.errors)} GraphQL errors")
                return result
        except TimeoutError:
            cancel = getattr(getattr(context, "loaders", None), "cancel", None)
            if cancel is not None:
                cancel()
            request_id = getattr(context, "request_id", uuid.uuid4().hex[:16])
            log.warning("request %s: over its deadline of %gs, cancelled", request_id,
                        self.limits.request_timeout)
            return ExecutionResult(data=None, errors=[GraphQLError(
                f"the request ran over its deadline of {self.limits.request_timeout:g}s "
                f"(request id {request_id})",
                extensions={"code": TIMEOUT, "requestId": request_id},
            )])
        except CannotGetOperationTypeError as exc:
            return ExecutionResult(data=None, errors=[GraphQLError(
                exc.as_http_error_reason(),
                extensions={"code": "OPERATION_RESOLUTION_FAILURE"},
            )])
        except InvalidOperationTypeError as exc:
            raise RequestRefused(
                405, "BAD_REQUEST", exc.as_http_error_reason(method), {"Allow": "POST"}
            ) from None
        except MissingQueryError:
            raise RequestRefused(400, "BAD_REQUEST", "the request has no `query`") from None

    async def process_result(self, request: Any, result: ExecutionResult) -> GraphQLHTTPResponse:
        record: RequestRecord | None = getattr(request.state, "record", None)
        if result.errors and not all((e.extensions or {}).get("code") for e in result.errors):
            # Raised outside the operation (an extension's hook): not yet classified.
            request_id = record.request_id if record is not None else uuid.uuid4().hex[:16]
            result.errors = [classify(e, request_id) for e in result.errors]
        if record is not None:
            record.add_codes(result.errors)
        response = process_result(result)
        if is_request_error(result):
            response.pop("data", None)
        return response

    def encode_json(self, data: object) -> bytes:
        """Strawberry's hook for every JSON body of the view (both media types)."""
        return encode_json(data)

    def create_response(
        self, response_data: GraphQLHTTPResponse | list[GraphQLHTTPResponse],
        sub_response: Response,
    ) -> Response:
        response = super().create_response(response_data, sub_response)
        media_type = sub_response.media_type or JSON
        response.headers["content-type"] = media_type
        if (
            media_type == GRAPHQL_RESPONSE and isinstance(response_data, dict)
            and "data" not in response_data
        ):
            response.status_code = 400
        return response
