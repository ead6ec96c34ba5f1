"""A leaner graphql-core executor for the common cases, with the standard one as fallback.

graphql-core's executor does the same work for every field of every object: look the field up,
build a `GraphQLResolveInfo`, call the resolver (Strawberry wraps even a plain attribute in a
resolver of its own), test the result for awaitability, and walk `complete_value`'s type checks
one level of the return type at a time.  On a list of a thousand objects that is most of the
time of a request (issue 6).

`FastExecutor` keeps graphql-core's executor and changes how a selection set runs:

- per request, each grouped field set (what graphql-core's `collect_subfields` memoises per
  object type and field group, with `@skip`/`@include` applied) gets a *plan* per response
  name, and the plans are compiled into one Python function: graphql-core's `execute_fields`
  loop unrolled (`_compile`; the code is cached across requests by its text);
- `__typename` is the parent type's name, without a resolver;
- a *plain data field* (one that Strawberry reads with `getattr` alone: no resolver, no field
  extensions or permission classes, no exception handler, no `get_result` of a `StrawberryField`
  subclass, no other default resolver; see `_plain_attribute`) is read as `source.attr`, with no
  `info` and no argument coercion (it has no arguments); leaves whose coercion is the identity
  for the value's type are stored as they are, other leaves coerced inline;
- values are completed by closures built once per plan from the return type (non-null, list,
  object, union), specialised to the selection; a field's path is only built when something
  below needs it (an object, a list item, or an error);
- below that, a selection set that is plain data all the way down (plain fields, leaves of
  the usual types, objects and lists of objects without resolvers) is completed by one fused
  function per subtree, with no path and no call per object; on anything unexpected it gives
  up and the object goes the way above (`_fused`);
- a list of objects whose fields are awaited (entities with resolvers) awaits the fields of
  all its items as one set of tasks, not a task per item more (`_complete_items`);
- a field with a Strawberry resolver (no field extensions, no exception handlers) is called
  directly, with the arguments Strawberry would convert, converted once per field of the
  document when they use no variables and convert to immutable values, and an `Info` made only
  when the resolver takes one;
- everything else (`is_type_of`, iterables that are not lists or tuples, awaitable values,
  `@defer`/`@stream`, middleware from schema extensions that resolve, ...) goes through
  graphql-core's own code, with the same arguments it would have had.

Errors go through graphql-core's `handle_field_error` with the same raw error, return type,
field nodes and path as graphql-core would give it, so null bubbling, `errors[].path` and the
classification in `subgraph.errors` are unchanged.  `tests/subgraph/test_execution.py` runs the
same documents through this executor and through graphql-core's (Strawberry's standard execution
context) and compares data and errors.
"""

from __future__ import annotations

from asyncio import CancelledError, Future, gather, get_running_loop
from collections.abc import Awaitable, Callable
from datetime import date, datetime, time
from decimal import Decimal
from enum import Enum
from inspect import CORO_CREATED, getcoroutinestate
from keyword import iskeyword
from types import CodeType, CoroutineType, FunctionType, GeneratorType
from typing import Any
from uuid import UUID

from graphql import (
    ExecutionResult,
    GraphQLBoolean,
    GraphQLField,
    GraphQLID,
    GraphQLInt,
    GraphQLInterfaceType,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLOutputType,
    GraphQLResolveInfo,
    GraphQLString,
    GraphQLUnionType,
    get_nullable_type,
    is_leaf_type,
)
from graphql.execution.collect_fields import FieldDetailsList
from graphql.execution.executor import to_nodes
from graphql.execution.values import get_argument_values
from graphql.language import ListValueNode, ObjectValueNode, VariableNode
from graphql.pyutils import Path, Undefined, gather_with_cancel, inspect
from graphql.type.introspection import TypeNameMetaFieldDef
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext
from strawberry.schema.schema_converter import GraphQLCoreConverter
from strawberry.types.arguments import convert_arguments
from strawberry.types.base import StrawberryObjectDefinition
from strawberry.types.cast import get_strawberry_type_cast
from strawberry.types.field import StrawberryField

__all__ = ["FastExecutor"]

# Values that are never awaitable, so the awaitability test can be skipped.
_PLAIN_VALUES = frozenset({str, int, float, bool, datetime, date, time, Decimal, UUID})
_IMMUTABLE = frozenset(
    {str, int, float, bool, bytes, type(None), datetime, date, time, Decimal, UUID}
)
_LEAF_RESULTS = frozenset({str, int, float, bool})  # coerced leaves that need no more checks
_PLAIN_RESULTS = frozenset({str, int, float, bool, dict, list, type(None)})
# Directives that change how a field is delivered (incremental delivery): not planned.
_DELIVERY_DIRECTIVES = frozenset({"defer", "stream"})

# Plan kinds: leaves whose coercion is the identity for one Python type (String, ID, Boolean;
# Int within 32 bits), other leaves, objects and lists, __typename, Strawberry resolvers called
# directly, and graphql-core's way.
IDENT, INT, LEAF, COMPOSITE, TYPENAME, RESOLVER, GENERIC = 0, 1, 2, 3, 4, 5, 6
_INT_MIN, _INT_MAX = -(2**31), 2**31 - 1
_IDENTITY = {GraphQLString: str, GraphQLID: str, GraphQLBoolean: bool, GraphQLInt: int}
_UNSET: Any = object()
_BAIL: Any = object()  # a fused subtree's answer when the runners must do it (`_fused`)
_FUSED_PLANS = 64  # at most this many fields in one fused function
_FUSED_LEVELS = 8  # and objects this deep (Python allows 20 nested loops in one function)
_path = tuple.__new__  # Path(prev, key, typename) without the Python-level __new__

Runner = Callable[[Any, "Path | None"], Any]
"""Runs a selection set on an object at a path: its results, or an awaitable of them."""
_CODE: dict[str, CodeType] = {}  # compiled selection sets by their text (see `_compile`)
_CODE_CACHE_SIZE = 512

Completer = Callable[[Any, Path, Path], Any]
"""Completes a value at a path; the last argument is the path of the field (for `info`)."""


def _null_error(parent_type: GraphQLObjectType, field_name: str) -> str:
    return f"Cannot return null for non-nullable field {parent_type}.{field_name}."


def _leaf_error(leaf_type: Any, value: Any, coerced: Any) -> str:
    return (
        f"Expected `{inspect(leaf_type)}.coerce_output_value({inspect(value)})` to return "
        f"non-nullable value, returned: {inspect(coerced)}"
    )


