"""Authentication over HTTP: bearer JWTs verified against a JWKS file or https URL.

Every refusal is a 401 with UNAUTHENTICATED and a `WWW-Authenticate: Bearer` challenge; a good
token's claims reach the resolvers' context as the request's Caller.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
import ssl
import sys
import threading
import time
import warnings
from collections.abc import AsyncIterator, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
import trustme
from cryptography.hazmat.primitives.asymmetric import rsa
from starlette.applications import Starlette

from abstractions.access import Caller
from abstractions.gateway import DataGateway
from subgraph.app import Settings, create_app
from subgraph.auth import AuthConfigError, AuthSettings, KeySet, public_only
from subgraph.context import Context
from subgraph.http import ANONYMOUS_MAX_BODY_BYTES
from subgraph.limits import Limits

from .jwts import (
    AUDIENCE,
    ISSUER,
    SigningKey,
    hs256,
    jwks,
    new_key,
    rewrite,
    unsigned,
    write_jwks,
)

NAMESPACES = "{ namespaces { name } }"
SDL = "{ _service { sdl } }"
GRAPHQL_RESPONSE = "application/graphql-response+json"


@pytest.fixture(scope="module")
def rsa_key() -> SigningKey:
    return new_key("RS256", "rsa-1")


@pytest.fixture(scope="module")
def ec_key() -> SigningKey:
    return new_key("ES256", "ec-1")


@pytest.fixture(scope="module")
def ed_key() -> SigningKey:
    return new_key("EdDSA", "ed-1")


@pytest.fixture(scope="module")
def stranger() -> SigningKey:
    """An RSA key the JWKS does not hold."""
    return new_key("RS256", "rsa-stranger")


@pytest.fixture
def jwks_path(tmp_path: Path, rsa_key: SigningKey, ec_key: SigningKey, ed_key: SigningKey) -> Path:
    return write_jwks(tmp_path / "jwks.json", rsa_key, ec_key, ed_key)


def jwt_settings(jwks_source: str, **overrides: Any) -> AuthSettings:
    values: dict[str, Any] = {
        "mode": "jwt", "jwks": jwks_source, "issuer": ISSUER, "audience": AUDIENCE,
    }
    values.update(overrides)
    return AuthSettings(**values)


@pytest.fixture
def auth_settings(jwks_path: Path) -> AuthSettings:
    return jwt_settings(str(jwks_path))


@pytest.fixture
def app(
    db_path: Path, data_gateway: DataGateway, limits: Limits, auth_settings: AuthSettings
) -> Starlette:
    """The app of conftest, with authentication on (conftest's `http` client drives it)."""
    return create_app(Settings(store_url=f"sqlite:///{db_path}", auth=auth_settings),
                      gateway=data_gateway, limits=limits)


@contextlib.asynccontextmanager
async def serving(app: Starlette) -> AsyncIterator[httpx.AsyncClient]:
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app),
                          base_url="http://subgraph.test") as client,
    ):
        yield client


async def post(
    http: httpx.AsyncClient, query: str, token: str | None = None, *,
    accept: str = "application/json", operation: str | None = None,
) -> httpx.Response:
    headers = {"accept": accept}
    if token is not None:
        headers["authorization"] = f"Bearer {token}"
    body: dict[str, Any] = {"query": query}
    if operation is not None:
        body["operationName"] = operation
    return await http.post("/graphql", json=body, headers=headers)


def assert_unauthenticated(response: httpx.Response, *, invalid_token: bool = True) -> str:
    """The refusal's message, after checking its shape; never an echo of a token."""
    assert response.status_code == 401, response.text
    body = response.json()
    assert "data" not in body, body
    [error] = body["errors"]
    assert error["extensions"] == {"code": "UNAUTHENTICATED"}, error
    challenge = response.headers["www-authenticate"]
    assert challenge.startswith("Bearer"), challenge
    assert ('error="invalid_token"' in challenge) == invalid_token, challenge
    authorization = response.request.headers.get("authorization", "")
    token = authorization.partition(" ")[2]
    for part in filter(None, token.split(".")):
        assert part not in response.text
    return error["message"]


