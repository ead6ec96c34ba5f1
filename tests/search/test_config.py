"""The search URL: hosts, TLS, credentials and options, and the errors for bad ones."""

from __future__ import annotations

from pathlib import Path

import pytest

from backends.search import SearchConfig, open_search_index


def test_defaults_of_a_bare_url() -> None:
    config = SearchConfig.from_url("opensearch://search.internal")
    assert config == SearchConfig(hosts=(("search.internal", 9200),))
    assert (config.prefix, config.timeout, config.shards, config.replicas) == ("ts-", 10.0, 1, 1)
    assert not config.use_ssl


def test_several_hosts_ports_and_ipv6() -> None:
    config = SearchConfig.from_url("opensearch://a:9201,b,[::1]:9300,[fe80::1]")
    assert config.hosts == (("a", 9201), ("b", 9200), ("::1", 9300), ("fe80::1", 9200))


@pytest.mark.parametrize(("url", "engine", "tls"), [
    ("opensearchs://h", "opensearch", True), ("https://h", "opensearch", True),
    ("opensearch://h", "opensearch", False), ("http://h:9200", "opensearch", False),
    ("elasticsearch://h", "elasticsearch", False), ("elasticsearchs://h", "elasticsearch", True),
])
def test_scheme_chooses_engine_and_tls(url: str, engine: str, tls: bool) -> None:
    config = SearchConfig.from_url(url)
    assert (config.engine, config.use_ssl) == (engine, tls)


def test_an_elasticsearch_url_takes_the_same_options() -> None:
    config = SearchConfig.from_url(
        "elasticsearchs://app:pw@e1:9243,e2?prefix=p-&timeout=3&shards=2&replicas=0&verify=false"
    )
    assert config == SearchConfig(
        hosts=(("e1", 9243), ("e2", 9200)), engine="elasticsearch", use_ssl=True, verify=False,
        username="app", password="pw", prefix="p-", timeout=3.0, shards=2, replicas=0,
    )


def test_credentials_and_options_are_read_and_the_password_never_printed() -> None:
    config = SearchConfig.from_url(
        "opensearchs://app:s%40cret@h:9243/?prefix=prod-ts-&timeout=2.5&shards=2&replicas=0"
        "&verify=false"
    )
    assert (config.username, config.password) == ("app", "s@cret")
    assert (config.prefix, config.timeout, config.shards, config.replicas) == (
        "prod-ts-", 2.5, 2, 0
    )
    assert config.verify is False
    assert "s@cret" not in repr(config)
    assert "s@cret" not in repr(open_search_index("opensearch://app:s%40cret@h"))


@pytest.mark.parametrize(("url", "message"), [
    ("elastic://h", "unknown search URL scheme"),
    ("opensearch://", "needs a host"),
    ("opensearch://h/index", "no path"),
    ("opensearch://h?size=3", "unknown search URL option 'size'"),
    ("elasticsearch://h?engine=opensearch", "unknown search URL option 'engine'"),
    ("opensearch://h?prefix=Upper", "prefix"),
    ("opensearch://h?prefix=_x", "prefix"),
    ("opensearch://h?timeout=soon", "timeout must be a number"),
    ("opensearch://h?timeout=0", "timeout must be greater than 0"),
    ("opensearch://h?shards=0", "shards must be 1 or more"),
    ("opensearch://h?verify=maybe", "verify must be true or false"),
    ("opensearch://h:99999", "bad host"),
    ("opensearch://a,,b", "bad host"),
])
def test_bad_urls_say_what_is_wrong(url: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        SearchConfig.from_url(url)


def test_a_ca_file_is_trusted_over_tls(tmp_path: Path) -> None:
    ca = tmp_path / "ca.pem"
    ca.write_text("-----BEGIN CERTIFICATE-----\n")
    config = SearchConfig.from_url(f"opensearchs://u:p@h:9210?ca={ca}")
    assert (config.use_ssl, config.verify, config.ca) == (True, True, str(ca))
    assert SearchConfig.from_url("opensearchs://h").ca is None


@pytest.mark.parametrize(("url", "message"), [
    ("opensearch://h?ca={ca}", "ca needs TLS"),
    ("elasticsearch://h?ca={ca}", "ca needs TLS"),
    ("opensearchs://h?ca={ca}&verify=false", "ca needs verify=true"),
    ("opensearchs://h?ca={missing}", "ca: no such file"),
    ("opensearchs://h?ca=", "ca: no such file"),
])
def test_a_ca_option_that_cannot_work_is_refused(tmp_path: Path, url: str, message: str) -> None:
    ca = tmp_path / "ca.pem"
    ca.write_text("x")
    with pytest.raises(ValueError, match=message):
        SearchConfig.from_url(url.format(ca=ca, missing=tmp_path / "nope.pem"))
