"""The search URL and the settings it carries.

    opensearch://[user:password@]host[:port][,host[:port]...][?option=value&...]
    opensearchs://...       the same over HTTPS   (http:// and https:// are OpenSearch too)
    elasticsearch://...     Elasticsearch, through the official `elasticsearch` client
    elasticsearchs://...    the same over HTTPS

The scheme chooses the engine (the client that speaks to it); everything after it means the same
for both.

Options (all optional):

    prefix     start of every index and template name (default ``ts-``), so that several
               deployments (or test runs) can share one cluster
    timeout    seconds one request may take (10)
    shards     primary shards of each slice index (1: a slice is small, and one shard keeps
               distinct counts exact)
    replicas   replicas of each slice index (1; use 0 on a single-node cluster)
    verify     check the server's certificate over HTTPS (true)
    ca         a PEM file of CA certificates to trust over HTTPS, besides the system's and
               certifi's (for a private CA: ?ca=/etc/search/ca.pem); needs verify

A keyword-argument dataclass with named defaults, so a config compares and prints well (the
password is never printed).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field, fields
from typing import Literal
from urllib.parse import parse_qsl, unquote, urlsplit

Engine = Literal["opensearch", "elasticsearch"]

DEFAULT_PORT = 9200
SCHEMES: dict[str, tuple[Engine, bool]] = {  # scheme -> (engine, TLS)
    "opensearch": ("opensearch", False),
    "opensearchs": ("opensearch", True),
    "http": ("opensearch", False),
    "https": ("opensearch", True),
    "elasticsearch": ("elasticsearch", False),
    "elasticsearchs": ("elasticsearch", True),
}
_HOST = re.compile(r"[A-Za-z0-9.\-]+|\[[0-9A-Fa-f:.]+\]")
_PREFIX = re.compile(r"[a-z0-9][a-z0-9_.\-]{0,63}")


@dataclass(frozen=True, slots=True)
class SearchConfig:
    """Which engine, where the cluster is, how to reach it, and how slice indices are created."""

    hosts: tuple[tuple[str, int], ...] = (("127.0.0.1", DEFAULT_PORT),)
    engine: Engine = "opensearch"
    use_ssl: bool = False
    verify: bool = True
    ca: str | None = None
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    prefix: str = "ts-"
    timeout: float = 10.0
    shards: int = 1
    replicas: int = 1

    def __post_init__(self) -> None:
        if not self.hosts:
            raise ValueError("search URL needs at least one host")
        if not _PREFIX.fullmatch(self.prefix):
            raise ValueError(
                "search URL option prefix must be 1-64 characters of a-z, 0-9, _ . -"
                " starting with a letter or digit"
            )
        if not self.timeout > 0:
            raise ValueError("search URL option timeout must be greater than 0")
        if self.shards < 1 or self.replicas < 0:
            raise ValueError("search URL options: shards must be 1 or more, replicas 0 or more")
        if self.ca is not None:
            if not self.use_ssl:
                raise ValueError(
                    "search URL option ca needs TLS: use opensearchs:// or elasticsearchs://"
                )
            if not self.verify:
                raise ValueError("search URL option ca needs verify=true (it is what is checked)")
            if not os.path.isfile(self.ca):
                raise ValueError(f"search URL option ca: no such file {self.ca!r}")

    @classmethod
    def from_url(cls, url: str) -> SearchConfig:
        """Parse `url`; a `ValueError` names what is wrong."""
        parts = urlsplit(url)
        if parts.scheme not in SCHEMES:
            raise ValueError(
                f"unknown search URL scheme {parts.scheme!r}: use opensearch://, opensearchs://,"
                " elasticsearch:// or elasticsearchs://"
            )
        if parts.path not in ("", "/"):
            raise ValueError(f"search URL takes no path, got {parts.path!r}")
        userinfo, _, hostlist = parts.netloc.rpartition("@")
        username = password = None
        if userinfo:
            user, _, secret = userinfo.partition(":")
            username, password = unquote(user), unquote(secret)
        hosts = tuple(_host(h) for h in hostlist.split(",")) if hostlist else ()
        if not hosts:
            raise ValueError(f"search URL needs a host: {parts.scheme}://host:9200")
        known = {f.name for f in fields(cls)} - {
            "hosts", "engine", "use_ssl", "username", "password"
        }
        options: dict[str, object] = {}
        for key, value in parse_qsl(parts.query, keep_blank_values=True):
            if key not in known:
                raise ValueError(f"unknown search URL option {key!r} (known: {sorted(known)})")
            options[key] = _option(key, value)
        engine, tls = SCHEMES[parts.scheme]
        return cls(hosts=hosts, engine=engine, use_ssl=tls, username=username,
                   password=password, **options)  # type: ignore[arg-type]


def _host(text: str) -> tuple[str, int]:
    host, port = text, DEFAULT_PORT
    match = re.fullmatch(r"(.*):(\d+)", text)
    if match and not (text.startswith("[") and text.endswith("]")):
        host, port = match.group(1), int(match.group(2))
    if not _HOST.fullmatch(host) or not 0 < port < 65536:
        raise ValueError(f"search URL has a bad host {text!r}")
    return host.strip("[]"), port


def _option(key: str, value: str) -> object:
    try:
        if key == "timeout":
            return float(value)
        if key in ("shards", "replicas"):
            return int(value)
    except ValueError:
        raise ValueError(f"search URL option {key} must be a number, got {value!r}") from None
    if key == "verify":
        if value.lower() not in ("true", "false", "1", "0"):
            raise ValueError(f"search URL option verify must be true or false, got {value!r}")
        return value.lower() in ("true", "1")
    return value
