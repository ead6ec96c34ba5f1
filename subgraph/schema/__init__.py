"""The federated schema: Query, Mutation, and the Profile and Title entities."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import strawberry
from graphql import GraphQLError, GraphQLSchema
from graphql.validation import MaxIntrospectionDepthRule
from strawberry.extensions import AddValidationRules, MaxTokensLimiter, ValidationCache
from strawberry.federation.schema import FederationAny
from strawberry.schema.config import StrawberryConfig
from strawberry.types import ExecutionContext
from strawberry.types.info import Info

from abstractions.errors import InvalidArgument
from abstractions.namespaces import DEFAULT_FILE, Namespaces, load_namespaces
from subgraph.cost import CostModel, DemandControl
from subgraph.errors import CodedParserCache, ErrorCodes
from subgraph.execution import FastExecutor
from subgraph.limits import Limits, shape_rule
from subgraph.telemetry import OperationNames

from . import bounds
from .access import root_directives
from .entities import Account, Profile, Title
from .mutations import mutation_type
from .query import query_type
from .scalars import DATETIME_SCALAR, LONG_SCALAR, Long

ENTITIES = frozenset({"Account", "Profile", "Title"})


def _is_reference(representation: object) -> bool:
    return (
        isinstance(representation, dict)
        and representation.keys() == {"__typename", "id"}
        and representation["__typename"] in ENTITIES
        and isinstance(representation["id"], str | int)
    )


# Federation's own fields and types, which Strawberry adds undescribed.
FEDERATION_DOCS = {
    "Query._entities": (
        "Apollo Federation: the entities a router asks for by reference, in the order given. A "
        "malformed representation is null, with BAD_USER_INPUT at its index."
    ),
    "Query._entities(representations)": bounds.REPRESENTATIONS,
    "Query._service": "Apollo Federation: this subgraph's SDL, for composing a supergraph.",
    "_Service": "Apollo Federation: what a subgraph tells a router or a composition about itself.",
    "_Service.sdl": "The subgraph's schema with its Federation directives, as `schema.graphql`.",
    "_Entity": "Apollo Federation: the entity types this subgraph resolves by reference.",
    "_Any": "Apollo Federation: an entity representation, `{__typename, id}` here.",
}


def _describe_federation(schema: GraphQLSchema) -> None:
    """Give Federation's fields and types (`FEDERATION_DOCS`) their descriptions, in the
    graphql-core schema that both introspection and the printed SDL read."""
    for where, description in FEDERATION_DOCS.items():
        type_name, _, rest = where.partition(".")
        node: Any = schema.get_type(type_name)
        if rest:
            field, _, arg = rest.partition("(")
            node = node.fields[field]
            if arg:
                node = node.args[arg.rstrip(")")]
        node.description = description


class FederatedSchema(strawberry.federation.Schema):
    """Strawberry's federation schema, where a malformed representation is the client's error,
    and Federation's fields are described.

    Strawberry fails on one (unknown `__typename`, no `id`) with a KeyError or TypeError, which
    would be masked as an internal error; here its entity is null with BAD_USER_INPUT instead.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        _describe_federation(self._schema)

    def entities_resolver(
        self, info: Info, representations: list[FederationAny]
    ) -> list[FederationAny]:
        valid = [_is_reference(r) for r in representations]
        resolved = iter(super().entities_resolver(
            info, [r for r, ok in zip(representations, valid, strict=True) if ok]
        ))
        return [
            next(resolved) if ok else InvalidArgument(
                f"representation {index} must be {{__typename: Account | Profile | Title, id: ID}}"
            )
            for index, ok in enumerate(valid)
        ]


    def process_errors(
        self, errors: list[GraphQLError], execution_context: ExecutionContext | None = None
    ) -> None:
        """Nothing here: `subgraph.errors.ErrorCodes` logs each request's errors once, after
        classifying them (Strawberry's default logs every error with its traceback)."""


def build_schema(
    limits: Limits | None = None, namespaces: Namespaces | None = None
) -> strawberry.federation.Schema:
    """The schema with its request limits; the SDL does not depend on `limits`.

    The generic fields' `@requiresScopes` come from `namespaces`' access policies (default:
    the shipped namespaces file), so a router enforces what this subgraph's config says.
    """
    limits = limits or Limits()
    access = root_directives(namespaces or load_namespaces(DEFAULT_FILE))
    # Rules built once: the validation cache is keyed by the rules, so a rule class made per
    # request would never hit.  Depth and aliases are measured in linear time (subgraph.limits).
    limit_rules = [shape_rule(limits.max_depth, limits.max_aliases), MaxIntrospectionDepthRule]
    cost_model: list[CostModel] = []  # made once the schema exists
    schema = FederatedSchema(
        query=query_type(access),
        mutation=mutation_type(access),
        types=[Account, Profile, Title],
        config=StrawberryConfig(scalar_map={Long: LONG_SCALAR, datetime: DATETIME_SCALAR}),
        # graphql-core's executor with planned selection sets (subgraph/execution.py).
        execution_context_class=FastExecutor,
        # Factories: extensions hold per-request state; the caches behind them are shared.
        extensions=[
            OperationNames,  # the operation's name for the request's line, metrics and span
            ErrorCodes,
            lambda: CodedParserCache(maxsize=limits.parser_cache_size),
            lambda: ValidationCache(maxsize=limits.validation_cache_size),
            lambda: AddValidationRules(limit_rules),
            lambda: MaxTokensLimiter(max_token_count=limits.max_tokens),
            lambda: DemandControl(cost_model[0], limits),
        ],
    )
    cost_model.append(CostModel(schema._schema, limits.max_first))
    return schema


def export_sdl() -> str:
    """The subgraph SDL as checked in at schema.graphql."""
    return build_schema().as_str() + "\n"
