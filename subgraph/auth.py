"""Authentication: a bearer JWT, verified against a JWKS, becomes the request's Caller.

Two modes (`SUBGRAPH_AUTH`):

- `none`: no token is read; every request carries `Caller.unchecked()`.  The CLI serves this
  only on a loopback address unless told `--insecure-no-auth`.
- `jwt`: `Authorization: Bearer <jwt>`, signed with RS256, ES256 or EdDSA by a key of the JWKS
  (`SUBGRAPH_JWKS`: a file or an https URL), with an `exp`, the configured `iss` and `aud`, and
  an `nbf` if any, each time checked with a small leeway.  A request without a token may only
  select `_service` and `__typename` (composition tools fetch the SDL); it carries
  `Caller.anonymous()`.

A bad token is `Unauthenticated`, whose `outcome` is the metric label and whose message says
what is wrong in general terms (never the token).  The key is chosen by the token's `kid`
(without one, the JWKS must hold exactly one key for its algorithm), and must be of the type
its algorithm needs: `alg: none` and HS* are never accepted, so a public key cannot become an
HMAC secret.

The JWKS is loaded once at start (a failure stops the start), then reloaded in the background
(an https one every `jwks_refresh_seconds`; a file when its mtime changes) and when a token
names an unknown `kid`, at most once per `UNKNOWN_KID_SECONDS` so a flood of random kids does
not hammer the JWKS host.  A reload that fails keeps the last good keys.
"""

from __future__ import annotations

import asyncio
import contextlib
import http.client
import ipaddress
import json
import logging
import math
import os
import ssl
import time
import urllib.parse
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import jwt
from graphql import FieldNode, GraphQLError, OperationDefinitionNode, OperationType, parse

from abstractions.access import Caller
from abstractions.metrics import EventCounter

log = logging.getLogger("subgraph.auth")

# The only signature algorithms accepted, each with the JWK key type (and curve) it needs.
ALGORITHMS: Mapping[str, tuple[str, str | None]] = {
    "RS256": ("RSA", None),
    "ES256": ("EC", "P-256"),
    "EdDSA": ("OKP", "Ed25519"),
}

# Every label of subgraph_authentication_total{result=...}.
OUTCOMES = (
    "ok", "anonymous", "missing", "malformed", "bad_algorithm", "unknown_key", "bad_signature",
    "expired", "not_yet_valid", "wrong_issuer", "wrong_audience",
)

# The root fields a request without a token may select.
PUBLIC_FIELDS = frozenset({"_service", "__typename"})

LEEWAY_SECONDS = 30.0
JWKS_REFRESH_SECONDS = 300.0
UNKNOWN_KID_SECONDS = 30.0  # an https JWKS is fetched for an unknown kid at most this often
FILE_CHECK_SECONDS = 5.0  # a JWKS file's mtime is looked at this often (and for unknown kids)
FETCH_TIMEOUT_SECONDS = 10.0
MAX_JWKS_BYTES = 1024 * 1024


class AuthConfigError(ValueError):
    """Authentication settings that cannot work, or a JWKS that cannot be loaded at start."""


class Unauthenticated(Exception):
    """A request refused for its credentials: HTTP 401 with `challenge` in WWW-Authenticate."""

    def __init__(self, outcome: str, message: str) -> None:
        super().__init__(message)
        self.outcome = outcome
        self.message = message

    @property
    def challenge(self) -> str:
        if self.outcome == "missing":
            return "Bearer"
        return f'Bearer error="invalid_token", error_description="{self.message}"'


def _float_env(name: str, default: float) -> float:
    raw = os.environ.get(name)
    if raw is None or not raw.strip():
        return default
    try:
        return float(raw)
    except ValueError:
        raise AuthConfigError(f"{name} must be a number of seconds, not {raw!r}") from None