def assert_data(response: httpx.Response) -> dict[str, Any]:
    assert response.status_code == 200, response.text
    body = response.json()
    assert "errors" not in body, body
    return body["data"]


@pytest.fixture
def callers(monkeypatch: pytest.MonkeyPatch) -> list[Caller | None]:
    """The Caller each request's context is built with, as the app passes it."""
    seen: list[Caller | None] = []
    create = Context.create

    def recording(
        gateway: DataGateway, limits: Limits, caller: Caller | None = None, **options: Any
    ) -> Context:
        seen.append(caller)
        return create(gateway, limits, caller, **options)

    monkeypatch.setattr(Context, "create", staticmethod(recording))
    return seen


# --- good tokens ---------------------------------------------------------------------------


@pytest.mark.parametrize("alg", ["RS256", "ES256", "EdDSA"])
async def test_a_valid_token_reaches_the_resolvers_with_its_claims_as_the_caller(
    http: httpx.AsyncClient, callers: list[Caller | None], alg: str,
    rsa_key: SigningKey, ec_key: SigningKey, ed_key: SigningKey,
) -> None:
    key = {"RS256": rsa_key, "ES256": ec_key, "EdDSA": ed_key}[alg]
    token = key.sign(sub="svc-7", scope="kv:read ts:read", profile_ids=["p1", "p2"])
    data = assert_data(await post(http, NAMESPACES, token))
    assert {"name": "viewing_history"} in data["namespaces"]
    assert callers[-1] == Caller(
        subject="svc-7", scopes=frozenset({"kv:read", "ts:read"}),
        profile_ids=frozenset({"p1", "p2"}), authenticated=True,
    )


async def test_a_token_without_kid_is_verified_by_the_one_key_of_its_type(
    http: httpx.AsyncClient, ec_key: SigningKey
) -> None:
    assert_data(await post(http, NAMESPACES, ec_key.sign(kid=None)))


async def test_a_token_without_kid_is_refused_when_several_keys_fit(
    tmp_path: Path, data_gateway: DataGateway, limits: Limits, rsa_key: SigningKey,
    stranger: SigningKey,
) -> None:
    path = write_jwks(tmp_path / "two.json", rsa_key, stranger)
    app = create_app(Settings("sqlite://", auth=jwt_settings(str(path))),
                     gateway=data_gateway, limits=limits)
    async with serving(app) as http:
        message = assert_unauthenticated(await post(http, NAMESPACES, rsa_key.sign(kid=None)))
        assert "kid" in message
        assert_data(await post(http, NAMESPACES, rsa_key.sign()))


async def test_a_server_without_authentication_gives_every_request_the_unchecked_caller(
    db_path: Path, data_gateway: DataGateway, limits: Limits, callers: list[Caller | None],
    rsa_key: SigningKey,
) -> None:
    app = create_app(Settings(f"sqlite:///{db_path}"), gateway=data_gateway, limits=limits)
    async with serving(app) as http:
        assert_data(await post(http, NAMESPACES))
        assert_data(await post(http, NAMESPACES, "not even a token"))
        metrics = (await http.get("/metrics")).text
    assert callers == [Caller.unchecked(), Caller.unchecked()]
    assert "subgraph_authentication_total" not in metrics


# --- refusals ------------------------------------------------------------------------------


@pytest.mark.parametrize("accept", ["application/json", GRAPHQL_RESPONSE])
async def test_a_request_without_a_token_is_401_whatever_the_media_type(
    http: httpx.AsyncClient, accept: str
) -> None:
    response = await post(http, NAMESPACES, accept=accept)
    message = assert_unauthenticated(response, invalid_token=False)
    assert response.headers["www-authenticate"] == "Bearer"
    assert response.headers["content-type"].startswith(accept)
    assert "bearer token" in message


async def test_a_get_without_a_token_is_401(http: httpx.AsyncClient) -> None:
    response = await http.get("/graphql", params={"query": NAMESPACES},
                              headers={"apollo-require-preflight": "true"})
    assert_unauthenticated(response, invalid_token=False)


