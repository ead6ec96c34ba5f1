"""Python side of the federation test tooling.

Drives the Node scripts next to this file: ``compose.mjs`` checks that our
subgraph composes with the stand-in "profiles" and "titles" subgraphs, and
``gateway.mjs`` serves a local Apollo Gateway over all three. See README.md.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import selectors
import shutil
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

FEDERATION_DIR = Path(__file__).resolve().parent
NODE_MODULES = FEDERATION_DIR / "node_modules"
PACKAGE_LOCK = FEDERATION_DIR / "package-lock.json"
# npm rewrites this copy of the lockfile on every install, so its mtime says
# when node_modules was last installed (the directory's own mtime does not).
_INSTALLED_MARKER = NODE_MODULES / ".package-lock.json"
# Outside node_modules, which npm ci deletes; git-ignored.
_INSTALL_LOCK = FEDERATION_DIR / ".npm-ci.lock"

# gateway.mjs exit code for "our subgraph did not compose".
GATEWAY_EXIT_COMPOSITION_FAILED = 2

_STDERR_TAIL_CHARS = 4000


class FederationToolingError(RuntimeError):
    """Node/npm is missing, or a federation script failed unexpectedly."""


class GatewayStartError(FederationToolingError):
    """gateway.mjs exited or timed out before it reported being ready."""

    def __init__(self, message: str, returncode: int | None, stderr_tail: str) -> None:
        super().__init__(f"{message}\n--- gateway.mjs stderr (tail) ---\n{stderr_tail}")
        self.returncode = returncode
        self.stderr_tail = stderr_tail

    @property
    def composition_failed(self) -> bool:
        return self.returncode == GATEWAY_EXIT_COMPOSITION_FAILED


@dataclass(frozen=True)
class SubgraphTls:
    """PEM files for the gateway's requests to an https subgraph URL: the CA to trust (None:
    the system's) and, for mutual TLS, the client certificate and key it presents."""

    ca: str | Path | None = None
    cert: str | Path | None = None
    key: str | Path | None = None

    def gateway_args(self) -> list[str]:
        pairs = (("--subgraph-ca", self.ca), ("--subgraph-cert", self.cert),
                 ("--subgraph-key", self.key))
        return [arg for option, path in pairs if path is not None
                for arg in (option, str(path))]


@dataclass(frozen=True)
class ComposeResult:
    ok: bool
    supergraph_sdl: str | None
    errors: tuple[str, ...] = ()
    hints: tuple[str, ...] = ()


def tooling_available() -> bool:
    """True when node and npm are on PATH (lets tests skip cleanly otherwise)."""
    return shutil.which("node") is not None and shutil.which("npm") is not None


