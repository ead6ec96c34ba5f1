"""The federated schema: Query, Mutation, and the Profile and Title entities."""

from __future__ import annotations

import strawberry
from strawberry.extensions import (
    MaxAliasesLimiter,
    MaxTokensLimiter,
    ParserCache,
    QueryDepthLimiter,
    ValidationCache,
)
from strawberry.schema.config import StrawberryConfig

from subgraph.errors import ErrorCodes
from subgraph.limits import Limits

from .entities import Profile, Title
from .mutations import Mutation
from .query import Query
from .scalars import LONG_SCALAR, Long


def build_schema(limits: Limits | None = None) -> strawberry.federation.Schema:
    """The schema with its request limits; the SDL does not depend on `limits`."""
    limits = limits or Limits()
    return strawberry.federation.Schema(
        query=Query,
        mutation=Mutation,
        types=[Profile, Title],
        config=StrawberryConfig(scalar_map={Long: LONG_SCALAR}),
        # Factories: extensions hold per-request state; the caches behind them are shared.
        extensions=[
            ErrorCodes,
            lambda: ParserCache(maxsize=limits.parser_cache_size),
            lambda: ValidationCache(maxsize=limits.validation_cache_size),
            lambda: QueryDepthLimiter(max_depth=limits.max_depth),
            lambda: MaxAliasesLimiter(max_alias_count=limits.max_aliases),
            lambda: MaxTokensLimiter(max_token_count=limits.max_tokens),
        ],
    )


def export_sdl() -> str:
    """The subgraph SDL as checked in at schema.graphql."""
    return build_schema().as_str() + "\n"