@pytest.mark.parametrize(
    ("make", "outcome", "wording"),
    [
        (lambda k: k.sign(exp=int(time.time()) - 120), "expired", "expired"),
        (lambda k: k.sign(nbf=int(time.time()) + 120), "not_yet_valid", "not valid yet"),
        (lambda k: k.sign(iss="https://other.test/"), "wrong_issuer", "issuer"),
        (lambda k: k.sign(iss=None), "wrong_issuer", "iss"),
        (lambda k: k.sign(aud="another-service"), "wrong_audience", "audience"),
        (lambda k: k.sign(aud=None), "wrong_audience", "aud"),
        (lambda k: k.sign(exp=None), "malformed", "exp"),
        (lambda k: k.sign()[:-6] + "AAAAAA", "bad_signature", "signature"),
        (lambda k: "not-a-jwt", "malformed", "JWT"),
        (lambda k: unsigned(k.kid), "bad_algorithm", "algorithm"),
        (lambda k: unsigned(None), "bad_algorithm", "algorithm"),
        (lambda k: hs256(k.public_pem(), k.kid), "bad_algorithm", "algorithm"),
        (lambda k: hs256(json.dumps(k.jwk()).encode(), None), "bad_algorithm", "algorithm"),
    ],
    ids=["expired", "nbf-future", "wrong-iss", "no-iss", "wrong-aud", "no-aud", "no-exp",
         "bad-signature", "not-a-jwt", "alg-none", "alg-none-no-kid", "hs256-public-pem",
         "hs256-public-jwk"],
)
async def test_a_bad_token_is_401_with_invalid_token_and_says_what_is_wrong(
    http: httpx.AsyncClient, rsa_key: SigningKey, make: Any, outcome: str, wording: str
) -> None:
    token = make(rsa_key)
    message = assert_unauthenticated(await post(http, NAMESPACES, token))
    assert wording in message
    metrics = (await http.get("/metrics")).text
    assert f'subgraph_authentication_total{{result="{outcome}"}} 1.0' in metrics, metrics


async def test_a_token_signed_by_a_key_outside_the_jwks_is_refused(
    http: httpx.AsyncClient, stranger: SigningKey, rsa_key: SigningKey
) -> None:
    # Its own kid: no such key.  The kid of a key in the JWKS: the signature does not verify.
    assert "not known" in assert_unauthenticated(await post(http, NAMESPACES, stranger.sign()))
    forged = stranger.sign(kid=rsa_key.kid)
    assert "signature" in assert_unauthenticated(await post(http, NAMESPACES, forged))


async def test_the_key_must_be_of_the_type_the_tokens_algorithm_needs(
    http: httpx.AsyncClient, ec_key: SigningKey, rsa_key: SigningKey
) -> None:
    mismatched = ec_key.sign(kid=rsa_key.kid)  # ES256, naming the RSA key
    assert "does not match" in assert_unauthenticated(await post(http, NAMESPACES, mismatched))


@pytest.mark.parametrize(
    "authorization",
    ["Basic dXNlcjpwYXNz", "Bearer", "Bearer ", "Bearer a b", "Token abc.def.ghi"],
)
async def test_an_authorization_header_that_is_not_a_bearer_token_is_refused(
    http: httpx.AsyncClient, authorization: str
) -> None:
    response = await http.post("/graphql", json={"query": SDL},
                               headers={"authorization": authorization})
    assert "Bearer <token>" in assert_unauthenticated(response)


async def test_two_authorization_headers_are_refused(
    http: httpx.AsyncClient, rsa_key: SigningKey
) -> None:
    token = rsa_key.sign()
    response = await http.post(
        "/graphql", json={"query": NAMESPACES},
        headers=[("authorization", f"Bearer {token}"), ("authorization", f"Bearer {token}")],
    )
    assert_unauthenticated(response)


# --- leeway --------------------------------------------------------------------------------


async def test_the_leeway_admits_small_clock_skew_on_exp_and_nbf(
    http: httpx.AsyncClient, rsa_key: SigningKey
) -> None:
    now = int(time.time())
    assert_data(await post(http, NAMESPACES, rsa_key.sign(exp=now - 10)))
    assert_data(await post(http, NAMESPACES, rsa_key.sign(nbf=now + 10, iat=now + 10)))


