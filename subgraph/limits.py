"""Request limits: bytes, document shape, cost, list arguments, time; every one configurable.

The document checks here are linear in the document's size: a named fragment is measured once
(memoised) and each use site adds its measure times the multiplicity it is used with, so a
chain of fragments that each spread the next three times costs a walk of the chain, not 3^n.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, fields
from typing import Any

from graphql import (
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    InlineFragmentNode,
    OperationDefinitionNode,
    SelectionSetNode,
    ValidationRule,
)

MiB = 1024 * 1024


@dataclass(frozen=True, slots=True)
class Limits:
    """Bounds that keep one request from taking the service down; see README "Configuration"."""

    max_depth: int = 12
    max_aliases: int = 30
    max_tokens: int = 2000
    parser_cache_size: int = 256
    validation_cache_size: int = 256
    max_first: int = 100
    max_names: int = 500
    max_items_per_write: int = 500
    max_body_bytes: int = 4 * MiB
    max_document_bytes: int = 100_000
    max_cost: int = 10_000
    max_representations: int = 1000
    max_variable_values: int = 20_000
    max_variable_depth: int = 32
    request_timeout: float = 5.0

    @classmethod
    def from_env(cls) -> Limits:
        """`SUBGRAPH_MAX_DEPTH`, `SUBGRAPH_REQUEST_TIMEOUT`, ... override the defaults."""
        values: dict[str, Any] = {}
        for f in fields(cls):
            name = f"SUBGRAPH_{f.name.upper()}"
            raw = os.environ.get(name)
            if raw is None:
                continue
            kind = float if isinstance(f.default, float) else int
            try:
                number = kind(raw)
            except ValueError:
                raise ValueError(f"{name} must be a number, not {raw!r}") from None
            if not number > 0:
                raise ValueError(f"{name} must be greater than 0")
            values[f.name] = number
        return cls(**values)


# --- depth and aliases: a validation rule ------------------------------------------------


@dataclass(slots=True)
class _Shape:
    """What a selection set adds up to: its deepest field level and its aliases."""

    depth: int = 0
    aliases: int = 0
    empty: bool = False  # some selection set selects nothing


class _Shapes:
    """Measures selection sets, each named fragment once."""

    def __init__(self, fragments: dict[str, FragmentDefinitionNode]) -> None:
        self._fragments = fragments
        self._done: dict[str, _Shape] = {}
        self._open: set[str] = set()  # fragments being measured: a cycle counts as nothing

    def of(self, selection_set: SelectionSetNode | None) -> _Shape:
        shape = _Shape()
        if selection_set is None:
            return shape
        shape.empty = not selection_set.selections
        for selection in selection_set.selections:
            if isinstance(selection, FieldNode):
                if selection.name.value.startswith("__"):
                    # Introspection: its depth is bounded by MaxIntrospectionDepthRule.
                    shape.aliases += selection.alias is not None
                    continue
                inner = self.of(selection.selection_set)
                shape.depth = max(shape.depth, 1 + inner.depth)
                shape.aliases += inner.aliases + (selection.alias is not None)
                shape.empty |= inner.empty
            elif isinstance(selection, InlineFragmentNode):
                inner = self.of(selection.selection_set)
                shape.depth = max(shape.depth, inner.depth)
                shape.aliases += inner.aliases
                shape.empty |= inner.empty
            elif isinstance(selection, FragmentSpreadNode):
                inner = self.fragment(selection.name.value)
                shape.depth = max(shape.depth, inner.depth)
                shape.aliases += inner.aliases
                shape.empty |= inner.empty
        return shape

    def fragment(self, name: str) -> _Shape:
        done = self._done.get(name)
        if done is not None:
            return done
        definition = self._fragments.get(name)
        if definition is None or name in self._open:
            return _Shape()  # unknown fragments and cycles: other rules report them
        self._open.add(name)
        try:
            shape = self.of(definition.selection_set)
        finally:
            self._open.discard(name)
        self._done[name] = shape
        return shape


def shape_rule(max_depth: int, max_aliases: int) -> type[ValidationRule]:
    """A validation rule refusing operations deeper than `max_depth` field levels or with more
    than `max_aliases` aliases (a fragment's aliases count once per use)."""

    class DocumentShapeRule(ValidationRule):
        def enter_document(self, node: Any, *_args: Any) -> None:
            fragments = {
                d.name.value: d for d in node.definitions
                if isinstance(d, FragmentDefinitionNode)
            }
            shapes = _Shapes(fragments)
            for definition in node.definitions:
                if not isinstance(definition, OperationDefinitionNode):
                    continue
                shape = shapes.of(definition.selection_set)
                # Depth as Strawberry and graphql-depth-limit count it: root fields at 0.
                shape.depth -= 1
                name = definition.name.value if definition.name else "anonymous"
                if shape.empty:
                    self.report_error(GraphQLError(
                        f"operation {name!r} has an empty selection set: select at least one "
                        "field", definition, extensions={"code": "GRAPHQL_VALIDATION_FAILED"},
                    ))
                if shape.depth > max_depth:
                    self.report_error(GraphQLError(
                        f"operation {name!r} has a depth of {shape.depth} fields, over the "
                        f"max depth of {max_depth}", definition,
                        extensions={"code": "MAX_DEPTH_LIMIT", "depth": shape.depth,
                                    "maxDepth": max_depth},
                    ))
                if shape.aliases > max_aliases:
                    self.report_error(GraphQLError(
                        f"operation {name!r} uses {shape.aliases} aliases, over the limit "
                        f"of {max_aliases}", definition,
                        extensions={"code": "MAX_ALIASES_LIMIT", "aliases": shape.aliases,
                                    "maxAliases": max_aliases},
                    ))

    return DocumentShapeRule
