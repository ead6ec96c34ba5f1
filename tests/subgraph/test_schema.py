"""The contract: schema.graphql is what export-schema prints, and GraphiQL's docs explain it all."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from graphql import (
    GraphQLArgument,
    GraphQLField,
    GraphQLInputField,
    GraphQLInputObjectType,
    GraphQLObjectType,
    get_introspection_query,
    get_named_type,
)

from subgraph.limits import Limits
from subgraph.schema import bounds, build_schema

ROOT = Path(__file__).resolve().parents[2]

# GraphQL's built-ins and Federation's directive arguments document themselves (or cannot be
# changed); Federation's fields and types are described (subgraph.schema.FEDERATION_DOCS).
EXEMPT_TYPES = {
    "_FieldSet", "link__Import", "link__Purpose", "String", "Int", "Float", "Boolean", "ID",
}


def run_cli(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "subgraph", *args],
        cwd=ROOT, capture_output=True, text=True, timeout=timeout, check=False,
    )


@pytest.fixture(scope="module")
def exported_sdl() -> str:
    result = run_cli("export-schema")
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_checked_in_schema_graphql_equals_export_schema_output(exported_sdl: str) -> None:
    checked_in = (ROOT / "schema.graphql").read_text()
    assert exported_sdl == checked_in, (
        "schema.graphql is stale: run `make schema` and commit the result"
    )


def test_export_schema_declares_profile_and_title_as_entities_keyed_by_id(
    exported_sdl: str,
) -> None:
    assert 'type Profile @key(fields: "id") {' in exported_sdl
    assert 'type Title @key(fields: "id") {' in exported_sdl
    assert "@link(url: \"https://specs.apollo.dev/federation/v2" in exported_sdl


def _undocumented(types: list[dict[str, Any]]) -> list[str]:
    missing: list[str] = []

    def check(thing: dict[str, Any], where: str) -> None:
        if not (thing.get("description") or "").strip():
            missing.append(where)

    for t in types:
        name = t["name"]
        if name.startswith("__") or name in EXEMPT_TYPES:
            continue
        check(t, name)
        for f in t.get("fields") or []:
            check(f, f"{name}.{f['name']}")
            for arg in f["args"]:
                check(arg, f"{name}.{f['name']}({arg['name']})")
        for f in t.get("inputFields") or []:
            check(f, f"{name}.{f['name']}")
        for v in t.get("enumValues") or []:
            check(v, f"{name}.{v['name']}")
    return missing


async def test_every_type_field_argument_and_enum_value_has_a_description() -> None:
    result = await build_schema().execute(get_introspection_query(descriptions=True))
    assert result.errors is None
    assert result.data is not None
    types = result.data["__schema"]["types"]
    assert {"Profile", "Title", "Query", "Mutation", "Counter"} <= {t["name"] for t in types}
    assert _undocumented(types) == []


Member = GraphQLField | GraphQLInputField | GraphQLArgument


def _members() -> dict[str, Member]:
    """Every field, input field and argument of the schema's own types, by `Type.field(arg)`."""
    out: dict[str, Member] = {}
    for name, t in build_schema()._schema.type_map.items():
        if name.startswith("__") or not isinstance(t, GraphQLObjectType | GraphQLInputObjectType):
            continue
        for field_name, field in t.fields.items():
            out[f"{name}.{field_name}"] = field
            for arg_name, arg in getattr(field, "args", {}).items():
                out[f"{name}.{field_name}({arg_name})"] = arg
    return out


def _name(where: str) -> str:
    return where.rstrip(")").split("(")[-1].split(".")[-1]


def test_every_id_is_of_type_id() -> None:
    ids = {w: m for w, m in _members().items()
           if _name(w) == "id" or _name(w).endswith(("Id", "Ids"))}
    assert {"Query.timeSeries(id)", "EventInput.seriesId", "TimeSeriesEvent.seriesId",
            "TimeSeriesEvent.eventId", "Profile.viewingHistory(titleId)"} <= set(ids)
    assert [w for w, m in ids.items() if get_named_type(m.type).name != "ID"] == []


def test_a_value_is_base64_and_a_text_is_plain_text_wherever_they_appear() -> None:
    members = _members()
    values = {w: m for w, m in members.items() if _name(w) == "value"}
    texts = {w: m for w, m in members.items() if _name(w) == "text"}
    assert {"KVItem.value", "EventItemInput.value", "ItemFilter.value", "DistinctValue.value"} \
        <= set(values)
    assert {"ItemFilter.text", "SearchCondition.text", "NamespaceSetting.text"} <= set(texts)
    assert [w for w, m in values.items() if "base64" not in (m.description or "")] == []
    assert [w for w, m in texts.items() if "plain text" not in (m.description or "")] == []
    assert [w for w, m in {**values, **texts}.items()
            if get_named_type(m.type).name != "String"] == []


def test_the_limits_a_caller_can_hit_are_in_the_descriptions() -> None:
    limits = Limits()
    members = _members()
    schema = build_schema()._schema
    firsts = {w: m for w, m in members.items() if w.endswith("(first)")}
    assert len(firsts) == 8
    assert [w for w, m in firsts.items() if f"1 to {limits.max_first}" not in m.description] == []
    stated = {
        "Query.counters(names)": f"at most {limits.max_names} names",
        "Mutation.putItems": f"1 to {limits.max_items_per_write}",
        "PutItemsInput.items": f"1 to {limits.max_items_per_write}",
        "DeleteItemsInput.keys": f"1 to {limits.max_items_per_write}",
        "Mutation.writeEvents": f"1 to {limits.max_items_per_write}",
        "WriteEventsInput.events": f"1 to {limits.max_items_per_write}",
        "Query._entities(representations)": f"at most {limits.max_representations}",
        "EventInput.items": f"1 to {bounds.TS.max_items_per_event}",
        "RecordPlaybackInput.startedAt": "7 days",
        "AddCountInput.idempotencyKey": "1 to 128 characters",
    }
    assert {w: text for w, text in stated.items() if text not in members[w].description} == {}
    query = schema.query_type.description or ""
    for value in (limits.max_depth, limits.max_aliases, limits.max_tokens, limits.max_cost,
                  limits.max_document_bytes, limits.max_variable_values):
        assert str(value) in query


def test_the_payload_of_record_playback_says_what_an_eventual_count_reads() -> None:
    members = _members()
    title = members["RecordPlaybackPayload.titlePlayCount"].description or ""
    assert "does not include this play yet" in title
    assert f"within about {bounds.eventual_lag(bounds.TITLE_PLAYS):g} s" in title
    assert "includes this play" in (members["RecordPlaybackPayload.profilePlayCount"].description
                                     or "")