class FastExecutor(StrawberryGraphQLCoreExecutionContext):
    """Strawberry's execution context with planned selection sets (see the module docstring)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        manager = self.middleware_manager
        self._planning = not (manager is not None and manager.middlewares)
        self._plans: dict[tuple[GraphQLObjectType, int], tuple[Any, Runner, list[tuple]]] = {}
        self._plain_types: set[type] = set()

    # Copies share graphql-core's execution state but collect their own errors: their plans,
    # whose code calls the executor's methods, must be their own.

    def create_sub_executor(self, *args: Any, **kwargs: Any) -> Any:
        sub_executor = super().create_sub_executor(*args, **kwargs)
        sub_executor._plans = {}
        return sub_executor

    def build_per_event_executor(self, payload: Any) -> Any:
        executor = super().build_per_event_executor(payload)
        executor._plans = {}
        return executor

    def build_response(self, data: dict[str, Any] | None) -> Any:
        """The response; then, when nothing of the operation is left to run, the executor
        lets go of itself: its plans (closures over it) and graphql-core's resolve-info
        helpers (its bound methods) make it a reference cycle, which would wait for the
        garbage collector with everything it holds (tests/subgraph/test_loaders_free.py)."""
        response = super().build_response(data)
        if (
            type(response) is ExecutionResult
            and not self.background_futures
            and not self.pending_incremental_futures
        ):
            self._plans.clear()
            self.async_helpers = None  # type: ignore[assignment]
        return response

    # --- selection sets -------------------------------------------------------------------

    def execute_fields(
        self,
        parent_type: GraphQLObjectType,
        source_value: Any,
        path: Path | None,
        grouped_field_set: Any,
        position_context: Any,
    ) -> Any:
        if position_context is not None or not self._planning:
            return super().execute_fields(
                parent_type, source_value, path, grouped_field_set, position_context
            )
        return self._runner(parent_type, grouped_field_set)(source_value, path)

    # --- compiled selection sets ----------------------------------------------------------

    def _runner(self, parent_type: GraphQLObjectType, grouped_field_set: Any) -> Runner:
        """The compiled function running a grouped field set on one object of `parent_type`."""
        return self._planned(parent_type, grouped_field_set)[1]

    def _planned(
        self, parent_type: GraphQLObjectType, grouped_field_set: Any
    ) -> tuple[Any, Runner, list[tuple]]:
        """The grouped field set's runner and plans, made once per request."""
        key = (parent_type, id(grouped_field_set))
        cached = self._plans.get(key)
        if cached is None:
            # The grouped field set is kept alive with its runner, so its id is not reused.
            plans = [
                self._plan_field(parent_type, name, field_details_list)
                for name, field_details_list in grouped_field_set.items()
            ]
            cached = (grouped_field_set, self._compile(parent_type, plans), plans)
            self._plans[key] = cached
        return cached

    def _compile(self, parent_type: GraphQLObjectType, plans: list[tuple]) -> Runner:
        """Python code for the plans of a selection set, compiled once per shape and reused.

        The code is the loop graphql-core's `execute_fields` runs, unrolled: one block per
        response name, with the attribute read by name and the common leaf case inline; every
        other case calls the same methods as above.  Constants (plans, types, field details)
        come from the function's globals, so the code depends only on the shape of the plans
        and is cached across requests by its text.
        """
        lines = [
            "def run(source, path):",
            "    results = {}",
            "    aw = None",
            "    try:",
        ]
        namespace: dict[str, Any] = {
            "_path": _path, "Path": Path, "PT": parent_type, "PN": parent_type.name,
            "PR": _PLAIN_RESULTS, "Undefined": Undefined, "_Raised": _Raised,
            "plain_types": self._plain_types, "is_awaitable": self.is_awaitable,
            "handle": self.handle_field_error, "await_completed": self._await_completed,
            "leaf_slow": self._leaf_slow, "attr_slow": self._complete_attribute,
            "leaf_coerced": self._leaf_coerced, "PV": _PLAIN_VALUES, "PLR": _LEAF_RESULTS,
            "resolve": self._execute_resolver, "execute_field": self.execute_field,
            "settle": self.settle_in_background, "gather_results": _Pending,
        }
        track = [
            "        if type(r) not in PR and is_awaitable(r):",
            "            if aw is None:",
            "                aw = []",
            "            aw.append({n})",
        ]

        def read(i: int, attr: str) -> list[str]:
            get = (
                f"source.{attr}" if attr.isidentifier() and not iskeyword(attr)
                else f"getattr(source, A{i})"
            )
            return [
                "        try:",
                f"            v = {get}",
                "        except Exception as e:",
                "            v = _Raised(e)",
            ]

        for i, plan in enumerate(plans):
            name, kind, fdl, attr, _coerce, _message, identity = plan
            n = repr(name)
            namespace[f"P{i}"] = plan
            namespace[f"A{i}"] = attr
            namespace[f"F{i}"] = fdl
            t = [line.format(n=n) for line in track]
            if kind in (IDENT, INT, LEAF):
                lines += read(i, attr)
                namespace[f"C{i}"] = identity
                slow = [
                    f"            r = leaf_slow(PT, path, P{i}, v)",
                    f"            results[{n}] = r",
                    *("    " + line for line in t),
                ]
                if kind == LEAF:
                    # Values of the usual Python types are coerced inline.
                    namespace[f"CO{i}"] = _coerce
                    lines += [
                        "        if type(v) in PV:",
                        "            try:",
                        f"                r = CO{i}(v)",
                        "            except Exception as e:",
                        "                r = _Raised(e)",
                        "            if type(r) in PLR:",
                        f"                results[{n}] = r",
                        "            else:",
                        f"                r = leaf_coerced(PT, path, P{i}, v, r)",
                        f"                results[{n}] = r",
                        *("        " + line for line in t),
                        "        else:",
                        *slow,
                    ]
                    continue
                fast = (
                    f"type(v) is C{i}" if kind == IDENT
                    else "type(v) is int and -2147483648 <= v <= 2147483647"
                )
                lines += [f"        if {fast}:", f"            results[{n}] = v", "        else:"]
                lines += slow
            elif kind == COMPOSITE:
                namespace[f"K{i}"] = fdl[3]
                namespace[f"RT{i}"] = fdl[2]
                namespace[f"L{i}"] = fdl[1]
                lines.append(f"        fp = _path(Path, (path, {n}, PN))")
                lines += read(i, attr)
                lines += [
                    "        if type(v) in plain_types:",
                    "            try:",
                    f"                r = K{i}(v, fp, fp)",
                    "            except Exception as e:",
                    f"                handle(e, RT{i}, L{i}, fp)",
                    "                r = None",
                    "            else:",
                    "                if type(r) not in PR and is_awaitable(r):",
                    f"                    r = await_completed(r, RT{i}, L{i}, fp)",
                    "                    if aw is None:",
                    "                        aw = []",
                    f"                    aw.append({n})",
                    f"            results[{n}] = r",
                    "        else:",
                    f"            r = attr_slow(PT, F{i}, fp, None, A{i}, v)",
                    f"            results[{n}] = r",
                    *("    " + line for line in t),
                ]
            elif kind == TYPENAME:
                lines.append(f"        results[{n}] = PN")
            elif kind == RESOLVER:
                namespace[f"R{i}"] = _coerce
                lines += [
                    f"        r = resolve(PT, source, _path(Path, (path, {n}, PN)), R{i})",
                    f"        results[{n}] = r",
                    *t,
                ]
            else:
                lines += [
                    f"        r = execute_field(PT, source, F{i}, _path(Path, (path, {n}, PN)),"
                    " None)",
                    "        if r is not Undefined:",
                    f"            results[{n}] = r",
                    *("    " + line for line in t),
                ]
        if not plans:
            lines.append("        pass")
        lines += [
            "    except Exception:",
            "        if aw:",
            "            settle([results[f] for f in aw])",
            "        raise",
            "    if aw is None:",
            "        return results",
            "    return gather_results(results, aw)",
        ]
        return _function(lines, namespace, f"<selection set on {parent_type.name}>")

    # --- fused subtrees ---------------------------------------------------------------------

    def _fused(self, object_type: GraphQLObjectType, grouped: Any) -> Callable[[Any], Any] | None:
        """One function completing a whole subtree of plain data, or None when it has more.

        Below a resolver, a page of results is usually plain data all the way down: objects
        whose selected fields are all plain attributes (`_plain_attribute`), leaves of the
        usual types, lists of such objects.  For such a selection set the runners above still
        make a path, a call and a dict per object and per field; the fused function reads the
        whole subtree in one loop nest, with no path at all.  It answers `_BAIL` on anything
        it does not expect (an exception, a null where the schema forbids one, an unusual
        value, a class not yet known to be plain): the caller then runs the object's runner,
        which reads the same attributes again and does what graphql-core would, errors and
        paths included.  So the fused code only ever answers what the runner would have.
        """
        lines = ["def fused(s0):", "    try:", "        o0 = {}"]
        namespace: dict[str, Any] = {
            "BAIL": _BAIL, "PV": _PLAIN_VALUES, "PLR": _LEAF_RESULTS, "Enum": Enum,
            "plain_types": self._plain_types,
        }
        counter = [0, 0]  # variables made, plans fused
        body = self._fused_body(object_type, grouped, 0, 2, namespace, counter)
        if body is None:
            return None
        lines += body
        lines += ["        return o0", "    except Exception:", "        return BAIL"]
        return _function(lines, namespace, f"<fused selection set on {object_type.name}>")

    def _fused_body(
        self,
        object_type: GraphQLObjectType,
        grouped: Any,
        level: int,
        depth: int,
        namespace: dict[str, Any],
        counter: list[int],
    ) -> list[str] | None:
        """Lines filling dict `o{level}` from the object in `s{level}`, indented `depth`
        times; None when some field of the subtree is not plain data."""
        plans = self._planned(object_type, grouped)[2]
        counter[1] += len(plans)
        if counter[1] > _FUSED_PLANS:
            return None
        pad = "    " * depth
        s, o = f"s{level}", f"o{level}"
        lines: list[str] = []
        for plan in plans:
            name, kind, fdl, attr, coerce, message, identity = plan
            n = repr(name)
            if kind == TYPENAME:
                lines.append(f"{pad}{o}[{n}] = {object_type.name!r}")
                continue
            if kind not in (IDENT, INT, LEAF, COMPOSITE):
                return None
            k = counter[0]
            counter[0] += 1
            namespace[f"A{k}"] = attr
            get = (
                f"{s}.{attr}" if attr.isidentifier() and not iskeyword(attr)
                else f"getattr({s}, A{k})"
            )
            lines.append(f"{pad}v = {get}")
            if kind == COMPOSITE:
                nested = self._fused_composite(fdl, level + 1, depth, namespace, counter)
                if nested is None:
                    return None
                null = (
                    [f"{pad}    {o}[{n}] = None"]
                    if not isinstance(fdl[2], GraphQLNonNull) else [f"{pad}    return BAIL"]
                )
                lines += [f"{pad}if v is None:", *null, f"{pad}else:", *nested]
                lines.append(f"{pad}    {o}[{n}] = r{level + 1}")
                continue
            namespace[f"C{k}"] = identity
            namespace[f"CO{k}"] = coerce
            if kind == IDENT:
                lines += [f"{pad}if type(v) is C{k}:", f"{pad}    {o}[{n}] = v"]
            elif kind == INT:
                lines += [
                    f"{pad}if type(v) is int and {_INT_MIN} <= v <= {_INT_MAX}:",
                    f"{pad}    {o}[{n}] = v",
                ]
            else:
                lines += [
                    f"{pad}if type(v) in PV or isinstance(v, Enum):",
                    f"{pad}    r = CO{k}(v)",
                    f"{pad}    if type(r) not in PLR:",
                    f"{pad}        return BAIL",
                    f"{pad}    {o}[{n}] = r",
                ]
            if message is None:  # nullable
                lines += [f"{pad}elif v is None:", f"{pad}    {o}[{n}] = None"]
            lines += [f"{pad}else:", f"{pad}    return BAIL"]
        return lines

    def _fused_composite(
        self, fdl: tuple, level: int, depth: int, namespace: dict[str, Any], counter: list[int]
    ) -> list[str] | None:
        """Lines completing the non-null object or list `v` into `r{level}` (one level deeper
        than `depth`), or None when its type or selection cannot be fused."""
        if level > _FUSED_LEVELS:
            return None
        return_type = get_nullable_type(fdl[2])
        pad = "    " * (depth + 1)
        s, o, r = f"s{level}", f"o{level}", f"r{level}"
        if isinstance(return_type, GraphQLList):
            item_type = return_type.of_type
            item_nullable = not isinstance(item_type, GraphQLNonNull)
            item_type = get_nullable_type(item_type)
            if not isinstance(item_type, GraphQLObjectType) or item_type.is_type_of is not None:
                return None
            body = self._fused_object(item_type, fdl[1], level, depth + 2, namespace, counter)
            if body is None:
                return None
            add = f"append{level}"
            null = f"{add}(None)\n{pad}        continue" if item_nullable else "return BAIL"
            return [
                f"{pad}if type(v) is not list and type(v) is not tuple:",
                f"{pad}    return BAIL",
                f"{pad}{r} = []",
                f"{pad}{add} = {r}.append",
                f"{pad}for {s} in v:",
                f"{pad}    if {s} is None:",
                f"{pad}        {null}",
                f"{pad}    if type({s}) not in plain_types:",
                f"{pad}        return BAIL",
                f"{pad}    {o} = {{}}",
                *body,
                f"{pad}    {add}({o})",
            ]
        if not isinstance(return_type, GraphQLObjectType) or return_type.is_type_of is not None:
            return None
        body = self._fused_object(return_type, fdl[1], level, depth + 1, namespace, counter)
        if body is None:
            return None
        return [
            f"{pad}if type(v) not in plain_types:",
            f"{pad}    return BAIL",
            f"{pad}{s} = v",
            f"{pad}{o} = {{}}",
            *body,
            f"{pad}{r} = {o}",
        ]

    def _fused_object(
        self,
        object_type: GraphQLObjectType,
        field_details_list: FieldDetailsList,
        level: int,
        depth: int,
        namespace: dict[str, Any],
        counter: list[int],
    ) -> list[str] | None:
        grouped, defer_usages, _forbidden = self.collect_subfields(object_type, field_details_list)
        if defer_usages:
            return None
        return self._fused_body(object_type, grouped, level, depth, namespace, counter)

    def _leaf_coerced(
        self, parent_type: GraphQLObjectType, path: Path | None, plan: tuple, value: Any,
        coerced: Any,
    ) -> Any:
        """The end of `complete_leaf_value` when the coerced value is not a plain result."""
        fdl = plan[2]
        field_path = _path(Path, (path, plan[0], parent_type.name))
        try:
            if type(coerced) is _Raised:
                raise coerced.error
            if coerced is None or coerced is Undefined:
                raise TypeError(_leaf_error(get_nullable_type(fdl[2]), value, coerced))
            if type(coerced) in _PLAIN_RESULTS or not self.is_awaitable(coerced):
                return coerced
            return self._await_completed(coerced, fdl[2], fdl[1], field_path)
        except Exception as raw_error:
            self.handle_field_error(raw_error, fdl[2], fdl[1], field_path)
            return None

    def _leaf_slow(
        self, parent_type: GraphQLObjectType, path: Path | None, plan: tuple, value: Any
    ) -> Any:
        """A leaf whose value is not of the type its coercion leaves unchanged."""
        name, kind, fdl, attr, coerce, null_message, identity = plan
        field_path = _path(Path, (path, name, parent_type.name))
        cls = type(value)
        if cls is not _Raised:
            try:
                if cls is identity and (kind != INT or _INT_MIN <= value <= _INT_MAX):
                    return value
                if cls in _PLAIN_VALUES:
                    coerced = coerce(value)
                    if coerced is None or coerced is Undefined:
                        raise TypeError(_leaf_error(get_nullable_type(fdl[2]), value, coerced))
                    if type(coerced) in _PLAIN_RESULTS or not self.is_awaitable(coerced):
                        return coerced
                    return self._await_completed(coerced, fdl[2], fdl[1], field_path)
                if value is None or value is Undefined:
                    if null_message is not None:
                        raise TypeError(null_message)
                    return None
            except Exception as raw_error:
                self.handle_field_error(raw_error, fdl[2], fdl[1], field_path)
                return None
        # An exception, an awaitable or an unusual leaf value: the general way.
        return self._complete_attribute(parent_type, fdl, field_path, None, attr, value)

    def _complete_attribute(
        self,
        parent_type: GraphQLObjectType,
        fdl: tuple,
        field_path: Path,
        source: Any,
        attr: str,
        value: Any = Undefined,
    ) -> Any:
        """graphql-core's `execute_field` for a plain data field (`value`: already read)."""
        field_def, field_details_list, return_type, completer = fdl
        try:
            if value is Undefined:
                value = getattr(source, attr)
            elif type(value) is _Raised:
                raise value.error
            if type(value) not in _PLAIN_VALUES and self._maybe_awaitable(value):
                info = self.build_resolve_info(
                    field_def, to_nodes(field_details_list), parent_type, field_path
                )
                return self.complete_awaitable_value(
                    return_type, field_details_list, info, field_path, value, None
                )
            completed = completer(value, field_path, field_path)
            if type(completed) not in _PLAIN_RESULTS and self.is_awaitable(completed):
                return self._await_completed(
                    completed, return_type, field_details_list, field_path
                )
            return completed
        except Exception as raw_error:
            self.handle_field_error(raw_error, return_type, field_details_list, field_path)
            return None

    async def _await_completed(
        self,
        completed: Awaitable[Any],
        return_type: GraphQLOutputType,
        field_details_list: FieldDetailsList,
        path: Path,
    ) -> Any:
        try:
            return await completed
        except Exception as raw_error:
            self.handle_field_error(raw_error, return_type, field_details_list, path)
            return None

    def _maybe_awaitable(self, value: Any) -> bool:
        """`is_awaitable`, remembering the classes whose instances are not awaitable."""
        cls = type(value)
        if cls in self._plain_types:
            return False
        if self.is_awaitable(value):
            return True
        if not hasattr(cls, "__await__") and not issubclass(cls, (CoroutineType, GeneratorType)):
            self._plain_types.add(cls)
        return False

    # --- Strawberry resolvers -------------------------------------------------------------

    def _resolver_plan(
        self,
        parent_type: GraphQLObjectType,
        field_def: GraphQLField,
        field_details_list: FieldDetailsList,
    ) -> _ResolverPlan | None:
        """How to call a Strawberry resolver directly, or None when Strawberry must do it.

        Strawberry's own resolver wrapper builds an `Info`, converts the arguments from what
        graphql-core coerced, adds `self`/`root`/`parent`/`info` and calls the function.  Here
        the same happens, but the converted arguments are computed once per field of the
        document when they do not depend on variables and convert to immutable values (scalars
        and enums), and only for fields without field extensions (permissions are extensions)
        or exception handlers, whose resolvers Strawberry calls through `get_result`.
        """
        strawberry_schema = getattr(self.schema, "_strawberry_schema", None)
        field = (field_def.extensions or {}).get(GraphQLCoreConverter.DEFINITION_BACKREF)
        if strawberry_schema is None or not isinstance(field, StrawberryField):
            return None
        resolver = field.base_resolver
        if (
            resolver is None
            or field.extensions
            or type(field).get_result is not StrawberryField.get_result
            or field_def.resolve is None
            or not getattr(field_def.resolve, "__name__", "").endswith("_resolver")
        ):
            return None
        converter = strawberry_schema.schema_converter
        try:
            if converter._get_field_exception_handlers(field):
                return None
        except AttributeError:  # another Strawberry: let it do its own work
            return None
        first = field_details_list[0]
        if first.fragment_variable_values is not None:
            return None
        plan = _ResolverPlan(
            field_def, field, to_nodes(field_details_list), field_details_list,
            strawberry_schema.config, converter.scalar_registry,
        )
        plan.cacheable = not _has_variables(first.node)
        plan.completer = self._completer(
            field_def.type, parent_type, first.node.name.value, field_def, field_details_list
        )
        return plan

    def _execute_resolver(
        self, parent_type: GraphQLObjectType, source: Any, path: Path, plan: _ResolverPlan
    ) -> Any:
        """graphql-core's `execute_field` with Strawberry's resolver wrapper inlined."""
        field_def = plan.field_def
        return_type = field_def.type
        field_details_list = plan.field_details_list
        kwargs = plan.kwargs
        # The infos are made only for whom reads them (they do nothing when made): the
        # resolver, argument conversion and graphql-core's completion.
        info: Any = None
        if kwargs is None or plan.info_name is not None or plan.completer is None:
            info = self.build_resolve_info(field_def, list(plan.nodes), parent_type, path)
        try:
            if info is not None:
                strawberry_info = plan.info_class(_raw_info=info, _field=plan.field)
                if kwargs is None:
                    kwargs = self._convert_arguments(plan, strawberry_info)
                kwargs = dict(kwargs)
                if plan.info_name is not None:
                    kwargs[plan.info_name] = strawberry_info
            else:
                kwargs = dict(kwargs)
            if plan.parent_name is not None:
                kwargs[plan.parent_name] = source
            if plan.root_name is not None:
                kwargs[plan.root_name] = source
            result = plan.call(source, **kwargs) if plan.with_self else plan.call(**kwargs)

            completer = plan.completer
            if type(result) not in _PLAIN_RESULTS and self.is_awaitable(result):
                if completer is None:
                    return self.complete_awaitable_value(
                        return_type, field_details_list, info, path, result, None
                    )
                return self._complete_awaitable(result, completer, plan, path)
            completed = (
                self.complete_value(return_type, field_details_list, info, path, result, None)
                if completer is None else completer(result, path, path)
            )
            if type(completed) not in _PLAIN_RESULTS and self.is_awaitable(completed):
                return self._await_completed(completed, return_type, field_details_list, path)
        except Exception as raw_error:
            self.handle_field_error(raw_error, return_type, field_details_list, path)
            return None
        return completed

    async def _complete_awaitable(
        self, result: Any, completer: Completer, plan: _ResolverPlan, path: Path
    ) -> Any:
        """graphql-core's `complete_awaitable_value`, completing with `completer`."""
        try:
            resolved = (
                await result if self.abort_signal is None else await self.with_abort_signal(result)
            )
            completed = completer(resolved, path, path)
            if type(completed) not in _PLAIN_RESULTS and self.is_awaitable(completed):
                completed = await completed
        except Exception as raw_error:
            self.handle_field_error(
                raw_error, plan.field_def.type, plan.field_details_list, path
            )
            completed = None
        return completed

    def _convert_arguments(self, plan: _ResolverPlan, strawberry_info: Any) -> dict[str, Any]:
        """graphql-core's argument values, converted by Strawberry; kept when immutable."""
        field_def = plan.field_def
        node = plan.nodes[0]
        raw = (
            get_argument_values(
                field_def, node, self.variable_values, None, self.hide_suggestions
            )
            if field_def.args or node.arguments
            else {}
        )
        kwargs = convert_arguments(
            raw, plan.field.arguments, scalar_registry=plan.scalar_registry,
            config=plan.config, info=strawberry_info,
        )
        if plan.cacheable and all(
            type(v) in _IMMUTABLE or isinstance(v, Enum) for v in kwargs.values()
        ):
            plan.kwargs = kwargs
        return kwargs

    # --- plans ----------------------------------------------------------------------------

    def _plan_field(
        self, parent_type: GraphQLObjectType, name: str, field_details_list: FieldDetailsList
    ) -> tuple:
        generic = (name, GENERIC, field_details_list, None, None, None, None)
        nodes = to_nodes(field_details_list)
        if any(
            d.name.value in _DELIVERY_DIRECTIVES for node in nodes for d in node.directives or ()
        ):
            return generic
        field_name = nodes[0].name.value
        field_def = self.schema.get_field(parent_type, field_name)
        if field_def is None:
            return generic
        if field_def is TypeNameMetaFieldDef:
            return (name, TYPENAME, field_details_list, None, None, None, None)
        attr = _plain_attribute(field_def)
        if attr is None:
            resolver = self._resolver_plan(parent_type, field_def, field_details_list)
            if resolver is None:
                return generic
            return (name, RESOLVER, field_details_list, None, resolver, None, None)
        if nodes[0].arguments:
            return generic
        return_type = field_def.type
        completer = self._completer(return_type, parent_type, field_name, field_def,
                                    field_details_list)
        if completer is None:
            return generic
        fdl = (field_def, field_details_list, return_type, completer)
        non_null = isinstance(return_type, GraphQLNonNull)
        named = return_type.of_type if non_null else return_type
        if is_leaf_type(named):
            message = _null_error(parent_type, field_name) if non_null else None
            identity = _IDENTITY.get(named)  # type: ignore[call-overload]
            kind = LEAF if identity is None else INT if identity is int else IDENT
            return (name, kind, fdl, attr, named.coerce_output_value, message, identity)
        return (name, COMPOSITE, fdl, attr, None, None, None)

    def _completer(
        self,
        type_: GraphQLOutputType,
        parent_type: GraphQLObjectType,
        field_name: str,
        field_def: GraphQLField,
        fdl: FieldDetailsList,
    ) -> Completer | None:
        """A closure completing values of `type_`, or None when graphql-core must do it."""
        if isinstance(type_, GraphQLNonNull):
            message = _null_error(parent_type, field_name)
            of_type = type_.of_type
            if isinstance(of_type, GraphQLObjectType) and of_type.is_type_of is None:
                return self._object_completer(of_type, fdl, message)
            inner = self._completer(of_type, parent_type, field_name, field_def, fdl)
            if inner is None:
                return None

            def complete_non_null(value: Any, path: Path, field_path: Path) -> Any:
                completed = inner(value, path, field_path)
                if completed is None:
                    raise TypeError(message)
                return completed

            return complete_non_null

        if isinstance(type_, GraphQLList):
            return self._list_completer(type_, parent_type, field_name, field_def, fdl)

        if is_leaf_type(type_):
            coerce = type_.coerce_output_value  # type: ignore[union-attr]

            def complete_leaf(value: Any, path: Path, field_path: Path) -> Any:
                if isinstance(value, Exception):
                    raise value
                if value is None or value is Undefined:
                    return None
                coerced = coerce(value)
                if coerced is None or coerced is Undefined:
                    raise TypeError(_leaf_error(type_, value, coerced))
                return coerced

            return complete_leaf

        if isinstance(type_, GraphQLObjectType) and type_.is_type_of is None:
            return self._object_completer(type_, fdl, None)

        if isinstance(type_, GraphQLUnionType | GraphQLInterfaceType):
            return self._abstract_completer(type_, parent_type, field_def, fdl)

        return None  # objects with is_type_of

    def _object_completer(
        self, object_type: GraphQLObjectType, fdl: FieldDetailsList, non_null: str | None
    ) -> Completer:
        """Objects of a type without `is_type_of`; `non_null`: the message when null."""
        runner: Runner | None = None
        fused: Callable[[Any], Any] | None = None
        deferred: tuple[Any, Any] | None = None  # with @defer: graphql-core's way

        def complete_object(value: Any, path: Path, field_path: Path) -> Any:
            nonlocal runner, fused, deferred
            if value is None or value is Undefined:
                if non_null is not None:
                    raise TypeError(non_null)
                return None
            if isinstance(value, Exception):
                raise value
            if runner is not None:
                if fused is not None:
                    completed = fused(value)
                    if completed is not _BAIL:
                        return completed
                return runner(value, path)
            if deferred is None:
                grouped, defer_usages, _forbidden = self.collect_subfields(object_type, fdl)
                if not defer_usages:
                    runner = self._runner(object_type, grouped)
                    fused = self._fused(object_type, grouped)
                    return runner(value, path)
                deferred = (grouped, defer_usages)
            return self.execute_collected_subfields(
                object_type, value, path, deferred[0], deferred[1], None
            )

        return complete_object

    def _abstract_completer(
        self,
        abstract_type: GraphQLUnionType | GraphQLInterfaceType,
        parent_type: GraphQLObjectType,
        field_def: GraphQLField,
        fdl: FieldDetailsList,
    ) -> Completer:
        """graphql-core's `complete_abstract_value`, then the object's compiled selection set."""
        resolve_type = abstract_type.resolve_type or self.type_resolver
        runners: dict[GraphQLObjectType, Runner | None] = {}
        members = _strawberry_union_members(abstract_type)

        def complete_abstract(value: Any, path: Path, field_path: Path) -> Any:
            if isinstance(value, Exception):
                raise value
            if value is None or value is Undefined:
                return None
            object_type = None
            if members is not None and get_strawberry_type_cast(value) is None:
                # Strawberry's union resolver on an instance of a plain (non-generic) member
                # type answers that member, which is valid: skip its search through the type
                # map, and the checks of the answer.
                object_type = members.get(getattr(value, "__strawberry_definition__", None))
            info: Any = None
            if object_type is None:
                info = self.build_resolve_info(field_def, to_nodes(fdl), parent_type, field_path)
                runtime_type = resolve_type(value, info, abstract_type)
                if self.is_awaitable(runtime_type):
                    return self._complete_awaitable_runtime_type(
                        runtime_type, abstract_type, fdl, info, path, value
                    )
                object_type = self.ensure_valid_runtime_type(
                    runtime_type, abstract_type, fdl, info, value
                )
            if object_type.is_type_of is not None:
                if info is None:
                    info = self.build_resolve_info(
                        field_def, to_nodes(fdl), parent_type, field_path
                    )
                return self.complete_object_value(object_type, fdl, info, path, value, None)
            runner = runners.get(object_type, _UNSET)
            if runner is _UNSET:
                grouped, defer_usages, _forbidden = self.collect_subfields(object_type, fdl)
                runner = None if defer_usages else self._runner(object_type, grouped)
                runners[object_type] = runner
            if runner is None:
                return self.collect_and_execute_subfields(object_type, fdl, path, value, None)
            return runner(value, path)

        return complete_abstract

    async def _complete_awaitable_runtime_type(
        self,
        runtime_type: Awaitable[Any],
        abstract_type: GraphQLUnionType | GraphQLInterfaceType,
        fdl: FieldDetailsList,
        info: GraphQLResolveInfo,
        path: Path,
        value: Any,
    ) -> Any:
        """As graphql-core completes an abstract value whose type resolves asynchronously."""
        completed = self.complete_object_value(
            self.ensure_valid_runtime_type(
                await self.with_abort_signal(runtime_type), abstract_type, fdl, info, value
            ),
            fdl, info, path, value, None,
        )
        if self.is_awaitable(completed):
            return await completed
        return completed  # pragma: no cover

    def _list_completer(
        self,
        list_type: GraphQLList,
        parent_type: GraphQLObjectType,
        field_name: str,
        field_def: GraphQLField,
        fdl: FieldDetailsList,
    ) -> Completer | None:
        item_type = list_type.of_type
        inner = self._completer(item_type, parent_type, field_name, field_def, fdl)
        if inner is None:
            return None

        def info(field_path: Path) -> GraphQLResolveInfo:
            return self.build_resolve_info(field_def, to_nodes(fdl), parent_type, field_path)

        def complete_list(value: Any, path: Path, field_path: Path) -> Any:
            if isinstance(value, Exception):
                raise value
            if value is None or value is Undefined:
                return None
            if type(value) is not list and type(value) is not tuple:
                return self.complete_list_value(list_type, fdl, info(field_path), path, value,
                                                None)
            completed: list[Any] = []
            append = completed.append
            plain_types = self._plain_types
            awaitable_indices: list[int] = []
            pending: list[tuple[int, Path]] = []  # items whose own fields are awaited
            try:
                for index, item in enumerate(value):
                    item_path = _path(Path, (path, index, None))
                    cls = type(item)
                    if (
                        cls not in plain_types and cls not in _PLAIN_VALUES
                        and self._maybe_awaitable(item)
                    ):
                        append(self.complete_awaitable_list_item_value(
                            item, item_type, fdl, info(field_path), item_path, None
                        ))
                        awaitable_indices.append(index)
                        continue
                    try:
                        result = inner(item, item_path, field_path)
                        if type(result) is _Pending:
                            append(result)
                            pending.append((index, item_path))
                            continue
                        if type(result) not in _PLAIN_RESULTS and self.is_awaitable(result):
                            append(self._await_completed(result, item_type, fdl, item_path))
                            awaitable_indices.append(index)
                            continue
                        append(result)
                    except Exception as raw_error:
                        self.handle_field_error(raw_error, item_type, fdl, item_path)
                        append(None)
            except Exception:
                if awaitable_indices or pending:
                    self.settle_in_background(
                        [completed[i] for i in awaitable_indices]
                        + [completed[i] for i, _ in pending]
                    )
                raise
            if pending:
                return self._complete_items(completed, awaitable_indices, pending, item_type, fdl)
            if not awaitable_indices:
                return completed

            async def get_completed() -> list[Any]:
                if len(awaitable_indices) == 1:
                    index = awaitable_indices[0]
                    completed[index] = await completed[index]
                else:
                    awaited = await gather_with_cancel(
                        *(completed[i] for i in awaitable_indices)
                    )
                    for index, item in zip(awaitable_indices, awaited, strict=True):
                        completed[index] = item
                return completed

            return get_completed()

        return complete_list

    async def _complete_items(
        self,
        completed: list[Any],
        awaitable_indices: list[int],
        pending: list[tuple[int, Path]],
        item_type: GraphQLOutputType,
        fdl: FieldDetailsList,
    ) -> list[Any]:
        """A list's items whose fields are awaited, all the fields of all the items at once.

        graphql-core awaits each item's fields together (a task per item, a task per field);
        here the fields of every item are one set of tasks, and each item keeps its own
        outcome: when a field of an item raises (a non-null field's error, on its way up),
        the item's other fields are cancelled and the error goes through `handle_field_error`
        at the item's path, as graphql-core's task for that item would do; when that raises
        too (the item is non-null), or an awaitable item raises, everything else is cancelled
        and the list raises, as `gather_with_cancel` would.  The tasks wake this coroutine
        themselves (`_Latch`) when the last of them ends or one raises, as
        `asyncio.wait(..., FIRST_EXCEPTION)` would with a callback per task.
        """
        latch = _Latch()
        start = latch.start
        futures: list[Future[Any]] = []
        whole: dict[Future[Any], int] = {}  # awaitable items
        fields: dict[Future[Any], tuple[int, list[Future[Any]]]] = {}  # pending items' fields
        groups: dict[int, list[Future[Any]]] = {}
        failed: set[int] = set()
        try:
            for index in awaitable_indices:
                future = start(completed[index])
                futures.append(future)
                whole[future] = index
            for index, _ in pending:
                item = completed[index]
                group = groups[index] = [start(item.results[name]) for name in item.names]
                futures += group
                for future in group:
                    fields[future] = (index, group)
            paths = dict(pending)
            remaining = futures  # in the list's order
            while remaining:
                await latch.wait()
                done = [future for future in remaining if future.done()]
                if len(done) == len(remaining):
                    remaining = []
                elif done:
                    remaining = [future for future in remaining if not future.done()]
                for future in done:
                    owner = fields.get(future)
                    if owner is not None and owner[0] in failed:
                        # Cancelled by its item's failure, or done before that: its error,
                        # if any, is read (so not reported as never retrieved) and dropped.
                        if not future.cancelled():
                            future.exception()
                        continue
                    if future.cancelled():
                        raise CancelledError
                    error = future.exception()
                    if error is None:
                        continue
                    if owner is None or not isinstance(error, Exception):
                        raise error
                    index, group = owner
                    failed.add(index)
                    for sibling in group:
                        latch.cancel(sibling)
                    self.handle_field_error(error, item_type, fdl, paths[index])
                    completed[index] = None
        except BaseException:
            for future in futures:
                future.cancel()
            await gather(*futures, return_exceptions=True)
            raise
        for future, index in whole.items():
            completed[index] = future.result()
        for index, group in groups.items():
            if index not in failed:
                item = completed[index]
                results = item.results
                results.update(zip(item.names, [f.result() for f in group], strict=True))
                completed[index] = results
        return completed


