"""The federated schema: Query, Mutation, and the Profile and Title entities."""

from __future__ import annotations

import strawberry
from strawberry.extensions import (
    AddValidationRules,
    MaxTokensLimiter,
    ValidationCache,
    max_aliases,
    query_depth_limiter,
)
from strawberry.federation.schema import FederationAny
from strawberry.schema.config import StrawberryConfig
from strawberry.types.info import Info

from abstractions.errors import InvalidArgument
from subgraph.errors import CodedParserCache, ErrorCodes
from subgraph.execution import FastExecutor
from subgraph.limits import Limits

from .entities import Profile, Title
from .mutations import Mutation
from .query import Query
from .scalars import LONG_SCALAR, Long

ENTITIES = frozenset({"Profile", "Title"})


def _is_reference(representation: object) -> bool:
    return (
        isinstance(representation, dict)
        and representation.keys() == {"__typename", "id"}
        and representation["__typename"] in ENTITIES
        and isinstance(representation["id"], str | int)
    )


class FederatedSchema(strawberry.federation.Schema):
    """Strawberry's federation schema, where a malformed representation is the client's error.

    Strawberry fails on one (unknown `__typename`, no `id`) with a KeyError or TypeError, which
    would be masked as an internal error; here its entity is null with BAD_USER_INPUT instead.
    """

    def entities_resolver(
        self, info: Info, representations: list[FederationAny]
    ) -> list[FederationAny]:
        valid = [_is_reference(r) for r in representations]
        resolved = iter(super().entities_resolver(
            info, [r for r, ok in zip(representations, valid, strict=True) if ok]
        ))
        return [
            next(resolved) if ok else InvalidArgument(
                f"representation {index} must be {{__typename: Profile | Title, id: ID}}"
            )
            for index, ok in enumerate(valid)
        ]


def build_schema(limits: Limits | None = None) -> strawberry.federation.Schema:
    """The schema with its request limits; the SDL does not depend on `limits`."""
    limits = limits or Limits()
    # The rules of QueryDepthLimiter and MaxAliasesLimiter, built once: those extensions build a
    # new rule class per instance, i.e. per request, and the validation cache is keyed by the
    # rules, so it never hit and every request was validated again.
    limit_rules = [
        query_depth_limiter.create_validator(limits.max_depth, None, None),
        max_aliases.create_validator(limits.max_aliases),
    ]
    return FederatedSchema(
        query=Query,
        mutation=Mutation,
        types=[Profile, Title],
        config=StrawberryConfig(scalar_map={Long: LONG_SCALAR}),
        # graphql-core's executor with planned selection sets (subgraph/execution.py).
        execution_context_class=FastExecutor,
        # Factories: extensions hold per-request state; the caches behind them are shared.
        extensions=[
            ErrorCodes,
            lambda: CodedParserCache(maxsize=limits.parser_cache_size),
            lambda: ValidationCache(maxsize=limits.validation_cache_size),
            lambda: AddValidationRules(limit_rules),
            lambda: MaxTokensLimiter(max_token_count=limits.max_tokens),
        ],
    )


def export_sdl() -> str:
    """The subgraph SDL as checked in at schema.graphql."""
    return build_schema().as_str() + "\n"
