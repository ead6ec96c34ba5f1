"""Signing keys, JWKS files and tokens for the authentication tests, made with the libraries an
identity provider would use (cryptography keys, PyJWT signatures)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from jwt.algorithms import ECAlgorithm, OKPAlgorithm, RSAAlgorithm

ISSUER = "https://issuer.test/"
AUDIENCE = "data-gateway-subgraph"


@dataclass(frozen=True)
class SigningKey:
    """A private key as an identity provider holds it, with its kid and algorithm."""

    kid: str | None
    alg: str
    private: Any

    def jwk(self) -> dict[str, Any]:
        """The public half, as a JWKS publishes it."""
        public = self.private.public_key()
        exporter = {"RS256": RSAAlgorithm, "ES256": ECAlgorithm, "EdDSA": OKPAlgorithm}[self.alg]
        jwk: dict[str, Any] = exporter.to_jwk(public, as_dict=True)
        jwk["use"] = "sig"
        if self.kid is not None:
            jwk["kid"] = self.kid
        return jwk

    def public_pem(self) -> bytes:
        return self.private.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )

    def sign(self, *, kid: str | None = "", alg: str | None = None, **overrides: Any) -> str:
        """A token with valid claims but for `overrides` (None drops a claim); `kid` "" means
        the key's own kid, None no kid."""
        headers = {} if kid is None else {"kid": kid or self.kid}
        return jwt.encode(claims(**overrides), self.private, algorithm=alg or self.alg,
                          headers=headers)

    def with_kid(self, kid: str | None) -> SigningKey:
        return SigningKey(kid, self.alg, self.private)


def new_key(alg: str, kid: str | None) -> SigningKey:
    if alg == "RS256":
        private: Any = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    elif alg == "ES256":
        private = ec.generate_private_key(ec.SECP256R1())
    else:
        private = ed25519.Ed25519PrivateKey.generate()
    return SigningKey(kid, alg, private)


def claims(**overrides: Any) -> dict[str, Any]:
    now = int(time.time())
    values: dict[str, Any] = {
        "iss": ISSUER, "aud": AUDIENCE, "sub": "user-1", "iat": now, "exp": now + 300,
        "scope": "gateway:admin", "profile_ids": ["p1"],
    }
    values.update(overrides)
    return {name: value for name, value in values.items() if value is not None}


def jwks(*keys: SigningKey) -> bytes:
    return json.dumps({"keys": [key.jwk() for key in keys]}).encode()


def write_jwks(path: Path, *keys: SigningKey) -> Path:
    """Write (or rewrite) a JWKS file."""
    return rewrite(path, jwks(*keys))


def rewrite(path: Path, content: bytes) -> Path:
    """Write a file, its mtime moved on even within one clock tick."""
    before = path.stat().st_mtime_ns if path.exists() else 0
    path.write_bytes(content)
    after = path.stat().st_mtime_ns
    if after <= before:
        os.utime(path, ns=(before + 1_000_000, before + 1_000_000))
    return path


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _segments(header: dict[str, Any], payload: dict[str, Any]) -> str:
    header = {name: value for name, value in header.items() if value is not None}
    return (_b64(json.dumps(header).encode()) + "." + _b64(json.dumps(payload).encode()))


def unsigned(kid: str | None, **overrides: Any) -> str:
    """An `alg: none` token: no signature at all."""
    return _segments({"alg": "none", "typ": "JWT", "kid": kid}, claims(**overrides)) + "."


def hs256(secret: bytes, kid: str | None, **overrides: Any) -> str:
    """An HS256 token whose HMAC secret is `secret` (the key-confusion attack uses the
    server's public key), signed by hand: PyJWT refuses to."""
    signing_input = _segments({"alg": "HS256", "typ": "JWT", "kid": kid}, claims(**overrides))
    mac = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
    return signing_input + "." + _b64(mac)
