"""The read-back's own judgement: an eventual counter whose last write was a clear.

Until a rollup takes the clear in (after the 5 s accept window), such a counter reads its count
from before the clear: more than the ledger's final count, as a duplicate would.  The read-back
must wait for the rollup, not report a duplicate (it once did, in scenario 1, when a writer's
last write before the load stopped was that clear).
"""

from __future__ import annotations

from pathlib import Path

from .check import read_back
from .ledger import Ledger
from .load import CYCLE, Client, Writes
from .scenario import new_load, subgraph


async def test_an_eventual_counter_cleared_last_is_read_back_after_its_rollup(
    tmp_path: Path
) -> None:
    ledger = Ledger()
    process = await subgraph(f"sqlite:///{tmp_path / 'read-back.db'}", tmp_path, "subgraph")
    client = Client(process.base)
    load = new_load(ledger, [client], "rb", workers=1, readers=0, writing=False)
    owned = load.owned[0]
    writes = Writes(owned, ledger, seed=1)
    try:
        cle = "/".join(owned.counter("cle"))
        for _ in range(2 * len(CYCLE)):  # a round clears `cla`, the next `cle` (eventual)
            write = writes.next()
            await load.perform(write, retries=0)
            if write.effects == (("clear", cle, 0),):
                break
        assert write.effects == (("clear", cle, 0),)
        assert not ledger.unsettled()
        # (a fire-and-forget event may still be in its buffer: not what this test is about)
        final = await read_back(client, ledger, load.owned, settle=30.0, ff_loss_allowed=True)
    finally:
        await client.close()
        process.terminate()
    assert (final.lost, final.wrong, final.duplicates, final.unreadable) == (0, 0, 0, 0), \
        final.details
    assert final.counters[cle] == "0 (0)"
