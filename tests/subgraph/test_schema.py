"""The contract: schema.graphql is what export-schema prints, and GraphiQL's docs explain it all."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from graphql import get_introspection_query

from subgraph.schema import build_schema

ROOT = Path(__file__).resolve().parents[2]

# Federation's own machinery and GraphQL's built-ins document themselves (or cannot be changed).
EXEMPT_TYPES = {
    "_Service", "_Any", "_Entity", "_FieldSet", "link__Import", "link__Purpose",
    "String", "Int", "Float", "Boolean", "ID",
}
EXEMPT_FIELDS = {"_entities", "_service"}


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
            if f["name"] in EXEMPT_FIELDS:
                continue
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
