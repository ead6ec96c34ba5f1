"""HTTPS and mutual TLS, against `python -m subgraph serve` run as an operator would, with
certificates from a throwaway CA (trustme): nothing secret is committed."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import ssl
import subprocess
import sys
import threading
import time
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace

import httpx
import pytest
import trustme

from subgraph.tls import TlsSettings, server_context

from .test_cli import ROOT, clean_env, free_port

QUERY = {"query": "{ _service { sdl } }"}


@dataclass(frozen=True)
class Pki:
    """PEM files: a CA, the server's chain and key (for 127.0.0.1), a client certificate from
    that CA and one from another CA (each a key followed by its chain)."""

    ca: Path
    server_cert: Path
    server_key: Path
    client: Path
    stranger: Path

    def client_context(self, cert: Path | None = None) -> ssl.SSLContext:
        """A client that trusts our CA and presents `cert`, if any."""
        context = ssl.create_default_context(cafile=str(self.ca))
        if cert is not None:
            context.load_cert_chain(cert)
        return context


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    tmp = tmp_path_factory.mktemp("pki")
    ca, other_ca = trustme.CA(), trustme.CA()
    server = ca.issue_cert("127.0.0.1", "localhost")
    ca.cert_pem.write_to_path(str(tmp / "ca.pem"))
    server.private_key_pem.write_to_path(str(tmp / "server.key"))
    for i, pem in enumerate(server.cert_chain_pems):
        pem.write_to_path(str(tmp / "server.pem"), append=i > 0)
    ca.issue_cert("router.test").private_key_and_cert_chain_pem.write_to_path(
        str(tmp / "client.pem"))
    other_ca.issue_cert("router.test").private_key_and_cert_chain_pem.write_to_path(
        str(tmp / "stranger.pem"))
    return Pki(tmp / "ca.pem", tmp / "server.pem", tmp / "server.key", tmp / "client.pem",
               tmp / "stranger.pem")


@dataclass(frozen=True)
class Served:
    base: str
    log: Path


@contextlib.contextmanager
def serving(tmp: Path, pki: Pki, *args: str) -> Iterator[Served]:
    """`serve --tls-cert --tls-key ARGS` in its own process group, healthy before it is
    yielded; SIGTERM afterwards, and the group (workers too) killed if it does not stop."""
    port = free_port()
    log = tmp / f"serve-{port}.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "subgraph", "serve", "--port", str(port),
             "--store", f"sqlite:///{tmp}/tls-{port}.db",
             "--tls-cert", str(pki.server_cert), "--tls-key", str(pki.server_key), *args],
            cwd=ROOT, env=clean_env(), stdout=out, stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    base = f"https://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        client = pki.client_context(pki.client)
        while True:
            assert process.poll() is None, f"server exited early:\n{log.read_text()}"
            with contextlib.suppress(httpx.TransportError):
                if httpx.get(f"{base}/healthz", verify=client, timeout=1).status_code == 200:
                    break
            if time.monotonic() > deadline:
                pytest.fail(f"server did not become healthy:\n{log.read_text()}")
            time.sleep(0.1)
        yield Served(base, log)
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=20) == 0, log.read_text()
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=15)


@pytest.fixture(scope="module")
def https(tmp_path_factory: pytest.TempPathFactory, pki: Pki) -> Iterator[Served]:
    with serving(tmp_path_factory.mktemp("https"), pki) as served:
        yield served


@pytest.fixture(scope="module")
def mutual(tmp_path_factory: pytest.TempPathFactory, pki: Pki) -> Iterator[Served]:
    """Mutual TLS, with two workers: each builds its own context from the options."""
    with serving(tmp_path_factory.mktemp("mtls"), pki,
                 "--tls-client-ca", str(pki.ca), "--workers", "2") as served:
        yield served


def post(base: str, context: ssl.SSLContext) -> httpx.Response:
    return httpx.post(f"{base}/graphql", json=QUERY, verify=context, timeout=10)


def handshake(port: int, context: ssl.SSLContext) -> str:
    """The TLS version negotiated with 127.0.0.1:port (raises if there is none)."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as raw, \
            context.wrap_socket(raw, server_hostname="127.0.0.1") as tls:
        return str(tls.version())


def port_of(base: str) -> int:
    return int(base.rsplit(":", 1)[1])


def tls11_client(pki: Pki) -> ssl.SSLContext:
    """A client that offers TLS 1.1 and nothing later (its security level lowered so that
    OpenSSL itself would speak 1.1)."""
    context = pki.client_context(pki.client)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # TLSVersion.TLSv1_1 itself
        context.minimum_version = ssl.TLSVersion.TLSv1_1
        context.maximum_version = ssl.TLSVersion.TLSv1_1
    context.set_ciphers("DEFAULT:@SECLEVEL=0")
    return context


def test_a_client_that_trusts_the_ca_gets_graphql_answers(https: Served, pki: Pki) -> None:
    response = post(https.base, pki.client_context())
    assert response.status_code == 200, response.text
    assert "type Profile" in response.json()["data"]["_service"]["sdl"]
    assert "serving https, client certificates not requested" in https.log.read_text()


def test_a_client_that_does_not_trust_the_ca_is_stopped_by_its_own_check(https: Served) -> None:
    with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
        post(https.base, ssl.create_default_context())


def test_plain_http_to_the_https_port_gets_no_graphql_answer(https: Served) -> None:
    with pytest.raises(httpx.TransportError):
        httpx.post(f"http://127.0.0.1:{port_of(https.base)}/graphql", json=QUERY, timeout=10)


