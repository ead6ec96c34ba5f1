"""The limits a caller can hit, in words, for the descriptions that state them.

Each number comes from where the limit is enforced: the request limits' defaults
(`subgraph.limits.Limits`), the namespace settings' defaults (`abstractions.namespaces`), the
abstractions' fixed bounds, and, for the namespaces a field is bound to (`viewing_history`,
`title_plays`), the shipped namespaces file.  So a changed default changes the contract (`make
schema`, and the staleness test says so).  An operator's environment or namespaces file may set
other values: `namespaces { settings }` lists each namespace's, the README the environment's.
"""

from __future__ import annotations

from abstractions.counter import MAX_NAME
from abstractions.kv import MAX_ID_LENGTH
from abstractions.namespaces import (
    DEFAULT_FILE,
    CounterNamespace,
    KVNamespace,
    Settings,
    TimeSeriesNamespace,
    load_namespaces,
)
from abstractions.timeseries import MAX_CONDITIONS, MAX_EVENT_ID, MAX_ITEM_KEY, MAX_SERIES_ID
from subgraph.idempotency import MAX_KEY_LENGTH
from subgraph.limits import Limits

LIMITS = Limits()
KV = KVNamespace(name="defaults")
TS = TimeSeriesNamespace(name="defaults")
COUNTER = CounterNamespace(name="defaults")
SKEW = Settings().max_clock_skew_seconds
_SHIPPED = load_namespaces(DEFAULT_FILE)
HISTORY = _SHIPPED.get("viewing_history", TimeSeriesNamespace)
TITLE_PLAYS = _SHIPPED.get("title_plays", CounterNamespace)
PROFILE_PLAYS = _SHIPPED.get("profile_plays", CounterNamespace)


def size(n: int) -> str:
    """Bytes as people read them: 16 MiB, 64 KiB, 1024 bytes."""
    if n % (1024 * 1024) == 0:
        return f"{n // (1024 * 1024)} MiB"
    if n % 1024 == 0 and n > 1024:
        return f"{n // 1024} KiB"
    return f"{n} bytes"


