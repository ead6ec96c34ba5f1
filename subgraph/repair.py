"""`python -m subgraph repair-counters NAMESPACE [NAME...]`: recompute counters from their log.

For each named counter (default: every counter with a log, a rollup or a checkpoint in the
namespace), the count is recomputed from the checkpoint's base and the event log, first as of
the stored rollup's time, so that a rollup that disagrees with the log is reported, then up to
the rollup cutoff; the result replaces the stored rollup.  Safe while the service runs (its
rollups converge on the repaired row) and safe to run again.  Use it after a store outage, or
whenever a count is suspected wrong: rollups heal themselves when late events arrive, but not
when a row was damaged outside the abstraction.
"""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime

from abstractions.counter import Repaired
from abstractions.errors import DataGatewayError


def _iso(micros: int) -> str:
    return datetime.fromtimestamp(micros / 1e6, UTC).isoformat(timespec="seconds")


def describe(repaired: Repaired) -> str | None:
    """One line for a counter whose stored rollup was wrong, missing or unverifiable."""
    if repaired.stored is None and repaired.rollup is None and repaired.count == 0:
        return None  # nothing at all under that name
    now = (
        f"now {repaired.rollup.count} as of {_iso(repaired.rollup.as_of)}"
        if repaired.rollup is not None
        else f"now {repaired.count}, past 64 bits: not stored"
    )
    stored = repaired.stored
    if stored is None:
        return f"added   {repaired.name}: no rollup; {now}"
    said = f"rollup said {stored.count} as of {_iso(stored.as_of)}"
    if repaired.expected is None:
        return f"rebuilt {repaired.name}: {said}, older than the log reaches back; {now}"
    if repaired.wrong:
        return f"fixed   {repaired.name}: {said}, the log says {repaired.expected}; {now}"
    return None


async def run(args: argparse.Namespace) -> int:
    """The command: open the gateway on the given store, repair, report."""
    from .app import Settings, open_gateway

    try:
        gateway = open_gateway(Settings(args.store, args.namespaces))
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    await gateway.start(background=False)
    try:
        repaired = await gateway.counters.repair(args.namespace, args.names or None)
    except DataGatewayError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    finally:
        await gateway.stop()
    lines = [line for r in repaired if (line := describe(r)) is not None]
    for line in lines:
        print(line)
    wrong = sum(r.wrong for r in repaired)
    print(f"repaired {len(repaired)} counters of {args.namespace}: {wrong} were wrong, "
          f"{len(lines) - wrong} had no rollup to check")
    return 0
