"""Scenario 4: two subgraph processes on one store, every write sent to both at once.

The same idempotency key with the same input reaches two processes together (a client's hedged
request, or a retry that overtakes the first attempt): each write must apply exactly once.
A client retries (five times, backing off) until one of them acknowledges.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from .check import read_back
from .ledger import Ledger
from .load import Client
from .report import Result
from .scenario import Clock, new_load, running, subgraph

LOAD_SECONDS = 15.0


async def test_two_subgraphs_racing_the_same_keys_apply_each_write_once(
    store: tuple[str, str], tmp_path: Path, results: list[Result]
) -> None:
    kind, url = store
    result = Result("4 two subgraphs, same keys", kind)
    results.append(result)
    clock = Clock()
    ledger = Ledger()
    processes = [await subgraph(url, tmp_path, "subgraph-a"),
                 await subgraph(url, tmp_path, "subgraph-b")]
    clients = [Client(p.base) for p in processes]
    load = new_load(ledger, clients, "s4", workers=6, readers=2, think=0.02, retries=5,
                    race=True)
    try:
        async with running(load):
            await load.wait_cycles(1, within=180)
            clock.mark("loaded")
            await asyncio.sleep(LOAD_SECONDS)
        clock.mark("stopped")
        final = await read_back(clients[0], ledger, load.owned)
        clock.mark("read_back")
    finally:
        for client in clients:
            await client.close()
        for process in processes:
            process.terminate()

    result.notes["ledger"] = ledger.counts()
    result.notes["phases"] = clock.marks
    result.notes["worst_latency_by_phase"] = clock.worst_latency_by_phase(load.requests)
    # A racing write may be refused by one process while the other applies it (the client
    # retries until one acks); reads must not fail.
    result.count_requests(load.requests, accept=lambda r: r.kind == "write")
    result.count_findings(load.findings, clock.began)
    result.count_read_back("read_back", final)
    result.seconds = clock.seconds
    result.judge({"every write acked (client retries included)": not ledger.unsettled()})
    assert result.verdict == "PASS", result.explain() + f"\n{result.notes}"