async def test_the_leeway_is_configurable(
    jwks_path: Path, data_gateway: DataGateway, limits: Limits, rsa_key: SigningKey
) -> None:
    settings = jwt_settings(str(jwks_path), leeway_seconds=0)
    app = create_app(Settings("sqlite://", auth=settings), gateway=data_gateway, limits=limits)
    async with serving(app) as http:
        token = rsa_key.sign(exp=int(time.time()) - 10)
        assert "expired" in assert_unauthenticated(await post(http, NAMESPACES, token))


# --- the public SDL ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "operation"),
    [
        (SDL, None),
        ("query Sdl { __typename _service { sdl } }", None),
        ("{ __typename }", None),
        ("query A { namespaces { name } }\nquery B { s: _service { sdl } }", "B"),
    ],
)
async def test_the_sdl_is_served_without_a_token(
    http: httpx.AsyncClient, callers: list[Caller | None], query: str, operation: str | None
) -> None:
    data = assert_data(await post(http, query, operation=operation))
    if "_service" in query:
        assert "type Query" in next(v for v in data.values() if isinstance(v, dict))["sdl"]
    assert callers == [Caller.anonymous()]


async def test_the_sdl_is_served_over_get_without_a_token(http: httpx.AsyncClient) -> None:
    response = await http.get("/graphql", params={"query": SDL},
                              headers={"accept": "application/json",
                                       "apollo-require-preflight": "true"})
    assert "type Query" in assert_data(response)["_service"]["sdl"]


@pytest.mark.parametrize(
    ("query", "operation"),
    [
        ("{ _service { sdl } namespaces { name } }", None),
        ("{ ...F } fragment F on Query { _service { sdl } }", None),
        ("{ ... on Query { _service { sdl } } }", None),
        ("query A { namespaces { name } }\nquery B { _service { sdl } }", "A"),
        ("query A { namespaces { name } }\nquery B { _service { sdl } }", None),
        ('mutation { __typename _service: deleteItems(namespace: "x", id: "y") }', None),
        ("{ _service { sdl }", None),
    ],
    ids=["with-namespaces", "fragment", "inline-fragment", "other-operation",
         "no-operation-name", "mutation", "syntax-error"],
)
async def test_anything_beyond_the_sdl_needs_a_token(
    http: httpx.AsyncClient, query: str, operation: str | None
) -> None:
    assert_unauthenticated(await post(http, query, operation=operation), invalid_token=False)


async def test_without_a_token_a_large_body_is_refused_as_unauthenticated_before_it_is_read(
    http: httpx.AsyncClient, rsa_key: SigningKey
) -> None:
    padded = SDL + " " * ANONYMOUS_MAX_BODY_BYTES  # public, but no caller needs to send so much
    assert_unauthenticated(await post(http, padded), invalid_token=False)
    async def chunks() -> AsyncIterator[bytes]:  # no Content-Length: refused while it streams
        yield b'{"query": "'
        yield b" " * 20_000

    streamed = await http.post("/graphql", content=chunks(),
                               headers={"content-type": "application/json"})
    assert_unauthenticated(streamed, invalid_token=False)
    # With a token the request's own limit applies.
    assert "type Query" in assert_data(await post(http, padded, rsa_key.sign()))["_service"]["sdl"]


async def test_the_sdl_with_an_invalid_token_is_still_refused(
    http: httpx.AsyncClient, rsa_key: SigningKey
) -> None:
    token = rsa_key.sign(exp=int(time.time()) - 120)
    assert_unauthenticated(await post(http, SDL, token))


def test_public_only_reads_only_the_root_of_the_chosen_operation() -> None:
    assert public_only("{ _service { sdl } }", None, 100)
    assert public_only("query Q { _service { sdl { x } } }", "Q", 100)  # validation's business
    assert not public_only("{ namespaces { name } }", None, 100)
    assert not public_only("{ _service { sdl } }", "Other", 100)
    assert not public_only("subscription { _service { sdl } }", None, 100)
    assert not public_only("{ _service { sdl } " + "__typename " * 200 + "}", None, 100)