def _executable(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise FederationToolingError(f"{name!r} not found on PATH; Node.js 20+ is required")
    return path


def _tail(text: str) -> str:
    return text[-_STDERR_TAIL_CHARS:]


def _install_is_current() -> bool:
    return (
        _INSTALLED_MARKER.exists()
        and _INSTALLED_MARKER.stat().st_mtime >= PACKAGE_LOCK.stat().st_mtime
    )


def ensure_node_modules() -> None:
    """Run ``npm ci`` when node_modules is missing or older than package-lock.json."""
    if _install_is_current():
        return
    npm = _executable("npm")
    # Parallel test workers may all get here; one installs, the others wait
    # on the lock and then find the install current.
    with _INSTALL_LOCK.open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if _install_is_current():
            return
        proc = subprocess.run(
            [npm, "ci", "--no-audit", "--no-fund"],
            cwd=FEDERATION_DIR,
            capture_output=True,
            text=True,
            check=False,
        )
        if proc.returncode != 0:
            raise FederationToolingError(
                f"npm ci failed in {FEDERATION_DIR} (exit {proc.returncode}):\n"
                f"{_tail(proc.stdout + proc.stderr)}"
            )


def compose(sdl: str) -> ComposeResult:
    """Compose our subgraph's SDL with the stand-in subgraphs."""
    ensure_node_modules()
    proc = subprocess.run(
        [_executable("node"), "compose.mjs", "-"],
        cwd=FEDERATION_DIR,
        input=sdl,
        capture_output=True,
        text=True,
        check=False,
    )
    # 0 = composed, 1 = composition errors; anything else is a tooling failure.
    if proc.returncode not in (0, 1):
        raise FederationToolingError(
            f"compose.mjs failed (exit {proc.returncode}):\n{_tail(proc.stderr)}"
        )
    result = json.loads(proc.stdout)
    return ComposeResult(
        ok=bool(result["ok"]),
        supergraph_sdl=result.get("supergraphSdl"),
        errors=tuple(result.get("errors", ())),
        hints=tuple(result.get("hints", ())),
    )


def _read_ready_line(proc: subprocess.Popen[str], deadline: float) -> str | None:
    """The first stdout line, or None if the process exits or time runs out."""
    if proc.stdout is None:
        raise FederationToolingError("gateway.mjs was started without a stdout pipe")
    with selectors.DefaultSelector() as selector:
        selector.register(proc.stdout, selectors.EVENT_READ)
        while (remaining := deadline - time.monotonic()) > 0:
            if selector.select(timeout=min(remaining, 0.5)):
                # gateway.mjs writes the line in one go, so this does not stall.
                line = proc.stdout.readline()
                if not line:
                    # EOF: the process is exiting; let it, so its code is known.
                    with contextlib.suppress(subprocess.TimeoutExpired):
                        proc.wait(timeout=5)
                return line or None
            if proc.poll() is not None:
                return None
    return None


def _stop(proc: subprocess.Popen[str]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    for stream in (proc.stdin, proc.stdout):
        if stream is not None:
            stream.close()


@contextlib.contextmanager
def run_gateway(
    subgraph_url: str, timeout: float = 60, *, tls: SubgraphTls | None = None
) -> Iterator[str]:
    """Serve an Apollo Gateway over our subgraph (at ``subgraph_url``) and the
    stand-ins; yields the gateway's URL and stops everything on exit.

    ``tls`` gives the CA and client certificate for an https ``subgraph_url``.
    The gateway forwards each request's Authorization header to the subgraphs.

    ``timeout`` bounds the whole start-up, including waiting for our subgraph
    to answer. Raises GatewayStartError (check ``composition_failed``) if the
    gateway does not come up.
    """
    ensure_node_modules()
    deadline = time.monotonic() + timeout
    # stderr goes to a file: nobody reads it while the gateway runs, and a
    # full pipe would block the process.
    with tempfile.TemporaryFile(mode="w+", encoding="utf-8") as stderr:
        proc = subprocess.Popen(
            [
                _executable("node"),
                "gateway.mjs",
                "--subgraph-url",
                subgraph_url,
                "--port",
                "0",
                # Give up on our subgraph before our own deadline, so a start
                # failure is reported by the gateway with its cause.
                "--wait",
                str(max(timeout - 5, timeout / 2)),
                # If this Python process dies, the pipe closes and the gateway exits.
                "--exit-on-stdin-close",
                *(tls.gateway_args() if tls else []),
            ],
            cwd=FEDERATION_DIR,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=stderr,
            text=True,
        )
        try:
            line = _read_ready_line(proc, deadline)
            url = _parse_ready_line(line)
            if url is None:
                if proc.poll() is None:
                    message = f"gateway.mjs not ready within {timeout:g}s"
                elif proc.returncode == GATEWAY_EXIT_COMPOSITION_FAILED:
                    message = "gateway.mjs: our subgraph does not compose with the stand-ins"
                else:
                    message = f"gateway.mjs exited with code {proc.returncode} before it was ready"
                _stop(proc)
                stderr.seek(0)
                raise GatewayStartError(message, proc.returncode, _tail(stderr.read()))
            yield url
        finally:
            _stop(proc)


def _parse_ready_line(line: str | None) -> str | None:
    if not line:
        return None
    try:
        url = json.loads(line)["url"]
    except (ValueError, KeyError, TypeError):
        return None
    return url if isinstance(url, str) else None


# Loopback requests must never go through an HTTP(S)_PROXY from the environment.
_opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def post_graphql(
    url: str,
    query: str,
    variables: dict[str, Any] | None = None,
    *,
    headers: dict[str, str] | None = None,
    timeout: float = 30,
) -> dict[str, Any]:
    """POST a GraphQL request and return the decoded JSON response.

    GraphQL servers answer some failures (validation, parse errors) with HTTP
    4xx and a normal GraphQL body; that body is returned rather than raised so
    tests can assert on ``errors``.
    """
    if not url.startswith(("http://", "https://")):
        raise ValueError(f"not an HTTP URL: {url!r}")
    payload: dict[str, Any] = {"query": query}
    if variables is not None:
        payload["variables"] = variables
    request = urllib.request.Request(
        url,
        data=json.dumps(payload).encode(),
        headers={"Content-Type": "application/json", "Accept": "application/json",
                 **(headers or {})},
        method="POST",
    )
    try:
        with _opener.open(request, timeout=timeout) as response:
            body = response.read()
    except urllib.error.HTTPError as err:
        with err:  # holds the open connection
            body = err.read()
        try:
            decoded = json.loads(body)
        except ValueError:
            raise FederationToolingError(f"{url} answered HTTP {err.code}: {body[:500]!r}") from err
        if not isinstance(decoded, dict):
            raise FederationToolingError(f"{url} answered HTTP {err.code}: {decoded!r}") from err
        return decoded
    decoded = json.loads(body)
    if not isinstance(decoded, dict):
        raise FederationToolingError(f"{url} returned a non-object JSON body: {decoded!r}")
    return decoded


__all__ = [
    "ComposeResult",
    "FederationToolingError",
    "GatewayStartError",
    "SubgraphTls",
    "compose",
    "ensure_node_modules",
    "post_graphql",
    "run_gateway",
    "tooling_available",
]
