"""Demand control: an operation's cost, estimated before it runs, refused above a budget.

The model is the one Apollo's demand control uses, read from the same directives the SDL
publishes, so a router and this subgraph agree on what a document costs:

- a field of object, interface or union type costs 1 (`@cost(weight:)` overrides), a leaf 0;
  a root field of Mutation costs 10;
- a list multiplies its item's cost (the item's own weight included) by its size: the value
  of a `@listSize(slicingArguments:)` argument (clamped to `max_first`, which resolvers
  enforce), for the connection's `sizedFields` too; else the length of a list argument (the
  `representations` of `_entities`, the `names` of `counters`); else `assumedSize`.

The walk is linear in the document: a named fragment is costed once per sized context and its
cost reused at every spread.  Introspection fields cost nothing here; their shape is bounded by
graphql-core's MaxIntrospectionDepthRule.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    GraphQLField,
    GraphQLList,
    GraphQLNamedType,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLSchema,
    InlineFragmentNode,
    IntValueNode,
    ListValueNode,
    OperationDefinitionNode,
    SelectionSetNode,
    VariableNode,
    get_named_type,
    is_composite_type,
)
from graphql import ExecutionResult as GraphQLExecutionResult
from graphql.utilities import get_operation_ast
from strawberry.extensions import SchemaExtension
from strawberry.federation.schema_directives import Cost, ListSize
from strawberry.schema.schema_converter import GraphQLCoreConverter
from strawberry.types.unset import UNSET

from .limits import Limits

MUTATION_WEIGHT = 10
UNSIZED_LIST = 10  # a list field published without @listSize (none today)


@dataclass(frozen=True, slots=True)
class _FieldCost:
    """What the schema says about one field's cost."""

    weight: int | None
    slicing: tuple[str, ...]
    slice_default: int | None  # the first slicing argument's default value
    sized_fields: frozenset[str]
    assumed: int | None
    is_list: bool
    composite: bool
    named: GraphQLNamedType


@dataclass(frozen=True, slots=True)
class Estimate:
    cost: int
    representations: int  # the most representations one `_entities` field asks for


class CostModel:
    """Costs documents against one schema; what it learns of fields is kept."""

    def __init__(self, schema: GraphQLSchema, max_first: int) -> None:
        self._schema = schema
        self._max_first = max_first
        self._fields: dict[tuple[str, str], _FieldCost] = {}

    def estimate(
        self,
        document: DocumentNode,
        operation: OperationDefinitionNode,
        variables: Mapping[str, Any],
    ) -> Estimate:
        root = self._schema.get_root_type(operation.operation)
        if root is None:
            return Estimate(0, 0)
        walk = _Walk(self, document, operation, variables)
        cost = walk.selection_cost(root, operation.selection_set, None, frozenset())
        return Estimate(cost, walk.representations)

    def field_cost(self, parent: GraphQLObjectType, name: str, field: GraphQLField) -> _FieldCost:
        key = (parent.name, name)
        known = self._fields.get(key)
        if known is None:
            known = self._fields[key] = self._describe(parent, field)
        return known

    def _describe(self, parent: GraphQLObjectType, field: GraphQLField) -> _FieldCost:
        weight: int | None = None
        slicing: tuple[str, ...] = ()
        sized: frozenset[str] = frozenset()
        assumed: int | None = None
        definition = (field.extensions or {}).get(GraphQLCoreConverter.DEFINITION_BACKREF)
        for directive in getattr(definition, "directives", None) or ():
            if isinstance(directive, Cost):
                weight = directive.weight
            elif isinstance(directive, ListSize):
                slicing = tuple(_given(directive.slicing_arguments) or ())
                sized = frozenset(_given(directive.sized_fields) or ())
                assumed = _given(directive.assumed_size)
        if weight is None and parent is self._schema.mutation_type:
            weight = MUTATION_WEIGHT
        slice_default = None
        for name in slicing:
            argument = field.args.get(name)
            default = argument.default_value if argument is not None else None
            if isinstance(default, int) and not isinstance(default, bool):
                slice_default = default
                break
        type_ = field.type.of_type if isinstance(field.type, GraphQLNonNull) else field.type
        named = get_named_type(field.type)
        return _FieldCost(
            weight, slicing, slice_default, sized, assumed, isinstance(type_, GraphQLList),
            is_composite_type(named), named,
        )

    @property
    def max_first(self) -> int:
        return self._max_first


