"""The fault suite's fixtures: the ring, stores, and the summary table of the session.

Every test here is marked `faults`, which pyproject's `addopts` deselects: the ordinary suite
never runs it; `make test-faults` (and `make test`, after the ordinary suite) runs
`pytest -m faults tests/faults`.  SQLite scenarios need nothing; Cassandra ones need the ring
named by `SUBGRAPH_TEST_RING` (ring.py) and skip without it.  Cassandra scenarios run after the
SQLite ones, and the lagging-schema scenario last: it leaves its victim without its keyspace.
The table is printed at the end and written as JSON to `$SUBGRAPH_FAULTS_SUMMARY` (default:
`faults-summary.json` in pytest's base temp directory).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from .report import Result, table, write_json
from .ring import LAYOUT, Ring, RingError

HERE = Path(__file__).resolve().parent
RESULTS = pytest.StashKey[list[Result]]()
SUMMARY_PATH = pytest.StashKey[Path]()
LAST = ("test_schema_lag",)  # modules that leave the ring damaged for minutes


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    positions = [i for i, item in enumerate(items) if HERE in item.path.parents]
    mine = [items[i] for i in positions]
    for item in mine:
        item.add_marker(pytest.mark.faults)

    def order(item: pytest.Item) -> tuple[int, int]:
        on_ring = "sqlite" not in item.nodeid
        return (int(on_ring), int(item.path.stem in LAST))

    for position, item in zip(positions, sorted(mine, key=order), strict=True):
        items[position] = item


@pytest.fixture(scope="session")
def ring() -> Ring:
    """The ring, all nodes up; skips without `SUBGRAPH_TEST_RING`, fails on a ring it cannot
    control (a kill must never reach a node this suite did not start)."""
    try:
        found = Ring.from_env()
    except RingError as error:
        pytest.fail(str(error))
    if found is None:
        pytest.skip("needs a 3-node ring: SUBGRAPH_TEST_RING=127.0.0.11,127.0.0.12,127.0.0.13 "
                    "(make test-faults starts one)")
    if len(found) != 3:
        pytest.fail(f"the fault scenarios need a 3-node ring, SUBGRAPH_TEST_RING has {len(found)}")
    try:
        found.check_controlled()
    except RingError as error:
        pytest.fail(str(error))
    return found


@pytest.fixture
def whole_ring(ring: Ring) -> Ring:
    """The ring with every node running as `LAYOUT` says, without extra JVM options (a
    scenario that failed half-way may have left a node down; scenario 2 leaves its victim
    ignoring its peers' schema)."""
    ring.services("start", "cassandra", "--nodes", str(len(ring)))
    modes, extra = ring.modes(), ring.with_extra_jvm_options()
    for node, mode in LAYOUT.items():
        if modes.get(node) != mode or node in extra:
            ring.stop(node)
            ring.start(node, mode)
    return ring


@pytest.fixture(scope="session")
def keyspace() -> str:
    """The keyspace scenarios 1, 3 and 4 share (each writes its own ids): the subgraph makes
    ~36 tables in a new one, a minute on this ring."""
    return fresh_keyspace()


def fresh_keyspace() -> str:
    """A new keyspace name.  Scenario 2 needs its own: a fast-mode node forgets a schema change
    only until its commit log fills and flushes the schema tables (minutes, under load)."""
    return f"faults_{uuid.uuid4().hex[:10]}"


@pytest.fixture(params=["sqlite", "cassandra"])
def store(request: pytest.FixtureRequest, tmp_path: Path, keyspace: str) -> tuple[str, str]:
    """(kind, store URL): a fresh SQLite file, or a fresh keyspace on the whole ring."""
    if request.param == "sqlite":
        return "sqlite", f"sqlite:///{tmp_path / 'faults.db'}"
    ring: Ring = request.getfixturevalue("whole_ring")
    return "cassandra", ring.url(keyspace)


@pytest.fixture
def results(request: pytest.FixtureRequest) -> list[Result]:
    return request.config.stash.setdefault(RESULTS, [])


@pytest.fixture(scope="session", autouse=True)
def _summary_path(request: pytest.FixtureRequest,
                  tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    override = os.environ.get("SUBGRAPH_FAULTS_SUMMARY")
    path = Path(override) if override else tmp_path_factory.getbasetemp() / "faults-summary.json"
    request.config.stash[SUMMARY_PATH] = path.resolve()
    yield


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    results = terminalreporter.config.stash.get(RESULTS, None)
    if not results:
        return
    path = terminalreporter.config.stash.get(SUMMARY_PATH, None)
    terminalreporter.section("fault scenarios")
    for line in table(results):
        terminalreporter.write_line(line)
    for result in results:
        if result.verdict != "PASS":
            terminalreporter.write_line(result.explain())
    if path is not None:
        write_json(results, path)
        terminalreporter.write_line(f"details: {path}")