class _Latch:
    """What `_complete_items` waits on: its tasks, each running its awaitable through
    `_tracked`, count themselves down and wake it when the last ends or one raises.  No
    callback per task is scheduled, as `asyncio.wait` schedules one.  No wake-up is lost:
    between two waits the waiting coroutine looks at every task, without yielding."""

    __slots__ = ("create_task", "left", "waiter")

    def __init__(self) -> None:
        self.left = 0  # tasks not ended
        self.waiter: Future[None] | None = None
        self.create_task = get_running_loop().create_task

    def start(self, awaitable: Awaitable[Any]) -> Future[Any]:
        self.left += 1
        return self.create_task(_tracked(awaitable, self))

    def alarm(self) -> None:
        waiter = self.waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    async def wait(self) -> None:
        """Until a task ends raising or the last one ends; at once when none is left."""
        if self.left:
            self.waiter = waiter = get_running_loop().create_future()
            try:
                await waiter
            finally:
                self.waiter = None

    def cancel(self, task: Future[Any]) -> None:
        """Cancel a task; one not yet started never runs `_tracked`: it counts itself down
        when it ends, and the coroutine it was to await is closed (as cancelling a task of
        that coroutine itself would close it), not left never awaited."""
        coro = task.get_coro()  # type: ignore[attr-defined]
        if task.cancel() and getcoroutinestate(coro) == CORO_CREATED:
            inner = coro.cr_frame.f_locals.get("awaitable")
            if type(inner) is CoroutineType:
                inner.close()
            task.add_done_callback(self._ended_unstarted)

    def _ended_unstarted(self, task: Future[Any]) -> None:
        self.left -= 1
        if not self.left:
            self.alarm()


