"""Exponential backoff with full jitter, shared by every network sink.

Full jitter spreads the retries of many concurrent clients after a shared outage
(a busy indexer, a throttled API) instead of having them return in lock-step.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass
class Backoff:
    """Delay before retry ``attempt`` (1-based): uniform in [0, min(cap, base * 2**(attempt-1))]."""

    base: float = 0.5
    cap: float = 30.0
    attempts: int = 6
    sleep: Callable[[float], None] = field(default=time.sleep, repr=False)
    _rng: random.Random = field(default_factory=random.Random, repr=False)

    def delay(self, attempt: int, retry_after: float | None = None) -> float:
        ceiling = min(self.cap, self.base * (2 ** max(0, attempt - 1)))
        delay = self._rng.uniform(0, ceiling)
        if retry_after is not None:
            # The server said when to come back; honour it, but never beyond our own cap.
            delay = max(delay, min(retry_after, self.cap))
        return delay

    def wait(self, attempt: int, retry_after: float | None = None) -> None:
        self.sleep(self.delay(attempt, retry_after))


class RateLimiter:
    """At most ``rate`` calls per second, spaced evenly (a one-token bucket)."""

    def __init__(self, rate: float, clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.interval = 1.0 / rate if rate > 0 else 0.0
        self._clock, self._sleep = clock, sleep
        self._next = 0.0

    def acquire(self) -> None:
        now = self._clock()
        if now < self._next:
            self._sleep(self._next - now)
            now = self._next
        self._next = now + self.interval
