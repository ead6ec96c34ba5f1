"""The namespaces field, and internal namespaces: unlisted, and refused by every generic field
exactly as an unknown namespace is."""

from __future__ import annotations

import pytest

from subgraph.idempotency import NAMESPACE

from .conftest import GraphQLClient

# Documents over a namespace named NS (idempotency keys too, so no two calls share one).
KV_FIELDS = {
    "kvRecord": '{ kvRecord(namespace: "NS", id: "r") { items { edges { cursor } } } }',
    "putItems": 'mutation { putItems(input: {namespace: "NS", id: "addCount:k", '
                'idempotencyKey: "put-NS", items: [{key: "attempt", text: "{}"}]}) { id } }',
    "deleteItems": 'mutation { deleteItems(input: {namespace: "NS", id: "addCount:k", '
                   'idempotencyKey: "del-NS"}) { id } }',
}
TIMESERIES_FIELDS = {
    "timeSeries": '{ timeSeries(namespace: "NS", id: "s") { edges { cursor } } }',
    "searchEvents": '{ searchEvents(namespace: "NS") { edges { cursor } } }',
    "distinctValues": '{ distinctValues(namespace: "NS", key: "k") { count } }',
    "writeEvents": 'mutation { writeEvents(input: {namespace: "NS", idempotencyKey: "w-NS", '
                   'events: [{seriesId: "s", items: [{key: "k", text: "v"}]}]}) { accepted } }',
}
COUNTER_FIELDS = {
    "counter": '{ counter(namespace: "NS", name: "c") { count } }',
    "counters": '{ counters(namespace: "NS", names: ["c"]) { count } }',
    "addCount": 'mutation { addCount(input: {namespace: "NS", name: "c", delta: 1, '
                'idempotencyKey: "add-NS"}) { count } }',
    "clearCount": 'mutation { clearCount(input: {namespace: "NS", name: "c", '
                  'idempotencyKey: "clear-NS"}) { count } }',
}
# Every generic field that names a namespace, with an internal namespace of its abstraction.
CASES = (
    [(f, d, NAMESPACE) for f, d in KV_FIELDS.items()]
    + [(f, d, "internal_kv") for f, d in KV_FIELDS.items()]
    + [(f, d, "internal_events") for f, d in TIMESERIES_FIELDS.items()]
    + [(f, d, "internal_counter") for f, d in COUNTER_FIELDS.items()]
)


def shape(errors: list[dict], name: str) -> list[tuple[str, dict, list | None]]:
    """What a client sees of errors, with the namespace's name written as NS."""
    return [(e["message"].replace(repr(name), "'NS'"), e["extensions"], e.get("path"))
            for e in errors]


async def test_namespaces_does_not_list_internal_namespaces(client: GraphQLClient) -> None:
    data = await client.data("{ namespaces { name } }")
    names = {ns["name"] for ns in data["namespaces"]}
    assert "profile_settings" in names
    assert names.isdisjoint({NAMESPACE, "internal_kv", "internal_events", "internal_counter"})


@pytest.mark.parametrize(("field", "document", "name"), CASES,
                         ids=[f"{f}-{n}" for f, _, n in CASES])
async def test_every_generic_field_refuses_an_internal_namespace_as_unknown(
    client: GraphQLClient, field: str, document: str, name: str
) -> None:
    unknown = await client.errors(document.replace("NS", "nope"))
    internal = await client.errors(document.replace("NS", name))
    assert shape(internal, name) == shape(unknown, "nope")
    assert [e["extensions"]["code"] for e in internal] == ["BAD_USER_INPUT"]
    assert internal[0]["message"] == f"unknown namespace {name!r}"


ADD = """mutation ($key: String!) {
  addCount(input: {namespace: "profile_plays", name: "p1", delta: 1, idempotencyKey: $key}) {
    count
  }
}"""


async def test_a_caller_can_neither_forge_nor_delete_an_attempt_and_retries_still_dedupe(
    client: GraphQLClient,
) -> None:
    # A forged, finished attempt for a key someone else is about to use is refused...
    forged = KV_FIELDS["putItems"].replace("NS", NAMESPACE)
    assert (await client.errors(forged))[0]["message"] == "unknown namespace 'idempotency'"
    assert (await client.data(ADD, {"key": "k"}))["addCount"]["count"] == "1"  # ...so it applies
    # ...and deleting the attempt so that a retry applies twice is refused as well.
    delete = KV_FIELDS["deleteItems"].replace("NS", NAMESPACE)
    assert (await client.errors(delete))[0]["message"] == "unknown namespace 'idempotency'"
    assert (await client.data(ADD, {"key": "k"}))["addCount"]["count"] == "1"
    page = await client.gateway.system_kv.get_items(NAMESPACE, "addCount:k")
    assert [i.key for i in page.items] == [b"attempt", b"done"]