async def _tracked(awaitable: Awaitable[Any], latch: _Latch) -> Any:
    try:
        return await awaitable
    except BaseException:
        latch.alarm()
        raise
    finally:
        latch.left -= 1
        if not latch.left:
            latch.alarm()


def _function(lines: list[str], namespace: dict[str, Any], filename: str) -> Any:
    """The one function `lines` define, with `namespace` as its globals; its code is compiled
    once per text (`_CODE`), so it depends only on the shape of what it runs."""
    text = "\n".join(lines)
    code = _CODE.get(text)
    if code is None:
        if len(_CODE) >= _CODE_CACHE_SIZE:
            _CODE.clear()
        module = compile(text, filename, "exec")
        code = next(c for c in module.co_consts if isinstance(c, CodeType))
        _CODE[text] = code
    return FunctionType(code, namespace)


def _plain_attribute(field_def: GraphQLField) -> str | None:
    """The Python attribute a Strawberry plain data field reads, or None.

    A field is plain when Strawberry itself would do nothing but `getattr(source, name)`:
    its resolver is the `_get_basic_result` that `GraphQLCoreConverter.from_resolver` makes
    for a field without resolver, field extensions (permission classes are one) or exception
    handlers (`_is_default` alone is also set on the wrapper that runs extensions and
    handlers), and that calls `field.get_result`, here Strawberry's own (not a subclass's),
    which calls `default_resolver`, here `getattr` (not the schema config's replacement).
    Schema directives carry no behaviour; executable directives and schema extensions act
    through middleware, which turns planning off altogether (`FastExecutor.__init__`).
    """
    resolve = field_def.resolve
    if (
        resolve is None
        or not getattr(resolve, "_is_default", False)
        or getattr(resolve, "__name__", None) != "_get_basic_result"
    ):
        return None
    field = (field_def.extensions or {}).get(GraphQLCoreConverter.DEFINITION_BACKREF)
    if (
        not isinstance(field, StrawberryField)
        or field.base_resolver is not None
        or field.extensions
        or type(field).get_result is not StrawberryField.get_result
        or field.default_resolver is not getattr
    ):
        return None
    return field.python_name


