"""Hostile Authorization headers: each is a quick 401 UNAUTHENTICATED, never a 5xx or a
traceback, and the server keeps answering."""

from __future__ import annotations

import base64
import json
import time

import pytest

from .conftest import KID, Client, Issuer


def b64(value: object) -> str:
    raw = value if isinstance(value, bytes) else json.dumps(value).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


SURROGATE = b'{"s": "\\ud800"}'  # a legal JSON escape that is no Unicode text
HOSTILE = {
    "empty": "",
    "bearer-only": "Bearer",
    "double-space": "Bearer  a.b.c",
    "basic-scheme": "Basic dXNlcjpwYXNz",
    "two-tokens": "Bearer a.b.c Bearer d.e.f",
    "garbage-8k": "Bearer " + "x" * 8000,
    "four-parts": "Bearer a.b.c.d",
    "non-json-header": f"Bearer {b64(b'not json')}.{b64({})}.sig",
    "header-is-a-list": f"Bearer {b64([1, 2])}.{b64({})}.sig",
    "hs256-alg": f"Bearer {b64({'alg': 'HS256', 'kid': KID})}.{b64({'sub': 'x'})}.sig",
    "unknown-alg": f"Bearer {b64({'alg': 'XX999', 'kid': KID})}.{b64({})}.sig",
    "kid-5000-chars": f"Bearer {b64({'alg': 'RS256', 'kid': 'k' * 5000})}.{b64({})}.sig",
    "kid-not-a-string": f"Bearer {b64({'alg': 'RS256', 'kid': {'a': 1}})}.{b64({})}.sig",
    "deeply-nested-claims": f"Bearer {b64({'alg': 'RS256', 'kid': KID})}."
                            f"{b64(json.loads('[' * 500 + ']' * 500))}.sig",
    "lone-surrogate": f"Bearer {b64({'alg': 'RS256', 'kid': KID})}.{b64(SURROGATE)}.sig",
}


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_a_hostile_authorization_header_is_a_quick_401(client: Client, name: str) -> None:
    started = time.monotonic()
    response = client.post("{ namespaces { name } }", None, HOSTILE[name])
    elapsed = time.monotonic() - started
    assert response.status_code == 401, response.text
    assert response.json()["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    assert response.headers["www-authenticate"].startswith("Bearer")
    assert elapsed < 1.0
    assert "Traceback" not in response.text


def test_valid_claims_of_the_wrong_shape_grant_nothing(client: Client, issuer: Issuer) -> None:
    """A scope that is not a string and profile_ids that are not strings are ignored."""
    token = issuer.token(scope=["gateway:admin"], profile_ids=[{"id": "p1"}, 7])
    response = client.post('{ counter(namespace: "page_views", name: "x") { count } }', None,
                           f"Bearer {token}")
    assert response.status_code == 200
    assert response.json()["errors"][0]["extensions"]["code"] == "FORBIDDEN"


def test_the_server_log_has_no_traceback_after_hostile_tokens(client: Client) -> None:
    for value in HOSTILE.values():
        client.post("{ __typename }", None, value)
    assert client.http.get(f"{client.server.base}/healthz").status_code == 200
    assert "Traceback" not in client.server.log_text()