@dataclass(frozen=True, slots=True)
class AuthSettings:
    """How requests are authenticated; `from_env` reads the SUBGRAPH_* variables the CLI sets.

    `mode`: `none` or `jwt`.  `jwks`: a file path or an https URL (SUBGRAPH_JWKS); `jwks_ca`:
    a CA file for that URL instead of the system's trust store (SUBGRAPH_JWKS_CA); `issuer` and
    `audience`: the `iss` and `aud` a token must carry (SUBGRAPH_JWT_ISSUER,
    SUBGRAPH_JWT_AUDIENCE); `leeway_seconds`: clock skew allowed on `exp`, `nbf` and `iat`
    (SUBGRAPH_JWT_LEEWAY_SECONDS); `jwks_refresh_seconds`: how often an https JWKS is fetched
    again (SUBGRAPH_JWKS_REFRESH_SECONDS).
    """

    mode: str = "none"
    jwks: str | None = None
    jwks_ca: str | None = None
    issuer: str | None = None
    audience: str | None = None
    leeway_seconds: float = LEEWAY_SECONDS
    jwks_refresh_seconds: float = JWKS_REFRESH_SECONDS

    @classmethod
    def from_env(cls) -> AuthSettings:
        env = os.environ
        return cls(
            mode=(env.get("SUBGRAPH_AUTH") or "none").strip().lower(),
            jwks=env.get("SUBGRAPH_JWKS") or None,
            jwks_ca=env.get("SUBGRAPH_JWKS_CA") or None,
            issuer=env.get("SUBGRAPH_JWT_ISSUER") or None,
            audience=env.get("SUBGRAPH_JWT_AUDIENCE") or None,
            leeway_seconds=_float_env("SUBGRAPH_JWT_LEEWAY_SECONDS", LEEWAY_SECONDS),
            jwks_refresh_seconds=_float_env(
                "SUBGRAPH_JWKS_REFRESH_SECONDS", JWKS_REFRESH_SECONDS
            ),
        )

    @property
    def enabled(self) -> bool:
        return self.mode == "jwt"

    def check(self) -> None:
        """Raise AuthConfigError, with one line saying what to fix, for settings that cannot
        work."""
        if self.mode not in ("none", "jwt"):
            raise AuthConfigError(f"SUBGRAPH_AUTH (--auth) must be `jwt` or `none`, not "
                                  f"{self.mode!r}")
        if not (math.isfinite(self.leeway_seconds) and 0 <= self.leeway_seconds <= 300):
            raise AuthConfigError("SUBGRAPH_JWT_LEEWAY_SECONDS (--jwt-leeway) must be between"
                                  " 0 and 300")
        if not (math.isfinite(self.jwks_refresh_seconds) and self.jwks_refresh_seconds >= 1):
            raise AuthConfigError("SUBGRAPH_JWKS_REFRESH_SECONDS must be at least 1")
        if not self.enabled:
            return
        if not self.jwks:
            raise AuthConfigError("--auth jwt needs the keys to verify tokens with: set"
                                  " SUBGRAPH_JWKS (--jwks) to a JWKS file or https URL")
        scheme = urllib.parse.urlsplit(self.jwks).scheme.lower()
        if scheme not in ("", "https", "file"):
            raise AuthConfigError(f"SUBGRAPH_JWKS (--jwks) must be a file path or an https://"
                                  f" URL, not a {scheme}:// URL")
        if self.jwks_ca and scheme != "https":
            raise AuthConfigError("SUBGRAPH_JWKS_CA (--jwks-ca) applies only to an https JWKS")
        if not self.issuer:
            raise AuthConfigError("--auth jwt needs the issuer tokens must name: set"
                                  " SUBGRAPH_JWT_ISSUER (--jwt-issuer)")
        if not self.audience:
            raise AuthConfigError("--auth jwt needs the audience tokens must name: set"
                                  " SUBGRAPH_JWT_AUDIENCE (--jwt-audience)")


def is_loopback(host: str) -> bool:
    """Whether a bind address reaches only this machine."""
    if host.strip().lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip().strip("[]")).is_loopback
    except ValueError:
        return False


# --- the key set ---------------------------------------------------------------------------


