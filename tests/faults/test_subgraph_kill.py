"""Scenario 3: the subgraph killed -9 during load, then every unanswered write retried 30 s later.

Acknowledged writes must all be there after a crash (fire-and-forget ones excepted: they are
acknowledged when buffered, and a crash may lose them); each unanswered write, sent again with
its key and input 30 s after the last crash (well past the counters' 5 s accept window), must be
acked and applied exactly once.  `ROUNDS` crashes, each with at least 6 writes in flight, so that
some write is caught in every stage of a mutation (key claimed, some effects written, ...).
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from pathlib import Path

from .check import read_back
from .ledger import Ledger, State, Write
from .load import NO_ANSWER, Client, Load, Request
from .report import Result
from .scenario import Clock, new_load, running, subgraph

LATE_SECONDS = 30.0
ROUNDS = 3


async def test_a_killed_subgraph_loses_no_acked_write_and_late_retries_apply_once(
    store: tuple[str, str], tmp_path: Path, results: list[Result]
) -> None:
    kind, url = store
    result = Result("3 subgraph kill -9, late retries", kind)
    results.append(result)
    clock = Clock()
    ledger = Ledger()
    unanswered: list[Write] = []
    cut: list[tuple[str, float]] = []  # (process, kill time): requests it cut short
    in_flight: list[int] = []
    load = new_load(ledger, [], "s3", workers=8, readers=1, think=0.0)
    for round_ in range(1, ROUNDS + 1):
        process = await subgraph(url, tmp_path, f"subgraph-{round_}")
        client = Client(process.base)
        load.targets[:] = [client]
        load.stop = asyncio.Event()
        try:
            async with running(load):
                await load.wait_cycles(load.cycles_done() + (2 if round_ == 1 else 1), 180)
                await load.wait_in_flight(6, within=10)
                in_flight.append(load.in_flight)
                killed = clock.mark(f"killed_{round_}")
                process.kill()
        finally:
            process.kill()
            await client.close()
        cut.append((process.base, killed))
        unanswered += [w for w in ledger.unsettled() if w not in unanswered]
    result.notes["writes_in_flight_at_kills"] = in_flight
    result.notes["unanswered_by_kind"] = dict(Counter(w.kind for w in unanswered))

    last = await subgraph(url, tmp_path, "subgraph-last")
    client = Client(last.base)
    retries = Load(ledger, [client], load.run, load.judge, workers=8, readers=0)
    try:
        clock.mark("restarted")
        after_crash = await read_back(client, ledger, load.owned, ff_loss_allowed=True)
        clock.mark("read_back_after_crash")
        await asyncio.sleep(max(0.0, killed + LATE_SECONDS - time.monotonic()))
        clock.mark("late_retries")
        await retries.retry(unanswered, client)
        final = await read_back(client, ledger, load.owned, ff_loss_allowed=True)
        clock.mark("read_back_after_retries")
    finally:
        await client.close()
        last.terminate()

    retried = Counter(f"{w.kind}: {w.answers[-1]}" for w in unanswered)
    result.notes["late_retry_answers"] = dict(retried.most_common())
    result.notes["ledger"] = ledger.counts()
    result.notes["phases"] = clock.marks
    requests = load.requests + retries.requests
    result.notes["worst_latency_by_phase"] = clock.worst_latency_by_phase(requests)

    def cut_short(request: Request) -> bool:
        """Requests a kill cut short are the fault itself; any other failure counts."""
        return request.code == NO_ANSWER and any(
            request.target == base and request.ended >= at for base, at in cut)

    result.count_requests(requests, accept=cut_short)
    result.count_findings(load.findings, clock.began)
    result.count_read_back("read_back_after_crash", after_crash, final=False)
    result.count_read_back("read_back_after_retries", final)
    result.seconds = clock.seconds
    result.judge({
        "the kills left writes unanswered": bool(unanswered),
        "every late retry acked": all(w.state is State.ACKED for w in unanswered),
    })
    assert result.verdict == "PASS", result.explain() + f"\n{result.notes}"
