"""The adaptive token bucket: pacing, halving on throttling, additive recovery, settings."""

from __future__ import annotations

import pytest

from aispm.collectors.ratelimit import DEFAULT_RATES, AdaptiveBucket, RateLimitError, RateLimits, parse_rates
from tests.support.clock import FakeTime


def test_a_burst_goes_at_once_then_calls_are_paced_at_the_rate() -> None:
    t = FakeTime()
    bucket = AdaptiveBucket(ceiling=10.0, clock=t.clock, sleep=t.sleep)
    for _ in range(10):
        assert bucket.acquire() == 0.0   # one second's worth is the burst
    waits = [bucket.acquire() for _ in range(5)]
    assert waits == pytest.approx([0.1] * 5)
    assert t.now == pytest.approx(1000.5)


def test_waiting_threads_queue_behind_the_debt() -> None:
    """Tokens are reserved before sleeping, so callers that arrive together are spread out, not released at once."""
    t = FakeTime()
    sleeps: list[float] = []
    bucket = AdaptiveBucket(ceiling=4.0, clock=t.clock, sleep=sleeps.append)   # nobody's sleep moves the clock
    waits = [bucket.acquire() for _ in range(8)]
    assert waits == pytest.approx([0, 0, 0, 0, 0.25, 0.5, 0.75, 1.0])


def test_throttling_halves_the_rate_once_per_cool_down_and_answers_climb_back() -> None:
    t = FakeTime()
    bucket = AdaptiveBucket(ceiling=16.0, clock=t.clock, sleep=t.sleep)
    bucket.throttled()
    bucket.throttled()   # the requests in flight come back throttled together: one cut
    assert bucket.rate == 8.0
    assert bucket.throttles == 2
    t.now += 1.5
    bucket.throttled()
    assert bucket.rate == 4.0
    for _ in range(200):
        bucket.answered()
    assert bucket.rate == 16.0   # additive increase stops at the ceiling
    for _ in range(20):
        t.now += 2
        bucket.throttled()
    assert bucket.rate == 0.5   # never below the floor


def test_after_a_throttle_the_saved_burst_is_gone() -> None:
    t = FakeTime()
    bucket = AdaptiveBucket(ceiling=10.0, clock=t.clock, sleep=t.sleep)
    bucket.throttled()
    assert bucket.acquire() == pytest.approx(0.2)   # 5 per second now, and no tokens left


def test_buckets_are_per_service_and_scope_with_defaults_and_overrides() -> None:
    limits = RateLimits({"sagemaker": 3.0})
    one = limits.bucket("sagemaker", "111111111111:us-east-1")
    assert one is limits.bucket("sagemaker", "111111111111:us-east-1")
    assert one is not limits.bucket("sagemaker", "111111111111:eu-west-1")
    assert one.ceiling == 3.0
    assert limits.bucket("arm", "sub").ceiling == DEFAULT_RATES["arm"]
    limits.bucket("bedrock", "a:r").throttled()
    assert limits.throttles() == {"bedrock:a:r": 1}


def test_rate_settings_parse_and_reject_bad_items() -> None:
    assert parse_rates(["sagemaker=20", " ARM = 2.5"]) == {"sagemaker": 20.0, "arm": 2.5}
    for bad in ("sagemaker", "=3", "sagemaker=0", "sagemaker=-1", "sagemaker=fast"):
        with pytest.raises(RateLimitError, match="SERVICE=REQUESTS_PER_SECOND"):
            parse_rates([bad])