def _signing_keys(document: bytes) -> list[tuple[str | None, jwt.PyJWK]]:
    """The usable signing keys of a JWKS document as (kid, key); keys this server would never
    accept (other algorithms, encryption keys, symmetric keys, short RSA keys) are skipped with
    a warning."""
    try:
        data = json.loads(document)
    except ValueError as exc:
        raise ValueError(f"the JWKS is not JSON ({exc})") from None
    if not isinstance(data, dict) or not isinstance(data.get("keys"), list):
        raise ValueError('the JWKS is not an object with a "keys" array')
    keys: list[tuple[str | None, jwt.PyJWK]] = []
    for jwk in data["keys"]:
        if not isinstance(jwk, dict):
            continue
        kid = jwk.get("kid") if isinstance(jwk.get("kid"), str) else None
        alg = jwk.get("alg", _algorithm_of(jwk))
        why = None
        if jwk.get("use", "sig") != "sig":
            why = f"its use is {jwk.get('use')!r}"
        elif not isinstance(alg, str) or alg not in ALGORITHMS or _algorithm_of(jwk) != alg:
            why = f"its type {jwk.get('kty')!r} and algorithm {alg!r} are not accepted"
        else:
            try:
                key = jwt.PyJWK(jwk, alg)
            except jwt.PyJWTError as exc:
                why = f"it is not a valid key ({type(exc).__name__})"
            else:
                why = key.Algorithm.check_key_length(key.key)  # RSA under 2048 bits
                if why is None:
                    keys.append((kid, key))
        if why:
            log.warning("JWKS: skipping key %r: %s", kid, why)
    if not keys:
        raise ValueError(f"the JWKS has no {', '.join(ALGORITHMS)} signing key")
    return keys


def _algorithm_of(jwk: Mapping[str, Any]) -> str | None:
    for alg, (kty, crv) in ALGORITHMS.items():
        if jwk.get("kty") == kty and (crv is None or jwk.get("crv") == crv):
            return alg
    return None


class KeySet:
    """The verification keys of a JWKS file or https URL, kept fresh without blocking requests.

    `find` answers from memory; when the keys are due for a check it starts a reload in the
    background.  For a kid it does not know it waits for the reload under way, else starts one
    if none was started for an unknown kid in the last `unknown_kid_seconds`.
    """

    def __init__(
        self, source: str, *, ca_file: str | None = None,
        refresh_seconds: float = JWKS_REFRESH_SECONDS,
        unknown_kid_seconds: float = UNKNOWN_KID_SECONDS,
    ) -> None:
        parts = urllib.parse.urlsplit(source)
        self.source = source
        self._url = source if parts.scheme.lower() == "https" else None
        self._path = None if self._url else (parts.path if parts.scheme == "file" else source)
        self._ca_file = ca_file
        self._refresh_seconds = refresh_seconds if self._url else FILE_CHECK_SECONDS
        self._unknown_kid_seconds = (
            unknown_kid_seconds if self._url else min(unknown_kid_seconds, FILE_CHECK_SECONDS)
        )
        self._keys: list[tuple[str | None, jwt.PyJWK]] = []
        self._version: object = None  # a file's (mtime, size, inode); a URL's bytes
        self._checked = -math.inf  # monotonic time of the last reload started
        self._unknown_checked = -math.inf
        self._reload: asyncio.Task[None] | None = None
        self._ssl: ssl.SSLContext | None = None
        self._client: Any = None  # an httpx.AsyncClient when httpx is installed

    async def load(self) -> None:
        """The first load: AuthConfigError (one line) if there are no usable keys."""
        try:
            if self._url:
                self._ssl = ssl.create_default_context(cafile=self._ca_file)
            await self._load()
            self._checked = time.monotonic()
        except (OSError, ValueError, ssl.SSLError) as exc:
            raise AuthConfigError(f"cannot load the JWKS {self.source}: {_reason(exc)}") from None

    async def aclose(self) -> None:
        if self._reload is not None:
            self._reload.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reload
        if self._client is not None:
            await self._client.aclose()

    async def find(self, kid: str | None, alg: str) -> jwt.PyJWK | None:
        """The key a token with this header is to be verified with, or None."""
        now = time.monotonic()
        if now - self._checked >= self._refresh_seconds:
            self._start_reload(now)
        key = self._match(kid, alg)
        if key is None and kid is not None and not self.knows(kid):
            if self._reload is not None and not self._reload.done():
                await asyncio.shield(self._reload)  # a reload under way may bring it
            elif now - self._unknown_checked >= self._unknown_kid_seconds:
                self._unknown_checked = now
                await asyncio.shield(self._start_reload(now))
            key = self._match(kid, alg)
        return key

    def knows(self, kid: str) -> bool:
        return any(k == kid for k, _ in self._keys)

    def _match(self, kid: str | None, alg: str) -> jwt.PyJWK | None:
        if kid is None:
            fitting = [key for _, key in self._keys if key.algorithm_name == alg]
            return fitting[0] if len(fitting) == 1 else None
        for k, key in self._keys:
            if k == kid and key.algorithm_name == alg:
                return key
        return None

    def _start_reload(self, now: float) -> asyncio.Task[None]:
        if self._reload is None or self._reload.done():
            self._checked = now
            self._reload = asyncio.create_task(self._reload_keeping_keys())
        return self._reload

    async def _reload_keeping_keys(self) -> None:
        try:
            await self._load()
        except (OSError, ValueError, ssl.SSLError) as exc:
            log.warning("JWKS %s could not be reloaded, keeping its last good keys: %s",
                        self.source, _reason(exc))
        except Exception:
            log.exception("JWKS %s could not be reloaded, keeping its last good keys",
                          self.source)

    async def _load(self) -> None:
        if self._url:
            document = await self._fetch()
            version: object = document
        else:
            assert self._path is not None
            read = await asyncio.to_thread(_read_if_changed, self._path, self._version)
            if read is None:
                return
            version, document = read
        if version == self._version:
            return
        keys = _signing_keys(document)
        self._keys, self._version = keys, version
        log.info("JWKS %s: %d signing keys (%s)", self.source, len(keys),
                 ", ".join(repr(kid) for kid, _ in keys))

    async def _fetch(self) -> bytes:
        assert self._url is not None and self._ssl is not None
        try:
            import httpx
        except ImportError:
            return await asyncio.to_thread(_get, self._url, self._ssl)
        if self._client is None:
            self._client = httpx.AsyncClient(verify=self._ssl, timeout=FETCH_TIMEOUT_SECONDS)
        try:
            async with self._client.stream("GET", self._url,
                                           headers={"accept": "application/json"}) as response:
                if response.status_code != 200:
                    raise ValueError(f"HTTP {response.status_code}")
                chunks: list[bytes] = []
                size = 0
                async for chunk in response.aiter_bytes():
                    size += len(chunk)
                    if size > MAX_JWKS_BYTES:
                        raise ValueError(f"the JWKS is over {MAX_JWKS_BYTES} bytes")
                    chunks.append(chunk)
                return b"".join(chunks)
        except httpx.HTTPError as exc:
            raise OSError(_reason(exc)) from None


