"""Idempotency tokens and signed page tokens."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from typing import Any

import pytest

from abstractions.errors import ClientError, InvalidIdempotencyToken, InvalidPageToken
from abstractions.tokens import (
    IdempotencyToken,
    PageTokens,
    SigningKey,
    UnknownSigningKey,
    decode_bytes,
    encode_bytes,
    now_micros,
)
from backends.base import WriteStamp
from backends.clock import advance_clock, reset_clock

NOW = 1_700_000_000_000_000
SKEW = 1_000_000

# --- idempotency tokens --------------------------------------------------------------------


def test_new_token_is_dated_now_with_a_random_128_bit_nonce() -> None:
    before = now_micros()
    a, b = IdempotencyToken.new(), IdempotencyToken.new()
    after = now_micros()
    assert before <= a.generation_time <= b.generation_time <= after
    assert len(a.nonce) == 32 and int(a.nonce, 16) >= 0
    assert a.nonce != b.nonce


def test_stamp_carries_time_and_nonce() -> None:
    assert IdempotencyToken(123, "abc").stamp() == WriteStamp(123, "abc")


def test_token_up_to_the_allowed_skew_in_the_future_is_accepted() -> None:
    IdempotencyToken(NOW, "n").check(SKEW, now=NOW)
    IdempotencyToken(NOW - 10**12, "n").check(SKEW, now=NOW)  # old tokens are fine here
    IdempotencyToken(NOW + SKEW, "n").check(SKEW, now=NOW)


def test_token_beyond_the_allowed_skew_is_rejected() -> None:
    with pytest.raises(InvalidIdempotencyToken, match="future") as caught:
        IdempotencyToken(NOW + SKEW + 1, "n").check(SKEW, now=NOW)
    assert isinstance(caught.value, ClientError)
    with pytest.raises(InvalidIdempotencyToken):
        IdempotencyToken(now_micros() + 5 * SKEW, "n").check(SKEW)


@pytest.mark.parametrize("nonce", ["", "x" * 129])
def test_nonce_must_be_1_to_128_characters(nonce: str) -> None:
    with pytest.raises(InvalidIdempotencyToken, match="nonce"):
        IdempotencyToken(NOW, nonce).check(SKEW, now=NOW)
    IdempotencyToken(NOW, "x" * 128).check(SKEW, now=NOW)


@pytest.mark.parametrize("when", [0, -1])
def test_generation_time_must_be_positive(when: int) -> None:
    with pytest.raises(InvalidIdempotencyToken, match="positive"):
        IdempotencyToken(when, "n").check(SKEW, now=NOW)


@pytest.mark.parametrize("when", ["1700000000000000", 1.7e15, True, None])
def test_generation_time_must_be_an_integer(when: Any) -> None:
    with pytest.raises(InvalidIdempotencyToken):
        IdempotencyToken(when, "n").check(SKEW, now=NOW)


def test_a_token_older_than_the_max_age_is_refused_when_one_is_given() -> None:
    day = 86400 * 1_000_000
    IdempotencyToken(NOW - day, "n").check(SKEW, now=NOW, max_age_micros=day)
    with pytest.raises(InvalidIdempotencyToken, match="tombstone_gc_seconds"):
        IdempotencyToken(NOW - day - 1, "n").check(SKEW, now=NOW, max_age_micros=day)


@pytest.mark.parametrize("nonce", [123, None, b"bytes"])
def test_nonce_must_be_text(nonce: Any) -> None:
    with pytest.raises(InvalidIdempotencyToken):
        IdempotencyToken(NOW, nonce).check(SKEW, now=NOW)


# --- page tokens ---------------------------------------------------------------------------


def test_page_token_round_trips_its_state() -> None:
    tokens = PageTokens(b"secret")
    state = {"a": encode_bytes(b"\x00\xffkey"), "n": 3, "s": "series"}
    token = tokens.encode("scope-1", state)
    assert tokens.decode("scope-1", token) == state
    assert decode_bytes(tokens.decode("scope-1", token)["a"]) == b"\x00\xffkey"
    assert set(token) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")


def signed_as_before(tokens: PageTokens, scope: str, state: dict[str, Any]) -> str:
    """A token as `PageTokens.encode` made it until orjson: json.dumps, hmac.new, base64."""
    payload = json.dumps({"s": scope, "p": state}, separators=(",", ":")).encode()
    kid = tokens.signing_key.id
    mac = hmac.new(tokens.signing_key.secret, kid + payload, hashlib.sha256).digest()[:16]
    return base64.urlsafe_b64encode(kid + mac + payload).rstrip(b"=").decode()


STATES = [
    {"t": 1_764_547_200_000_000, "i": "e1"},
    {"t": 2**63 - 1, "i": "", "s": "series/with \\ \"quotes\""},
    {"a": encode_bytes(b"\x00\xffkey")},
]
ODD_STATES = [
    {"t": 2**64, "i": "past 64 bits"},
    {"t": -(2**70), "i": "e"},
    {"i": "caf\u00e9 \u6f22\u5b57 \U0001f353", "s": "\u2028"},
    {"i": "lone \ud800 surrogate"},
    {"f": 0.1, "g": 1e300, "h": -0.0, "n": None, "b": True, "l": [1, "x", {}]},
]


@pytest.mark.parametrize("state", STATES)
def test_tokens_are_the_bytes_they_were(state: dict[str, Any]) -> None:
    """Tokens of ASCII states are what earlier releases signed, so replicas of both agree."""
    tokens = PageTokens(b"secret")
    assert tokens.encode("ts:scope", state) == signed_as_before(tokens, "ts:scope", state)


@pytest.mark.parametrize("state", STATES + ODD_STATES)
def test_any_json_state_round_trips_and_earlier_tokens_still_read(state: dict[str, Any]) -> None:
    tokens = PageTokens(b"secret")
    assert tokens.decode("scope", tokens.encode("scope", state)) == state
    assert tokens.decode("scope", signed_as_before(tokens, "scope", state)) == state


def test_every_modified_character_is_detected() -> None:
    tokens = PageTokens(b"secret")
    token = tokens.encode("scope", {"a": "abc"})
    for i, char in enumerate(token):
        for other in {"A", "z", "0", "_"} - {char}:
            modified = token[:i] + other + token[i + 1:]
            try:
                state = tokens.decode("scope", modified)
            except InvalidPageToken:
                continue
            # A base64 tail change may leave the bytes as they were; then nothing changed.
            assert state == {"a": "abc"}, f"modified at {i} was obeyed"


def test_forged_payload_is_rejected() -> None:
    tokens = PageTokens(b"secret")
    raw = base64.urlsafe_b64decode(tokens.encode("scope", {"a": "abc"}) + "==")
    forged_payload = json.dumps({"s": "scope", "p": {"a": "zzz"}}, separators=(",", ":"))
    forged = base64.urlsafe_b64encode(raw[:16] + forged_payload.encode()).decode().rstrip("=")
    with pytest.raises(InvalidPageToken):
        tokens.decode("scope", forged)


def test_token_of_another_scope_is_rejected() -> None:
    tokens = PageTokens(b"secret")
    token = tokens.encode("query-a", {"a": "x"})
    with pytest.raises(InvalidPageToken, match="another query"):
        tokens.decode("query-b", token)


def test_token_signed_with_another_secret_is_rejected() -> None:
    token = PageTokens(b"one").encode("scope", {"a": "x"})
    with pytest.raises(InvalidPageToken):
        PageTokens(b"two").decode("scope", token)


def test_replicas_sharing_the_secret_from_the_environment_accept_each_others_tokens(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SUBGRAPH_TOKEN_SECRET", "shared")
    token = PageTokens().encode("scope", {"a": "x"})
    assert PageTokens().decode("scope", token) == {"a": "x"}
    monkeypatch.delenv("SUBGRAPH_TOKEN_SECRET")
    with pytest.raises(InvalidPageToken):
        PageTokens().decode("scope", token)  # a random secret per process


@pytest.mark.parametrize(
    "garbage",
    ["", "A", "AAAA", "not a token", "é", "!!!!", "A" * 40, "=" * 8, "\x00", "..", "a b"],
)
def test_garbage_is_an_invalid_page_token(garbage: str) -> None:
    with pytest.raises(InvalidPageToken):
        PageTokens(b"secret").decode("scope", garbage)


@pytest.mark.parametrize("garbage", [None, 123, b"bytes", ["list"]])
def test_a_token_that_is_not_text_is_an_invalid_page_token(garbage: Any) -> None:
    with pytest.raises(InvalidPageToken):
        PageTokens(b"secret").decode("scope", garbage)


def test_bytes_in_a_token_round_trip_and_bad_ones_are_rejected() -> None:
    for data in (b"", b"\x00", bytes(range(256))):
        assert decode_bytes(encode_bytes(data)) == data
    for bad in (None, 5, ["x"], "a"):
        with pytest.raises(InvalidPageToken):
            decode_bytes(bad)


# --- signing keys: ids, rotation, reloads ----------------------------------------------------


@pytest.fixture
def clock() -> Any:
    yield advance_clock
    reset_clock()


def test_the_newest_key_in_service_signs_and_every_loaded_key_verifies() -> None:
    old, new = SigningKey(b"old", created=1), SigningKey(b"new", created=2)
    before = PageTokens(b"unused")
    before.install([old])
    token = before.encode("scope", {"a": "x"})
    tokens = PageTokens(b"unused")
    tokens.install([new, old])
    assert tokens.signing_key == new
    assert tokens.decode("scope", token) == {"a": "x"}
    assert PageTokens(b"new").decode("scope", tokens.encode("scope", {"a": "y"})) == {"a": "y"}


def test_a_retired_key_verifies_until_it_retires_then_its_tokens_are_refused(clock: Any) -> None:
    old = SigningKey(b"old", created=1)
    tokens = PageTokens(b"unused")
    tokens.install([old])
    token = tokens.encode("scope", {"a": "x"})
    tokens.install([SigningKey(b"old", 1, retires=now_micros() + 60_000_000),
                    SigningKey(b"new", created=2)])
    assert tokens.decode("scope", token) == {"a": "x"}
    clock(61)
    with pytest.raises(InvalidPageToken, match="rotated out"):
        tokens.decode("scope", token)


def test_a_token_naming_a_key_not_loaded_is_an_unknown_key_and_a_client_error() -> None:
    token = PageTokens(b"other").encode("scope", {"a": "x"})
    with pytest.raises(UnknownSigningKey) as caught:
        PageTokens(b"secret").decode("scope", token)
    assert isinstance(caught.value, InvalidPageToken) and caught.value.code == "BAD_USER_INPUT"


def test_a_token_with_the_id_of_another_loaded_key_is_rejected() -> None:
    a, b = SigningKey(b"a", created=1), SigningKey(b"b", created=2)
    tokens = PageTokens(b"unused")
    tokens.install([a, b])
    raw = base64.urlsafe_b64decode(tokens.encode("scope", {"a": "x"}) + "==")
    swapped = base64.urlsafe_b64encode(a.id + raw[len(a.id):]).decode().rstrip("=")
    with pytest.raises(InvalidPageToken):
        tokens.decode("scope", swapped)


async def test_verify_reloads_the_keys_once_when_a_token_names_an_unknown_key() -> None:
    theirs = PageTokens(b"theirs")
    mine = PageTokens(b"mine")
    reloads = 0

    async def reload() -> None:
        nonlocal reloads
        reloads += 1
        mine.install([SigningKey(b"mine", created=1), SigningKey(b"theirs", created=0)])

    mine.on_unknown_key(reload)
    assert await mine.verify("scope", theirs.encode("scope", {"a": "x"})) == {"a": "x"}
    assert await mine.verify("scope", mine.encode("scope", {"a": "y"})) == {"a": "y"}
    assert reloads == 1
    with pytest.raises(InvalidPageToken):
        await mine.verify("scope", PageTokens(b"stranger").encode("scope", {"a": "x"}))
    assert reloads == 2
    for garbage in ("", "!!", "AAAA"):
        with pytest.raises(InvalidPageToken):
            await mine.verify("scope", garbage)
    assert reloads == 2  # too short to name a key: nothing to reload for


def test_no_secret_and_no_environment_means_keys_from_the_store(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("SUBGRAPH_TOKEN_SECRET", raising=False)
    assert PageTokens().from_store
    assert not PageTokens(b"secret").from_store
    monkeypatch.setenv("SUBGRAPH_TOKEN_SECRET", "shared")
    assert not PageTokens().from_store


def test_the_previous_secret_from_the_environment_verifies_but_never_signs(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SUBGRAPH_TOKEN_SECRET", "old")
    old_token = PageTokens().encode("scope", {"a": "x"})
    monkeypatch.setenv("SUBGRAPH_TOKEN_SECRET", "new")
    monkeypatch.setenv("SUBGRAPH_TOKEN_SECRET_PREVIOUS", "old")
    rotated = PageTokens()
    assert rotated.decode("scope", old_token) == {"a": "x"}
    assert rotated.signing_key.secret == b"new"
    assert PageTokens(b"new").decode("scope", rotated.encode("scope", {"a": "y"})) == {"a": "y"}
