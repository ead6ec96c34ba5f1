"""A real subgraph server (uvicorn, SQLite file) to put the gateway in front of: over plain
HTTP without authentication, and secured as in production: HTTPS with a client certificate
required (certificates from trustme) and bearer JWTs (`--auth jwt`, a JWKS made for the run),
which the gateway forwards from its caller.  With an Elasticsearch test node
(SUBGRAPH_TEST_ELASTICSEARCH), also one that searches through it (`--search elasticsearch://`)."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import ssl
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import trustme

from tests.federation.harness import SubgraphTls, ensure_node_modules, tooling_available
from tests.search.nodes import ELASTICSEARCH, delete_prefix, search_url
from tests.subgraph.jwts import AUDIENCE, ISSUER, SigningKey, jwks, new_key

ROOT = Path(__file__).resolve().parents[2]
BASE_NAMESPACES = ROOT / "tests" / "namespaces.toml"

# Fast rollups so the eventual title counter converges within the test.
FAST_TITLE_PLAYS = """
[namespaces.title_plays]
abstraction = "counter"
mode = "eventual"
accept_window_seconds = 0.2
rollup_interval_seconds = 0.1
authenticated_read = true
derived_from = ["viewing_history"]
"""


# Settings of the server under test come from its command line only.
SERVER_SETTINGS = ("SUBGRAPH_TLS_", "SUBGRAPH_AUTH", "SUBGRAPH_JWKS", "SUBGRAPH_JWT",
                   "SUBGRAPH_INSECURE")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def serving(
    args: list[str], env: dict[str, str], url: str, log_path: Path, *,
    deadline_seconds: float, probe: ssl.SSLContext | None = None,
) -> Iterator[None]:
    """`python -m subgraph serve ARGS` while the block runs, once its /readyz answers 200; its
    output in `log_path`, shown when it does not start; SIGTERM (then kill) at the end."""
    with log_path.open("w") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "subgraph", "serve", *args], cwd=ROOT, stdout=log,
            stderr=subprocess.STDOUT, env={**env, "SUBGRAPH_LOG_LEVEL": "WARNING"},
        )
        deadline = time.monotonic() + deadline_seconds
        while True:
            try:
                with urllib.request.urlopen(f"{url}/readyz", timeout=1, context=probe) as answer:
                    if answer.status == 200:
                        break
            except OSError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                proc.wait()
                log.flush()
                raise RuntimeError("subgraph did not start:\n" + log_path.read_text())
            time.sleep(0.2)
        try:
            yield
        finally:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()


@pytest.fixture(scope="session")
def node_tooling() -> None:
    if not tooling_available():
        pytest.fail("Node.js and npm are needed for the federation tests")
    ensure_node_modules()


CASSANDRA = os.environ.get("SUBGRAPH_TEST_CASSANDRA")
# "sqlite-mtls": the subgraph over HTTPS, requiring the gateway's client certificate;
# "elasticsearch": SQLite, searching through an Elasticsearch index.
VARIANTS = (["sqlite", "sqlite-mtls"] + (["cassandra"] if CASSANDRA else [])
            + (["elasticsearch"] if ELASTICSEARCH else []))
SEARCHING = [v for v in VARIANTS if v in ("sqlite", "elasticsearch")]
"""Variants whose subgraph can search: SQLite itself, and through Elasticsearch."""


@dataclass(frozen=True)
class Subgraph:
    """Where our running subgraph answers, the TLS files the gateway needs for it, and the key
    its tokens must be signed with (None: it runs without authentication)."""

    url: str
    tls: SubgraphTls | None = None
    signer: SigningKey | None = None

    def auth(self, **claims: Any) -> dict[str, str]:
        """Headers of a caller with these token claims (none when the subgraph has no auth)."""
        if self.signer is None:
            return {}
        return {"Authorization": f"Bearer {self.signer.sign(**claims)}"}


def store_url(kind: str, tmp: Path) -> str:
    if kind.startswith("sqlite") or kind == "elasticsearch":
        return f"sqlite:///{tmp}/gateway.db"
    return f"cassandra://{CASSANDRA}/fed_{uuid.uuid4().hex[:10]}"


def mutual_tls(tmp: Path) -> tuple[list[str], SubgraphTls, ssl.SSLContext]:
    """A throwaway CA (trustme) that signs the subgraph's certificate and the gateway's client
    certificate: the subgraph's TLS options, the gateway's files, and a probe's context."""
    ca = trustme.CA()
    server = ca.issue_cert("127.0.0.1", "localhost")
    ca.cert_pem.write_to_path(str(tmp / "ca.pem"))
    server.private_key_pem.write_to_path(str(tmp / "server.key"))
    for i, pem in enumerate(server.cert_chain_pems):
        pem.write_to_path(str(tmp / "server.pem"), append=i > 0)
    client = ca.issue_cert("gateway.test")
    client.private_key_pem.write_to_path(str(tmp / "gateway.key"))
    for i, pem in enumerate(client.cert_chain_pems):
        pem.write_to_path(str(tmp / "gateway.pem"), append=i > 0)
    options = ["--tls-cert", str(tmp / "server.pem"), "--tls-key", str(tmp / "server.key"),
               "--tls-client-ca", str(tmp / "ca.pem")]
    probe = ssl.create_default_context(cafile=str(tmp / "ca.pem"))
    probe.load_cert_chain(tmp / "gateway.pem", tmp / "gateway.key")
    return options, SubgraphTls(tmp / "ca.pem", tmp / "gateway.pem", tmp / "gateway.key"), probe


@pytest.fixture(scope="module", params=VARIANTS)
def subgraph(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Subgraph]:
    """`python -m subgraph serve` on a free port over a fresh store; SIGTERM afterwards."""
    tmp = tmp_path_factory.mktemp("subgraph")
    text = BASE_NAMESPACES.read_text()
    start = text.index("[namespaces.title_plays]")
    end = text.index("[namespaces.profile_plays]")
    namespaces = tmp / "namespaces.toml"
    namespaces.write_text(text[:start] + FAST_TITLE_PLAYS.strip() + "\n\n" + text[end:])
    tls_options: list[str] = []
    tls: SubgraphTls | None = None
    probe: ssl.SSLContext | None = None
    auth_options: list[str] = []
    signer: SigningKey | None = None
    if request.param.endswith("-mtls"):
        tls_options, tls, probe = mutual_tls(tmp)
        signer = new_key("ES256", "fed-key")
        (tmp / "jwks.json").write_bytes(jwks(signer))
        auth_options = ["--auth", "jwt", "--jwks", str(tmp / "jwks.json"),
                        "--jwt-issuer", ISSUER, "--jwt-audience", AUDIENCE]
    search_options: list[str] = []
    search_prefix = f"fed-{uuid.uuid4().hex[:10]}-"
    if request.param == "elasticsearch":
        search_options = ["--search", search_url(search_prefix, "elasticsearch")]
    port = free_port()
    url = f"{'https' if tls else 'http'}://127.0.0.1:{port}"
    args = ["--port", str(port), "--store", store_url(request.param, tmp),
            "--namespaces", str(namespaces), *tls_options, *auth_options, *search_options]
    env = {k: v for k, v in os.environ.items() if not k.startswith(SERVER_SETTINGS)}
    try:
        with serving(args, env, url, tmp / "serve.log", deadline_seconds=90, probe=probe):
            yield Subgraph(f"{url}/graphql", tls, signer)
    finally:
        if search_options:
            asyncio.run(delete_prefix(search_url(search_prefix, "elasticsearch"), search_prefix))