# --- metrics -------------------------------------------------------------------------------


async def test_authentication_outcomes_are_counted_for_prometheus(
    http: httpx.AsyncClient, rsa_key: SigningKey
) -> None:
    await post(http, NAMESPACES, rsa_key.sign())
    await post(http, NAMESPACES, rsa_key.sign())
    await post(http, NAMESPACES)
    await post(http, SDL)
    await post(http, NAMESPACES, rsa_key.sign(aud="x"))
    text = (await http.get("/metrics")).text
    counts = dict(re.findall(r'^subgraph_authentication_total\{result="(\w+)"\} ([0-9.]+)$',
                             text, re.MULTILINE))
    assert counts["ok"] == "2.0"
    assert counts["missing"] == "1.0"
    assert counts["anonymous"] == "1.0"
    assert counts["wrong_audience"] == "1.0"
    assert counts["expired"] == "0.0"
    assert "# TYPE subgraph_authentication_total counter" in text


# --- the JWKS file -------------------------------------------------------------------------


async def test_a_rotated_jwks_file_is_picked_up_for_a_new_kid_and_drops_the_old_keys(
    http: httpx.AsyncClient, jwks_path: Path, rsa_key: SigningKey, ec_key: SigningKey
) -> None:
    assert_data(await post(http, NAMESPACES, rsa_key.sign()))
    rotated = new_key("ES256", "ec-2")
    write_jwks(jwks_path, rotated, ec_key)
    assert_data(await post(http, NAMESPACES, rotated.sign()))
    assert "not known" in assert_unauthenticated(await post(http, NAMESPACES, rsa_key.sign()))


async def test_keys_the_server_would_never_accept_are_skipped_and_the_others_serve(
    tmp_path: Path, data_gateway: DataGateway, limits: Limits, rsa_key: SigningKey,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, logger="subgraph.auth")
    short = SigningKey("rsa-1024", "RS256",
                       rsa.generate_private_key(public_exponent=65537, key_size=1024))
    encryption = {**new_key("RS256", "enc").jwk(), "use": "enc"}
    odd = [
        short.jwk(), encryption, {**rsa_key.jwk(), "kid": "as-ps256", "alg": "PS256"},
        {**rsa_key.jwk(), "kid": "alg-list", "alg": ["RS256"]},
        {"kty": "oct", "k": "c2VjcmV0", "kid": "hmac"}, {"kty": "RSA", "kid": "no-modulus"},
        "not a key",
    ]
    path = tmp_path / "mixed.json"
    rewrite(path, json.dumps({"keys": [*odd, rsa_key.jwk()]}).encode())
    app = create_app(Settings("sqlite://", auth=jwt_settings(str(path))),
                     gateway=data_gateway, limits=limits)
    async with serving(app) as http:
        assert_data(await post(http, NAMESPACES, rsa_key.sign()))
        with warnings.catch_warnings():  # PyJWT warns the signer about the short key
            warnings.simplefilter("ignore", jwt.InsecureKeyLengthWarning)
            weak = short.sign()
        assert_unauthenticated(await post(http, NAMESPACES, weak))
        assert_unauthenticated(await post(http, NAMESPACES, rsa_key.sign(kid="as-ps256")))
    skipped = {r.args[0] for r in caplog.records if r.getMessage().startswith("JWKS: skipping")}
    assert skipped == {"rsa-1024", "enc", "as-ps256", "alg-list", "hmac", "no-modulus"}


async def test_a_jwks_file_that_breaks_keeps_the_last_good_keys(
    http: httpx.AsyncClient, jwks_path: Path, rsa_key: SigningKey,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, logger="subgraph.auth")
    rewrite(jwks_path, b'{"keys": [')
    assert_unauthenticated(await post(http, NAMESPACES, rsa_key.sign(kid="brand-new")))
    assert any("keeping its last good keys" in r.getMessage() for r in caplog.records)
    assert_data(await post(http, NAMESPACES, rsa_key.sign()))


