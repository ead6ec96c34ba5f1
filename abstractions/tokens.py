"""Idempotency tokens (when and by whom a write was made) and tamper-evident page tokens."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import secrets
from dataclasses import dataclass
from typing import Any

from backends.base import WriteStamp
from backends.clock import now_micros

__all__ = ["IdempotencyToken", "PageTokens", "now_micros"]

from .errors import InvalidIdempotencyToken, InvalidPageToken

MAX_NONCE_LENGTH = 128


@dataclass(frozen=True, slots=True)
class IdempotencyToken:
    """`(generation_time, nonce)`: retries reuse it; last write wins by generation time.

    A client makes one token per logical write and sends it with every retry or hedge of it.
    """

    generation_time: int
    nonce: str

    @classmethod
    def new(cls) -> IdempotencyToken:
        return cls(now_micros(), secrets.token_hex(16))

    def stamp(self) -> WriteStamp:
        return WriteStamp(self.generation_time, self.nonce)

    def check(self, max_future_micros: int, now: int | None = None) -> None:
        """Reject a token dated too far into the future, so no write can outlive later ones."""
        if not isinstance(self.nonce, str) or not 0 < len(self.nonce) <= MAX_NONCE_LENGTH:
            raise InvalidIdempotencyToken(
                f"idempotency nonce must be 1 to {MAX_NONCE_LENGTH} characters"
            )
        if isinstance(self.generation_time, bool) or not isinstance(self.generation_time, int):
            raise InvalidIdempotencyToken("idempotency generation time must be an integer")
        if self.generation_time <= 0:
            raise InvalidIdempotencyToken("idempotency generation time must be positive")
        current = now_micros() if now is None else now
        if self.generation_time > current + max_future_micros:
            raise InvalidIdempotencyToken(
                "idempotency token generated "
                f"{(self.generation_time - current) / 1e6:.3f}s in the future "
                f"(at most {max_future_micros / 1e6:.3f}s allowed)"
            )


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class PageTokens:
    """Signs page tokens with HMAC-SHA256 so a modified token is detected, not obeyed.

    A token binds its resume state to the query it came from (`scope`), so a token of one
    query cannot page another.  The secret should be shared by every replica that serves pages.
    """

    def __init__(self, secret: bytes | None = None) -> None:
        env = os.environ.get("SUBGRAPH_TOKEN_SECRET")
        self._secret = secret or (env.encode() if env else secrets.token_bytes(32))

    def encode(self, scope: str, state: dict[str, Any]) -> str:
        payload = json.dumps({"s": scope, "p": state}, separators=(",", ":")).encode()
        mac = hmac.new(self._secret, payload, hashlib.sha256).digest()[:16]
        return _b64(mac + payload)

    def decode(self, scope: str, token: str) -> dict[str, Any]:
        if not isinstance(token, str):
            raise InvalidPageToken("page token is not valid")
        try:
            raw = _unb64(token)
        except (ValueError, UnicodeEncodeError) as exc:
            raise InvalidPageToken("page token is not valid") from exc
        mac, payload = raw[:16], raw[16:]
        expected = hmac.new(self._secret, payload, hashlib.sha256).digest()[:16]
        if len(raw) <= 16 or not hmac.compare_digest(mac, expected):
            raise InvalidPageToken("page token is not valid (modified or from another server)")
        body = json.loads(payload)
        if body.get("s") != scope:
            raise InvalidPageToken("page token belongs to another query")
        state = body.get("p")
        if not isinstance(state, dict):
            raise InvalidPageToken("page token is not valid")
        return state


def encode_bytes(data: bytes) -> str:
    """Bytes inside a page token's JSON."""
    return _b64(data)


def decode_bytes(text: Any) -> bytes:
    if not isinstance(text, str):
        raise InvalidPageToken("page token is not valid")
    try:
        return _unb64(text)
    except ValueError as exc:
        raise InvalidPageToken("page token is not valid") from exc
