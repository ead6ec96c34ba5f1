"""The Cassandra store URL and the settings it carries.

    cassandra://[user[:password]@]host[,host...][:port]/keyspace[?option=value&...]

User and password are percent-decoded (write `@` as `%40`, `:` as `%3A`, `/` as `%2F`).

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
    tls                 1: connect over TLS (1.2 or later), verifying the nodes' certificates
                        (default 0; on when tls_ca is given)
    tls_ca              PEM file of the CA(s) that signed the nodes' certificates; default:
                        the system's trusted CAs
    tls_check_hostname  1 (default): a node's certificate must name the address the driver
                        connects to (an IP subjectAltName: the driver resolves contact points
                        and connects to the addresses the nodes announce); 0: verify the chain
                        only, for certificates that name hosts but not addresses

The same settings from the environment, so that secrets stay out of process lists and shell
histories: SUBGRAPH_CASSANDRA_USER, SUBGRAPH_CASSANDRA_PASSWORD, SUBGRAPH_CASSANDRA_TLS,
SUBGRAPH_CASSANDRA_TLS_CA, SUBGRAPH_CASSANDRA_TLS_CHECK_HOSTNAME.  Each setting the URL gives
wins over its variable, one by one: `cassandra://app@db1/ks` with SUBGRAPH_CASSANDRA_PASSWORD
logs in as `app` with the variable's password.  An empty variable counts as unset.

A keyword-argument dataclass with named defaults, so a config compares and prints well (the
password is never printed).
"""

from __future__ import annotations

import os
import re
import ssl
from collections.abc import Mapping
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
    tls: bool = False
    tls_ca: str | None = None
    tls_check_hostname: bool = True

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
        if self.password is not None and self.username is None:
            raise ValueError(f"a cassandra password needs a user (URL or {ENV['username']})")
        if self.tls_ca is not None and not self.tls:
            raise ValueError("tls_ca is given but tls is off: drop one of them")

    @property
    def contact_points(self) -> list[str]:
        """Hosts as the driver takes them (IPv6 without brackets)."""
        return [h[1:-1] if h.startswith("[") else h for h in self.hosts]

    def ssl_context(self) -> ssl.SSLContext | None:
        """The driver's TLS context (None without `tls`): the server's certificate must chain
        to `tls_ca` (or a system CA) and, with `tls_check_hostname`, name the node's address."""
        if not self.tls:
            return None
        try:
            context = ssl.create_default_context(cafile=self.tls_ca)
        except (OSError, ssl.SSLError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else exc
            raise ValueError(f"cassandra tls_ca {self.tls_ca!r} cannot be used: {reason}") from None
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        context.check_hostname = self.tls_check_hostname
        return context


ENV = {
    "username": "SUBGRAPH_CASSANDRA_USER",
    "password": "SUBGRAPH_CASSANDRA_PASSWORD",
    "tls": "SUBGRAPH_CASSANDRA_TLS",
    "tls_ca": "SUBGRAPH_CASSANDRA_TLS_CA",
    "tls_check_hostname": "SUBGRAPH_CASSANDRA_TLS_CHECK_HOSTNAME",
}
"""The environment variable of each setting that may come from the environment."""

_INT_OPTIONS = {"replication_factor", "fetch_size", "concurrency", "protocol_version"}
_FLOAT_OPTIONS = {"timeout", "connect_timeout", "ddl_timeout"}
_STR_OPTIONS = {"local_dc", "tls_ca"}
_LEVEL_OPTIONS = {"read_consistency", "write_consistency"}
_BOOL_OPTIONS = {"tls", "tls_check_hostname"}
_OPTIONS = _INT_OPTIONS | _FLOAT_OPTIONS | _STR_OPTIONS | _LEVEL_OPTIONS | _BOOL_OPTIONS
assert {f.name for f in fields(CassandraConfig)} > _OPTIONS | set(ENV)
_TRUE, _FALSE = {"1", "true", "yes", "on"}, {"0", "false", "no", "off"}


def parse_url(url: str, env: Mapping[str, str] | None = None) -> CassandraConfig:
    """A config from `cassandra://...` and, for what the URL leaves out, the `ENV` variables
    of `env` (default: this process's environment).

    Every mistake is a `ValueError` naming what is wrong, never quoting the password.
    """
    env = os.environ if env is None else env
    parts = urlsplit(url)
    if parts.scheme != "cassandra":
        raise ValueError("not a cassandra store URL: it must start with cassandra://")
    userinfo, at, hostinfo = parts.netloc.rpartition("@")
    username = password = None
    if at:
        user, colon, secret = userinfo.partition(":")
        username = unquote(user) or None
        password = unquote(secret) if colon else None
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
    from_env = {k: v for k, name in ENV.items() if (v := env.get(name, "").strip())}
    if username is None and "username" in from_env:
        username = from_env["username"]
    if password is None and "password" in from_env:
        password = env[ENV["password"]]  # as set: a password may begin or end with a space
    for key in ("tls", "tls_ca", "tls_check_hostname"):
        if key not in options and key in from_env:
            options[key] = _option(key, from_env[key], source=ENV[key])
    if "tls" not in options and options.get("tls_ca"):
        options["tls"] = True
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
        # Not quoting the port: a password with an unescaped "/" or "#" ends up here.
        raise ValueError(
            f"cassandra host {host!r} has a malformed port (percent-encode a password's"
            " special characters)"
        )
    return host, int(rest[1:])


def _option(key: str, value: str, source: str | None = None) -> object:
    name = source or f"cassandra store option {key}"
    try:
        if key in _INT_OPTIONS:
            return int(value)
        if key in _FLOAT_OPTIONS:
            return float(value)
    except ValueError:
        raise ValueError(f"{name}={value!r} is not a number") from None
    if key in _LEVEL_OPTIONS:
        return value.upper()
    if key in _BOOL_OPTIONS:
        if value.lower() not in _TRUE | _FALSE:
            raise ValueError(f"{name}={value!r} must be 1 or 0")
        return value.lower() in _TRUE
    return value
