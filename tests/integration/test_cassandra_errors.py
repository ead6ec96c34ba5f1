"""Store failures surface as typed `StoreError`s within the call's deadline, never as hangs."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import socket
import ssl
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import trustme

from backends.base import KVQuery, StoreRefused, StoreTimeout, StoreUnavailable
from backends.cassandra import CassandraStore

from .conftest import OpenStore, needs_cassandra
from .helpers import cql


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def fake_node(tls: ssl.SSLContext | None) -> Iterator[int]:
    """A port that answers every connection with a TLS handshake (given `tls`) or with bytes
    that are no TLS at all; yields the port."""
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.2)
    done = threading.Event()

    def serve() -> None:
        while not done.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            with conn:
                conn.settimeout(2)
                try:
                    if tls is None:
                        conn.recv(1024)
                        conn.sendall(b"not TLS, not CQL\r\n" * 4)
                    else:
                        tls.wrap_socket(conn, server_side=True).close()
                except (OSError, ssl.SSLError):
                    pass

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield listener.getsockname()[1]
    finally:
        done.set()
        thread.join(5)
        listener.close()


async def test_a_tls_client_at_a_plaintext_port_is_refused_clearly(tmp_path: Path) -> None:
    ca_file = tmp_path / "ca.pem"
    trustme.CA().cert_pem.write_to_path(str(ca_file))
    with fake_node(None) as port:
        store = CassandraStore.from_url(
            f"cassandra://127.0.0.1:{port}/ks?tls_ca={ca_file}&connect_timeout=2"
        )
        with pytest.raises(StoreRefused, match="may not have TLS enabled"):
            await store.open()


async def test_a_certificate_for_another_address_is_refused_clearly(tmp_path: Path) -> None:
    ca = trustme.CA()
    ca_file = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("db.example", "127.0.0.2").configure_cert(server)
    with fake_node(server) as port:
        store = CassandraStore.from_url(
            f"cassandra://127.0.0.1:{port}/ks?tls_ca={ca_file}&connect_timeout=2"
        )
        with pytest.raises(StoreRefused, match=r"mismatch.*tls_check_hostname=0 checks the chain"):
            await store.open()


async def test_no_server_is_unavailable_quickly() -> None:
    store = CassandraStore.from_url(
        f"cassandra://127.0.0.1:{free_port()}/nowhere?connect_timeout=1"
    )
    started = time.monotonic()
    with pytest.raises(StoreUnavailable, match="NoHostAvailable"):
        await store.open()
    assert time.monotonic() - started < 5


@pytest.mark.cassandra
@needs_cassandra
async def test_a_call_past_its_deadline_is_a_store_timeout(open_store: OpenStore) -> None:
    store = await open_store()
    await store.kv_get("kv_small", "any", KVQuery())  # tables made, statements prepared
    store.db.config = dataclasses.replace(store.config, timeout=0.000001)
    with pytest.raises(StoreTimeout, match="deadline"):
        await store.kv_get("kv_small", "any", KVQuery())
    with pytest.raises(StoreTimeout):
        await CassandraStore(store.db.config).open()  # open checks the schema version in time


@pytest.mark.cassandra
@needs_cassandra
async def test_too_few_replicas_is_unavailable(open_store: OpenStore) -> None:
    """A keyspace wanting 3 replicas, on a 1-node cluster, cannot reach LOCAL_QUORUM."""
    probe = await open_store()
    if len(probe.db.cluster.metadata.all_hosts()) >= 3:
        pytest.skip("the cluster has 3 nodes: LOCAL_QUORUM of 3 replicas is reachable")
    keyspace = f"{probe.config.keyspace}_rf3"
    config = dataclasses.replace(probe.config, keyspace=keyspace, replication_factor=3)
    await cql(probe, f"DROP KEYSPACE IF EXISTS {keyspace}")
    store = CassandraStore(config)
    try:
        # Open creates the keyspace (schema changes need no quorum), then its first
        # LOCAL_QUORUM read, of the schema version, finds one replica of three.
        with pytest.raises(StoreUnavailable, match="Cannot achieve consistency level"):
            await asyncio.wait_for(store.open(), 60)
    finally:
        await cql(probe, f"DROP KEYSPACE IF EXISTS {keyspace}")
