"""A secured Cassandra node (`scripts/services start cassandra --secure`): TLS and passwords.

`make test` starts the suite's node secured and hands its client settings to the tests as the
subgraph's own SUBGRAPH_CASSANDRA_* variables, so every store of the suite logs in and talks TLS;
the tests here check that it does, and that every way of getting it wrong is refused with one
clear line that never contains the password.  The tests that build their own URL clear those
variables first (`url_only`), so that the URL alone decides.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import ssl
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import httpx
import pytest
import trustme

from backends.base import StoreRefused
from backends.cassandra import CassandraStore
from backends.cassandra.config import ENV
from tests.conftest import CASSANDRA, CASSANDRA_KEYSPACE, TEST_NAMESPACES

from .conftest import OpenStore, needs_cassandra

USER = os.environ.get(ENV["username"], "")
PASSWORD = os.environ.get(ENV["password"], "")
CA = os.environ.get(ENV["tls_ca"], "")
ROOT = Path(__file__).resolve().parents[2]

pytestmark = [
    pytest.mark.cassandra,
    needs_cassandra,
    pytest.mark.skipif(
        not (USER and PASSWORD and CA),
        reason="needs a node started with --secure and its settings in SUBGRAPH_CASSANDRA_*"
        " (`scripts/services env cassandra` prints them; make test passes them)",
    ),
]


def url(userinfo: str = "", **options: str) -> str:
    """A store URL for the suite's node with these credentials (`user:password`) and options."""
    query = "&".join(f"{k}={v}" for k, v in options.items())
    at = f"{userinfo}@" if userinfo else ""
    return f"cassandra://{at}{CASSANDRA}/{CASSANDRA_KEYSPACE}" + (f"?{query}" if query else "")


def good_userinfo() -> str:
    return f"{quote(USER, safe='')}:{quote(PASSWORD, safe='')}"


@pytest.fixture
def url_only(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without the SUBGRAPH_CASSANDRA_* settings: only the URL says how to connect."""
    for name in ENV.values():
        monkeypatch.delenv(name, raising=False)


async def refusal(store_url: str) -> StoreRefused:
    """The error that opening a store at `store_url` fails with (it must fail so)."""
    store = CassandraStore.from_url(store_url)
    with pytest.raises(StoreRefused) as caught:
        await store.open()
    error = caught.value
    assert PASSWORD not in str(error)
    assert error.__cause__ is None and error.__suppress_context__  # one line, no driver chain
    return error


async def test_the_suite_talks_tls_to_the_node_and_logs_in(open_store: OpenStore) -> None:
    store = await open_store()  # the suite's URL: settings from the environment
    assert store.config.tls and store.config.username == USER
    connection = store.db.cluster.control_connection._connection
    sock = connection._socket
    assert isinstance(sock, ssl.SSLSocket)
    assert sock.version() in ("TLSv1.2", "TLSv1.3")
    names = [value for kind, value in sock.getpeercert()["subjectAltName"] if kind == "IP Address"]
    assert CASSANDRA.rpartition(":")[0] in names  # the certificate names the node's address
    await store.ping()


async def test_credentials_and_ca_in_the_url(url_only: None) -> None:
    store = CassandraStore.from_url(url(good_userinfo(), tls_ca=CA))
    await store.open()
    try:
        await store.ping()
    finally:
        await store.close()


async def test_a_wrong_password_is_one_clear_error(url_only: None) -> None:
    error = await refusal(url(f"{quote(USER)}:not-the-password", tls_ca=CA))
    assert str(error) == f"cassandra at {CASSANDRA} refused the credentials of user '{USER}'"
    error = await refusal(url("bad:creds", tls_ca=CA))
    assert str(error) == f"cassandra at {CASSANDRA} refused the credentials of user 'bad'"


async def test_no_credentials_say_which_settings_to_give(url_only: None) -> None:
    error = await refusal(url(tls_ca=CA))
    assert "requires a user and password" in str(error)
    assert "SUBGRAPH_CASSANDRA_PASSWORD" in str(error)


async def test_a_plaintext_client_is_refused_clearly(url_only: None) -> None:
    error = await refusal(url(good_userinfo()))
    assert str(error).startswith(f"cassandra at {CASSANDRA} closed the connection")
    assert "may require TLS" in str(error)


async def test_a_ca_that_did_not_sign_the_node_is_refused(
    url_only: None, tmp_path: Path
) -> None:
    other = tmp_path / "other-ca.pem"
    trustme.CA().cert_pem.write_to_path(str(other))
    error = await refusal(url(good_userinfo(), tls_ca=str(other)))
    assert str(error).startswith(f"TLS with cassandra at {CASSANDRA} failed: certificate verify")
    # The system's CAs did not sign it either.
    error = await refusal(url(good_userinfo(), tls="1"))
    assert "certificate verify failed" in str(error)


async def test_the_password_is_in_no_log_line(
    url_only: None, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    await refusal(url(f"{quote(USER)}:wrong-{PASSWORD}", tls_ca=CA))
    store = CassandraStore.from_url(url(good_userinfo(), tls_ca=CA))
    await store.open()
    try:
        await store.ping()
        assert PASSWORD not in repr(store)
    finally:
        await store.close()
    assert caplog.records  # the driver did log (connections, the refusal)
    assert PASSWORD not in caplog.text


# --- the real `python -m subgraph serve` ------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def serve(store_url: str, port: int, log: Path) -> subprocess.Popen[bytes]:
    """The subgraph serving `store_url`, with no SUBGRAPH_* settings from this environment."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SUBGRAPH_")}
    with log.open("wb") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "subgraph", "serve", "--port", str(port),
             "--store", store_url, "--namespaces", str(TEST_NAMESPACES)],
            cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT,
        )


