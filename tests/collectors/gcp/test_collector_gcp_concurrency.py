"""Calls inside one Vertex AI project x location: concurrent up to ``scope_workers``, each attempt paced by the
project and location's Vertex AI bucket (bucket IAM reads by the project's Cloud Storage one), a 429 halving it,
and the same records and errors as one call at a time."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest
from google.auth.credentials import AnonymousCredentials

from aispm.collectors.base import CollectOptions, CollectResult
from aispm.collectors.gcp import GcpCollector, GcpOptions, build
from aispm.collectors.gcp.clients import ENDPOINT_ENV, RetrySettings
from aispm.collectors.ratelimit import RateLimits
from aispm.testing import server
from aispm.testing.fake_google import FakeGoogle

PROJECT_A, PROJECT_B = "ml-prod-4821", "genai-sandbox-7730"
US = "us-central1"
FAST = RetrySettings(initial=0.01, maximum=0.05, deadline=2, call_timeout=10)
VERTEX_A = f"/v1/projects/{PROJECT_A}/locations/{US}/"


class SlowGoogle(FakeGoogle):
    """The fake with a round trip's delay on every Vertex AI request, recording how many were in flight."""

    delay = 0.05

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.now = 0
        self.most = 0
        self._flight = threading.Lock()

    def _answer(self, request: server.Handler) -> None:
        vertex = request.path.startswith("/v1/")
        if vertex:
            with self._flight:
                self.now += 1
                self.most = max(self.most, self.now)
            time.sleep(self.delay)
        try:
            super()._answer(request)
        finally:
            if vertex:
                with self._flight:
                    self.now -= 1


def _collector(scope_workers: int, limits: RateLimits | None = None, project: str = PROJECT_A) -> GcpCollector:
    options = GcpOptions(projects=(project,), locations=(US,), job_window_days=3650, retry=FAST,
                         scope_workers=scope_workers)
    return GcpCollector(options, credentials=AnonymousCredentials(), limits=limits)  # type: ignore[no-untyped-call]


def _collect(c: GcpCollector) -> CollectResult:
    units, errors = c.plan()
    assert errors == [] and len(units) == 1
    return c.collect(units[0])


def _shape(result: CollectResult) -> tuple[Any, ...]:
    return ([(r.type, r.data) for r in result.records], [e.error for e in result.errors],
            [i.data for i in result.identities], result.partial_kinds, result.api_calls)


def _frozen() -> float:
    return 0.0


def test_a_units_lists_are_in_flight_together_with_the_serial_output(monkeypatch: pytest.MonkeyPatch) -> None:
    with SlowGoogle(page_size=2) as fake:
        monkeypatch.setenv(ENDPOINT_ENV, fake.url)
        fake.deny(f"{VERTEX_A}datasets")   # a failing list among the others: its error keeps its place
        fake.delay = 0.0
        serial = _collect(_collector(1))
        assert fake.most == 1
        assert [e.error.split(":")[0] for e in serial.errors] == ["datasets.list"]
        fake.delay = 0.05
        fake.most = 0
        concurrent = _collect(_collector(4))
        assert 2 <= fake.most <= 4   # concurrent, never above the unit's workers
    assert _shape(concurrent) == _shape(serial)
    assert any(r.type == "endpoint" for r in concurrent.records) and concurrent.identities


def test_a_disabled_api_still_costs_one_call(monkeypatch: pytest.MonkeyPatch) -> None:
    with FakeGoogle(page_size=2) as fake:
        monkeypatch.setenv(ENDPOINT_ENV, fake.url)
        fake.disable_service(f"/v1/projects/{PROJECT_B}/")
        result = _collect(_collector(8, project=PROJECT_B))
        assert len(fake.requests_to(f"/v1/projects/{PROJECT_B}/")) == 1
    assert len(result.errors) == 1 and "SERVICE_DISABLED" in result.errors[0].error


def test_vertex_and_bucket_requests_are_paced_per_project(fake_google: FakeGoogle,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ENDPOINT_ENV, fake_google.url)
    waits: list[float] = []
    limits = RateLimits({"vertex": 4.0, "storage": 1.0}, clock=_frozen, sleep=waits.append)
    result = _collect(_collector(4, limits))
    assert result.ok
    vertex = len(fake_google.requests_to(VERTEX_A))
    buckets = len(fake_google.requests_to("/storage/v1/b/"))
    assert vertex > 13 and buckets > 1
    # Each bucket let its first second's burst through and made every later request wait (nothing slept here).
    assert len(waits) == (vertex - 4) + (buckets - 1)
    assert limits.bucket("vertex", f"{PROJECT_A}:{US}").rate == 4.0
    assert limits.bucket("storage", PROJECT_A).rate == 1.0
    assert limits.throttles() == {}


def test_a_429_halves_the_units_rate_and_the_list_is_retried(fake_google: FakeGoogle,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ENDPOINT_ENV, fake_google.url)
    fault = fake_google.rate_limit(f"{VERTEX_A}endpoints", times=1)
    waits: list[float] = []
    limits = RateLimits({"vertex": 100.0}, clock=_frozen, sleep=waits.append)
    result = _collect(_collector(1, limits))   # one call at a time: the order of requests is fixed
    assert result.ok and fault.hits == 1
    assert [r.status for r in fake_google.requests_to(f"{VERTEX_A}endpoints")] == [429, 200, 200]
    assert len([r for r in result.records if r.type == "endpoint"]) == 4
    bucket = limits.bucket("vertex", f"{PROJECT_A}:{US}")
    assert bucket.throttles == 1
    assert 50.0 <= bucket.rate < 55.0   # halved, then climbing back by about one request per second per second
    assert limits.throttles() == {f"vertex:{PROJECT_A}:{US}": 1}
    # The endpoints list is the unit's first call: every Vertex AI attempt after the 429 (its retry first) waited.
    assert len(waits) == len(fake_google.requests_to(VERTEX_A)) - 1


def test_build_takes_the_scope_workers_and_rate_limits() -> None:
    collector = build(CollectOptions(scope_workers=3, rate_limits={"vertex": 2.0}))
    assert collector.options.scope_workers == 3
    assert collector.limits.bucket("vertex", f"{PROJECT_A}:{US}").ceiling == 2.0
