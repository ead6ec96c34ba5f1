"""In-process benchmarks run as `serve` runs: on its event loop and with its collector settings.

`serve` (`--loop auto`) runs on uvloop when it is installed, and a serving process freezes what
exists once its app is built and collects the young generation less often
(`subgraph.gc_tuning`).  A benchmark that times the request path in process measures what a
server does only under the same two settings; both are undone afterwards, so the benchmarks
that follow in the same `python -m bench` run are not affected.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
from collections.abc import Callable, Coroutine, Iterator
from typing import Any, TypeVar

from subgraph.gc_tuning import tune

T = TypeVar("T")


def run(main: Callable[[], Coroutine[Any, Any, T]]) -> tuple[T, str]:
    """`main()` run to the end on serve's loop; with the name of that loop."""
    try:
        import uvloop
    except ImportError:
        return asyncio.run(main()), "asyncio"
    # `uvloop.run` is younger than the oldest uvloop this project accepts (0.17).
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        return runner.run(main()), "uvloop"


@contextlib.contextmanager
def collector() -> Iterator[bool]:
    """Serve's collector settings inside, Python's own again after; yields whether they
    apply (`SUBGRAPH_GC_THRESHOLD=0` keeps Python's own, in `serve` too)."""
    before = gc.get_threshold()
    tuned = tune()
    try:
        yield tuned
    finally:
        if tuned:
            gc.unfreeze()
            gc.set_threshold(*before)