def test_tls_1_2_is_accepted(https: Served, pki: Pki) -> None:
    context = pki.client_context()
    context.maximum_version = ssl.TLSVersion.TLSv1_2
    assert handshake(port_of(https.base), context) == "TLSv1.2"


def test_a_client_that_offers_at_most_tls_1_1_is_refused(https: Served, pki: Pki) -> None:
    # The same client against a server that allows 1.1: the refusal below is the server's.
    permissive = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        permissive.minimum_version = ssl.TLSVersion.TLSv1_1
    permissive.set_ciphers("DEFAULT:@SECLEVEL=0")
    permissive.load_cert_chain(pki.server_cert, pki.server_key)
    with socket.create_server(("127.0.0.1", 0)) as listener:
        def accept() -> None:
            conn, _ = listener.accept()
            with contextlib.suppress(OSError), permissive.wrap_socket(conn, server_side=True):
                pass
        thread = threading.Thread(target=accept)
        thread.start()
        try:
            version = handshake(listener.getsockname()[1], tls11_client(pki))
        except ssl.SSLError:
            version = None
        thread.join(10)
    if version != "TLSv1.1":
        pytest.skip("this OpenSSL cannot speak TLS 1.1 at all: nothing for the server to refuse")

    with pytest.raises((ssl.SSLError, ConnectionError)):
        handshake(port_of(https.base), tls11_client(pki))


class LaxContext(ssl.SSLContext):
    """A context whose defaults allow TLS 1.0, as an OpenSSL configuration or Python may."""

    def __init__(self, protocol: int) -> None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            self.minimum_version = ssl.TLSVersion.TLSv1


def test_the_server_context_sets_its_minimum_version_itself(
    pki: Pki, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Not left to the defaults (Python's are 1.2 today, OpenSSL's configuration may differ)."""
    # Only subgraph.tls sees the lax class: ssl's own code refers to the real one.
    monkeypatch.setattr("subgraph.tls.ssl", SimpleNamespace(**{**vars(ssl),
                                                              "SSLContext": LaxContext}))
    context = server_context(TlsSettings(str(pki.server_cert), str(pki.server_key)))
    assert isinstance(context, LaxContext)
    assert context.minimum_version == ssl.TLSVersion.TLSv1_2
    assert context.verify_mode == ssl.CERT_NONE
    mutual = server_context(TlsSettings(str(pki.server_cert), str(pki.server_key), str(pki.ca)))
    assert mutual.minimum_version == ssl.TLSVersion.TLSv1_2
    assert mutual.verify_mode == ssl.CERT_REQUIRED


def test_mutual_tls_answers_a_client_certificate_from_the_ca(mutual: Served, pki: Pki) -> None:
    # Each request on a new connection, so both workers are likely to answer some.
    for _ in range(6):
        response = post(mutual.base, pki.client_context(pki.client))
        assert response.status_code == 200, response.text
        assert "type Profile" in response.json()["data"]["_service"]["sdl"]
    assert f"client certificates required (signed by a CA in {pki.ca})" in mutual.log.read_text()


def test_mutual_tls_refuses_a_client_without_a_certificate(mutual: Served, pki: Pki) -> None:
    with pytest.raises(httpx.TransportError):
        post(mutual.base, pki.client_context())


def test_mutual_tls_refuses_a_certificate_from_another_ca(mutual: Served, pki: Pki) -> None:
    with pytest.raises(httpx.TransportError):
        post(mutual.base, pki.client_context(pki.stranger))


@pytest.mark.parametrize(
    ("options", "env", "message"),
    [
        (["--tls-cert", "{cert}"], {}, "--tls-cert given without --tls-key"),
        (["--tls-key", "{key}"], {}, "--tls-key given without --tls-cert"),
        ([], {"SUBGRAPH_TLS_CERT": "{cert}"}, "--tls-cert given without --tls-key"),
        (["--tls-client-ca", "{ca}"], {},
         "--tls-client-ca given without --tls-cert and --tls-key"),
        (["--tls-cert", "{tmp}/missing.pem", "--tls-key", "{key}"], {},
         "--tls-cert {tmp}/missing.pem: cannot read it"),
        (["--tls-cert", "{cert}", "--tls-key", "{tmp}"], {}, "--tls-key {tmp}: cannot read it"),
        (["--tls-cert", "{key}", "--tls-key", "{key}"], {},
         "not a PEM certificate chain and its private key"),
        ([], {"SUBGRAPH_TLS_CERT": "{cert}", "SUBGRAPH_TLS_KEY": "{key}",
              "SUBGRAPH_TLS_CLIENT_CA": "{key}"},
         "--tls-client-ca {key}: no PEM CA certificate in it"),
    ],
    ids=["cert-only", "key-only", "cert-only-env", "client-ca-only", "missing-cert",
         "key-is-a-directory", "key-as-cert", "client-ca-not-a-ca"],
)
def test_partial_or_unusable_tls_options_refuse_to_start(
    tmp_path: Path, pki: Pki, options: list[str], env: dict[str, str], message: str
) -> None:
    names = {"cert": pki.server_cert, "key": pki.server_key, "ca": pki.ca, "tmp": tmp_path}
    result = subprocess.run(
        [sys.executable, "-m", "subgraph", "serve", "--port", str(free_port()),
         "--store", f"sqlite:///{tmp_path}/x.db", *(o.format(**names) for o in options)],
        cwd=ROOT, env={**clean_env(), **{k: v.format(**names) for k, v in env.items()}},
        capture_output=True, text=True, timeout=60, check=False,
    )
    assert result.returncode == 2, result.stderr
    [line] = result.stderr.strip().splitlines()
    assert line.startswith("python -m subgraph serve: "), line
    assert message.format(**names) in line
