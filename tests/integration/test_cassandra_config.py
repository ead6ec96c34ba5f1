"""The Cassandra store URL and table naming: no server needed."""

from __future__ import annotations

import pytest

from backends import open_store
from backends.cassandra import CassandraConfig, CassandraStore, parse_url
from backends.cassandra.schema import MAX_NAME, kv_table, slice_table, table_name


def test_url_with_defaults() -> None:
    config = parse_url("cassandra://127.0.0.1/gateway")
    assert config == CassandraConfig(hosts=("127.0.0.1",), keyspace="gateway")
    assert config.port == 9042
    assert (config.read_consistency, config.write_consistency) == ("LOCAL_QUORUM", "LOCAL_QUORUM")
    assert config.replication_factor is None  # chosen from the ring when the keyspace is made


def test_url_with_hosts_port_and_options() -> None:
    config = parse_url(
        "cassandra://10.0.0.1,10.0.0.2,db3.example:9142/prod_ks?local_dc=dc1"
        "&replication_factor=3&read_consistency=local_one&write_consistency=QUORUM"
        "&timeout=2.5&fetch_size=50&concurrency=8"
    )
    assert config.hosts == ("10.0.0.1", "10.0.0.2", "db3.example")
    assert config.port == 9142
    assert config.keyspace == "prod_ks"
    assert config.local_dc == "dc1"
    assert config.replication_factor == 3
    assert config.read_consistency == "LOCAL_ONE"
    assert config.write_consistency == "QUORUM"
    assert config.timeout == 2.5
    assert (config.fetch_size, config.concurrency) == (50, 8)


def test_url_with_port_on_every_host_and_ipv6() -> None:
    assert parse_url("cassandra://a:9043,b:9043/ks").port == 9043
    config = parse_url("cassandra://[::1]:9042/ks")
    assert config.contact_points == ["::1"]


def test_url_credentials_are_not_printed() -> None:
    config = parse_url("cassandra://app:s%40cret@127.0.0.1/ks")
    assert (config.username, config.password) == ("app", "s@cret")
    assert "s@cret" not in repr(config)


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("cassandra://127.0.0.1", "needs a keyspace"),
        ("cassandra://127.0.0.1/", "needs a keyspace"),
        ("cassandra:///ks", "empty host"),
        ("cassandra://a:1,b:2/ks", "same port"),
        ("cassandra://a:port/ks", "malformed port"),
        ("cassandra://127.0.0.1/ks?consistency=ONE", "unknown cassandra store option"),
        ("cassandra://127.0.0.1/ks?read_consistency=MOST", "read_consistency must be one of"),
        ("cassandra://127.0.0.1/ks?timeout=soon", "not a number"),
        ("cassandra://127.0.0.1/ks?timeout=0", "timeout must be greater than 0"),
        ("cassandra://127.0.0.1/ks?replication_factor=0", "replication_factor"),
        ("cassandra://127.0.0.1/ks?fetch_size=1&fetch_size=2", "given twice"),
        ("cassandra://127.0.0.1/bad-keyspace", "keyspace"),
        ("cassandra://127.0.0.1/" + "k" * 49, "keyspace"),
    ],
)
def test_bad_urls_say_what_is_wrong(url: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_url(url)


def test_open_store_builds_a_cassandra_store_without_connecting() -> None:
    store = open_store("cassandra://127.0.0.1:9042/gateway_test?timeout=3")
    assert isinstance(store, CassandraStore)
    assert store.config.timeout == 3


def test_table_names_are_short_distinct_identifiers() -> None:
    longest = "n" * 48
    names = {
        kv_table(longest), kv_table(longest, "kvc"), slice_table(longest, 1_700_000_000),
        slice_table(longest, 1_700_086_400), slice_table(longest[:-1] + "m", 1_700_000_000),
    }
    assert len(names) == 5
    for name in names:
        assert len(name) <= MAX_NAME
        assert name[0].isalpha() and name.replace("_", "").isalnum()
    assert table_name("ts", "viewing_history", "1700000000") == "ts_viewing_history_1700000000"
