"""The Cassandra store URL and the settings it carries.

    cassandra://[user:password@]host[,host...][:port]/keyspace[?option=value&...]

Options (all optional):

    local_dc            datacenter whose replicas serve reads and writes; default: the
                        datacenter of the contact points (they must all be in one)
    replication_factor  replicas per datacenter when the keyspace is created; default: the
                        number of nodes in the local datacenter, at most 3
    read_consistency    consistency level of reads   (default LOCAL_QUORUM)
    write_consistency   consistency level of writes  (default LOCAL_QUORUM)
    timeout             seconds one store call may take, all its statements included (10)
    connect_timeout     seconds to connect at open (10)
    ddl_timeout         seconds a schema change may take, agreement included (60)
    fetch_size          rows per driver page (1000)
    concurrency         statements in flight at once per store (64)
    protocol_version    native protocol version (5: Cassandra 4.0 and later; 4 for 3.x);
                        fixed rather than negotiated, which costs two failed handshakes

A keyword-argument dataclass with named defaults, so a config compares and prints well (the
password is never printed).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, fields
from urllib.parse import parse_qsl, unquote, urlsplit

DEFAULT_PORT = 9042
CONSISTENCY_LEVELS = frozenset({
    "ANY", "ONE", "TWO", "THREE", "QUORUM", "ALL", "LOCAL_QUORUM", "EACH_QUORUM", "LOCAL_ONE",
})
_KEYSPACE = re.compile(r"[a-z][a-z0-9_]{0,47}")
_HOST = re.compile(r"[A-Za-z0-9.\-]+|\[[0-9A-Fa-f:.]+\]")
_DC = re.compile(r"[A-Za-z0-9_.\-]+")


@dataclass(frozen=True, slots=True)
class CassandraConfig:
    """Where the cluster is and how the store talks to it."""

    hosts: tuple[str, ...]
    keyspace: str
    port: int = DEFAULT_PORT
    local_dc: str | None = None
    replication_factor: int | None = None
    read_consistency: str = "LOCAL_QUORUM"
    write_consistency: str = "LOCAL_QUORUM"
    timeout: float = 10.0
    connect_timeout: float = 10.0
    ddl_timeout: float = 60.0
    fetch_size: int = 1000
    concurrency: int = 64
    protocol_version: int = 5
    username: str | None = None
    password: str | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if not self.hosts:
            raise ValueError("cassandra store URL needs at least one host")
        for host in self.hosts:
            if not _HOST.fullmatch(host):
                raise ValueError(f"cassandra host {host!r} is not a host name or address")
        if not _KEYSPACE.fullmatch(self.keyspace):
            raise ValueError(
                f"keyspace {self.keyspace!r} must be 1-48 characters of a-z, 0-9 and _, "
                "starting with a letter"
            )
        if not 0 < self.port < 65536:
            raise ValueError(f"port {self.port} is out of range")
        if self.local_dc is not None and not _DC.fullmatch(self.local_dc):
            raise ValueError(f"local_dc {self.local_dc!r} is not a datacenter name")
        if self.replication_factor is not None and not 1 <= self.replication_factor <= 32:
            raise ValueError("replication_factor must be between 1 and 32")
        for name in ("read_consistency", "write_consistency"):
            if getattr(self, name) not in CONSISTENCY_LEVELS:
                raise ValueError(
                    f"{name} must be one of {', '.join(sorted(CONSISTENCY_LEVELS))}"
                )
        for name in ("timeout", "connect_timeout", "ddl_timeout"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} must be greater than 0 seconds")
        if self.fetch_size < 1 or self.concurrency < 1:
            raise ValueError("fetch_size and concurrency must be at least 1")
        if self.protocol_version not in (3, 4, 5):
            raise ValueError("protocol_version must be 3, 4 or 5")

    @property
    def contact_points(self) -> list[str]:
        """Hosts as the driver takes them (IPv6 without brackets)."""
        return [h[1:-1] if h.startswith("[") else h for h in self.hosts]


_INT_OPTIONS = {"replication_factor", "fetch_size", "concurrency", "protocol_version"}
_FLOAT_OPTIONS = {"timeout", "connect_timeout", "ddl_timeout"}
_STR_OPTIONS = {"local_dc"}
_LEVEL_OPTIONS = {"read_consistency", "write_consistency"}
_OPTIONS = _INT_OPTIONS | _FLOAT_OPTIONS | _STR_OPTIONS | _LEVEL_OPTIONS
assert {f.name for f in fields(CassandraConfig)} > _OPTIONS


def parse_url(url: str) -> CassandraConfig:
    """A config from `cassandra://...`; every mistake is a `ValueError` naming what is wrong."""
    parts = urlsplit(url)
    if parts.scheme != "cassandra":
        raise ValueError(f"not a cassandra store URL: {url!r}")
    userinfo, _, hostinfo = parts.netloc.rpartition("@")
    username = password = None
    if userinfo:
        user, _, secret = userinfo.partition(":")
        username, password = unquote(user), unquote(secret)
    hosts, port = _hosts(hostinfo)
    keyspace = parts.path.strip("/")
    if not keyspace or "/" in keyspace:
        raise ValueError("cassandra store URL needs a keyspace: cassandra://host/keyspace")
    options: dict[str, object] = {}
    for key, value in parse_qsl(parts.query, keep_blank_values=True, strict_parsing=False):
        if key not in _OPTIONS:
            raise ValueError(
                f"unknown cassandra store option {key!r} (known: {', '.join(sorted(_OPTIONS))})"
            )
        if key in options:
            raise ValueError(f"cassandra store option {key!r} is given twice")
        options[key] = _option(key, value)
    return CassandraConfig(
        hosts=hosts, port=port, keyspace=keyspace.lower(), username=username, password=password,
        **options,  # type: ignore[arg-type]
    )


def _hosts(hostinfo: str) -> tuple[tuple[str, ...], int]:
    """`h1,h2:9042` (one port for all) or `h1:9042,h2:9042` (the same port repeated)."""
    hosts: list[str] = []
    ports: set[int] = set()
    for raw in hostinfo.split(","):
        host, port = _split_port(raw.strip())
        if port is not None:
            ports.add(port)
        hosts.append(host)
    if len(ports) > 1:
        raise ValueError("all cassandra hosts must use the same port")
    return tuple(hosts), ports.pop() if ports else DEFAULT_PORT


def _split_port(hostport: str) -> tuple[str, int | None]:
    if not hostport:
        raise ValueError("cassandra store URL has an empty host")
    if hostport.startswith("["):  # [IPv6]:port
        end = hostport.find("]")
        host, rest = hostport[: end + 1], hostport[end + 1:]
    else:
        host, sep, port_text = hostport.partition(":")
        rest = sep + port_text
    if not rest:
        return host, None
    if not rest.startswith(":") or not rest[1:].isdigit():
        raise ValueError(f"cassandra host {hostport!r} has a malformed port")
    return host, int(rest[1:])


def _option(key: str, value: str) -> object:
    try:
        if key in _INT_OPTIONS:
            return int(value)
        if key in _FLOAT_OPTIONS:
            return float(value)
    except ValueError:
        raise ValueError(f"cassandra store option {key}={value!r} is not a number") from None
    if key in _LEVEL_OPTIONS:
        return value.upper()
    return value