def duration(seconds: float) -> str:
    """Seconds as people read them: 7 days, 1 day, 5 s."""
    for unit, length in (("day", 86400), ("hour", 3600)):
        if seconds >= length and seconds % length == 0:
            count = int(seconds // length)
            return f"{count} {unit}{'s' if count > 1 else ''}"
    return f"{seconds:g} s"


def eventual_lag(ns: CounterNamespace) -> float:
    """How long after an add an EVENTUAL read counts it, at most, while rollups run: a rollup
    counts adds older than the accept window plus the clock skew, and the background pass runs
    every one or two rollup intervals (abstractions/counter.py, `_rollup_loop`)."""
    return ns.accept_window_seconds + SKEW + 2 * ns.rollup_interval_seconds


# --- every request ------------------------------------------------------------------------

REQUEST = (
    f"Every request: a body of at most {size(LIMITS.max_body_bytes)}, a document of at most "
    f"{LIMITS.max_document_bytes} bytes and {LIMITS.max_tokens} tokens, at most "
    f"{LIMITS.max_depth} field levels deep and {LIMITS.max_aliases} aliases, at most "
    f"{LIMITS.max_variable_values} JSON values in `variables` (nested at most "
    f"{LIMITS.max_variable_depth} deep), an estimated cost of at most {LIMITS.max_cost}, and "
    f"{LIMITS.request_timeout:g} s to run."
)

# --- arguments ------------------------------------------------------------------------------

FIRST = f"Page size: 1 to {LIMITS.max_first}."
AFTER = "Cursor from `pageInfo.endCursor` of the previous page."
KV_FIRST = (
    f"Items per page: 1 to {LIMITS.max_first} (or the namespace's `max_page_items`, if lower)."
)
TS_FIRST = (
    f"Page size: 1 to {LIMITS.max_first} (or the namespace's `max_page_events`, if lower)."
)
TOP_FIRST = f"How many titles, most played first: 1 to {LIMITS.max_first}."
DISTINCT_FIRST = f"At most this many values (1 to {LIMITS.max_first}), most common first."
KV_ID = f"The record id: 1 to {MAX_ID_LENGTH} characters."
SERIES_ID = f"The time series id: 1 to {MAX_SERIES_ID} characters."
EVENT_ID = f"1 to {MAX_EVENT_ID} characters"
ITEM_KEY = f"The item key: 1 to {MAX_ITEM_KEY} characters."
KV_KEY = (
    f"The item key: at most {size(KV.max_key_bytes)} of UTF-8 (the namespace's `max_key_bytes`)."
)
COUNTER_NAME = f"The counter: 1 to {MAX_NAME} characters."
COUNTER_NAMES = (
    f"The counters: at most {LIMITS.max_names} names, each 1 to {MAX_NAME} characters."
)
KV_KEYS = (
    f"Only these keys: at most {KV.max_items_per_request} (the namespace's "
    f"`max_items_per_request`), each at most {size(KV.max_key_bytes)}."
)
PAGE_BYTES = (
    "Stop a page after about this many bytes: at least 1 (default: the namespace's "
    f"`page_bytes`, {size(KV.page_bytes)})."
)
CONDITIONS = f"All must hold: at most {MAX_CONDITIONS} conditions."
SEARCH = f"Conditions on item values (default: every event): at most {MAX_CONDITIONS}."
IDEMPOTENCY_KEY = (
    f"1 to {MAX_KEY_LENGTH} characters, not blank, no control characters. One key per logical "
    "write: a retry with the same key and input changes nothing; the key with another input is "
    "refused (IDEMPOTENCY_KEY_REUSED)."
)
REPRESENTATIONS = (
    "Entity references, each `{__typename: \"Profile\" | \"Title\", id: ID}`: at most "
    f"{LIMITS.max_representations} per request."
)

# --- writes ---------------------------------------------------------------------------------

PUT_ITEMS = (
    f"1 to {LIMITS.max_items_per_write} (or the namespace's `max_items_per_request`, if "
    f"lower), each key once. Each value at most {size(KV.max_value_bytes)} "
    f"(`max_value_bytes`), keys and values together at most {size(KV.max_request_bytes)} "
    f"(`max_request_bytes`), within the request body's {size(LIMITS.max_body_bytes)}."
)
DELETE_KEYS = (
    f"Delete these keys: 1 to {LIMITS.max_items_per_write}, each at most "
    f"{size(KV.max_key_bytes)}. Keys or a range, not both."
)
DELETE_ITEMS = (
    f"1 to {LIMITS.max_items_per_write} keys, each at most {size(KV.max_key_bytes)}, or a "
    "range with `start` before `end`."
)
TTL = (
    "Expire the item after this many seconds: at least 1 (default: the namespace's "
    "`default_ttl_seconds`; 0, never)."
)
EVENTS = (
    f"1 to {LIMITS.max_items_per_write} (or the namespace's `max_events_per_write`, if lower)."
)
WRITE_EVENTS = (
    f"{EVENTS} Each event holds 1 to {TS.max_items_per_event} items of at most "
    f"{size(TS.max_item_bytes)} each, and its time is at most the namespace's accept window "
    f"old (default {duration(TS.accept_window_seconds)}): the namespace's `max_items_per_event`, "
    "`max_item_bytes`, `accept_window_seconds`."
)
EVENT_ITEMS = (
    f"Its items: 1 to {TS.max_items_per_event} (the namespace's `max_items_per_event`), each "
    "key once."
)
ITEM_VALUE_BYTES = f"at most {size(TS.max_item_bytes)} (the namespace's `max_item_bytes`)"
EVENT_TIME = (
    "When it happened (default: now): no older than the namespace's `accept_window_seconds` "
    f"(default {duration(TS.accept_window_seconds)}) and at most {SKEW:g} s ahead."
)
STARTED_AT = (
    "When playback started (default: now): no older than `viewing_history`'s accept window "
    f"({duration(HISTORY.accept_window_seconds)}) and at most {SKEW:g} s ahead."
)
PROFILE_ID = f"Who watched: 1 to {MAX_SERIES_ID} characters."
TITLE_ID = f"What was watched: 1 to {MAX_NAME} characters."
DEVICE = f"The device: at most {size(HISTORY.max_item_bytes)} of UTF-8."

# --- counts after a write ---------------------------------------------------------------------

EVENTUAL = (
    "Adds are logged and rolled up in the background: a read counts an add once a rollup passed "
    "it, `accept_window_seconds` + `max_clock_skew_seconds` + up to two "
    f"`rollup_interval_seconds` after it ({eventual_lag(COUNTER):g} s with the defaults)."
)
TITLE_PLAY_COUNT = (
    f"The title's play count (`title_plays`, {TITLE_PLAYS.mode.upper()} as shipped). Read "
    "right after the write, an EVENTUAL count does not include this play yet: it shows once a "
    f"rollup passed it, within about {eventual_lag(TITLE_PLAYS):g} s (see CounterMode.EVENTUAL); "
    "an ACCURATE count includes it."
)
PROFILE_PLAY_COUNT = (
    f"The profile's play count (`profile_plays`, {PROFILE_PLAYS.mode.upper()} as shipped): an "
    "ACCURATE count includes this play."
)
