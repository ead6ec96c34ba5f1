"""A real subgraph server (uvicorn, SQLite file) to put the gateway in front of."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.federation.harness import ensure_node_modules, tooling_available

ROOT = Path(__file__).resolve().parents[2]
BASE_NAMESPACES = ROOT / "tests" / "namespaces.toml"

# Fast rollups so the eventual title counter converges within the test.
FAST_TITLE_PLAYS = """
[namespaces.title_plays]
abstraction = "counter"
mode = "eventual"
accept_window_seconds = 0.2
rollup_interval_seconds = 0.1
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="session")
def node_tooling() -> None:
    if not tooling_available():
        pytest.fail("Node.js and npm are needed for the federation tests")
    ensure_node_modules()


CASSANDRA = os.environ.get("SUBGRAPH_TEST_CASSANDRA")
STORES = ["sqlite"] + (["cassandra"] if CASSANDRA else [])


def store_url(kind: str, tmp: Path) -> str:
    if kind == "sqlite":
        return f"sqlite:///{tmp}/gateway.db"
    return f"cassandra://{CASSANDRA}/fed_{uuid.uuid4().hex[:10]}"


@pytest.fixture(scope="module", params=STORES)
def subgraph_url(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """`python -m subgraph serve` on a free port over a fresh store; SIGTERM afterwards."""
    tmp = tmp_path_factory.mktemp("subgraph")
    text = BASE_NAMESPACES.read_text()
    start = text.index("[namespaces.title_plays]")
    end = text.index("[namespaces.profile_plays]")
    namespaces = tmp / "namespaces.toml"
    namespaces.write_text(text[:start] + FAST_TITLE_PLAYS.strip() + "\n\n" + text[end:])
    port = free_port()
    log = (tmp / "serve.log").open("w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "subgraph", "serve", "--port", str(port),
         "--store", store_url(request.param, tmp), "--namespaces", str(namespaces)],
        cwd=ROOT, stdout=log, stderr=subprocess.STDOUT,
        env={**os.environ, "SUBGRAPH_LOG_LEVEL": "WARNING"},
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 90
    while True:
        try:
            with urllib.request.urlopen(f"{url}/readyz", timeout=1) as response:
                if response.status == 200:
                    break
        except OSError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            proc.wait()
            log.close()
            raise RuntimeError("subgraph did not start:\n" + (tmp / "serve.log").read_text())
        time.sleep(0.2)
    try:
        yield f"{url}/graphql"
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()