@pytest.mark.parametrize(
    ("content", "error"),
    [
        (None, "No such file"),
        ("{", "not JSON"),
        ('{"keys": []}', "no RS256, ES256, EdDSA signing key"),
        ('{"keys": [{"kty": "oct", "k": "c2VjcmV0", "kid": "hmac"}]}', "no RS256"),
    ],
)
async def test_a_jwks_that_cannot_be_loaded_stops_the_start(
    tmp_path: Path, data_gateway: DataGateway, content: str | None, error: str
) -> None:
    path = tmp_path / "jwks.json"
    if content is not None:
        path.write_text(content)
    app = create_app(Settings("sqlite://", auth=jwt_settings(str(path))), gateway=data_gateway)
    with pytest.raises(AuthConfigError, match=error) as raised:
        async with app.router.lifespan_context(app):
            pass
    assert "\n" not in str(raised.value)


@pytest.mark.parametrize(
    ("settings", "error"),
    [
        (AuthSettings(mode="jwt"), "SUBGRAPH_JWKS"),
        (AuthSettings(mode="jwt", jwks="http://idp.test/jwks"), "https"),
        (AuthSettings(mode="jwt", jwks="k.json", audience="a"), "SUBGRAPH_JWT_ISSUER"),
        (AuthSettings(mode="jwt", jwks="k.json", issuer="i"), "SUBGRAPH_JWT_AUDIENCE"),
        (AuthSettings(mode="jwt", jwks="k.json", issuer="i", audience="a", jwks_ca="ca.pem"),
         "only to an https"),
        (AuthSettings(mode="basic"), "`jwt` or `none`"),
        (AuthSettings(leeway_seconds=-1), "LEEWAY"),
    ],
)
def test_settings_that_cannot_work_are_refused_before_anything_starts(
    settings: AuthSettings, error: str
) -> None:
    with pytest.raises(AuthConfigError, match=error):
        create_app(Settings("sqlite://", auth=settings))


# --- an https JWKS -------------------------------------------------------------------------


class JWKSServer:
    """An HTTPS server for one JWKS document, its certificate from a private CA."""

    def __init__(self, tmp_path: Path, document: bytes) -> None:
        self.document = document
        self.status = 200
        self.hits = 0
        ca = trustme.CA()
        self.ca_path = tmp_path / "ca.pem"
        ca.cert_pem.write_to_path(str(self.ca_path))
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ca.issue_cert("127.0.0.1").configure_cert(context)
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                owner.hits += 1
                body = owner.document
                self.send_response(owner.status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.server.socket = context.wrap_socket(self.server.socket, server_side=True)
        self.url = f"https://127.0.0.1:{self.server.server_address[1]}/.well-known/jwks.json"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)


@pytest.fixture
def jwks_server(
    tmp_path: Path, rsa_key: SigningKey, ec_key: SigningKey
) -> Iterator[JWKSServer]:
    server = JWKSServer(tmp_path, jwks(rsa_key, ec_key))
    try:
        yield server
    finally:
        server.close()


async def test_an_https_jwks_with_a_private_ca_verifies_tokens(
    jwks_server: JWKSServer, data_gateway: DataGateway, limits: Limits,
    rsa_key: SigningKey, ec_key: SigningKey,
) -> None:
    settings = jwt_settings(jwks_server.url, jwks_ca=str(jwks_server.ca_path))
    app = create_app(Settings("sqlite://", auth=settings), gateway=data_gateway, limits=limits)
    async with serving(app) as http:
        assert_data(await post(http, NAMESPACES, rsa_key.sign()))
        assert_data(await post(http, NAMESPACES, ec_key.sign()))
        assert_unauthenticated(await post(http, NAMESPACES, rsa_key.sign(iss="x")))
    assert jwks_server.hits == 1


async def test_an_https_jwks_not_signed_by_a_trusted_ca_stops_the_start(
    jwks_server: JWKSServer, data_gateway: DataGateway
) -> None:
    app = create_app(Settings("sqlite://", auth=jwt_settings(jwks_server.url)),
                     gateway=data_gateway)
    with pytest.raises(AuthConfigError, match=r"CERTIFICATE_VERIFY_FAILED|certificate verify"):
        async with app.router.lifespan_context(app):
            pass


