"""A scope unit's calls as a small task graph on one bounded pool.

Cloud APIs are latency-bound: a scope's list calls, describes and joins should all be in flight together, up to
the scope's concurrency, instead of one kind after another. Tasks run on the pool; each task's continuation runs
on the thread that drives the graph (so results are gathered without locks) and may add further tasks, e.g. the
describes of what a list call returned, or the list of a kind that exists only next to another.

Tasks wait for a free worker in two queues. ``first`` tasks (a paginated list or search: its pages follow one
another, and the describes of its kind wait for it) go ahead of the rest, so such a chain never waits behind
hundreds of describes to run alone at the end of the scope. The pool itself holds one task more per worker than
it runs, so a worker that finishes starts the next task without waiting for the graph's thread.
"""

from __future__ import annotations

from collections import deque
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
        self._first: deque[tuple[Callable[..., Any], tuple[Any, ...], Then]] = deque()
        self._rest: deque[tuple[Callable[..., Any], tuple[Any, ...], Then]] = deque()

    def __enter__(self) -> TaskGraph:
        return self

    def __exit__(self, *exc: object) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)

    def add(self, fn: Callable[..., Any], *args: Any, then: Then, first: bool = False) -> None:
        """Run ``fn(*args)``, ahead of the tasks that are not ``first`` when workers are busy; ``then(result,
        None)`` or ``then(None, exception)`` follows in ``run()``."""
        (self._first if first else self._rest).append((fn, args, then))
        self._start()

    def _start(self) -> None:
        while len(self._pending) < 2 * self.workers and (self._first or self._rest):
            fn, args, then = (self._first or self._rest).popleft()
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
            self._start()

    def map(self, fn: Callable[[T], R], items: Iterable[T]) -> list[R]:
        """``[fn(i) for i in items]`` on the pool, in order (for joins made after the graph has run)."""
        return list(self._pool.map(fn, items))
