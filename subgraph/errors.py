"""Every GraphQL error leaves with an `extensions.code`; unexpected ones are masked and logged.

Abstraction errors carry their own code (`abstractions.errors`); errors graphql-core raises while
parsing or validating a document, or coercing variables, are the client's; anything else is a
bug or an outage of ours, reported as INTERNAL_SERVER_ERROR with a request id.

Logs: a server error is logged at ERROR with its traceback, once per distinct cause, under the
request id its client sees.  Client errors write nothing here: the request's one line
(`subgraph.telemetry`) carries every code, however many entities failed.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator

from graphql import GraphQLError
from strawberry.extensions import ParserCache, SchemaExtension

from abstractions.errors import DataGatewayError

log = logging.getLogger("subgraph.errors")

INTERNAL = "INTERNAL_SERVER_ERROR"


PARSE_FAILED = "GRAPHQL_PARSE_FAILED"
VALIDATION_FAILED = "GRAPHQL_VALIDATION_FAILED"


def classify(
    error: GraphQLError, request_id: str, causes: list[BaseException] | None = None
) -> GraphQLError:
    """The error as the client should see it; a masked error's cause is added to `causes`."""
    original = error.original_error
    extensions = dict(error.extensions or {})
    if (
        "code" not in extensions and error.path is None
        and error.message.startswith(("Variable '$", "Variable values are nested"))
        and not isinstance(original, DataGatewayError)
    ):
        # Variable coercion, before execution (validation errors were coded when validated).
        return _with(error, error.message, {**extensions, "code": "BAD_USER_INPUT"})
    if isinstance(original, DataGatewayError):
        extensions["code"] = original.code
        if original.code == INTERNAL:
            return _masked(error, request_id, original, causes)
        return _with(error, str(original), extensions)
    if original is None:
        if "code" not in extensions:
            extensions["code"] = (
                PARSE_FAILED if error.message.startswith("Syntax Error") else VALIDATION_FAILED
            )
        return _with(error, error.message, extensions)
    if isinstance(original, GraphQLError):
        return classify(original, request_id, causes)
    if isinstance(original, RecursionError) and error.path is None:
        # Parsing or validating a document nested deeper than the interpreter's stack.
        return _with(error, "the document is nested too deeply", {"code": PARSE_FAILED})
    if isinstance(original, ValueError) and error.path is None:
        # Variable coercion (e.g. a bad Long): the client's input, raised before execution.
        extensions["code"] = "BAD_USER_INPUT"
        return _with(error, error.message, extensions)
    return _masked(error, request_id, original, causes)


def _with(error: GraphQLError, message: str, extensions: dict[str, object]) -> GraphQLError:
    return GraphQLError(
        message, nodes=error.nodes, source=error.source, positions=error.positions,
        path=error.path, original_error=None, extensions=extensions,
    )


def _masked(
    error: GraphQLError, request_id: str, cause: BaseException,
    causes: list[BaseException] | None,
) -> GraphQLError:
    if causes is None:
        log.error("request %s: unexpected error at %s", request_id, error.path, exc_info=cause)
    elif not any(c is cause for c in causes):
        causes.append(cause)
    return _with(
        error,
        f"Internal server error (request id {request_id})",
        {"code": INTERNAL, "requestId": request_id},
    )


class ErrorCodes(SchemaExtension):
    """Rewrites the result's errors through `classify` once the operation has run, and logs
    the server errors among them."""

    def on_validate(self) -> Iterator[None]:
        yield
        for error in self.execution_context.pre_execution_errors or ():
            if not (error.extensions or {}).get("code"):
                error.extensions = {**(error.extensions or {}), "code": VALIDATION_FAILED}

    def on_operation(self) -> Iterator[None]:
        yield
        result = self.execution_context.result
        if result is None or not result.errors:
            return
        context = self.execution_context.context
        request_id = getattr(context, "request_id", "-")
        causes: list[BaseException] = []
        result.errors = [classify(e, request_id, causes) for e in result.errors]
        for cause in causes:
            log.error("request %s: unexpected error", request_id, exc_info=cause)


class CodedParserCache(ParserCache):
    """Strawberry's bounded parser cache, leaving a document that does not parse to Strawberry.

    `ParserCache` raises a syntax error (or the token limit, which the parser enforces) from its
    hook, outside the operation, where `ErrorCodes` never sees it; Strawberry's own parse, run
    next, reports it as a result error instead.
    """

    def on_parse(self) -> Iterator[None]:
        context = self.execution_context
        with contextlib.suppress(GraphQLError, RecursionError):
            context.graphql_document = self.cached_parse_document(
                context.query, **context.parse_options
            )
        yield
