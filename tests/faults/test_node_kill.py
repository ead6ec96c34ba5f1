"""Scenario 1: one node of a 3-node ring (RF 3, LOCAL_QUORUM) killed -9 for 30 s, restarted.

The load runs throughout, retrying a write that failed (five times, backing off) as a client
would.  Failures are allowed only while the driver notices a change: `GRACE_SECONDS` after the
kill, and from the restart until `GRACE_SECONDS` after the node is back; every other request must
succeed.  Every read is compared with what was acknowledged; after the load, everything is read
back and the counters must be exact once rolled up.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from .check import read_back
from .ledger import Ledger
from .load import Client, Request
from .report import Result
from .ring import Ring
from .scenario import Clock, new_load, running, subgraph

VICTIM = 2
DOWN_SECONDS = 30.0
AFTER_SECONDS = 15.0
GRACE_SECONDS = 10.0


async def test_a_node_killed_for_30_s_costs_no_acked_write_and_no_wrong_answer(
    whole_ring: Ring, keyspace: str, tmp_path: Path, results: list[Result]
) -> None:
    ring = whole_ring
    result = Result("1 node kill -9 for 30 s", "cassandra")
    results.append(result)
    clock = Clock()
    ledger = Ledger()
    process = await subgraph(ring.url(keyspace), tmp_path, "subgraph")
    client = Client(process.base)
    load = new_load(ledger, [client], "s1", workers=4, readers=2, think=0.1, retries=5)
    try:
        async with running(load):
            await load.wait_cycles(2, within=180)
            killed = clock.mark("killed")
            await asyncio.to_thread(ring.kill, VICTIM)
            await asyncio.sleep(DOWN_SECONDS)
            restarting = clock.mark("restarting")
            await asyncio.to_thread(ring.start, VICTIM)
            back = clock.mark("back")
            await asyncio.sleep(AFTER_SECONDS)
        clock.mark("stopped")
        final = await read_back(client, ledger, load.owned)
        clock.mark("read_back")
    finally:
        await client.close()
        process.terminate()

    def noticing(request: Request) -> bool:
        return (killed <= request.ended <= killed + GRACE_SECONDS
                or restarting <= request.ended <= back + GRACE_SECONDS)

    outside = [r for r in load.requests if not noticing(r)]
    result.notes["worst_latency_outside_grace"] = round(
        max((r.ended - r.started for r in outside), default=0.0), 3)
    result.notes["ledger"] = ledger.counts()
    result.notes["phases"] = clock.marks
    result.notes["worst_latency_by_phase"] = clock.worst_latency_by_phase(load.requests)
    result.count_requests(load.requests, accept=noticing, latency_since=killed)
    result.count_findings(load.findings, clock.began)
    result.count_read_back("read_back", final)
    result.seconds = clock.seconds
    result.judge({"every write acked (client retries included)": not ledger.unsettled()})
    assert result.verdict == "PASS", result.explain() + f"\n{result.notes}"
