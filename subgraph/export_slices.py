"""`python -m subgraph export-slices NAMESPACE [--until T]`: copy closed slices to the archive.

What the serving process's background job does, by hand: every closed slice of the namespace
(ending at or before `--until`, if given) not yet in its Iceberg table is copied there, one
commit per slice, then the archive's retention applies.  Safe to run beside the service and to
run again: a slice already committed is skipped, and one interrupted is redone whole.
"""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime

from abstractions.errors import DataGatewayError


def _iso(seconds: int) -> str:
    return datetime.fromtimestamp(seconds, UTC).isoformat(timespec="seconds")


async def run(args: argparse.Namespace) -> int:
    from .app import Settings, open_gateway

    try:
        gateway = open_gateway(Settings(args.store, args.namespaces))
        gateway.analytics.namespace(args.namespace)
    except (ValueError, DataGatewayError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    await gateway.start(background=False)
    try:
        result = await gateway.analytics.export_slices(args.namespace, until=args.until)
    except DataGatewayError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    finally:
        await gateway.stop()
    for start in result.exported:
        print(f"exported slice {_iso(start)}")
    print(
        f"exported {len(result.exported)} slices ({result.events} events) of {result.namespace};"
        f" {len(result.skipped)} already in the archive"
    )
    return 0
