"""Sending a case and judging the answer.

`Session` sends `HttpRequest`s with httpx and `RawRequest`s over a plain socket (reading the
answer as soon as it comes, since a refusal may arrive while the body is still being sent).
`check` holds the rules every answer obeys, whatever the case: an error body is JSON, each error
has an `extensions.code`, no message shows Python's insides.
"""

from __future__ import annotations

import json
import re
import select
import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import httpx

from .cases import ANY_JSON, GRAPHQL_RESPONSE, JSON, Expect, HttpRequest, RawRequest, Request

# What a message must never contain: stack traces, Python exception text, driver names.
LEAKS = re.compile(
    r"Traceback|File \"|line \d+, in |NoneType|object has no attribute|arg is an empty sequence"
    r"|unexpected keyword argument|positional argument|KeyError|TypeError|AttributeError"
    r"|IndexError|RecursionError|maximum recursion|OverflowError|UnicodeEncodeError"
    r"|UnicodeDecodeError|sqlite3|OperationalError|\.py\b|<built-in|0x[0-9a-f]{8,}"
)


@dataclass(slots=True)
class Outcome:
    """An answer: status, headers (lower-case names), raw content, parsed JSON, latency."""

    status: int
    headers: dict[str, str]
    content: bytes
    seconds: float

    @property
    def body(self) -> Any:
        try:
            return json.loads(self.content)
        except ValueError:
            return None

    def codes(self) -> list[str]:
        body = self.body
        if not isinstance(body, dict):
            return []
        return [str((e.get("extensions") or {}).get("code")) for e in body.get("errors") or []]

    def brief(self) -> str:
        text = self.content[:600].decode("utf-8", "replace")
        return f"HTTP {self.status} in {self.seconds:.3f}s: {text}"


