"""A benchmark double of `DataGateway` that answers from prepared results, for GraphQL-only timing.

It has what the request path touches: `namespaces` (counter modes), `calls`, and the two batch
reads the `_entities` query ends in, `timeseries.read_events_many` and `counters.get_many`, which
return pages and counts built once, up front.  Everything between the HTTP body and those calls
(schema, resolvers, dataloaders, entity building) is the real code.  The same data, as JSON, is
what the Node peer serves.

It also has what the app (`subgraph.app.create_app(..., gateway=...)`) needs to serve it over
HTTP (`bench.serve --prepared`): a lifecycle, a store that answers `/readyz`, and the counters
the metrics watch.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from abstractions.access import Access, Caller, CallerGateway
from abstractions.metrics import CallCounter, EventCounter, StoreCalls
from abstractions.namespaces import Namespaces, load_namespaces
from abstractions.timeseries import Event, EventPage
from abstractions.tokens import PageTokens

TITLES = ("t1", "t2", "t3", "t4", "t5")
DEVICES = ("tv", "phone", "laptop")
BASE_TIME = 1_767_225_600_123_456  # 2026-01-01T00:00:00.123456Z: fixed, so runs compare


def profile_ids(n: int) -> list[str]:
    return [f"p{i:04d}" for i in range(n)]


def playback_event(profile: str, n: int, *, now: int = BASE_TIME) -> Event:
    """The n-th newest playback of a profile, shaped like what recordPlayback writes."""
    return Event(
        profile,
        now - n * 3_600_000_123,
        f"bench-{profile}-{n}",
        {
            "title_id": TITLES[(sum(map(ord, profile)) + n) % len(TITLES)].encode(),
            "position_seconds": str(600 + 30 * n).encode(),
            "duration_seconds": str(1200 + 60 * n).encode(),
            "device": DEVICES[n % len(DEVICES)].encode(),
        },
    )


@dataclass(frozen=True, slots=True)
class PlaybackData:
    """Viewing-history pages (newest first, with real signed cursors) and play counts."""

    pages: dict[str, EventPage]
    counts: dict[str, int]

    @classmethod
    def build(cls, profiles: Sequence[str], events_per_profile: int) -> PlaybackData:
        tokens = PageTokens(b"bench")
        pages = {}
        for p in profiles:
            events = [playback_event(p, n) for n in range(events_per_profile)]
            cursors = [
                tokens.encode(f"ts:{p}", {"t": e.event_time, "i": e.event_id}) for e in events
            ]
            pages[p] = EventPage(events, cursors[-1], cursors)
        counts = {p: 7 * i + 3 for i, p in enumerate(profiles)}
        return cls(pages, counts)

    def to_json(self) -> dict[str, Any]:
        return {
            "pages": {
                p: {
                    "events": [
                        {
                            "series_id": e.series_id,
                            "event_time": e.event_time,
                            "event_id": e.event_id,
                            "items": {k: v.decode() for k, v in e.items.items()},
                        }
                        for e in page.events
                    ],
                    "cursors": page.cursors,
                    "next_page_token": page.next_page_token,
                }
                for p, page in self.pages.items()
            },
            "counts": self.counts,
        }


class PreparedTimeSeries:
    def __init__(self, pages: Mapping[str, EventPage], calls: CallCounter) -> None:
        self._pages = pages
        self._calls = calls
        self._empty = EventPage([], None, [])

    def buffered(self) -> dict[str, int]:
        return {}

    async def read_events_many(
        self, namespace: str, series_ids: Sequence[str], **query: Any
    ) -> dict[str, EventPage]:
        self._calls.record("timeseries", "read_events_many")
        return {s: self._pages.get(s, self._empty) for s in series_ids}


class PreparedCounters:
    def __init__(self, counts: Mapping[str, int], calls: CallCounter) -> None:
        self._counts = counts
        self._calls = calls

    def rollup_lag(self) -> dict[str, float]:
        return {}

    async def get_many(self, namespace: str, names: Sequence[str]) -> dict[str, int]:
        self._calls.record("counter", "get_many")
        return {n: self._counts.get(n, 0) for n in names}


class PreparedStore:
    """Nothing to open: always ready."""

    backend = "prepared"

    async def ping(self) -> None:
        return None


class PreparedGateway:
    """Duck-typed `DataGateway` for the read path of `_entities` on Profile."""

    def __init__(self, data: PlaybackData, namespaces: Namespaces | None = None) -> None:
        self.namespaces = namespaces or load_namespaces()
        self.calls = CallCounter()
        self.events = EventCounter()
        self.store_calls = StoreCalls()
        self.store = PreparedStore()
        self.timeseries = PreparedTimeSeries(data.pages, self.calls)
        self.counters = PreparedCounters(data.counts, self.calls)
        self.system_kv = None  # idempotency attempts: the read path writes none
        self.access = Access(self.namespaces, CallCounter())
        self.cache = None  # no look-aside cache: the data is in memory
        self.cache_stats = CallCounter()

    async def start(self, *, background: bool = True) -> None:
        return None

    async def refresh_cache_stats(self) -> None:
        return None

    async def stop(self) -> None:
        return None

    def for_caller(self, caller: Caller) -> CallerGateway:
        """The per-request view with its access checks, as the real gateway gives it."""
        return CallerGateway(
            None, self.timeseries, self.counters, self.access, caller  # type: ignore[arg-type]
        )
