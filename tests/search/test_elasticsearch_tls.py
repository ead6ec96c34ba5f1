"""`elasticsearchs://` for real: TLS with the URL's CA, verify=false, basic auth sent over it.

The test node runs without security (X-Pack, which brings HTTPS and users to Elasticsearch, is
not on Maven Central), so a TLS-terminating proxy with a certificate from a throwaway CA stands
in front of it, as a cluster's HTTPS front would; it keeps what the client sent, so the test sees
the credentials arrive inside TLS.
"""

from __future__ import annotations

import base64
import ssl
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import trustme

from abstractions.namespaces import Namespaces
from backends.base import StoreUnavailable
from backends.search import open_search_index

from .conftest import Proxy, round_trip
from .nodes import needs, node_address, search_url

pytestmark = needs("elasticsearch")


@pytest.fixture
def ca(tmp_path: Path) -> tuple[trustme.CA, Path]:
    authority = trustme.CA()
    path = tmp_path / "ca.pem"
    authority.cert_pem.write_to_path(str(path))
    return authority, path


@pytest.fixture
async def front(ca: tuple[trustme.CA, Path]) -> AsyncIterator[Proxy]:
    """HTTPS on a free port, plain HTTP to the Elasticsearch node behind it."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca[0].issue_cert("127.0.0.1").configure_cert(context)
    proxy = Proxy(node_address("elasticsearch"), tls=context)
    await proxy.start()
    try:
        yield proxy
    finally:
        await proxy.stop()


def https_url(prefix: str, front: Proxy, **options: object) -> str:
    plain = search_url(prefix, "elasticsearch", host="127.0.0.1", port=front.port, **options)
    return plain.replace("elasticsearch://", "elasticsearchs://app:s3cret@", 1)


async def test_the_gateway_indexes_and_searches_over_https_with_the_urls_ca(
    tmp_path: Path, namespaces: Namespaces, prefix: str, uid: str, cleanup: None,
    ca: tuple[trustme.CA, Path], front: Proxy,
) -> None:
    await round_trip(open_search_index(https_url(prefix, front, ca=ca[1])), tmp_path / "g.db",
                     namespaces, uid)
    lines = bytes(front.received).split(b"\r\n")
    headers = {(name.lower(), value) for name, _, value in (x.partition(b": ") for x in lines)}
    assert (b"authorization", b"Basic " + base64.b64encode(b"app:s3cret")) in headers


async def ping(url: str) -> None:
    index = open_search_index(url)
    await index.open()
    try:
        await index.ping()
    finally:
        await index.close()


async def test_without_the_urls_ca_the_certificate_is_refused(
    prefix: str, front: Proxy
) -> None:
    with pytest.raises(StoreUnavailable, match=r"TLS failed.*CERTIFICATE_VERIFY_FAILED"):
        await ping(https_url(prefix, front))


async def test_verify_false_skips_the_certificate_check(prefix: str, front: Proxy) -> None:
    await ping(https_url(prefix, front, verify="false"))
