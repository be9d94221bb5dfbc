"""Client-side rate limits: one adaptive token bucket per cloud service and throttling scope.

Clouds throttle per account and region (AWS), per subscription (Azure Resource Manager) and per project and
region (Vertex AI). Every request a collector sends first takes a token from the bucket of its (service, scope),
so concurrent describes never exceed the configured rate however many threads send them. The rate adapts like
TCP congestion control (AIMD): a throttled answer halves it (at most once per cool-down, since the requests in
flight are throttled together), and every answered request adds ``increase / rate`` tokens per second, so the rate
climbs back by about ``increase`` per second up to the configured ceiling. The SDKs' own retries still handle the
throttled request itself.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

Sleep = Callable[[float], None]
Clock = Callable[[], float]

# Default ceilings, requests per second per (service, throttling scope); the burst is one second's worth.
# AWS: rates commonly observed without throttling for SageMaker's and Bedrock's read calls, per account and
#   region (AWS publishes no control-plane rates for them; a throttle halves the rate at once).
# Azure Resource Manager: the subscription read bucket refills 25 requests per second (ARM throttling docs).
# Vertex AI: "resource management (CRUD) requests per minute per region" (600, i.e. 10 per second, per project).
DEFAULT_RATES: Mapping[str, float] = {
    "sagemaker": 150.0,
    "bedrock": 50.0,
    "bedrock-agent": 50.0,
    "s3": 100.0,
    "s3control": 20.0,
    "iam": 15.0,
    "arm": 25.0,
    "vertex": 10.0,
    "storage": 50.0,
}
FALLBACK_RATE = 20.0
MIN_RATE = 0.5
COOL_DOWN_SECONDS = 1.0


class RateLimitError(ValueError):
    """A rate-limit setting that cannot be used (one line for the user)."""


def parse_rates(items: list[str] | tuple[str, ...]) -> dict[str, float]:
    """``["sagemaker=20", "arm=10"]`` -> ``{"sagemaker": 20.0, "arm": 10.0}``; RateLimitError on a bad item."""
    out: dict[str, float] = {}
    for item in items:
        service, sep, value = item.partition("=")
        try:
            rate = float(value)
        except ValueError:
            rate = -1.0
        if not sep or not service.strip() or not rate > 0:
            raise RateLimitError(f"rate limit {item!r}: expected SERVICE=REQUESTS_PER_SECOND with a positive number")
        out[service.strip().lower()] = rate
    return out


@dataclass
class AdaptiveBucket:
    """A token bucket whose rate follows AIMD between ``MIN_RATE`` and ``ceiling``."""

    ceiling: float
    clock: Clock = time.monotonic
    sleep: Sleep = time.sleep
    rate: float = 0.0
    _tokens: float = 0.0
    _stamp: float = 0.0
    _last_cut: float = float("-inf")
    _lock: threading.Lock = field(default_factory=threading.Lock)
    throttles: int = 0

    def __post_init__(self) -> None:
        self.rate = self.rate or self.ceiling
        self._tokens = self.burst
        self._stamp = self.clock()

    @property
    def burst(self) -> float:
        return max(1.0, self.rate)

    def acquire(self) -> float:
        """Take one token, waiting for it; returns the seconds waited."""
        with self._lock:
            now = self.clock()
            self._tokens = min(self.burst, self._tokens + (now - self._stamp) * self.rate)
            self._stamp = now
            self._tokens -= 1.0   # reserve now, so the threads queue in order behind the debt
            wait = -self._tokens / self.rate if self._tokens < 0 else 0.0
        if wait > 0:
            self.sleep(wait)
        return wait

    def throttled(self) -> None:
        """The service answered "slow down": halve the rate (once per cool-down) and drop the saved burst."""
        with self._lock:
            self.throttles += 1
            now = self.clock()
            if now - self._last_cut < COOL_DOWN_SECONDS:
                return
            self._last_cut = now
            self.rate = max(MIN_RATE, self.rate / 2)
            self._tokens = min(self._tokens, 0.0)

    def answered(self, increase: float = 1.0) -> None:
        """A request was answered without throttling: grow the rate additively toward the ceiling."""
        with self._lock:
            if self.rate < self.ceiling:
                self.rate = min(self.ceiling, self.rate + increase / self.rate)


class RateLimits:
    """The scan's buckets, one per (service, throttling scope), created on first use; thread-safe."""

    def __init__(self, rates: Mapping[str, float] | None = None, clock: Clock = time.monotonic,
                 sleep: Sleep = time.sleep) -> None:
        self.rates = {**DEFAULT_RATES, **(rates or {})}
        self._clock = clock
        self._sleep = sleep
        self._buckets: dict[tuple[str, str], AdaptiveBucket] = {}
        self._lock = threading.Lock()

    def bucket(self, service: str, scope: str) -> AdaptiveBucket:
        key = (service, scope)
        with self._lock:
            found = self._buckets.get(key)
            if found is None:
                found = self._buckets[key] = AdaptiveBucket(ceiling=self.rates.get(service, FALLBACK_RATE),
                                                            clock=self._clock, sleep=self._sleep)
            return found

    def throttles(self) -> dict[str, int]:
        """Throttled answers per ``service:scope`` so far (for the run summary and the benchmarks)."""
        with self._lock:
            return {f"{s}:{scope}": b.throttles for (s, scope), b in sorted(self._buckets.items()) if b.throttles}
