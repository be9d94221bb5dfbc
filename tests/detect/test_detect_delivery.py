"""Detection Findings through every sink: OCSF round trip, HEC sourcetype ``aispm:detection``, Security Hub
ASFF ``TTPs/`` types (moto), S3 keys, and dead letters replayed."""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

from aispm.normalizer.audit import from_cloudtrail
from aispm.replay import replay
from aispm.rules.detections.engine import Evaluator, finding_of
from aispm.rules.detections.finding import DetectionFinding
from aispm.sinks.base import Batch
from aispm.sinks.delivery.deadletter import FileDeadLetter
from aispm.sinks.formats.asff import to_asff
from aispm.sinks.formats.ocsf_detection import from_ocsf_detection, to_ocsf_detection
from aispm.sinks.transports.files import DETECTIONS_FILE, FileSink
from aispm.sinks.transports.s3 import S3Sink
from aispm.sinks.transports.securityhub import SecurityHubSettings, SecurityHubSink
from aispm.sinks.transports.splunk import SplunkSettings, SplunkSink
from aispm.testing.hec import FakeHec
from tests.support.audit import ACCOUNT, T0, record

TOKEN = "0c5a4c8e-3e0f-4a53-9f0e-4f1f6a7b2d10"


def detections() -> list[DetectionFinding]:
    ev = Evaluator()
    ev.feed(from_cloudtrail(record("DeleteGuardrail", T0, params={"guardrailIdentifier": "gr-1"})))
    ev.feed(from_cloudtrail(record("CreateStudioLifecycleConfig", T0, params={"studioLifecycleConfigName": "s"})))
    names = ["ListFoundationModels", "GetFoundationModelAvailability", "ListFoundationModelAgreementOffers",
             "PutUseCaseForModelAccess", "CreateFoundationModelAgreement", "InvokeModel"]
    for n in names:
        ev.feed(from_cloudtrail(record(n, T0)))
    return [finding_of(h, scan_id="scan-1", product_version="0.1.0") for h in ev.finish()]


def batch(items: list[DetectionFinding], **kw: Any) -> Batch:
    return Batch(scan_id="scan-1", findings=[], assets=[], summary={"detections": {}}, detections=items,
                 kind="detect", **kw)


def test_ocsf_round_trip_and_suppressed() -> None:
    for f in detections():
        o = to_ocsf_detection(f)
        assert to_ocsf_detection(from_ocsf_detection(o)) == o
        suppressed = f.model_copy(update={"suppression": "accepted (lab)"})
        so = to_ocsf_detection(suppressed)
        assert so["status_id"] == 3 and from_ocsf_detection(so) == suppressed


def test_asff_of_a_detection() -> None:
    delete, _, llm = (to_ocsf_detection(f) for f in detections())
    asff = to_asff(delete, product="arn:aws:securityhub:us-east-1:123456789012:product/123456789012/default",
                   account=ACCOUNT, region="us-east-1")
    assert asff["Id"] == delete["finding_info"]["uid"] and asff["GeneratorId"] == "AISPM-DET-002"
    assert asff["Types"] == ["TTPs/Defense Evasion"]
    assert asff["Severity"] == {"Label": "HIGH", "Original": "high"}
    assert "Compliance" not in asff
    assert asff["Resources"][0]["Id"] == "arn:aws:bedrock:us-east-1:123456789012:guardrail/gr-1"
    assert asff["Action"]["AwsApiCallAction"]["Api"] == "DeleteGuardrail"
    llm_asff = to_asff(llm, product="p", account=ACCOUNT, region="us-east-1")
    assert llm_asff["Types"] == ["TTPs/Impact"] and llm_asff["Severity"]["Label"] == "CRITICAL"


@pytest.fixture
def hec() -> Iterator[FakeHec]:
    with FakeHec(TOKEN) as fake:
        yield fake


def test_hec_sourcetype_is_aispm_detection(hec: FakeHec) -> None:
    sink = SplunkSink(SplunkSettings(hec_url=hec.url, hec_token=TOKEN, retry_base_seconds=0.001))  # type: ignore[arg-type]
    items = detections()
    report = sink.deliver(batch(items))
    assert (report.delivered, report.undelivered) == (3, [])
    assert {e["sourcetype"] for e in hec.events} == {"aispm:detection"}
    assert [e["event"]["class_uid"] for e in hec.events] == [2004] * 3


def test_security_hub_imports_detections() -> None:
    with mock_aws():
        hub = boto3.client("securityhub", region_name="us-east-1")
        hub.enable_security_hub()
        sink = SecurityHubSink(SecurityHubSettings(retry_base_seconds=0.001))
        report = sink.deliver(batch(detections()))
        assert (report.delivered, report.undelivered) == (3, [])
        got = hub.get_findings()["Findings"]
        assert sorted(f["GeneratorId"] for f in got) == ["AISPM-DET-002", "AISPM-DET-003", "AISPM-DET-004"]
        assert all(t.startswith("TTPs/") for f in got for t in f["Types"])


def test_s3_writes_detections_and_summary() -> None:
    with mock_aws():
        s3 = boto3.client("s3", region_name="us-east-1")
        s3.create_bucket(Bucket="sec")
        report = S3Sink("s3://sec/aispm").deliver(batch(detections()))
        assert report.delivered == 3
        keys = sorted(o["Key"] for o in s3.list_objects_v2(Bucket="sec")["Contents"])
        assert [k.rsplit("/", 1)[1] for k in keys] == ["detections.ocsf.jsonl.gz", "summary.json.gz"]
        body = gzip.decompress(s3.get_object(Bucket="sec", Key=keys[0])["Body"].read()).decode()
        assert [json.loads(x)["class_uid"] for x in body.splitlines()] == [2004] * 3


def test_dead_letters_replay_to_the_detections_file(tmp_path: Path) -> None:
    blocked = tmp_path / "blocked"
    blocked.write_text("a file where the folder should be")
    items = detections()
    report = FileSink(blocked).deliver(batch(items))
    assert report.delivered == 0 and len(report.undelivered) == 3
    store = FileDeadLetter(tmp_path / "dead-letter.jsonl")
    store.put(report.undelivered)
    delivered, remaining = replay(store, ["file"], tmp_path / "out")
    assert (delivered, remaining) == (3, [])
    lines = (tmp_path / "out" / DETECTIONS_FILE).read_text().splitlines()
    assert [json.loads(x)["finding_info"]["uid"] for x in lines] == [f.uid for f in items]
    assert not (tmp_path / "out" / "findings.ocsf.jsonl").exists()