class _Walk:
    """One estimate: argument values come from the request's variables."""

    def __init__(
        self,
        model: CostModel,
        document: DocumentNode,
        operation: OperationDefinitionNode,
        variables: Mapping[str, Any],
    ) -> None:
        self._model = model
        self._schema = model._schema
        self._fragments = {
            d.name.value: d for d in document.definitions
            if isinstance(d, FragmentDefinitionNode)
        }
        self._variables = dict(variables)
        for definition in operation.variable_definitions or ():
            name = definition.variable.name.value
            if name not in self._variables and definition.default_value is not None:
                self._variables[name] = _literal(definition.default_value, {})
        self._done: dict[tuple[str, int | None, frozenset[str]], int] = {}
        self._open: set[str] = set()
        self.representations = 0

    def selection_cost(
        self,
        parent: GraphQLNamedType,
        selection_set: SelectionSetNode | None,
        size: int | None,
        sized_fields: frozenset[str],
    ) -> int:
        if selection_set is None:
            return 0
        total = 0
        for selection in selection_set.selections:
            if isinstance(selection, FieldNode):
                name = selection.name.value
                if name.startswith("__") or not isinstance(parent, GraphQLObjectType):
                    if not name.startswith("__"):
                        total += self._abstract_field(parent, selection)
                    continue
                field = parent.fields.get(name)
                if field is not None:
                    given = size if name in sized_fields else None
                    total += self._field(parent, name, field, selection, given)
            elif isinstance(selection, InlineFragmentNode):
                condition = selection.type_condition
                target = (
                    self._schema.get_type(condition.name.value) if condition is not None
                    else parent
                )
                total += self.selection_cost(
                    target or parent, selection.selection_set, size, sized_fields
                )
            elif isinstance(selection, FragmentSpreadNode):
                total += self._fragment(selection.name.value, size, sized_fields)
        return total

    def _abstract_field(self, parent: GraphQLNamedType, selection: FieldNode) -> int:
        """A field selected on an interface or union: costed as on its first implementation."""
        for candidate in self._schema.get_possible_types(parent):  # type: ignore[arg-type]
            field = candidate.fields.get(selection.name.value)
            if field is not None:
                return self._field(candidate, selection.name.value, field, selection, None)
        return 0

    def _fragment(self, name: str, size: int | None, sized_fields: frozenset[str]) -> int:
        key = (name, size, sized_fields)
        done = self._done.get(key)
        if done is not None:
            return done
        definition = self._fragments.get(name)
        if definition is None or name in self._open:
            return 0  # validation reports unknown fragments and cycles
        target = self._schema.get_type(definition.type_condition.name.value)
        if target is None:
            return 0
        self._open.add(name)
        try:
            cost = self.selection_cost(target, definition.selection_set, size, sized_fields)
        finally:
            self._open.discard(name)
        self._done[key] = cost
        return cost

    def _field(
        self,
        parent: GraphQLObjectType,
        name: str,
        field: GraphQLField,
        selection: FieldNode,
        given_size: int | None,
    ) -> int:
        info = self._model.field_cost(parent, name, field)
        weight = info.weight if info.weight is not None else int(info.composite)
        slice_size = self._slice(info, selection) if info.slicing else None
        children = 0
        if info.composite and selection.selection_set is not None:
            children = self.selection_cost(
                info.named, selection.selection_set, slice_size, info.sized_fields
            )
        if not info.is_list:
            return weight + children
        size = given_size if given_size is not None else slice_size
        if size is None:
            size = self._list_argument(selection)
            if name == "_entities" and size is not None:
                self.representations = max(self.representations, size)
        if size is None:
            size = info.assumed if info.assumed is not None else UNSIZED_LIST
        return size * (weight + children)

    def _slice(self, info: _FieldCost, selection: FieldNode) -> int | None:
        value: Any = info.slice_default
        for argument in selection.arguments or ():
            if argument.name.value in info.slicing:
                value = _literal(argument.value, self._variables)
                break
        if isinstance(value, int) and not isinstance(value, bool):
            return max(0, min(value, self._model.max_first))
        return info.slice_default

    def _list_argument(self, selection: FieldNode) -> int | None:
        for argument in selection.arguments or ():
            value = _literal(argument.value, self._variables)
            if isinstance(value, list):
                return len(value)
        return None


def _given(value: Any) -> Any:
    """A directive argument, or None where Strawberry left it UNSET."""
    return None if value is UNSET else value


def _literal(node: Any, variables: Mapping[str, Any]) -> Any:
    """What a size-bearing argument holds: an int, a list (only its length matters) or None."""
    if isinstance(node, VariableNode):
        return variables.get(node.name.value)
    if isinstance(node, IntValueNode):
        try:
            return int(node.value)
        except ValueError:
            return None
    if isinstance(node, ListValueNode):
        return list(node.values)
    return None


class DemandControl(SchemaExtension):
    """Refuses, before execution, operations over the cost budget or with too many entities."""

    def __init__(self, model: CostModel, limits: Limits) -> None:
        super().__init__()
        self._model = model
        self._limits = limits

    def on_execute(self) -> Iterator[None]:
        context = self.execution_context
        document = context.graphql_document
        if document is not None and context.result is None:
            error = self._unnamed_choice(document)
            if error is None:
                operation = get_operation_ast(document, context.operation_name)
                if operation is not None:
                    error = self._check(document, operation, context.variables or {})
            if error is not None:
                context.result = GraphQLExecutionResult(data=None, errors=[error])
        yield

    def _unnamed_choice(self, document: DocumentNode) -> GraphQLError | None:
        """Several operations and no operationName: an error, as the specification says.

        (Strawberry would otherwise pass the first operation's name on to graphql-core.)"""
        if getattr(self.execution_context, "_provided_operation_name", None) is not None:
            return None
        operations = sum(isinstance(d, OperationDefinitionNode) for d in document.definitions)
        if operations < 2:
            return None
        return GraphQLError(
            "the document holds several operations: say which to run with operationName",
            extensions={"code": "OPERATION_RESOLUTION_FAILURE"},
        )

    def _check(
        self,
        document: DocumentNode,
        operation: OperationDefinitionNode,
        variables: Mapping[str, Any],
    ) -> GraphQLError | None:
        limits = self._limits
        estimate = self._model.estimate(document, operation, variables)
        if estimate.representations > limits.max_representations:
            return GraphQLError(
                f"at most {limits.max_representations} representations per request",
                extensions={"code": "BAD_USER_INPUT"},
            )
        if estimate.cost > limits.max_cost:
            return GraphQLError(
                f"the operation's estimated cost {estimate.cost} is over the limit of "
                f"{limits.max_cost}; ask for smaller pages or fewer entities",
                extensions={"code": "COST_ESTIMATED_TOO_EXPENSIVE", "cost": estimate.cost,
                            "maxCost": limits.max_cost},
            )
        return None
