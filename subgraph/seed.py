"""Demo data, so that a first `make serve` shows something in GraphiQL."""

from __future__ import annotations

import logging

from abstractions.gateway import DataGateway
from abstractions.kv import Item
from abstractions.timeseries import Event
from abstractions.tokens import IdempotencyToken, now_micros

log = logging.getLogger("subgraph.seed")

MARKER_NS = "profile_settings"  # no TTL there: the marker must outlive restarts
MARKER_ID = "demo-seed"
PROFILES = ("p1", "p2", "p3")
TITLES = ("t1", "t2", "t3")
DEVICES = ("tv", "phone", "laptop")


async def seed_demo_data(gateway: DataGateway, *, force: bool = False) -> bool:
    """Write demo viewing history, play counts and settings once; returns whether it wrote."""
    marker = await gateway.kv.get_items(MARKER_NS, MARKER_ID, keys=[b"seeded"])
    if marker.items and not force:
        return False
    now = now_micros()
    events: list[Event] = []
    for p, profile in enumerate(PROFILES):
        for n in range(6):
            title = TITLES[(p + n) % len(TITLES)]
            started = now - (n * 3 + p + 1) * 3600 * 1_000_000
            events.append(Event(profile, started, f"demo-{profile}-{n}", {
                "title_id": title.encode(),
                "position_seconds": str(600 + 300 * n).encode(),
                "duration_seconds": str(1200 + 60 * n).encode(),
                "device": DEVICES[n % len(DEVICES)].encode(),
            }))
    await gateway.timeseries.write_events("viewing_history", events)
    for event in events:
        # Counter adds must be fresh (inside the accept window); the nonce keeps them unique.
        token = IdempotencyToken(now_micros(), f"seed-{event.event_id}")
        await gateway.counters.add("profile_plays", event.series_id, 1, token)
        await gateway.counters.add("title_plays", event.items["title_id"].decode(), 1, token)
    for profile in PROFILES:
        await gateway.kv.put_items("profile_settings", profile, [
            Item(b"language", b"en"), Item(b"autoplay", b"true"), Item(b"maturity", b"adult"),
        ], IdempotencyToken.new())
    await gateway.kv.put_items(
        MARKER_NS, MARKER_ID, [Item(b"seeded", str(now).encode())], IdempotencyToken.new()
    )
    log.info("wrote demo data: %d playback events for %s", len(events), ", ".join(PROFILES))
    return True
