"""A real server with JWT authentication, and the tokens of every kind of caller.

`python -m subgraph serve --auth jwt` over a fresh SQLite file, its keys in a JWKS file made
for the run; tokens are signed here with PyJWT, as an identity provider would sign them.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

from tests.hostile.server import Server

ISSUER = "https://issuer.test/"
AUDIENCE = "data-gateway"
KID = "test-key-1"


@dataclass
class Issuer:
    """Signs tokens with the JWKS's key (or, for forgeries, with a key the server never saw)."""

    key: rsa.RSAPrivateKey
    stranger: rsa.RSAPrivateKey

    def token(self, *, forged: bool = False, **claims: Any) -> str:
        now = int(time.time())
        body = {"iss": ISSUER, "aud": AUDIENCE, "sub": "caller-" + uuid.uuid4().hex[:8],
                "iat": now, "exp": now + 600, **claims}
        body = {k: v for k, v in body.items() if v is not None}
        key = self.stranger if forged else self.key
        return jwt.encode(body, key, algorithm="RS256", headers={"kid": KID})


@pytest.fixture(scope="package")
def issuer(tmp_path_factory: pytest.TempPathFactory) -> Issuer:
    return Issuer(
        rsa.generate_private_key(public_exponent=65537, key_size=2048),
        rsa.generate_private_key(public_exponent=65537, key_size=2048),
    )


def write_jwks(path: Path, issuer: Issuer) -> Path:
    jwk = json.loads(RSAAlgorithm.to_jwk(issuer.key.public_key()))
    path.write_text(json.dumps({"keys": [{**jwk, "kid": KID, "alg": "RS256", "use": "sig"}]}))
    return path


@pytest.fixture(scope="package")
def secured(tmp_path_factory: pytest.TempPathFactory, issuer: Issuer) -> Iterator[Server]:
    workdir = tmp_path_factory.mktemp("access")
    jwks = write_jwks(workdir / "jwks.json", issuer)
    server = Server(
        workdir, name="secured",
        args=["--auth", "jwt", "--jwks", str(jwks), "--jwt-issuer", ISSUER,
              "--jwt-audience", AUDIENCE],
    )
    try:
        server.wait_until_healthy()
        yield server
    finally:
        server.terminate()


@dataclass
class Client:
    """Posts GraphQL to the secured server with a given Authorization header (or none)."""

    server: Server
    http: httpx.Client

    def post(self, query: str, variables: dict[str, Any] | None = None,
             authorization: str | None = None) -> httpx.Response:
        headers = {"authorization": authorization} if authorization is not None else {}
        return self.http.post(f"{self.server.base}/graphql", headers=headers,
                              json={"query": query, "variables": variables or {}})


@pytest.fixture(scope="package")
def client(secured: Server) -> Iterator[Client]:
    with httpx.Client(timeout=10) as http:
        yield Client(secured, http)
