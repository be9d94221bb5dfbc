"""The deployed workflow's detect path (the detect schedule's input ``{"mode": "detect"}``): Plan -> Collect
per unit reading CloudTrail -> Deliver, with windows advanced in the state table. moto serves S3, DynamoDB,
SQS and STS; CloudTrail LookupEvents is the emulator's (aispm.testing.moto_gaps) over seeded records."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from aispm.testing import moto_gaps
from tests.support import workflow
from tests.support.audit import record
from tests.support.workflow import REGION, TABLE, s3_json, s3_jsonl

STARTED = "2026-12-01T13:00:00.000Z"
T = dt.datetime(2026, 12, 1, 12, 50, tzinfo=dt.UTC)


@pytest.fixture
def stack(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    with mock_aws():
        env = workflow.template_env(**workflow.create_resources(), AISPM_REGIONS="us-east-1,us-west-2")
        for key, value in env.items():
            monkeypatch.setenv(key, value)
        yield boto3.client("sts", region_name=REGION).get_caller_identity()["Account"]


def run(run_id: str, started: str, monkeypatch: pytest.MonkeyPatch) -> tuple[dict[str, Any], dict[str, Any]]:
    from aispm.lambdas import plan as plan_fn

    planned = plan_fn.handler({"run_id": run_id, "execution_arn": f"arn:aws:states:::execution:aispm:{run_id}",
                               "started_at": started, "input": {"mode": "detect", "trigger": "schedule"}},
                              workflow.Context())
    units = s3_json(planned["units_key"])
    succeeded = []
    for index, unit in enumerate(units):
        event = workflow.collect_event(planned, index, unit)
        succeeded.append((event, workflow.collect(planned, index, unit, monkeypatch)))
    delivered = workflow.deliver(planned, map_result=workflow.write_map_results(planned, succeeded, []))
    return planned, delivered


def test_detect_run_reads_every_region_and_advances_windows(stack: str, monkeypatch: pytest.MonkeyPatch) -> None:
    names = ["ListFoundationModels", "GetFoundationModelAvailability", "ListFoundationModelAgreementOffers",
             "PutUseCaseForModelAccess", "CreateFoundationModelAgreement", "InvokeModel"]
    for i, name in enumerate(names):   # one principal, half in each region: DET-003 across the account
        region = "us-east-1" if i % 2 else "us-west-2"
        moto_gaps.add_cloudtrail_event(stack, region, {**record(name, T, region=region), "recipientAccountId": stack})
    moto_gaps.add_cloudtrail_event(stack, "us-east-1", {
        **record("DeleteGuardrail", T, params={"guardrailIdentifier": "gr-1"}), "recipientAccountId": stack})
    planned, delivered = run("det-1", STARTED, monkeypatch)
    assert planned["mode"] == "detect" and delivered["exit_code"] == 0
    found = s3_jsonl(delivered["detections_key"])
    assert sorted(f["finding_info"]["types"][0] for f in found) == ["AISPM-DET-002", "AISPM-DET-003"]
    summary = s3_json(delivered["summary_key"])
    assert summary["detections"]["events_read"] == {"aws": 7}
    assert summary["detections"]["window"] == {"start": "2026-12-01T12:45:00Z", "end": "2026-12-01T13:00:00Z"}
    items = {i["scope"]["S"] for i in boto3.client("dynamodb", region_name=REGION).scan(TableName=TABLE)["Items"]}
    assert {f"detect#aws:{stack}:us-east-1", f"detect#aws:{stack}:us-west-2"} <= items
    # The next scheduled run starts where this one ended: nothing is read twice.
    _, again = run("det-2", "2026-12-01T13:15:00.000Z", monkeypatch)
    assert s3_jsonl(again["detections_key"]) == []
    assert s3_json(again["summary_key"])["detections"]["window"]["start"] == "2026-12-01T13:00:00Z"
