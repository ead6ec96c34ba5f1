"""HTTPS for `serve`: the server's certificate, TLS 1.2 or later only, and optionally mutual TLS
(a client certificate signed by a given CA, as between the router and this subgraph).

`tls_settings()` checks the files once, in the process that parses the command line, so a bad
option stops the start with one line instead of every worker failing. uvicorn then builds the
context again in each worker (workers are spawned processes) through `TlsSettings.context_factory`,
which makes the same `server_context()`: one definition of what the server accepts.
"""

from __future__ import annotations

import functools
import ssl
from dataclasses import dataclass
from typing import Any

# Set on the context itself, not left to OpenSSL's configuration, which may still allow 1.0/1.1.
MINIMUM_VERSION = ssl.TLSVersion.TLSv1_2


class TlsConfigError(ValueError):
    """The TLS options are incomplete, or a file they name cannot be used. One line, for humans."""


@dataclass(frozen=True)
class TlsSettings:
    """PEM files: the server's certificate chain and its private key, and (for mutual TLS) the
    CA certificates a client's certificate must chain to."""

    cert: str
    key: str
    client_ca: str | None = None

    @property
    def mutual(self) -> bool:
        return self.client_ca is not None

    def context_factory(self) -> functools.partial[ssl.SSLContext]:
        """uvicorn's `ssl_context_factory`; a partial of a module function, so it pickles into
        spawned workers."""
        return functools.partial(_uvicorn_factory, self)

    def uvicorn_options(self) -> dict[str, Any]:
        return {"ssl_context_factory": self.context_factory()}

    def describe(self) -> str:
        if self.mutual:
            return f"https, client certificates required (signed by a CA in {self.client_ca})"
        return "https, client certificates not requested"


def server_context(settings: TlsSettings) -> ssl.SSLContext:
    """What the server accepts: TLS 1.2+, our certificate, and a verified client certificate
    when `client_ca` is set. Raises TlsConfigError naming the file that does not load."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = MINIMUM_VERSION
    try:
        context.load_cert_chain(settings.cert, settings.key)
    except (OSError, ssl.SSLError) as exc:
        raise TlsConfigError(
            f"--tls-cert {settings.cert} / --tls-key {settings.key}: not a PEM certificate"
            f" chain and its private key ({_reason(exc)})"
        ) from exc
    if settings.client_ca is not None:
        context.verify_mode = ssl.CERT_REQUIRED
        try:
            context.load_verify_locations(cafile=settings.client_ca)
        except (OSError, ssl.SSLError) as exc:
            raise TlsConfigError(
                f"--tls-client-ca {settings.client_ca}: no PEM CA certificate in it"
                f" ({_reason(exc)})"
            ) from exc
    return context


def _uvicorn_factory(settings: TlsSettings, config: object, default: object) -> ssl.SSLContext:
    # uvicorn's default context would honour only its ssl_* options: ours replaces it.
    return server_context(settings)


def tls_settings(
    cert: str | None, key: str | None, client_ca: str | None
) -> TlsSettings | None:
    """The settings from the three options (None: plain HTTP), after building the context once.

    Raises TlsConfigError when cert or key is missing (a client CA alone counts too), or when a
    file is unreadable or not what it should be.
    """
    if not (cert or key or client_ca):
        return None
    if not cert or not key:
        options = {"--tls-cert": cert, "--tls-key": key, "--tls-client-ca": client_ca}
        given = " and ".join(name for name, value in options.items() if value)
        missing = " and ".join(name for name in ("--tls-cert", "--tls-key") if not options[name])
        raise TlsConfigError(
            f"{given} given without {missing}: HTTPS needs both --tls-cert and --tls-key"
        )
    for option, path in (("--tls-cert", cert), ("--tls-key", key),
                         ("--tls-client-ca", client_ca)):
        if path is not None:
            _readable(option, path)
    settings = TlsSettings(cert, key, client_ca)
    server_context(settings)
    return settings


def _readable(option: str, path: str) -> None:
    try:
        with open(path, "rb") as file:
            file.read(1)
    except OSError as exc:
        raise TlsConfigError(f"{option} {path}: cannot read it ({_reason(exc)})") from exc


def _reason(exc: OSError) -> str:
    if isinstance(exc, ssl.SSLError) and exc.reason:
        return str(exc.reason)
    return exc.strerror or str(exc)
