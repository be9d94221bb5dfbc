"""The scope task graph (collectors/tasks.py): bounded concurrency, continuations in the driving thread, and
paginated chains (``first``) ahead of queued describes."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest

from aispm.collectors.tasks import TaskGraph


def test_first_tasks_go_ahead_of_queued_ones() -> None:
    ran: list[str] = []
    gate = threading.Event()

    def task(name: str) -> str:
        if name == "blocker":
            assert gate.wait(10)
        ran.append(name)
        return name

    with TaskGraph(1) as graph:
        done: list[str] = []
        graph.add(task, "blocker", then=lambda r, e: done.append(r))
        for i in range(4):
            graph.add(task, f"describe-{i}", then=lambda r, e: done.append(r))
        graph.add(task, "list", then=lambda r, e: done.append(r), first=True)
        gate.set()
        graph.run()
    # The pool holds one task beyond the one it runs (describe-0); the list goes ahead of all the others.
    assert ran == ["blocker", "describe-0", "list", "describe-1", "describe-2", "describe-3"]
    assert sorted(done) == sorted(ran)


def test_never_more_than_workers_in_flight_and_continuations_add_tasks() -> None:
    lock = threading.Lock()
    now = most = 0
    driver = threading.get_ident()
    threads: set[int] = set()

    def call(i: int) -> int:
        nonlocal now, most
        with lock:
            now += 1
            most = max(most, now)
        time.sleep(0.005)
        with lock:
            now -= 1
        return i

    results: list[int] = []
    with TaskGraph(3) as graph:
        def listed(page: Any, exc: Exception | None) -> None:
            threads.add(threading.get_ident())
            assert exc is None
            for i in page:
                graph.add(call, i, then=lambda r, e: (threads.add(threading.get_ident()), results.append(r)))

        graph.add(lambda: list(range(20)), then=listed, first=True)
        graph.run()
    assert sorted(results) == list(range(20))
    assert most == 3
    assert threads == {driver}   # every continuation ran in the thread that drove the graph


def test_a_task_error_reaches_its_continuation() -> None:
    seen: list[tuple[Any, str]] = []

    def fail() -> None:
        raise ValueError("boom")

    with TaskGraph(2) as graph:
        graph.add(fail, then=lambda r, e: seen.append((r, str(e))))
        graph.run()
    assert seen == [(None, "boom")]


def test_a_failing_continuation_stops_the_graph() -> None:
    with TaskGraph(2) as graph:
        graph.add(lambda: 1, then=lambda r, e: (_ for _ in ()).throw(RuntimeError("bad continuation")))
        with pytest.raises(RuntimeError, match="bad continuation"):
            graph.run()