def _read_if_changed(path: str, version: object) -> tuple[object, bytes] | None:
    stat = os.stat(path)
    current = (stat.st_mtime_ns, stat.st_size, stat.st_ino)
    if current == version:
        return None
    with open(path, "rb") as f:
        document = f.read(MAX_JWKS_BYTES + 1)
    if len(document) > MAX_JWKS_BYTES:
        raise ValueError(f"the JWKS is over {MAX_JWKS_BYTES} bytes")
    return current, document


def _get(url: str, context: ssl.SSLContext) -> bytes:
    """GET an https URL in a worker thread (when httpx is not installed); no redirects."""
    parts = urllib.parse.urlsplit(url)
    assert parts.hostname is not None
    connection = http.client.HTTPSConnection(
        parts.hostname, parts.port, context=context, timeout=FETCH_TIMEOUT_SECONDS
    )
    try:
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        connection.request("GET", target, headers={"Accept": "application/json"})
        response = connection.getresponse()
        if response.status != 200:
            raise ValueError(f"HTTP {response.status}")
        document = response.read(MAX_JWKS_BYTES + 1)
    finally:
        connection.close()
    if len(document) > MAX_JWKS_BYTES:
        raise ValueError(f"the JWKS is over {MAX_JWKS_BYTES} bytes")
    return document


