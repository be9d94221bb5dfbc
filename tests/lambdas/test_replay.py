"""The Replay function drains the SQS dead-letter queue into the sinks and leaves what still fails."""

from __future__ import annotations

from collections.abc import Iterator

import boto3
import pytest
from moto import mock_aws

from aispm.lambdas import replay
from aispm.sinks.base import Undelivered
from aispm.sinks.delivery.deadletter import SqsDeadLetter
from tests.support.findings import aws_findings
from tests.support.workflow import Context


@pytest.fixture
def queue(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    with mock_aws():
        boto3.client("securityhub", region_name="us-east-1").enable_security_hub()
        url = boto3.client("sqs", region_name="us-east-1").create_queue(QueueName="aispm-dlq")["QueueUrl"]
        monkeypatch.setenv("AISPM_DEAD_LETTER_QUEUE_URL", url)
        monkeypatch.setenv("AISPM_SECURITYHUB_RETRY_BASE_SECONDS", "0.001")
        yield url


def _imported() -> list[str]:
    hub = boto3.client("securityhub", region_name="us-east-1")
    return sorted(f["Id"] for page in hub.get_paginator("get_findings").paginate() for f in page["Findings"])


def test_replay_delivers_and_keeps_what_still_fails(queue: str) -> None:
    good = aws_findings(3)
    # A letter without resources is not a finding aispm wrote: replay keeps it in the queue as it was.
    broken = dict(good[0], resources=[], finding_info=dict(good[0]["finding_info"], uid="no-resource"))
    SqsDeadLetter(queue).put([Undelivered("securityhub", "HTTP 503", f) for f in [*good, broken]])

    assert replay.handler({}, Context()) == {"received": 4, "delivered": 3, "remaining": 1}
    assert _imported() == sorted(f["finding_info"]["uid"] for f in good)
    [left] = SqsDeadLetter(queue).read()
    assert left.item.payload["finding_info"]["uid"] == "no-resource"
    assert "not an aispm finding" in left.item.reason


def test_replay_reads_at_most_max_messages(queue: str) -> None:
    SqsDeadLetter(queue).put([Undelivered("securityhub", "HTTP 503", f) for f in aws_findings(5)])

    first = replay.handler({"max_messages": 2}, Context())
    assert first == {"received": 2, "delivered": 2, "remaining": 3}
    second = replay.handler({"sinks": ["securityhub"]}, Context())
    assert second == {"received": 3, "delivered": 3, "remaining": 0}
    assert len(_imported()) == 5
