"""The SQLite reader threads: one reads at a time, the next only beside a slow read.

Python's `sqlite3` gives the GIL up around every `sqlite3_step` (every row) and takes it back
for the row's objects, so two reader threads decoding at once hand the GIL to each other (and
to the event loop) thousands of times per page.  Measured on the benchmarks' 100-profile query
at 8 requests in flight: 44-48 ms of CPU per request with two readers free to run together,
35 ms with one.  One reader alone, though, would let one slow read (a filter over a long
history) hold every other up behind it.

So reader 0 takes the next read whenever it is free; reader `i` takes one only while readers
0 to `i - 1` are all busy with reads that have run for `spill` seconds or more.  Reads start
in the order they came.  A thread never polls: it sleeps until a read comes, a reader frees
up, or the read that holds it back turns slow.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import Executor, Future
from functools import partial
from typing import Any, TypeVar

T = TypeVar("T")


class ReaderPool(Executor):
    """`width` threads, admitted as the module docstring says."""

    def __init__(self, width: int, spill: float, name: str = "sqlite-reader") -> None:
        self.spill = spill
        self._cond = threading.Condition()
        self._jobs: deque[tuple[Future[Any], Callable[[], Any]]] = deque()
        self._since: list[float | None] = [None] * width  # when each reader's read started
        self._closed = False
        self._threads = [
            threading.Thread(target=self._work, args=(i,), name=f"{name}_{i}", daemon=True)
            for i in range(width)
        ]
        for thread in self._threads:
            thread.start()

    def submit(self, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> Future[T]:
        future: Future[T] = Future()
        with self._cond:
            if self._closed:
                raise RuntimeError("cannot schedule new reads after shutdown")
            self._jobs.append((future, partial(fn, *args, **kwargs) if args or kwargs else fn))
            self._cond.notify_all()
        return future

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        """No new reads; the queued ones still run (their callers are waiting for them)."""
        with self._cond:
            self._closed = True
            while cancel_futures and self._jobs:
                self._jobs.popleft()[0].cancel()
            self._cond.notify_all()
        if wait:
            for thread in self._threads:
                thread.join()

    def _wait_for_turn(self, index: int) -> float | None:
        """Seconds to sleep before this reader may take a read, 0 if now, None if never."""
        if not self._jobs:
            return None
        now = time.monotonic()
        wait = 0.0
        for started in self._since[:index]:
            if started is None:  # a reader before this one is free: it takes the read
                return None
            wait = max(wait, started + self.spill - now)
        return wait

    def _work(self, index: int) -> None:
        while True:
            with self._cond:
                while True:
                    if self._closed and not self._jobs:
                        return
                    wait = self._wait_for_turn(index)
                    if wait is not None and wait <= 0:
                        break
                    self._cond.wait(wait)
                future, fn = self._jobs.popleft()
                self._since[index] = time.monotonic()
                self._cond.notify_all()  # the next reader's wait now counts from this read
            try:
                if future.set_running_or_notify_cancel():
                    try:
                        result = fn()
                    except BaseException as exc:
                        future.set_exception(exc)
                    else:
                        future.set_result(result)
            finally:
                with self._cond:
                    self._since[index] = None
                    self._cond.notify_all()
