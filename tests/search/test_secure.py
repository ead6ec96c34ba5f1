"""OpenSearch over HTTPS with basic auth: the search URL's TLS, CA and credentials, for real.

Runs against the node `scripts/services start opensearch --secure` starts (the security plugin,
HTTPS with a test CA made at its start, an admin user), whose URL that command prints:

    SUBGRAPH_TEST_OPENSEARCH_SECURE=https://admin:<password>@127.0.0.1:9210?ca=<run>/certs/ca.pem

`TEST_OPENSEARCH_SECURE=1 scripts/run-tests` sets it.  Skipped without it.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import parse_qsl, quote, urlsplit

import pytest
import trustme

from abstractions.namespaces import Namespaces
from backends.base import StoreError, StoreUnavailable
from backends.search import open_search_index

from .conftest import round_trip

SECURE = os.environ.get("SUBGRAPH_TEST_OPENSEARCH_SECURE")

pytestmark = [
    pytest.mark.opensearch,
    pytest.mark.skipif(
        not SECURE,
        reason="needs the secure OpenSearch node: set SUBGRAPH_TEST_OPENSEARCH_SECURE to what"
               " `scripts/services start opensearch --secure` prints",
    ),
]


def node() -> tuple[str, int, str, str, str]:
    """host, port, user, password and CA file of the secure node."""
    parts = urlsplit(SECURE or "https://u:p@127.0.0.1:9210?ca=/nonexistent")
    ca = dict(parse_qsl(parts.query)).get("ca", "")
    return (parts.hostname or "127.0.0.1", parts.port or 9210, parts.username or "",
            parts.password or "", ca)


def url(prefix: str, *, scheme: str = "opensearchs", user: str | None = None,
        password: str | None = None, ca: str | None = "", **options: object) -> str:
    """A search URL of the secure node: its own credentials and CA unless told otherwise."""
    host, port, node_user, node_password, node_ca = node()
    user = node_user if user is None else user
    password = node_password if password is None else password
    credentials = f"{quote(user, safe='')}:{quote(password, safe='')}@" if user else ""
    merged: dict[str, object] = {"prefix": prefix, "replicas": 0, "timeout": 5, **options}
    if ca is not None:
        merged["ca"] = ca or node_ca
    query = "&".join(f"{k}={v}" for k, v in merged.items())
    return f"{scheme}://{credentials}{host}:{port}?{query}"


@pytest.fixture
async def cleanup(prefix: str) -> AsyncIterator[None]:
    """Delete the indices and templates of this test's prefix on the secure node afterwards."""
    yield
    index = open_search_index(url(prefix))
    await index.open()
    client = index._client
    assert client is not None
    try:
        await client.indices.delete(index=f"{prefix}*", ignore_unavailable=True,
                                    allow_no_indices=True)
        await client.indices.delete_index_template(name=f"{prefix}*", ignore=[404])
    finally:
        await index.close()


async def ping(search_url: str) -> None:
    """Open an index on `search_url`, ask the cluster's health, close it."""
    index = open_search_index(search_url)
    await index.open()
    try:
        await index.ping()
    finally:
        await index.close()


async def test_the_gateway_indexes_and_searches_over_https_with_basic_auth(
    tmp_path: Path, namespaces: Namespaces, prefix: str, uid: str, cleanup: None
) -> None:
    index = open_search_index(url(prefix))
    assert index.config.use_ssl and index.config.verify and index.config.ca
    await round_trip(index, tmp_path / "g.db", namespaces, uid)
    # The node did check who asked: the security plugin names the URL's user.
    await index.open()
    try:
        info = await index._client.transport.perform_request(
            "GET", "/_plugins/_security/authinfo")
        assert info["user_name"] == node()[2]
    finally:
        await index.close()


async def test_a_wrong_password_is_a_clear_error(prefix: str) -> None:
    with pytest.raises(StoreError, match=r"login refused \(401\).*user and password") as caught:
        await ping(url(prefix, password="not-the-password"))
    assert type(caught.value) is StoreError  # not retried as unavailable: it will not heal
    assert "not-the-password" not in str(caught.value)


async def test_no_credentials_are_refused_too(prefix: str) -> None:
    with pytest.raises(StoreError, match=r"login refused \(401\)") as caught:
        await ping(url(prefix, user=""))
    assert type(caught.value) is StoreError


async def test_plain_http_to_the_https_port_fails(prefix: str) -> None:
    with pytest.raises(StoreUnavailable):
        await ping(url(prefix, scheme="opensearch", ca=None))


async def test_without_its_ca_the_node_certificate_is_refused(prefix: str) -> None:
    """No `ca` option: only the system's and certifi's CAs, which never signed the test CA."""
    with pytest.raises(StoreUnavailable, match=r"TLS failed.*CERTIFICATE_VERIFY_FAILED"):
        await ping(url(prefix, ca=None))


@pytest.fixture
def other_ca(tmp_path: Path) -> Path:
    """A CA of someone else's."""
    path = tmp_path / "other.pem"
    trustme.CA(organization_name="someone else").cert_pem.write_to_path(str(path))
    return path


async def test_a_ca_that_did_not_sign_the_node_certificate_is_refused(
    prefix: str, other_ca: Path
) -> None:
    with pytest.raises(StoreUnavailable, match=r"TLS failed.*CERTIFICATE_VERIFY_FAILED"):
        await ping(url(prefix, ca=str(other_ca)))


async def test_verify_false_skips_the_certificate_check_but_not_the_login(prefix: str) -> None:
    await ping(url(prefix, ca=None, verify="false"))
    with pytest.raises(StoreError, match=r"401"):
        await ping(url(prefix, ca=None, verify="false", password="wrong"))