@pytest.fixture
def stopped() -> Iterator[list[subprocess.Popen[bytes]]]:
    """Processes to kill after the test if it left them running."""
    processes: list[subprocess.Popen[bytes]] = []
    yield processes
    for process in processes:
        if process.poll() is None:
            process.kill()
        process.wait(timeout=15)


def test_serve_with_wrong_credentials_exits_with_one_clear_line(
    tmp_path: Path, stopped: list[subprocess.Popen[bytes]]
) -> None:
    log = tmp_path / "serve.log"
    process = serve(url("bad:creds-Qx7", tls_ca=CA), free_port(), log)
    stopped.append(process)
    assert process.wait(timeout=60) != 0
    output = log.read_text()
    assert f"cassandra at {CASSANDRA} refused the credentials of user 'bad'" in output
    assert "creds-Qx7" not in output
    # The driver's report of the host's refusal is one line; its NoHostAvailable is not logged
    # (the store raised it as the line above).  The one traceback left is uvicorn's report of
    # the failed start-up, whose last line is that error.
    assert "NoHostAvailable" not in output
    assert output.count("Traceback") <= 1


def test_serve_over_tls_never_shows_the_password(
    tmp_path: Path, stopped: list[subprocess.Popen[bytes]]
) -> None:
    log = tmp_path / "serve.log"
    port = free_port()
    process = serve(url(good_userinfo(), tls_ca=CA), port, log)
    stopped.append(process)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 90
    while True:
        assert process.poll() is None, f"server exited early:\n{log.read_text()}"
        try:
            if httpx.get(f"{base}/readyz", timeout=2).status_code == 200:
                break
        except httpx.TransportError:
            pass
        assert time.monotonic() < deadline, f"server not ready:\n{log.read_text()}"
        time.sleep(0.2)
    metrics = httpx.get(f"{base}/metrics", timeout=5).text
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=30) == 0, log.read_text()
    output = log.read_text()
    assert f"from cassandra://{USER}:***@{CASSANDRA}/" in output
    assert PASSWORD not in output and PASSWORD not in metrics