class _Raised:
    """What reading an attribute raised, handled as graphql-core handles a resolver's error."""

    __slots__ = ("error",)

    def __init__(self, error: Exception) -> None:
        self.error = error


class _Pending:
    """A selection set's results with some fields still awaited (`names`): awaited, it is
    `_gather_results`; a list of such objects awaits all their fields at once instead of
    a task per object (`FastExecutor._complete_items`)."""

    __slots__ = ("names", "results")

    def __init__(self, results: dict[str, Any], names: list[str]) -> None:
        self.results = results
        self.names = names

    def __await__(self) -> Any:
        return _gather_results(self.results, self.names).__await__()


async def _gather_results(results: dict[str, Any], names: list[str]) -> dict[str, Any]:
    """graphql-core's `execute_fields` ending: await the awaitable fields, in parallel."""
    if len(names) == 1:
        name = names[0]
        results[name] = await results[name]
    else:
        awaited = await gather_with_cancel(*(results[name] for name in names))
        results.update(zip(names, awaited, strict=True))
    return results


class _ResolverPlan:
    """A Strawberry resolver field of the document, as `FastExecutor` calls it."""

    __slots__ = (
        "cacheable", "call", "completer", "config", "field", "field_def", "field_details_list",
        "info_class", "info_name", "kwargs", "nodes", "parent_name", "root_name",
        "scalar_registry", "with_self",
    )

    def __init__(
        self,
        field_def: GraphQLField,
        field: StrawberryField,
        nodes: list[Any],
        field_details_list: FieldDetailsList,
        config: Any,
        scalar_registry: Any,
    ) -> None:
        resolver = field.base_resolver
        assert resolver is not None
        self.field_def = field_def
        self.field = field
        self.nodes = tuple(nodes)
        self.field_details_list = field_details_list
        self.config = config
        self.scalar_registry = scalar_registry
        self.info_class = config.info_class
        self.kwargs: dict[str, Any] | None = None
        self.cacheable = False  # whether the converted arguments may be kept
        self.completer: Completer | None = None
        self.call = resolver  # StrawberryResolver.__call__: the function itself
        self.with_self = resolver.self_parameter is not None
        self.parent_name = _name(resolver.parent_parameter)
        self.root_name = _name(resolver.root_parameter)
        self.info_name = _name(resolver.info_parameter)