class Session:
    """A client of one server: cases, and the GraphQL reads and writes around them."""

    def __init__(self, base: str) -> None:
        self.base = base
        parts = urlsplit(base)
        self.host = parts.hostname or "127.0.0.1"
        self.port = parts.port or 80
        self.http = httpx.Client(base_url=base, timeout=30)

    def close(self) -> None:
        self.http.close()

    def send(self, request: Request, timeout: float) -> Outcome:
        if isinstance(request, RawRequest):
            return self._send_raw(request, timeout)
        return self._send_http(request, timeout)

    def _send_http(self, request: HttpRequest, timeout: float) -> Outcome:
        content = request.content()
        # A fresh connection per case: a refusal may close the one before.
        with httpx.Client(base_url=self.base, timeout=timeout) as client:
            started = time.perf_counter()
            response = client.request(
                request.method, request.path, headers=list(request.headers),
                content=content, params=list(request.params) or None,
            )
            seconds = time.perf_counter() - started
        headers = {k.lower(): v for k, v in response.headers.items()}
        return Outcome(response.status_code, headers, response.content, seconds)

    def _send_raw(self, request: RawRequest, timeout: float) -> Outcome:
        with socket.create_connection((self.host, self.port), timeout=timeout) as sock:
            started = time.perf_counter()
            deadline = started + timeout
            sock.sendall(request.head)
            for part in request.parts():
                if _readable(sock) or not _send_part(sock, part, deadline):
                    break
            status, headers, content = _read_response(sock, deadline)
            seconds = time.perf_counter() - started
        return Outcome(status, headers, content, seconds)

    # --- GraphQL around the cases (setup and read-back; not timed) -----------------------------

    def graphql(self, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
        """The body of a POST that must answer 200."""
        payload: dict[str, Any] = {"query": query}
        if variables is not None:
            payload["variables"] = variables
        response = self.http.post("/graphql", json=payload)
        assert response.status_code == 200, response.text[:2000]
        return response.json()

    def data(self, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
        """`data` of a request that must succeed without errors."""
        body = self.graphql(query, variables)
        assert not body.get("errors"), json.dumps(body, indent=1)[:2000]
        return body["data"]


def _readable(sock: socket.socket) -> bool:
    ready, _, _ = select.select([sock], [], [], 0)
    return bool(ready)


def _send_part(sock: socket.socket, part: bytes, deadline: float) -> bool:
    """Send one part; False once the server stops reading or has hung up."""
    view = memoryview(part)
    while view:
        _, writable, _ = select.select([], [sock], [], max(0.0, deadline - time.perf_counter()))
        if not writable or _readable(sock):
            return False
        try:
            sent = sock.send(view)
        except OSError:
            return False
        view = view[sent:]
    return True


def _read_response(sock: socket.socket, deadline: float) -> tuple[int, dict[str, str], bytes]:
    """Status, headers and body of one HTTP/1.1 response; (0, {}, b"") if none came."""
    buffer = b""
    chunks = _recv(sock, deadline)
    while b"\r\n\r\n" not in buffer and (chunk := next(chunks, None)) is not None:
        buffer += chunk
    head, sep, rest = buffer.partition(b"\r\n\r\n")
    if not sep:
        return 0, {}, buffer
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    if "content-length" in headers:
        length = int(headers["content-length"])
        while len(rest) < length and (chunk := next(chunks, None)) is not None:
            rest += chunk
        return status, headers, rest[:length]
    chunked = headers.get("transfer-encoding") == "chunked"
    while not (chunked and rest.endswith(b"0\r\n\r\n")):
        chunk = next(chunks, None)
        if chunk is None:
            break
        rest += chunk
    return status, headers, _dechunk(rest) if chunked else rest


def _recv(sock: socket.socket, deadline: float) -> Iterator[bytes]:
    while True:
        remaining = deadline - time.perf_counter()
        if remaining <= 0:
            return
        sock.settimeout(remaining)
        try:
            chunk = sock.recv(65536)
        except (TimeoutError, OSError):
            return
        if not chunk:
            return
        yield chunk


def _dechunk(data: bytes) -> bytes:
    out = b""
    while data:
        size_line, _, data = data.partition(b"\r\n")
        size = int(size_line.split(b";")[0] or b"0", 16)
        if size == 0:
            break
        out, data = out + data[:size], data[size + 2:]
    return out


def check(expect: Expect, outcome: Outcome) -> None:
    """Assert that `outcome` is what `expect` (or its `also`) demands, and that nothing leaks."""
    try:
        _check_one(expect, outcome)
    except AssertionError:
        if expect.also is None:
            raise
        _check_one(expect.also, outcome)


def _check_one(expect: Expect, outcome: Outcome) -> None:
    assert outcome.status != 0, f"no HTTP answer ({outcome.seconds:.2f}s): the connection ended"
    assert outcome.status == expect.status, f"status {outcome.status} != {expect.status}: " + (
        outcome.brief())
    if expect.content_type is not None:
        content_type = outcome.headers.get("content-type", "")
        media = content_type.split(";")[0].strip()
        wanted = {JSON, GRAPHQL_RESPONSE} if expect.content_type == ANY_JSON else {
            expect.content_type}
        assert media in wanted, f"content-type {content_type!r}: {outcome.brief()}"
    if not expect.json:
        return
    body = outcome.body
    assert isinstance(body, dict), f"the body is not a JSON object: {outcome.brief()}"
    errors = body.get("errors")
    assert errors is None or (isinstance(errors, list) and errors), outcome.brief()
    for error in errors or []:
        message = error.get("message")
        assert isinstance(message, str), f"error without a message: {error}"
        assert not LEAKS.search(message), f"message shows server internals: {message!r}"
        code = (error.get("extensions") or {}).get("code")
        assert isinstance(code, str) and code, f"error without extensions.code: {error}"
    codes = outcome.codes()
    if "INTERNAL_SERVER_ERROR" not in expect.codes:
        assert "INTERNAL_SERVER_ERROR" not in codes, outcome.brief()
    _check_errors(expect, outcome, codes)
    _check_data(expect, outcome)
    if expect.check is not None and body.get("data") is not None and not errors:
        expect.check(body["data"])


def _check_errors(expect: Expect, outcome: Outcome, codes: list[str]) -> None:
    errors = outcome.body.get("errors") or []
    if expect.errors == "none":
        assert not errors, f"expected no errors: {outcome.brief()}"
    elif expect.errors == "some":
        assert set(codes) & expect.codes, (
            f"expected one of {sorted(expect.codes)}, got {codes}: {outcome.brief()}")
        if expect.path:
            assert any(e.get("path") for e in errors
                       if (e.get("extensions") or {}).get("code") in expect.codes), (
                f"expected a field error (with a path): {outcome.brief()}")
    elif expect.errors == "allowed":
        assert set(codes) <= expect.codes, (
            f"expected success or only {sorted(expect.codes)}, got {codes}: {outcome.brief()}")


def _check_data(expect: Expect, outcome: Outcome) -> None:
    body = outcome.body
    if expect.data == "absent":
        assert body.get("data") is None, f"expected no data: {outcome.brief()}"
    elif expect.data == "present":
        assert "data" in body, f"expected a data key: {outcome.brief()}"
    elif expect.data == "nonnull":
        assert body.get("data") is not None, f"expected data: {outcome.brief()}"
