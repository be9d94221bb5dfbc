"""A scope unit's calls as a small task graph on one bounded pool.

Cloud APIs are latency-bound: a scope's list calls, describes and joins should all be in flight together, up to
the scope's concurrency, instead of one kind after another. Tasks run on the pool; each task's continuation runs
on the thread that drives the graph (so results are gathered without locks) and may add further tasks, e.g. the
describes of what a list call returned, or the list of a kind that exists only next to another.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from typing import Any, TypeVar

T = TypeVar("T")
R = TypeVar("R")
Then = Callable[[Any, Exception | None], None]


class TaskGraph:
    """Runs tasks with at most ``workers`` in flight; continuations run in ``run()``'s thread."""

    def __init__(self, workers: int) -> None:
        self.workers = max(1, workers)
        self._pool = ThreadPoolExecutor(max_workers=self.workers, thread_name_prefix="aispm-scope")
        self._pending: dict[Future[Any], Then] = {}

    def __enter__(self) -> TaskGraph:
        return self

    def __exit__(self, *exc: object) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)

    def add(self, fn: Callable[..., Any], *args: Any, then: Then) -> None:
        """Run ``fn(*args)``; ``then(result, None)`` or ``then(None, exception)`` follows in ``run()``."""
        self._pending[self._pool.submit(fn, *args)] = then

    def run(self) -> None:
        """Drive the graph until no task is left (continuations may add more)."""
        while self._pending:
            done, _ = wait(list(self._pending), return_when=FIRST_COMPLETED)
            for future in done:
                then = self._pending.pop(future)
                error = future.exception()
                if error is not None and not isinstance(error, Exception):
                    raise error
                then(None if error is not None else future.result(), error)

    def map(self, fn: Callable[[T], R], items: Iterable[T]) -> list[R]:
        """``[fn(i) for i in items]`` on the pool, in order (for joins made after the graph has run)."""
        return list(self._pool.map(fn, items))
