"""`python -m subgraph repair-counters`, run as an operator would, on a SQLite file."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

from abstractions.tokens import IdempotencyToken
from subgraph.app import Settings, open_gateway
from tests.conftest import TEST_NAMESPACES

from .test_cli import cli

NS = "counter_eventual_fast"


async def test_repair_counters_fixes_a_corrupted_rollup_from_the_log(tmp_path: Path) -> None:
    store = f"sqlite:///{tmp_path}/x.db"
    settings = Settings(store, str(TEST_NAMESPACES))
    gateway = open_gateway(settings)
    await gateway.start(background=False)
    try:
        for name, plays in (("p-wrong", 31), ("p-right", 2)):
            for _ in range(plays):
                await gateway.counters.add(NS, name, 1, IdempotencyToken.new())
    finally:
        await gateway.stop()
    await asyncio.sleep(1.3)  # the adds are behind the rollup cutoff (accept window and skew)
    first = cli("repair-counters", NS, "--store", store, "--namespaces", str(TEST_NAMESPACES))
    assert first.returncode == 0, first.stderr
    assert sorted(line.split(":")[0] for line in first.stdout.splitlines()[:-1]) == [
        "added   p-right", "added   p-wrong"
    ]
    # The defect: a rollup saved from an empty read, 0 with 31 plays in the log.
    with sqlite3.connect(tmp_path / "x.db") as db:
        db.execute(
            "UPDATE counter_rollups SET count = 0 WHERE ns = ? AND name = 'p-wrong'", (NS,)
        )

    fixed = cli("repair-counters", NS, "p-wrong", "p-right", "--store", store,
                "--namespaces", str(TEST_NAMESPACES))
    assert fixed.returncode == 0, fixed.stderr
    lines = fixed.stdout.splitlines()
    assert lines[0].startswith("fixed   p-wrong: rollup said 0 as of ")
    assert ", the log says 31; now 31 as of " in lines[0]
    assert lines[1:] == [f"repaired 2 counters of {NS}: 1 were wrong, 0 had no rollup to check"]

    gateway = open_gateway(settings)
    await gateway.start(background=False)
    try:
        assert await gateway.counters.get_many(NS, ["p-wrong", "p-right"]) == {
            "p-wrong": 31, "p-right": 2
        }
    finally:
        await gateway.stop()
    again = cli("repair-counters", NS, "--store", store, "--namespaces", str(TEST_NAMESPACES))
    assert again.stdout.splitlines() == [
        f"repaired 2 counters of {NS}: 0 were wrong, 0 had no rollup to check"
    ]


def test_repair_counters_refuses_what_has_no_log(tmp_path: Path) -> None:
    store = f"sqlite:///{tmp_path}/x.db"
    for args, message in (
        (("page_views",), "best_effort"),
        (("nowhere",), "unknown namespace"),
        (("viewing_history",), "not counter"),
    ):
        out = cli("repair-counters", *args, "--store", store)
        assert out.returncode == 1 and message in out.stderr, out.stderr
