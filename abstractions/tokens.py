"""Idempotency tokens (when and by whom a write was made) and tamper-evident page tokens."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import os
import secrets
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import orjson

from backends.base import WriteStamp
from backends.clock import now_micros

__all__ = ["IdempotencyToken", "PageTokens", "SigningKey", "UnknownSigningKey", "now_micros"]

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

    def check(
        self, max_future_micros: int, now: int | None = None, *, max_age_micros: int | None = None
    ) -> None:
        """Reject a token dated too far into the future, so no write can outlive later ones,
        and (with `max_age_micros`) one older than the store keeps tombstones for, so no late
        write can come back after the tombstone that shadowed it is collected."""
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
        if max_age_micros is not None and self.generation_time < current - max_age_micros:
            raise InvalidIdempotencyToken(
                "idempotency token generated "
                f"{(current - self.generation_time) / 1e6:.0f}s ago: this namespace accepts "
                f"writes at most {max_age_micros / 1e6:.0f}s old (its tombstone_gc_seconds)"
            )


_URLSAFE = bytes.maketrans(b"+/", b"-_")


def _b64(data: bytes) -> str:
    # base64.urlsafe_b64encode(data) without its two Python-level calls: once per cursor.
    return binascii.b2a_base64(data, newline=False).translate(_URLSAFE).rstrip(b"=").decode()


def _payload(scope: str, state: dict[str, Any]) -> bytes:
    """The signed JSON: orjson's bytes, which are json.dumps' for ASCII text (JSON either way,
    and `decode` reads both); json.dumps for what orjson refuses (ints past 64 bits, lone
    surrogates: `orjson.JSONEncodeError` is a TypeError)."""
    body = {"s": scope, "p": state}
    try:
        return orjson.dumps(body)
    except TypeError:
        return json.dumps(body, separators=(",", ":")).encode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass(frozen=True, slots=True)
class SigningKey:
    """A key that signs page tokens, named by `id` (derived from the secret) inside each token.

    `retires` (microseconds) is when a key that a rotation replaced stops being accepted; None
    for a key still in service.  `created` orders keys: the newest key in service signs.
    """

    secret: bytes = field(repr=False)
    created: int = 0
    retires: int | None = None

    @property
    def id(self) -> bytes:
        return hashlib.sha256(b"page-token-key:" + self.secret).digest()[:KEY_ID_BYTES]

    @classmethod
    def new(cls) -> SigningKey:
        return cls(secrets.token_bytes(32), now_micros())


KEY_ID_BYTES = 8
MAC_BYTES = 16
SECRET_ENV = "SUBGRAPH_TOKEN_SECRET"
PREVIOUS_SECRET_ENV = "SUBGRAPH_TOKEN_SECRET_PREVIOUS"
_NOT_VALID = "page token is not valid (modified or from another server)"


class UnknownSigningKey(InvalidPageToken):
    """A token names a key this process has not loaded: maybe one another replica just made."""


class PageTokens:
    """Signs page tokens with HMAC-SHA256 so a modified token is detected, not obeyed.

    A token binds its resume state to the query it came from (`scope`), so a token of one
    query cannot page another, and names the key that signed it, so that keys can rotate: the
    newest key in service signs, and every loaded key verifies until it `retires`.

    The keys come from, in order: `secret` (tests, tools); `$SUBGRAPH_TOKEN_SECRET` (plus
    `$SUBGRAPH_TOKEN_SECRET_PREVIOUS`, accepted but never used to sign, to rotate it); else the
    store (`from_store` is then True: `abstractions.signing_keys` installs the keys kept in the
    store, shared by every process, and reloads them when a token names an unknown key).  Until
    then a random key of this process signs.
    """

    def __init__(self, secret: bytes | None = None) -> None:
        env = os.environ.get(SECRET_ENV)
        self.from_store = not secret and not env
        keys = [SigningKey(secret or (env.encode() if env else secrets.token_bytes(32)))]
        previous = os.environ.get(PREVIOUS_SECRET_ENV)
        if not secret and env and previous:
            keys.append(SigningKey(previous.encode(), created=-1))
        self._reload: Callable[[], Awaitable[None]] | None = None
        self.install(keys)

    def install(self, keys: Iterable[SigningKey]) -> None:
        """Use `keys`: the newest one in service signs; each verifies until it retires."""
        by_id = {key.id: key for key in keys}
        serving = [key for key in by_id.values() if key.retires is None]
        if not serving:
            raise ValueError("no signing key in service")
        self._signer = max(serving, key=lambda key: (key.created, key.id))
        self._signer_id = self._signer.id
        self._keys = by_id

    def on_unknown_key(self, reload: Callable[[], Awaitable[None]]) -> None:
        """Call `reload` (which installs fresh keys) when a token names an unknown key."""
        self._reload = reload

    @property
    def signing_key(self) -> SigningKey:
        return self._signer

    def encode(self, scope: str, state: dict[str, Any]) -> str:
        payload = _payload(scope, state)
        kid = self._signer_id
        mac = hmac.digest(self._signer.secret, kid + payload, "sha256")[:MAC_BYTES]
        return _b64(kid + mac + payload)

    def decode(self, scope: str, token: str) -> dict[str, Any]:
        """The state signed into `token`; `InvalidPageToken` if it is not one of ours, for
        this scope, signed by a key still accepted (`UnknownSigningKey`: a key not loaded)."""
        if not isinstance(token, str):
            raise InvalidPageToken("page token is not valid")
        try:
            raw = _unb64(token)
        except (ValueError, UnicodeEncodeError) as exc:
            raise InvalidPageToken("page token is not valid") from exc
        if len(raw) <= KEY_ID_BYTES + MAC_BYTES:
            raise InvalidPageToken(_NOT_VALID)
        kid, mac = raw[:KEY_ID_BYTES], raw[KEY_ID_BYTES:KEY_ID_BYTES + MAC_BYTES]
        payload = raw[KEY_ID_BYTES + MAC_BYTES:]
        key = self._keys.get(kid)
        if key is None:
            raise UnknownSigningKey(_NOT_VALID)
        expected = hmac.new(key.secret, kid + payload, hashlib.sha256).digest()[:MAC_BYTES]
        if not hmac.compare_digest(mac, expected):
            raise InvalidPageToken(_NOT_VALID)
        if key.retires is not None and now_micros() >= key.retires:
            raise InvalidPageToken(
                "page token has expired (its signing key was rotated out): "
                "start again from the first page"
            )
        body = json.loads(payload)
        if body.get("s") != scope:
            raise InvalidPageToken("page token belongs to another query")
        state = body.get("p")
        if not isinstance(state, dict):
            raise InvalidPageToken("page token is not valid")
        return state

    async def verify(self, scope: str, token: str) -> dict[str, Any]:
        """`decode`, after reloading the keys once if the token names a key not loaded here
        (another process made or rotated in a key since this one last loaded them)."""
        await self.prepare(token)
        return self.decode(scope, token)

    async def prepare(self, token: object) -> None:
        """Reload the keys once if `token` names a key not loaded here, so that `decode` knows
        it if the store has it; anything else is left for `decode` to judge."""
        if self._reload is None or not isinstance(token, str):
            return
        try:
            kid = _unb64(token)[:KEY_ID_BYTES]
        except (ValueError, UnicodeEncodeError):
            return
        if len(kid) == KEY_ID_BYTES and kid not in self._keys:
            await self._reload()


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
