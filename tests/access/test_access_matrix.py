"""Every field and mutation x every kind of caller, through the real HTTP server.

Each cell expects data, FORBIDDEN (the field null, the rest intact, nothing written) or 401
UNAUTHENTICATED; a refused write is checked afterwards with an admin token: nothing landed.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest

from .conftest import Client, Issuer

DATA, FORBIDDEN, UNAUTHENTICATED = "data", "FORBIDDEN", "UNAUTHENTICATED"
BAD_TOKENS = ("malformed", "expired", "wrong_signature", "wrong_issuer", "wrong_audience",
              "not_yet_valid", "alg_none")
KINDS = ("no_token", *BAD_TOKENS, "no_scope", "read_scope", "write_scope", "owner",
         "other_profile", "admin")


@dataclass(frozen=True)
class Case:
    """One field: its document, the scopes that grant it, and who else may use it."""

    name: str
    document: str
    field: str
    read: str | None = None  # the read scope that grants it (a read field)
    write: str | None = None  # the write scope that grants it (a mutation)
    owner: bool = False  # the owner of profile p1 may use it
    authenticated: bool = False  # any authenticated caller may use it
    public: bool = False  # no token needed
    variables: Callable[[str], dict[str, Any]] = field(default=lambda kind: {})
    # For a mutation: (document, variables, what proves the write did NOT land) read by admin.
    landed: Callable[[Client, str, str], bool] | None = None


def entity(typename: str, selection: str) -> str:
    return (f'{{ _entities(representations: [{{__typename: "{typename}", id: "p1"}}]) '
            f'{{ ... on {typename} {{ {selection} }} }} }}').replace('"p1"', '"p1"')


def admin_data(client: Client, issuer: Issuer, query: str, variables: dict[str, Any]) -> Any:
    answer = client.post(query, variables,
                         f"Bearer {issuer.token(scope='gateway:admin')}").json()
    assert "errors" not in answer, answer
    return answer["data"]


def _kv_items(client: Client, issuer: Issuer, id: str) -> list[Any]:
    data = admin_data(client, issuer, 'query ($id: ID!) { kvRecord(namespace: '
                      '"profile_settings", id: $id) { items { edges { node { key } } } } }',
                      {"id": id})
    return data["kvRecord"]["items"]["edges"]


def _count(client: Client, issuer: Issuer, name: str) -> str:
    return admin_data(client, issuer, 'query ($n: String!) { counter(namespace: "page_views", '
                      "name: $n) { count } }", {"n": name})["counter"]["count"]


def _history(client: Client, issuer: Issuer, key: str, value: str) -> list[Any]:
    return admin_data(client, issuer, 'query ($f: [ItemFilter!]) { timeSeries(namespace: '
                      '"viewing_history", id: "p1", filter: $f) { edges { cursor } } }',
                      {"f": [{"key": key, "text": value}]})["timeSeries"]["edges"]


CASES = [
    Case("kvRecord", '{ kvRecord(namespace: "profile_settings", id: "p1") '
         "{ items { edges { node { key } } } } }", "kvRecord", read="profile_settings:read"),
    Case("timeSeries", '{ timeSeries(namespace: "viewing_history", id: "p1") '
         "{ edges { cursor } } }", "timeSeries", read="viewing_history:read", owner=True),
    Case("searchEvents", '{ searchEvents(namespace: "viewing_history") { edges { cursor } } }',
         "searchEvents", read="viewing_history:read"),
    Case("distinctValues", '{ distinctValues(namespace: "viewing_history", key: "title_id") '
         "{ value count } }", "distinctValues", read="viewing_history:read"),
    Case("counter", '{ counter(namespace: "page_views", name: "c") { count } }', "counter",
         read="page_views:read"),
    Case("counter-title_plays", '{ counter(namespace: "title_plays", name: "t1") { count } }',
         "counter", read="title_plays:read", authenticated=True),
    Case("counters", '{ counters(namespace: "profile_plays", names: ["p1"]) { count } }',
         "counters", read="profile_plays:read", owner=True),
    Case("namespaces", "{ namespaces { name } }", "namespaces", authenticated=True),
    Case("Profile.viewingHistory", entity("Profile", "viewingHistory { edges { cursor } }"),
         "_entities", read="viewing_history:read", owner=True),
    Case("Profile.playCount", entity("Profile", "playCount { count }"), "_entities",
         read="viewing_history:read", owner=True),
    Case("Title.playCount", entity("Title", "playCount { count }"), "_entities",
         authenticated=True),
    Case("_service", "{ _service { sdl } }", "_service", public=True),
    Case("putItems",
         'mutation ($id: ID!, $k: String!) { putItems(input: {namespace: "profile_settings", '
         'id: $id, items: [{key: "a", text: "1"}], idempotencyKey: $k}) { id } }',
         "putItems", write="profile_settings:write",
         variables=lambda kind: {"id": f"put-{kind}", "k": f"put-{kind}"},
         landed=lambda c, i, kind: bool(_kv_items(c, i, f"put-{kind}"))),
    Case("deleteItems",
         'mutation ($id: ID!, $k: String!) { deleteItems(input: {namespace: '
         '"profile_settings", id: $id, idempotencyKey: $k}) { id } }',
         "deleteItems", write="profile_settings:write",
         variables=lambda kind: {"id": f"del-{kind}", "k": f"del-{kind}"},
         landed=lambda c, i, kind: not _kv_items(c, i, f"del-{kind}")),
    Case("writeEvents",
         'mutation ($k: String!, $m: String!) { writeEvents(input: {namespace: '
         '"viewing_history", events: [{seriesId: "p1", items: [{key: "marker", text: $m}]}], '
         "idempotencyKey: $k}) { accepted } }",
         "writeEvents", write="viewing_history:write", owner=True,
         variables=lambda kind: {"k": f"we-{kind}", "m": f"we-{kind}"},
         landed=lambda c, i, kind: bool(_history(c, i, "marker", f"we-{kind}"))),
    Case("addCount",
         'mutation ($n: String!, $k: String!) { addCount(input: {namespace: "page_views", '
         "name: $n, delta: 3, idempotencyKey: $k}) { count } }",
         "addCount", write="page_views:write",
         variables=lambda kind: {"n": f"add-{kind}", "k": f"add-{kind}"},
         landed=lambda c, i, kind: _count(c, i, f"add-{kind}") != "0"),
    Case("clearCount",
         'mutation ($n: String!, $k: String!) { clearCount(input: {namespace: "page_views", '
         "name: $n, idempotencyKey: $k}) { count } }",
         "clearCount", write="page_views:write",
         variables=lambda kind: {"n": f"clr-{kind}", "k": f"clr-{kind}"},
         landed=lambda c, i, kind: _count(c, i, f"clr-{kind}") == "0"),
    Case("recordPlayback",
         'mutation ($t: ID!, $k: String!) { recordPlayback(input: {profileId: "p1", '
         "titleId: $t, positionSeconds: 1, durationSeconds: 2, idempotencyKey: $k}) "
         "{ profilePlayCount { count } } }",
         "recordPlayback", write="viewing_history:write", owner=True,
         variables=lambda kind: {"t": f"rp-{kind}", "k": f"rp-{kind}"},
         landed=lambda c, i, kind: bool(_history(c, i, "title_id", f"rp-{kind}"))),
]


def expected(case: Case, kind: str) -> str:
    if kind in BAD_TOKENS:
        return UNAUTHENTICATED
    if kind == "no_token":
        return DATA if case.public else UNAUTHENTICATED
    if case.public or case.authenticated or kind == "admin":
        return DATA
    if kind == "read_scope":
        return DATA if case.read else FORBIDDEN
    if kind == "write_scope":
        return DATA if case.write else FORBIDDEN
    if kind == "owner":
        return DATA if case.owner else FORBIDDEN
    return FORBIDDEN  # no_scope, other_profile


def authorization(issuer: Issuer, case: Case, kind: str) -> str | None:
    now = int(time.time())
    token = {
        "no_token": None,
        "malformed": "not.a.jwt",
        "expired": issuer.token(scope="gateway:admin", exp=now - 3600, iat=now - 7200),
        "wrong_signature": issuer.token(scope="gateway:admin", forged=True),
        "wrong_issuer": issuer.token(scope="gateway:admin", iss="https://elsewhere.test/"),
        "wrong_audience": issuer.token(scope="gateway:admin", aud="another-service"),
        "not_yet_valid": issuer.token(scope="gateway:admin", nbf=now + 3600),
        "alg_none": _unsigned({"iss": "https://issuer.test/", "aud": "data-gateway",
                               "exp": now + 600, "scope": "gateway:admin"}),
        "no_scope": issuer.token(),
        "read_scope": issuer.token(scope=case.read or "unrelated:read"),
        "write_scope": issuer.token(scope=case.write or "unrelated:write"),
        "owner": issuer.token(profile_ids=["p1"]),
        "other_profile": issuer.token(profile_ids=["p2"]),
        "admin": issuer.token(scope="gateway:admin"),
    }[kind]
    return None if token is None else f"Bearer {token}"


def _unsigned(claims: dict[str, Any]) -> str:
    import base64
    import json

    def part(value: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(value).encode()).rstrip(b"=").decode()

    return f"{part({'alg': 'none', 'typ': 'JWT', 'kid': 'test-key-1'})}.{part(claims)}."


def _prepare(client: Client, issuer: Issuer, case: Case, kind: str) -> None:
    """What a write case needs before it runs: an item to delete, a count to clear."""
    if case.name == "deleteItems":
        admin_data(client, issuer, 'mutation ($id: ID!, $k: String!) { putItems(input: '
                   '{namespace: "profile_settings", id: $id, items: [{key: "x", text: "y"}], '
                   "idempotencyKey: $k}) { id } }", {"id": f"del-{kind}", "k": f"pre-{kind}"})
    if case.name == "clearCount":
        admin_data(client, issuer, 'mutation ($n: String!, $k: String!) { addCount(input: '
                   '{namespace: "page_views", name: $n, delta: 5, idempotencyKey: $k}) '
                   "{ count } }", {"n": f"clr-{kind}", "k": f"pre-{kind}"})


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_field_by_caller(client: Client, issuer: Issuer, case: Case, kind: str) -> None:
    want = expected(case, kind)
    _prepare(client, issuer, case, kind)
    response = client.post(case.document, case.variables(kind), authorization(issuer, case, kind))
    body = response.json()
    if want == UNAUTHENTICATED:
        assert response.status_code == 401, body
        assert response.headers["www-authenticate"].startswith("Bearer")
        assert "data" not in body
        assert [e["extensions"]["code"] for e in body["errors"]] == [UNAUTHENTICATED]
    else:
        assert response.status_code == 200, body
        value = body["data"][case.field]
        if case.field == "_entities":
            value = next(iter(value[0].values()))
        elif case.field == "counters":  # each counter is refused at its own index
            value = value[0]
        if want == DATA:
            assert "errors" not in body, body
            assert value is not None
        else:
            assert value is None, body
            errors = body["errors"]
            assert [e["extensions"]["code"] for e in errors] == [FORBIDDEN]
            assert "needs the scope" in errors[0]["message"]
            assert "Traceback" not in response.text
    if case.landed is not None:
        assert case.landed(client, issuer, kind) is (want == DATA), (
            f"{case.name} by {kind}: expected {want}, but the write "
            f"{'landed' if want != DATA else 'did not land'}"
        )


def test_every_decision_is_counted_in_metrics(client: Client, issuer: Issuer) -> None:
    def decisions(namespace: str, operation: str, result: str) -> int:
        text = client.http.get(f"{client.server.base}/metrics").text
        line = (f'subgraph_access_decisions_total{{namespace="{namespace}",'
                f'operation="{operation}",result="{result}"}} ')
        return next((int(float(row[len(line):])) for row in text.splitlines()
                     if row.startswith(line)), 0)

    before = decisions("profile_settings", "read", "denied"), decisions(
        "page_views", "write", "allowed")
    client.post('{ kvRecord(namespace: "profile_settings", id: "m") { id } }', None,
                f"Bearer {issuer.token()}")
    admin_data(client, issuer, 'mutation { addCount(input: {namespace: "page_views", '
               'name: "metrics", idempotencyKey: "metrics"}) { count } }', {})
    after = decisions("profile_settings", "read", "denied"), decisions(
        "page_views", "write", "allowed")
    assert after[0] == before[0] + 1
    assert after[1] >= before[1] + 1
