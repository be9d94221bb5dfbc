"""Calls inside one Azure subscription: concurrent up to ``scope_workers``, each attempt paced by the
subscription's Resource Manager bucket, a 429 halving it, and the same records and errors as one call at a time."""

from __future__ import annotations

import threading
import time
from typing import Any

from azure.core.pipeline import PipelineRequest, PipelineResponse
from azure.core.pipeline.policies import HTTPPolicy

from aispm.collectors.azure import build
from aispm.collectors.azure.arm import ArmSettings, throttling_scope
from aispm.collectors.azure.collector import AzureCollector
from aispm.collectors.base import CollectOptions, CollectResult
from aispm.collectors.ratelimit import RateLimits
from aispm.testing.fake_arm import FakeArm
from tests.support.azure import AllowPlainHttpForTests, StaticTokenCredential

PROD = "267e4902-d322-50d3-a641-c983590c3b5b"


class InFlight(HTTPPolicy[Any, Any]):
    """A per-call policy adding a round trip's delay to every call and recording how many were in flight."""

    def __init__(self, delay: float = 0.05) -> None:
        super().__init__()
        self.delay = delay
        self.now = 0
        self.most = 0
        self._lock = threading.Lock()

    def send(self, request: PipelineRequest[Any]) -> PipelineResponse[Any, Any]:
        with self._lock:
            self.now += 1
            self.most = max(self.most, self.now)
        try:
            time.sleep(self.delay)
            return self.next.send(request)
        finally:
            with self._lock:
                self.now -= 1


def _collector(fake: FakeArm, scope_workers: int, limits: RateLimits | None = None,
               *policies: Any) -> AzureCollector:
    settings = ArmSettings(endpoint=fake.url, credential=StaticTokenCredential(fake.token),
                           per_call_policies=(AllowPlainHttpForTests(), *policies), retry_backoff_factor=0.01,
                           scope_workers=scope_workers)
    return AzureCollector(subscriptions=(PROD,), settings=settings, limits=limits or RateLimits())


def _collect(c: AzureCollector) -> CollectResult:
    units, errors = c.plan()
    assert errors == [] and len(units) == 1
    return c.collect(units[0])


def _shape(result: CollectResult) -> tuple[Any, ...]:
    return ([(r.type, r.region, r.data) for r in result.records], [e.error for e in result.errors],
            [i.data for i in result.identities], result.api_calls)


def _frozen() -> float:
    return 0.0


def test_a_subscriptions_calls_are_in_flight_together_with_the_serial_output(fake_arm: FakeArm,
                                                                            estate: dict[str, Any]) -> None:
    # A workspace denied as a whole: its error and the records around it must not depend on timing.
    denied = next(r["id"] for r in estate["resources"] if r["id"].endswith("/workspaces/mlw-genai-hub"))
    fake_arm.deny(denied)
    serial_flight = InFlight(delay=0.0)
    serial = _collect(_collector(fake_arm, 1, None, serial_flight))
    assert serial_flight.most == 1
    assert len(serial.errors) == 1 and denied in serial.errors[0].error
    serial_calls = len(fake_arm.requests)
    fake_arm.clear_requests()
    flight = InFlight()
    concurrent = _collect(_collector(fake_arm, 4, None, flight))
    assert 2 <= flight.most <= 4   # concurrent, never above the scope's workers
    assert _shape(concurrent) == _shape(serial)
    assert len(fake_arm.requests) == serial_calls   # the denied workspace still costs one call, not four
    assert len([r for r in fake_arm.requests if r.path.startswith(denied)]) == 1


def test_every_request_of_a_subscription_is_paced_by_its_bucket(fake_arm: FakeArm) -> None:
    waits: list[float] = []
    limits = RateLimits({"arm": 4.0}, clock=_frozen, sleep=waits.append)   # no time passes: only the burst is free
    result = _collect(_collector(fake_arm, 4, limits))
    assert result.errors == []
    per_scope: dict[str, int] = {}
    for r in fake_arm.requests:
        scope = throttling_scope(r.path, PROD)
        per_scope[scope] = per_scope.get(scope, 0) + 1
    assert per_scope[PROD] > 10
    # Each (arm, subscription) bucket let its first four through and made every later request wait.
    assert len(waits) == sum(max(0, n - 4) for n in per_scope.values())
    assert max(waits) == (per_scope[PROD] - 4) / 4.0   # the debt grew with every request (nothing slept here)
    assert limits.bucket("arm", PROD).throttles == 0


def test_a_429_halves_the_subscriptions_rate_and_the_call_is_retried(fake_arm: FakeArm,
                                                                    estate: dict[str, Any]) -> None:
    workspace = next(r["id"] for r in estate["resources"] if r["id"].endswith("/workspaces/mlw-fraud-prod"))
    computes = f"{workspace}/computes"
    fault = fake_arm.rate_limit(computes, times=1, retry_after=1)
    waits: list[float] = []
    limits = RateLimits({"arm": 100.0}, clock=_frozen, sleep=waits.append)
    result = _collect(_collector(fake_arm, 1, limits))   # one call at a time: the order of requests is fixed
    assert result.errors == [] and fault.hits == 1
    assert sum(r.data["id"].startswith(computes) for r in result.records) == 2
    bucket = limits.bucket("arm", PROD)
    assert bucket.throttles == 1
    assert 50.0 <= bucket.rate < 55.0   # halved, then climbing back by about one request per second per second
    assert limits.throttles() == {f"arm:{PROD}": 1}
    # The burst covered every request before the 429; from it on, each attempt of the subscription (the retry
    # of the throttled list first) had to wait for a token.
    statuses = [(r.status, throttling_scope(r.path, PROD)) for r in fake_arm.requests]
    throttled_at = statuses.index((429, PROD))
    assert len(waits) == len([s for _, s in statuses[throttled_at + 1:] if s == PROD])
    assert waits and all(w > 0 for w in waits)


def test_build_takes_the_scope_workers_and_rate_limits() -> None:
    collector = build(CollectOptions(scope_workers=3, rate_limits={"arm": 7.0}))
    assert collector.settings.scope_workers == 3
    assert collector.limits.bucket("arm", PROD).ceiling == 7.0
