"""The Cassandra store URL and table naming: no server needed."""

from __future__ import annotations

import ssl
from pathlib import Path

import pytest

from backends import open_store, redact_url
from backends.cassandra import CassandraConfig, CassandraStore, parse_url
from backends.cassandra.config import ENV
from backends.cassandra.schema import MAX_NAME, kv_table, slice_table, table_name


@pytest.fixture(autouse=True)
def no_cassandra_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """The URL alone decides here (make test exports the secure node's settings)."""
    for name in ENV.values():
        monkeypatch.delenv(name, raising=False)


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


def test_url_with_a_user_and_no_password() -> None:
    config = parse_url("cassandra://app@127.0.0.1/ks")
    assert (config.username, config.password) == ("app", None)


def test_url_tls_options() -> None:
    config = parse_url("cassandra://db1/ks?tls=1&tls_ca=/etc/ca.pem&tls_check_hostname=0")
    assert (config.tls, config.tls_ca, config.tls_check_hostname) == (True, "/etc/ca.pem", False)
    assert parse_url("cassandra://db1/ks").tls is False
    assert parse_url("cassandra://db1/ks?tls=true").tls is True
    assert parse_url("cassandra://db1/ks?tls_ca=ca.pem").tls is True  # a CA means TLS


def test_settings_from_the_environment() -> None:
    env = {
        "SUBGRAPH_CASSANDRA_USER": "app",
        "SUBGRAPH_CASSANDRA_PASSWORD": " s3cret ",
        "SUBGRAPH_CASSANDRA_TLS": "1",
        "SUBGRAPH_CASSANDRA_TLS_CA": "/etc/ca.pem",
        "SUBGRAPH_CASSANDRA_TLS_CHECK_HOSTNAME": "0",
    }
    config = parse_url("cassandra://db1/ks", env)
    assert (config.username, config.password) == ("app", " s3cret ")  # a password is kept as is
    assert (config.tls, config.tls_ca, config.tls_check_hostname) == (True, "/etc/ca.pem", False)


def test_the_url_wins_over_the_environment_setting_by_setting() -> None:
    env = {
        "SUBGRAPH_CASSANDRA_USER": "env-user",
        "SUBGRAPH_CASSANDRA_PASSWORD": "env-secret",
        "SUBGRAPH_CASSANDRA_TLS_CA": "/env/ca.pem",
    }
    config = parse_url("cassandra://app:url-secret@db1/ks?tls_ca=/url/ca.pem", env)
    assert (config.username, config.password, config.tls_ca) == ("app", "url-secret", "/url/ca.pem")
    # The user in the URL, its password from the environment: the secret stays out of `ps`.
    config = parse_url("cassandra://app@db1/ks", env)
    assert (config.username, config.password) == ("app", "env-secret")
    assert parse_url("cassandra://db1/ks", {"SUBGRAPH_CASSANDRA_TLS": ""}).tls is False


def test_the_environment_is_read_when_no_mapping_is_given(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SUBGRAPH_CASSANDRA_USER", "app")
    monkeypatch.setenv("SUBGRAPH_CASSANDRA_PASSWORD", "from-env")
    config = parse_url("cassandra://db1/ks")
    assert (config.username, config.password) == ("app", "from-env")
    assert CassandraStore.from_url("cassandra://db1/ks").config.password == "from-env"


def test_the_password_is_never_printed() -> None:
    secret = "pa:ss/w@rd?#"
    url = "cassandra://app:pa%3Ass%2Fw%40rd%3F%23@127.0.0.1/ks?tls=1"
    config = parse_url(url)
    assert config.password == secret
    for text in (repr(config), str(config), repr(CassandraStore(config))):
        assert secret not in text and "pa%3Ass" not in text
    assert redact_url(url) == "cassandra://app:***@127.0.0.1/ks?tls=1"
    assert redact_url("cassandra://app@db1/ks") == "cassandra://app@db1/ks"
    assert redact_url("sqlite:///data/gateway.db") == "sqlite:///data/gateway.db"


@pytest.mark.parametrize("special", ["/", "#", "?"])
def test_an_unescaped_password_is_not_quoted_in_the_error(special: str) -> None:
    with pytest.raises(ValueError, match="percent-encode") as caught:
        parse_url(f"cassandra://app:XQZ{special}JWV@db1/ks")
    assert "XQZ" not in str(caught.value) and "JWV" not in str(caught.value)


def test_tls_context_verifies_the_server(tmp_path: Path) -> None:
    import trustme

    ca = trustme.CA()
    ca_file = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    context = parse_url(f"cassandra://db1/ks?tls_ca={ca_file}").ssl_context()
    assert context is not None
    assert context.verify_mode == ssl.CERT_REQUIRED and context.check_hostname
    assert context.minimum_version >= ssl.TLSVersion.TLSv1_2
    unchecked = parse_url(f"cassandra://db1/ks?tls_ca={ca_file}&tls_check_hostname=0")
    context = unchecked.ssl_context()
    assert context is not None
    assert context.verify_mode == ssl.CERT_REQUIRED and not context.check_hostname
    assert parse_url("cassandra://db1/ks").ssl_context() is None
    with pytest.raises(ValueError, match=r"tls_ca '/nonexistent/ca\.pem' cannot be used"):
        parse_url("cassandra://db1/ks?tls_ca=/nonexistent/ca.pem").ssl_context()


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
        ("cassandra://127.0.0.1/ks?tls=maybe", "tls='maybe' must be 1 or 0"),
        ("cassandra://127.0.0.1/ks?tls=0&tls_ca=ca.pem", "tls_ca is given but tls is off"),
        ("cassandra://:secret@127.0.0.1/ks", "password needs a user"),
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