async def test_unknown_kids_fetch_the_jwks_at_most_once_per_interval(
    jwks_server: JWKSServer, rsa_key: SigningKey, ec_key: SigningKey
) -> None:
    keys = KeySet(jwks_server.url, ca_file=str(jwks_server.ca_path), unknown_kid_seconds=0.5)
    await keys.load()
    try:
        assert jwks_server.hits == 1
        found = await asyncio.gather(*(keys.find(f"random-{i}", "RS256") for i in range(50)))
        assert found == [None] * 50
        for i in range(20):
            assert await keys.find(f"later-{i}", "RS256") is None
        assert jwks_server.hits == 2  # one fetch for the whole flood
        # A rotation at the JWKS host is seen for its new kid once the interval has passed.
        rotated = new_key("EdDSA", "ed-rotated")
        jwks_server.document = jwks(rotated, ec_key)
        assert await keys.find("ed-rotated", "EdDSA") is None
        await asyncio.sleep(0.6)
        assert await keys.find("ed-rotated", "EdDSA") is not None
        assert jwks_server.hits == 3
        assert await keys.find(rsa_key.kid, "RS256") is None  # removed with the rotation
    finally:
        await keys.aclose()


async def test_an_https_jwks_is_refreshed_in_the_background_and_a_failure_keeps_the_keys(
    jwks_server: JWKSServer, rsa_key: SigningKey, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="subgraph.auth")
    keys = KeySet(jwks_server.url, ca_file=str(jwks_server.ca_path), refresh_seconds=0.2)
    await keys.load()
    try:
        jwks_server.status = 503
        await asyncio.sleep(0.3)
        assert await keys.find(rsa_key.kid, "RS256") is not None  # starts the refresh
        deadline = time.monotonic() + 5
        while jwks_server.hits < 2 or not caplog.records:
            assert time.monotonic() < deadline, "no refresh"
            await asyncio.sleep(0.05)
        assert "HTTP 503" in caplog.records[-1].getMessage()
        assert await keys.find(rsa_key.kid, "RS256") is not None
    finally:
        await keys.aclose()


async def test_without_httpx_the_https_jwks_is_fetched_in_a_thread(
    jwks_server: JWKSServer, rsa_key: SigningKey, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "httpx", None)  # `import httpx` now fails
    keys = KeySet(jwks_server.url, ca_file=str(jwks_server.ca_path))
    await keys.load()
    try:
        assert await keys.find(rsa_key.kid, "RS256") is not None
        assert jwks_server.hits == 1
    finally:
        await keys.aclose()


def test_settings_come_from_the_environment_the_cli_sets(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in {
        "SUBGRAPH_AUTH": "JWT", "SUBGRAPH_JWKS": "https://idp.test/jwks.json",
        "SUBGRAPH_JWKS_CA": "/etc/ca.pem", "SUBGRAPH_JWT_ISSUER": ISSUER,
        "SUBGRAPH_JWT_AUDIENCE": AUDIENCE, "SUBGRAPH_JWT_LEEWAY_SECONDS": "5",
        "SUBGRAPH_JWKS_REFRESH_SECONDS": "60",
    }.items():
        monkeypatch.setenv(name, value)
    assert AuthSettings.from_env() == AuthSettings(
        mode="jwt", jwks="https://idp.test/jwks.json", jwks_ca="/etc/ca.pem", issuer=ISSUER,
        audience=AUDIENCE, leeway_seconds=5, jwks_refresh_seconds=60,
    )
    monkeypatch.setenv("SUBGRAPH_JWT_LEEWAY_SECONDS", "soon")
    with pytest.raises(AuthConfigError, match="SUBGRAPH_JWT_LEEWAY_SECONDS"):
        AuthSettings.from_env()
    for name in ("SUBGRAPH_AUTH", "SUBGRAPH_JWT_LEEWAY_SECONDS", "SUBGRAPH_JWKS_REFRESH_SECONDS"):
        monkeypatch.delenv(name)
    assert AuthSettings.from_env().mode == "none"
    assert AuthSettings.from_env().leeway_seconds == 30
