"""Storage engines behind the interfaces in `backends.base`, chosen by a store URL."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from .base import RelationalStore, Store

DEFAULT_STORE_URL = "sqlite:///data/gateway.db"


def open_store(url: str) -> Store:
    """A store for `url` (not yet opened): `sqlite:///path` or `cassandra://hosts/keyspace`."""
    scheme = urlsplit(url).scheme
    if scheme == "sqlite":
        from .sqlite import SQLiteStore

        path = url[len("sqlite://"):]
        if path.startswith("/") and not path.startswith("//"):
            path = path[1:]  # sqlite:///relative/path, sqlite:////absolute/path
        if not path:
            raise ValueError("sqlite store URL needs a file path: sqlite:///data/gateway.db")
        return SQLiteStore(Path(path))
    if scheme == "cassandra":
        try:
            from .cassandra import CassandraStore
        except ImportError as exc:  # the backend lands with its own issue
            raise ValueError(f"the cassandra backend is not available: {exc}") from exc
        return CassandraStore.from_url(url)
    raise ValueError(f"unknown store URL scheme {scheme!r}: use sqlite:// or cassandra://")


def open_relational(url: str) -> RelationalStore:
    """A relational store for `url` (not yet opened): `postgresql://user:pass@host:port/db`
    or `sqlite:///path`."""
    scheme = urlsplit(url).scheme
    if scheme in ("postgresql", "postgres"):
        from .postgres import PostgresRelational

        return PostgresRelational(url)
    if scheme == "sqlite":
        from .sqlite.db import SQLiteDB
        from .sqlite.relational import SQLiteRelational

        store = open_store(url)
        assert isinstance(store, SQLiteDB)
        return SQLiteRelational(store, owned=True)
    raise ValueError(
        f"unknown relational store URL scheme {scheme!r}: use postgresql:// or sqlite://"
    )


def redact_url(url: str) -> str:
    """`url` as it may be logged or shown: a password in it replaced by `***`."""
    parts = urlsplit(url)
    userinfo, at, hostinfo = parts.netloc.rpartition("@")
    if not at or ":" not in userinfo:
        return url
    user = userinfo.partition(":")[0]
    return urlunsplit(parts._replace(netloc=f"{user}:***@{hostinfo}"))