def _strawberry_union_members(abstract_type: Any) -> dict[Any, GraphQLObjectType] | None:
    """A Strawberry union's plain member types by definition, when Strawberry resolves it."""
    resolve_type = abstract_type.resolve_type
    if not isinstance(abstract_type, GraphQLUnionType) or resolve_type is None or (
        getattr(resolve_type, "__module__", None) != "strawberry.types.union"
        or getattr(resolve_type, "__name__", None) != "_resolve_union_type"
    ):
        return None
    members = {}
    for member in abstract_type.types:
        definition = (member.extensions or {}).get(GraphQLCoreConverter.DEFINITION_BACKREF)
        if not isinstance(definition, StrawberryObjectDefinition):
            return None
        if definition.concrete_of is None and not definition.is_graphql_generic:
            members[definition] = member
    return members


def _name(parameter: Any) -> str | None:
    return None if parameter is None else parameter.name


def _has_variables(node: Any) -> bool:
    """Whether a field's arguments refer to variables."""
    stack: list[Any] = [argument.value for argument in node.arguments or ()]
    while stack:
        value = stack.pop()
        if isinstance(value, VariableNode):
            return True
        if isinstance(value, ListValueNode):
            stack.extend(value.values)
        elif isinstance(value, ObjectValueNode):
            stack.extend(f.value for f in value.fields)
    return False