def _reason(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__


# --- the authenticator ---------------------------------------------------------------------


class Authenticator:
    """Turns a request's Authorization header into its Caller, counting each outcome."""

    def __init__(self, settings: AuthSettings, *, keys: KeySet | None = None) -> None:
        settings.check()
        self.settings = settings
        self.keys = keys
        if settings.enabled and keys is None:
            assert settings.jwks is not None
            self.keys = KeySet(settings.jwks, ca_file=settings.jwks_ca,
                               refresh_seconds=settings.jwks_refresh_seconds)
        self.outcomes = EventCounter()  # by subgraph.auth.OUTCOMES

    @property
    def enabled(self) -> bool:
        return self.settings.enabled

    async def start(self) -> None:
        if self.keys is not None:
            await self.keys.load()

    async def aclose(self) -> None:
        if self.keys is not None:
            await self.keys.aclose()

    def count(self, outcome: str) -> None:
        self.outcomes.add(outcome)

    async def authenticate(self, authorization: Sequence[str]) -> Caller | None:
        """The Caller of a request with these Authorization header values; None when auth is
        on and there is no header (the request may then reach only PUBLIC_FIELDS).  Raises
        Unauthenticated for a header that does not carry a valid token."""
        if not self.enabled:
            return Caller.unchecked()
        if not authorization:
            return None
        try:
            claims = await self._verify(authorization)
        except Unauthenticated as refused:
            self.count(refused.outcome)
            raise
        self.count("ok")
        return Caller.from_claims(claims)

    async def _verify(self, authorization: Sequence[str]) -> dict[str, Any]:
        scheme, _, token = authorization[0].strip().partition(" ")
        token = token.strip()
        if len(authorization) > 1 or scheme.lower() != "bearer" or not token or " " in token:
            raise Unauthenticated("malformed", "send one header: Authorization: Bearer <token>")
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            raise Unauthenticated("malformed", "the token is not a well-formed JWT") from None
        alg, kid = header.get("alg"), header.get("kid")
        if not isinstance(alg, str) or alg not in ALGORITHMS:
            raise Unauthenticated(
                "bad_algorithm",
                f"the token's algorithm is not accepted (only {', '.join(ALGORITHMS)})",
            )
        if kid is not None and not isinstance(kid, str):
            raise Unauthenticated("malformed", "the token's kid is not a string")
        assert self.keys is not None
        key = await self.keys.find(kid, alg)
        if key is None and kid is None:
            raise Unauthenticated("unknown_key", "the token names no key (`kid`) and the JWKS"
                                                 f" has no single {alg} key")
        if key is None and self.keys.knows(kid):
            raise Unauthenticated("bad_algorithm", "the token's algorithm does not match its key")
        if key is None:
            raise Unauthenticated("unknown_key", "the token's signing key is not known")
        settings = self.settings
        try:
            return jwt.decode(
                token, key, algorithms=[alg], issuer=settings.issuer,
                audience=settings.audience, leeway=settings.leeway_seconds,
                options={"require": ["exp", "iss", "aud"], "enforce_minimum_key_length": True},
            )
        except jwt.InvalidSignatureError:
            raise Unauthenticated("bad_signature",
                                  "the token's signature does not verify") from None
        except jwt.ExpiredSignatureError:
            raise Unauthenticated("expired", "the token has expired") from None
        except jwt.ImmatureSignatureError:
            raise Unauthenticated("not_yet_valid", "the token is not valid yet") from None
        except jwt.InvalidIssuerError:
            raise Unauthenticated("wrong_issuer", "the token is from the wrong issuer") from None
        except jwt.InvalidAudienceError:
            raise Unauthenticated("wrong_audience",
                                  "the token is for the wrong audience") from None
        except jwt.MissingRequiredClaimError as exc:
            outcome = {"iss": "wrong_issuer", "aud": "wrong_audience"}.get(exc.claim, "malformed")
            raise Unauthenticated(outcome, f"the token has no `{exc.claim}` claim") from None
        except jwt.InvalidAlgorithmError:
            raise Unauthenticated("bad_algorithm",
                                  "the token's algorithm does not match its key") from None
        except jwt.PyJWTError:
            raise Unauthenticated("malformed", "the token's claims are not valid") from None


def public_only(query: str, operation_name: str | None, max_tokens: int) -> bool:
    """Whether the operation a document runs selects only PUBLIC_FIELDS at its root (a query,
    no fragments there); a document that does not parse is not."""
    if not any(name in query for name in PUBLIC_FIELDS):
        return False
    try:
        document = parse(query, no_location=True, max_tokens=max_tokens)
    except (GraphQLError, RecursionError):
        return False
    operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    if operation_name is not None:
        operations = [op for op in operations if op.name and op.name.value == operation_name]
    if len(operations) != 1 or operations[0].operation != OperationType.QUERY:
        return False
    return all(
        isinstance(selection, FieldNode) and selection.name.value in PUBLIC_FIELDS
        for selection in operations[0].selection_set.selections
    )


def disabled() -> Authenticator:
    """The authenticator of a server without authentication (every request unchecked)."""
    return Authenticator(AuthSettings())

