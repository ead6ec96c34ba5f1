"""Loading and validating the namespaces file (the control plane)."""

from __future__ import annotations

from pathlib import Path

import pytest

from abstractions.errors import ClientError, NamespaceError
from abstractions.namespaces import (
    DEFAULT_FILE,
    ENV_VAR,
    CounterNamespace,
    KVNamespace,
    NamespaceConfigError,
    TimeSeriesNamespace,
    load_namespaces,
)
from backends.base import TimeSeriesLayout

GOOD = """
[settings]
max_clock_skew_seconds = 2.5

[namespaces.events]
abstraction = "timeseries"
seconds_per_slice = 3600
seconds_per_bucket = 600
retention_days = 0.5
search = true
search_fields = { title = "keyword", position = "numeric", at = "date" }

[namespaces.plays]
abstraction = "counter"
mode = "accurate"
accept_window_seconds = 2

[namespaces.settings_kv]
abstraction = "kv"
chunk_threshold_bytes = 2048
chunk_size_bytes = 512
"""


@pytest.fixture(autouse=True)
def no_env_file(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(ENV_VAR, raising=False)


def write(tmp_path: Path, text: str, name: str = "namespaces.toml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


# --- what loads ----------------------------------------------------------------------------


def test_shipped_default_has_the_required_namespaces() -> None:
    loaded = load_namespaces()
    assert loaded.source == str(DEFAULT_FILE)
    history = loaded.get("viewing_history", TimeSeriesNamespace)
    assert history.search is True
    assert loaded.get("title_plays", CounterNamespace).mode == "eventual"
    assert loaded.get("profile_plays", CounterNamespace).mode == "accurate"
    assert loaded.get("page_views", CounterNamespace).mode == "best_effort"
    settings = loaded.get("profile_settings", KVNamespace)
    assert settings.chunk_threshold_bytes == 1024 * 1024
    assert loaded.settings.max_future_micros == 1_000_000


def test_a_good_file_loads_every_setting(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD)
    loaded = load_namespaces(path)
    assert loaded.source == str(path)
    assert len(loaded) == 3
    assert [ns.name for ns in loaded] == ["events", "plays", "settings_kv"]
    assert loaded.settings.max_future_micros == 2_500_000
    events = loaded.get("events", TimeSeriesNamespace)
    assert events.layout == TimeSeriesLayout(3600, 600, 4, 43200)
    assert dict(events.search_fields) == {"title": "keyword", "position": "numeric", "at": "date"}
    plays = loaded.get("plays", CounterNamespace)
    assert (plays.mode, plays.accept_window_seconds) == ("accurate", 2)
    kv = loaded.get("settings_kv", KVNamespace)
    assert (kv.chunk_threshold_bytes, kv.chunk_size_bytes, kv.page_items) == (2048, 512, 100)


def test_environment_variable_points_to_another_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write(tmp_path, GOOD, "elsewhere.toml")
    monkeypatch.setenv(ENV_VAR, str(path))
    loaded = load_namespaces()
    assert loaded.source == str(path)
    assert {ns.name for ns in loaded} == {"events", "plays", "settings_kv"}
    explicit = load_namespaces(DEFAULT_FILE)  # an explicit path wins over the variable
    assert "viewing_history" in {ns.name for ns in explicit}


def test_environment_variable_naming_a_missing_file_is_an_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    missing = tmp_path / "missing.toml"
    monkeypatch.setenv(ENV_VAR, str(missing))
    with pytest.raises(NamespaceConfigError, match="cannot read") as caught:
        load_namespaces()
    assert str(missing) in str(caught.value)


def test_analytics_types_its_columns_without_search(tmp_path: Path) -> None:
    path = write(tmp_path, '[namespaces.plays]\nabstraction = "timeseries"\nanalytics = true\n'
                           'search_fields = { device = "keyword", position = "numeric" }\n')
    ns = load_namespaces(path).get("plays", TimeSeriesNamespace)
    assert ns.analytics and not ns.search
    assert dict(ns.search_fields) == {"device": "keyword", "position": "numeric"}
    assert ns.analytics_retention_days == 365.0


def test_lookup_of_unknown_or_foreign_namespace_is_a_client_error(tmp_path: Path) -> None:
    loaded = load_namespaces(write(tmp_path, GOOD))
    with pytest.raises(NamespaceError, match="unknown namespace 'nope'") as caught:
        loaded.get("nope", KVNamespace)
    assert isinstance(caught.value, ClientError)
    with pytest.raises(NamespaceError, match="'plays' is a counter namespace, not kv"):
        loaded.get("plays", KVNamespace)


def test_overrides_add_and_replace_namespaces(tmp_path: Path) -> None:
    loaded = load_namespaces(write(tmp_path, GOOD))
    more = loaded.with_overrides(KVNamespace("extra"), CounterNamespace("plays", mode="eventual"))
    assert more.get("extra", KVNamespace).page_items == 100
    assert more.get("plays", CounterNamespace).mode == "eventual"
    assert loaded.get("plays", CounterNamespace).mode == "accurate"


# --- internal namespaces -------------------------------------------------------------------

INTERNAL = GOOD + """
[namespaces.secrets]
abstraction = "kv"
internal = true
"""


def test_internal_defaults_to_false_on_every_kind(tmp_path: Path) -> None:
    loaded = load_namespaces(write(tmp_path, GOOD))
    assert [ns.internal for ns in loaded.all()] == [False, False, False]


def test_an_internal_namespace_is_answered_exactly_as_an_unknown_one(tmp_path: Path) -> None:
    loaded = load_namespaces(write(tmp_path, INTERNAL))
    for kind in (KVNamespace, CounterNamespace, TimeSeriesNamespace):  # no hint of its kind
        with pytest.raises(NamespaceError) as caught:
            loaded.get("secrets", kind)
        assert str(caught.value) == "unknown namespace 'secrets'"


def test_listing_skips_internal_namespaces_and_all_includes_them(tmp_path: Path) -> None:
    loaded = load_namespaces(write(tmp_path, INTERNAL))
    assert [ns.name for ns in loaded] == ["events", "plays", "settings_kv"]
    assert len(loaded) == 3
    assert [ns.name for ns in loaded.all()] == ["events", "plays", "settings_kv", "secrets"]


def test_the_system_view_reaches_internal_namespaces_and_the_public_view_does_not(
    tmp_path: Path,
) -> None:
    loaded = load_namespaces(write(tmp_path, INTERNAL))
    system = loaded.system()
    assert system.get("secrets", KVNamespace).internal is True
    assert "secrets" in {ns.name for ns in system}
    with pytest.raises(NamespaceError, match="unknown namespace 'secrets'"):
        system.public().get("secrets", KVNamespace)
    with pytest.raises(NamespaceError, match="unknown namespace 'secrets'"):
        loaded.get("secrets", KVNamespace)  # the public view is unchanged by making the other
    extra = KVNamespace("more", internal=True)
    assert system.with_overrides(extra).get("more", KVNamespace) is extra
    with pytest.raises(NamespaceError, match="unknown namespace 'more'"):
        loaded.with_overrides(extra).get("more", KVNamespace)


# --- what is refused -----------------------------------------------------------------------

# (namespace table body, the key the error must name)
BAD_NAMESPACES = [
    ('abstraction = "kv"\ncolour = "blue"', "colour"),
    ('abstraction = "kv"\ninternal = "yes"', "internal"),
    ('abstraction = "counter"\ninternal = 1', "internal"),
    ('abstraction = "timeseries"\ninternal = "true"', "internal"),
    ('abstraction = "kv"\nmode = "eventual"', "mode"),  # a counter key in a kv namespace
    ('abstraction = "counter"\nsearch = true', "search"),
    ('abstraction = "kv"\npage_items = "ten"', "page_items"),
    ('abstraction = "kv"\npage_items = 10.5', "page_items"),
    ('abstraction = "kv"\npage_items = true', "page_items"),
    ('abstraction = "kv"\npage_items = 0', "page_items"),
    ('abstraction = "kv"\nchunk_threshold_bytes = -1', "chunk_threshold_bytes"),
    ('abstraction = "kv"\ncompress_over_bytes = -1', "compress_over_bytes"),
    ('abstraction = "kv"\ndefault_ttl_seconds = -5', "default_ttl_seconds"),
    ('abstraction = "kv"\ntombstone_gc_seconds = 0', "tombstone_gc_seconds"),
    ('abstraction = "kv"\ntombstone_gc_seconds = 1.5', "tombstone_gc_seconds"),
    ('abstraction = "kv"\ntombstone_gc_seconds = "1d"', "tombstone_gc_seconds"),
    ('abstraction = "kv"\nchunk_size_bytes = 2048\nchunk_threshold_bytes = 1024',
     "chunk_size_bytes"),
    ('abstraction = "kv"\npage_items = 500\nmax_page_items = 100', "page_items"),
    ('abstraction = "counter"\nmode = "sometimes"', "mode"),
    ('abstraction = "counter"\nmode = 3', "mode"),
    ('abstraction = "counter"\naccept_window_seconds = "5s"', "accept_window_seconds"),
    ('abstraction = "counter"\naccept_window_seconds = 0', "accept_window_seconds"),
    ('abstraction = "counter"\naccept_window_seconds = nan', "accept_window_seconds"),
    ('abstraction = "counter"\naccept_window_seconds = inf', "accept_window_seconds"),
    ('abstraction = "timeseries"\nseconds_per_slice = 3600\nseconds_per_bucket = 700',
     "seconds_per_bucket"),
    ('abstraction = "timeseries"\nseconds_per_slice = 60\nseconds_per_bucket = 120',
     "seconds_per_bucket"),
    ('abstraction = "timeseries"\nretention_days = inf', "retention_days"),
    ('abstraction = "timeseries"\nretention_days = -1', "retention_days"),
    ('abstraction = "timeseries"\nsearch = "yes"', "search"),
    ('abstraction = "timeseries"\nsearch = true\nsearch_fields = { a = "text" }',
     "search_fields"),
    ('abstraction = "timeseries"\nsearch = true\nsearch_fields = ["a"]', "search_fields"),
    ('abstraction = "timeseries"\nsearch_fields = { a = "keyword" }', "search_fields"),
    ('abstraction = "timeseries"\npage_events = 50\nmax_page_events = 10', "page_events"),
    ('abstraction = "timeseries"\nanalytics = "yes"', "analytics"),
    ('abstraction = "kv"\nanalytics = true', "analytics"),
    ('abstraction = "timeseries"\nanalytics = true\nretention_days = 90\n'
     'analytics_retention_days = 30', "analytics_retention_days"),
    ('abstraction = "timeseries"\nanalytics_max_groups = 0', "analytics_max_groups"),
    ('abstraction = "timeseries"\nanalytics_max_interval_days = -1',
     "analytics_max_interval_days"),
    ('abstraction = "timeseries"\nanalytics = true\nsearch_fields = { day = "keyword" }',
     "search_fields"),
    ('abstraction = "timeseries"\nanalytics = true\nsearch_fields = { series_id = "keyword" }',
     "search_fields"),
    ('abstraction = "kv"\nauthenticated_aggregates = 1', "authenticated_aggregates"),
    ('abstraction = "graph"', "abstraction"),
    ('abstraction = 1', "abstraction"),
    ("seconds_per_slice = 60", "abstraction"),
]


@pytest.mark.parametrize(("body", "key"), BAD_NAMESPACES)
def test_bad_setting_is_reported_with_file_namespace_and_key(
    tmp_path: Path, body: str, key: str
) -> None:
    text = f'[namespaces.ok]\nabstraction = "kv"\n\n[namespaces.broken]\n{body}\n'
    path = write(tmp_path, text)
    with pytest.raises(NamespaceConfigError) as caught:
        load_namespaces(path)
    message = str(caught.value)
    assert str(path) in message
    assert "'broken'" in message
    assert f"'{key}'" in message


@pytest.mark.parametrize(
    ("text", "where"),
    [
        ("[settings]\ncolour = 1\n[namespaces.a]\nabstraction = \"kv\"", "'colour'"),
        ("[settings]\nmax_clock_skew_seconds = \"1\"\n[namespaces.a]\nabstraction = \"kv\"",
         "'max_clock_skew_seconds'"),
        ("[settings]\nmax_clock_skew_seconds = 0\n[namespaces.a]\nabstraction = \"kv\"",
         "'max_clock_skew_seconds'"),
        ("settings = 3\n[namespaces.a]\nabstraction = \"kv\"", "[settings]"),
        ("[other]\nx = 1\n[namespaces.a]\nabstraction = \"kv\"", "'other'"),
        ("[namespaces.Bad-Name]\nabstraction = \"kv\"", "'Bad-Name'"),
        (f"[namespaces.{'n' * 49}]\nabstraction = \"kv\"", "n" * 49),
        ("[namespaces]\na = 3", "'a'"),
        ("[settings]\nmax_clock_skew_seconds = 1.0", "no [namespaces.NAME]"),
        ("", "no [namespaces.NAME]"),
    ],
)
def test_bad_file_structure_is_reported_with_the_file(
    tmp_path: Path, text: str, where: str
) -> None:
    path = write(tmp_path, text)
    with pytest.raises(NamespaceConfigError) as caught:
        load_namespaces(path)
    assert str(path) in str(caught.value)
    assert where in str(caught.value)


@pytest.mark.parametrize(
    "text",
    [
        "[namespaces.a\nabstraction = \"kv\"",
        "[namespaces.a]\nabstraction = kv",
        "[namespaces.a]\nabstraction = \"kv\"\n[namespaces.a]\nabstraction = \"kv\"",
    ],
)
def test_invalid_toml_is_reported_with_the_file(tmp_path: Path, text: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(NamespaceConfigError, match="not valid TOML") as caught:
        load_namespaces(path)
    assert str(path) in str(caught.value)


def test_config_error_is_a_value_error_not_a_client_error() -> None:
    assert issubclass(NamespaceConfigError, ValueError)
    assert not issubclass(NamespaceConfigError, ClientError)
