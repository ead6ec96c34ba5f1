"""Scenario 2: a node restarted with a lagging schema answers right or UNAVAILABLE, never empty.

How the lag is made: node 3 runs in the fast mode (`unsafesystem`: schema changes not flushed;
ring.LAYOUT) while a new keyspace and its tables are created, then is killed -9: it comes back
without them (its commit-log replay skips their mutations).  It would pull the schema from a
peer within a second; started with `cassandra.skip_schema_check_for_endpoints` naming its
peers, it does not, so its schema lags for the whole scenario, as a node's does for minutes
when no peer can give it the schema.  Reads go through the subgraph all along, from before the
kill until `AFTER_SECONDS` after the node is back, and are compared with what was acknowledged.
UNAVAILABLE (and REQUEST_TIMEOUT) are honest answers; an empty or short one is wrong.  Runs
last: the next session's `whole_ring` restarts the victim to let it catch up.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from .check import read_back
from .conftest import fresh_keyspace
from .ledger import Ledger
from .load import Client, Load
from .report import Result
from .ring import LAYOUT, Ring
from .scenario import Clock, new_load, running, subgraph

VICTIM = 3
DOWN_SECONDS = 5.0
AFTER_SECONDS = 30.0
HONEST = ("UNAVAILABLE", "REQUEST_TIMEOUT")
SKIPPED = "Skipped"  # CommitLogReplayer: "Skipped N mutations from unknown ... CF with id ..."


async def test_reads_on_a_node_that_lost_the_schema_are_right_or_unavailable(
    whole_ring: Ring, tmp_path: Path, results: list[Result]
) -> None:
    assert LAYOUT[VICTIM] == "fast", "the victim must learn the schema in the fast mode"
    ring = whole_ring
    keyspace = fresh_keyspace()  # made now: the victim forgets it only until a flush
    result = Result("2 node back with lagging schema", "cassandra")
    results.append(result)
    clock = Clock()
    ledger = Ledger()
    process = await subgraph(ring.url(keyspace), tmp_path, "subgraph")
    client = Client(process.base)
    writes = new_load(ledger, [client], "s2", workers=6, readers=1, think=0.02)
    reads = Load(ledger, [client], writes.run, writes.judge, workers=6, readers=3, think=0.05,
                 writing=False)
    try:
        async with running(writes):
            await writes.wait_cycles(2, within=180)
        before = await read_back(client, ledger, writes.owned)
        clock.mark("written")
        async with running(reads):
            await asyncio.sleep(2.0)
            killed = clock.mark("killed")
            await asyncio.to_thread(ring.kill, VICTIM)
            await asyncio.sleep(DOWN_SECONDS)
            clock.mark("restarting")
            await asyncio.to_thread(ring.start, VICTIM, None, ring.ignore_schema_of_peers(VICTIM))
            clock.mark("back")
            result.notes["victim_serves_the_keyspace_when_back"] = await asyncio.to_thread(
                ring.serves_keyspace, VICTIM, keyspace)
            await asyncio.sleep(AFTER_SECONDS)
        clock.mark("read")
        result.notes["victim_serves_the_keyspace_at_the_end"] = await asyncio.to_thread(
            ring.serves_keyspace, VICTIM, keyspace)
    finally:
        await client.close()
        process.terminate()

    log = ring.system_log(VICTIM).read_text(errors="replace")
    result.notes["victim_replay_skipped_unknown_tables"] = log.count(SKIPPED)
    result.notes["victim_said_keyspace_missing"] = log.count(f"keyspace {keyspace} does not exist")
    result.notes["ledger"] = ledger.counts()
    result.notes["phases"] = clock.marks
    requests = writes.requests + reads.requests
    result.notes["worst_latency_by_phase"] = clock.worst_latency_by_phase(requests)
    result.count_requests(requests, accept=lambda r: r.kind == "read" and r.code in HONEST,
                          latency_since=killed)
    result.count_findings(writes.findings + reads.findings, clock.began)
    result.count_read_back("read_back_before_the_kill", before)
    result.seconds = clock.seconds
    result.judge({
        "every write acked before the fault": not ledger.unsettled(),
        "the victim came back without the keyspace":
            not result.notes["victim_serves_the_keyspace_when_back"],
    })
    assert result.verdict == "PASS", result.explain() + f"\n{result.notes}"
