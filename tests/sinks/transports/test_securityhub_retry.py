"""Security Hub under permanent throttling gives up in bounded time, and every finding comes back
undelivered (for the dead-letter store) instead of the Deliver Lambda timing out first.

A botocore ``before-call`` hook on the session answers every BatchImportFindings with a
ThrottlingException (moto cannot be made to throttle); STS is moto's. The sink gets a fake clock
and sleep, and every throttled call "takes" CALL_SECONDS on that clock, as botocore's own retries
of a throttled call would: nothing waits for real and no assertion depends on wall time.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.awsrequest import AWSResponse
from moto import mock_aws

from aispm.sinks.base import Batch
from aispm.sinks.formats.ocsf import from_ocsf
from aispm.sinks.transports.securityhub import SecurityHubSettings, SecurityHubSink
from tests.support.clock import FakeTime
from tests.support.findings import aws_findings, uids

CALL_SECONDS = 3.0


class Throttler:
    """Every BatchImportFindings answered with ThrottlingException (or ``code``), counted."""

    def __init__(self, time: FakeTime, code: str = "ThrottlingException", status: int = 400) -> None:
        self.time, self.code, self.status = time, code, status
        self.calls: list[int] = []  # findings per call

    def __call__(self, params: dict[str, Any], **_: Any) -> tuple[AWSResponse, dict[str, Any]]:
        self.calls.append(len(json.loads(params["body"])["Findings"]))  # params: the serialized request
        self.time.now += CALL_SECONDS
        parsed = {"Error": {"Code": self.code, "Message": "Rate exceeded"},
                  "ResponseMetadata": {"HTTPStatusCode": self.status}}
        return AWSResponse("https://securityhub.us-east-1.amazonaws.com", self.status, {}, None), parsed


@pytest.fixture
def fake_time() -> FakeTime:
    return FakeTime()


@pytest.fixture
def session() -> Iterator[Any]:
    with mock_aws():
        yield boto3.Session(region_name="us-east-1")


def throttled_sink(session: Any, fake_time: FakeTime, throttler: Throttler, **settings: Any) -> SecurityHubSink:
    session.events.register("before-call.securityhub.BatchImportFindings", throttler)
    return SecurityHubSink(SecurityHubSettings(**settings), session=session,
                           clock=fake_time.clock, sleep=fake_time.sleep)


def batch(findings: list[dict[str, Any]]) -> Batch:
    return Batch(scan_id="s", findings=[from_ocsf(f) for f in findings], assets=[], summary={})


def test_permanent_throttling_is_bounded_per_batch_and_everything_is_undelivered(
        session: Any, fake_time: FakeTime) -> None:
    throttler = Throttler(fake_time)
    # Attempts alone would allow 50 tries a batch: the time budget must be what stops it.
    s = throttled_sink(session, fake_time, throttler, max_attempts=50, max_retry_seconds=20)
    findings = aws_findings(250)
    start = fake_time.now
    report = s.deliver(batch(findings))
    assert report.delivered == 0
    assert sorted(uids([u.payload for u in report.undelivered])) == sorted(uids(findings))
    assert all("ThrottlingException" in u.reason and "gave up after" in u.reason for u in report.undelivered)
    # Three batches (100, 100, 50); each stops once its 20 s retry budget would be exceeded:
    # a try costs 3 s, so at most 7 tries a batch, and at least one retry happened.
    assert s.calls == len(throttler.calls)
    per_batch = {n: throttler.calls.count(n) for n in set(throttler.calls)}
    assert set(per_batch) == {100, 50}
    assert 2 <= per_batch[50] <= 7
    assert 4 <= per_batch[100] <= 14
    assert fake_time.now - start <= 3 * (20 + CALL_SECONDS)


def test_attempts_are_capped_by_max_attempts(session: Any, fake_time: FakeTime) -> None:
    throttler = Throttler(fake_time)
    s = throttled_sink(session, fake_time, throttler, max_attempts=2, max_retry_seconds=600)
    report = s.deliver(batch(aws_findings(10)))
    assert throttler.calls == [10, 10]
    assert len(report.undelivered) == 10
    assert all("gave up after 2 attempts" in u.reason for u in report.undelivered)


def test_a_delivery_deadline_returns_the_rest_at_once(session: Any, fake_time: FakeTime) -> None:
    throttler = Throttler(fake_time)
    s = throttled_sink(session, fake_time, throttler, max_retry_seconds=20, max_attempts=50,
                       deadline_seconds=30, deadline_margin_seconds=5)
    findings = aws_findings(1000)  # ten batches: unbounded, they would take ten retry budgets
    start = fake_time.now
    report = s.deliver(batch(findings))
    assert report.delivered == 0
    assert sorted(uids([u.payload for u in report.undelivered])) == sorted(uids(findings))
    assert fake_time.now - start <= 30  # never past the deadline
    assert len(throttler.calls) <= 9  # 25 s of 3 s calls, at most
    tried = sum(1 for u in report.undelivered if "ThrottlingException" in u.reason)
    never_sent = [u for u in report.undelivered if u.reason.startswith("not imported")]
    assert all("deadline" in u.reason for u in never_sent)
    # Backoff jitter decides whether the first batch stops at about 15 s or 21 s, so a second and a third
    # batch may each get a call in before the margin; a fourth never can (each call costs 3 s).
    assert 100 <= tried <= 300 and len(never_sent) >= 700
    assert tried + len(never_sent) == 1000


def test_a_deadline_set_by_the_caller_stops_before_any_call(session: Any, fake_time: FakeTime) -> None:
    throttler = Throttler(fake_time)
    s = throttled_sink(session, fake_time, throttler)
    s.set_deadline(fake_time.now + 4)  # e.g. a Lambda with 4 s left: less than the 5 s margin
    report = s.deliver(batch(aws_findings(3)))
    assert (report.delivered, throttler.calls, s.calls) == (0, [], 0)
    assert len(report.undelivered) == 3
    assert all("deadline" in u.reason for u in report.undelivered)


def test_an_error_retrying_cannot_fix_is_not_retried(session: Any, fake_time: FakeTime) -> None:
    throttler = Throttler(fake_time, code="AccessDeniedException", status=403)
    s = throttled_sink(session, fake_time, throttler, max_attempts=5)
    report = s.deliver(batch(aws_findings(4)))
    assert throttler.calls == [4]
    assert fake_time.slept == []
    assert len(report.undelivered) == 4
    assert all("AccessDeniedException" in u.reason for u in report.undelivered)


def test_botocore_retries_of_the_securityhub_client_are_capped(session: Any) -> None:
    # Not exercised end to end: botocore's own retry delays sleep for real. The client's settings are
    # what botocore's retry handler reads.
    s = SecurityHubSink(SecurityHubSettings(sdk_max_attempts=2), session=session)
    assert s.client("us-east-1").meta.config.retries == {"mode": "standard", "total_max_attempts": 2}
    assert SecurityHubSink(session=session).client("eu-west-1").meta.config.retries == {
        "mode": "standard", "total_max_attempts": 3}
