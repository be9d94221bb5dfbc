"""Nothing is lost: undelivered findings go to the dead-letter store (file or SQS) and replay re-delivers."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

from aispm.cli import main
from aispm.sinks.base import Undelivered
from aispm.sinks.delivery.deadletter import FileDeadLetter, SqsDeadLetter, open_store
from aispm.testing.hec import FakeHec
from tests.support.findings import aws_findings, uids

TOKEN = "3d1c0e4b-7f2a-4b8e-9a0c-5e6f7a8b9c0d"   # the conftest hec fixture's


@pytest.fixture
def aws() -> Iterator[None]:
    with mock_aws():
        yield


def _estate(n: int = 3) -> None:
    iam = boto3.client("iam", region_name="us-east-1")
    trust = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole",
                                                     "Principal": {"Service": "sagemaker.amazonaws.com"}}]}
    role = iam.create_role(RoleName="exec", AssumeRolePolicyDocument=json.dumps(trust))["Role"]["Arn"]
    sm = boto3.client("sagemaker", region_name="us-east-1")
    for i in range(n):
        sm.create_notebook_instance(NotebookInstanceName=f"nb-{i}", InstanceType="ml.t3.medium", RoleArn=role)


def _lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(x) for x in path.read_text().splitlines()] if path.exists() else []


def test_file_store_round_trip(tmp_path: Path) -> None:
    store = FileDeadLetter(tmp_path / "dl" / "dead-letter.jsonl")
    findings = aws_findings(3)
    store.put([Undelivered("splunk", "HTTP 503", f) for f in findings])
    store.put([Undelivered("securityhub", "denied", findings[0])])
    letters = store.read()
    assert [(x.item.sink, x.item.reason) for x in letters] == [("splunk", "HTTP 503")] * 3 + [("securityhub", "denied")]
    assert [x.item.payload for x in letters[:3]] == findings
    store.settle(letters, [letters[3].item])
    assert [x.item.sink for x in store.read()] == ["securityhub"]


def test_malformed_line_is_named_and_set_aside(tmp_path: Path) -> None:
    path = tmp_path / "dead-letter.jsonl"
    path.write_text('{"sink":"splunk","reason":"x","payload":{}}\nnot json\n')
    store = FileDeadLetter(path)
    letters = store.read()
    assert [x.item.sink for x in letters] == ["splunk"]
    assert len(store.skipped) == 1 and f"{path}:2" in store.skipped[0]
    store.settle(letters, [])
    assert path.read_text() == ""
    assert (tmp_path / "dead-letter.jsonl.invalid").read_text() == "not json\n"


def test_scan_with_a_forbidden_hec_dead_letters_and_exits_5_then_replay_delivers(
        aws: None, hec: FakeHec, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _estate()
    out = tmp_path / "out"
    hec.set_forbidden(code=4)
    code = main(["scan", "--provider", "aws", "--region", "us-east-1", "--out", str(out), "--sink", "splunk"])
    assert code == 5
    assert len(hec.event_posts) == 1  # refused once, not retried
    findings = _lines(out / "findings.ocsf.jsonl")
    letters = _lines(out / "dead-letter.jsonl")
    assert findings and len(letters) == len(findings)
    assert {x["sink"] for x in letters} == {"splunk"}
    assert "Invalid token" in letters[0]["reason"]
    assert [x["payload"] for x in letters] == findings
    err = capsys.readouterr().err
    assert TOKEN not in err and "dead-letter" in err

    # Still refused: replay keeps everything and exits 5.
    assert main(["replay", str(out / "dead-letter.jsonl")]) == 5
    assert len(_lines(out / "dead-letter.jsonl")) == len(findings)

    hec.set_forbidden(False)
    hec.fail_busy(1)
    assert main(["replay", str(out / "dead-letter.jsonl")]) == 0
    assert _lines(out / "dead-letter.jsonl") == []
    counts = hec.events_by_uid()
    assert sorted(counts) == sorted(uids(findings)) and set(counts.values()) == {1}


def test_replay_to_another_sink_and_partial_failure(tmp_path: Path, hec: FakeHec) -> None:
    path = tmp_path / "dead-letter.jsonl"
    findings = aws_findings(4)
    FileDeadLetter(path).put([Undelivered("securityhub", "denied", f) for f in findings])
    out = tmp_path / "replayed"
    assert main(["replay", str(path), "--sink", "splunk", "--sink", "file", "--out", str(out)]) == 0
    assert sorted(hec.events_by_uid()) == sorted(uids(findings))
    assert _lines(out / "findings.ocsf.jsonl") == findings
    assert _lines(path) == []

    FileDeadLetter(path).put([Undelivered("splunk", "busy", f) for f in findings])
    hec.clear()
    hec.fail_next(1, code=6)  # the first post (all four) is refused as bad data: not retried, stays
    assert main(["replay", str(path)]) == 5
    left = _lines(path)
    assert [x["payload"] for x in left] == findings
    assert "Invalid data format" in left[0]["reason"]


def test_unreadable_store_is_a_usage_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["replay", str(tmp_path / "missing.jsonl")]) == 2
    assert "no dead-letter file" in capsys.readouterr().err


def test_sqs_dead_letter_queue_scan_and_replay(aws: None, hec: FakeHec, tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    _estate(2)
    url = boto3.client("sqs", region_name="us-east-1").create_queue(QueueName="aispm-dlq")["QueueUrl"]
    monkeypatch.setenv("AISPM_DEAD_LETTER_QUEUE_URL", url)
    out = tmp_path / "out"
    hec.fail_busy(100)
    assert main(["scan", "--provider", "aws", "--region", "us-east-1", "--out", str(out), "--sink", "splunk"]) == 5
    assert not (out / "dead-letter.jsonl").exists()
    findings = _lines(out / "findings.ocsf.jsonl")
    assert isinstance(open_store(url), SqsDeadLetter)
    letters = SqsDeadLetter(url).read()
    assert sorted(uids([x.item.payload for x in letters])) == sorted(uids(findings))
    assert "HTTP 503" in letters[0].item.reason
    # Make them visible again for the replay below (read() hid them for 15 minutes).
    sqs = boto3.client("sqs", region_name="us-east-1")
    for letter in letters:
        sqs.change_message_visibility(QueueUrl=url, ReceiptHandle=letter.handle, VisibilityTimeout=0)

    hec.clear()
    assert main(["replay", url]) == 0
    assert sorted(hec.events_by_uid()) == sorted(uids(findings))
    attrs = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    assert (attrs["ApproximateNumberOfMessages"], attrs["ApproximateNumberOfMessagesNotVisible"]) == ("0", "0")


def test_sqs_outage_falls_back_to_the_local_file(tmp_path: Path, aws: None) -> None:
    from aispm.sinks.base import DeliveryReport
    from aispm.sinks.delivery.lifecycle import keep_undelivered

    findings = aws_findings(2)
    report = DeliveryReport("splunk", 0, [Undelivered("splunk", "busy", f) for f in findings])
    missing = "https://sqs.us-east-1.amazonaws.com/123456789012/no-such-queue"
    kept = keep_undelivered([report], SqsDeadLetter(missing), tmp_path)
    assert "dead-letter queue unavailable" in kept.warnings[0]
    assert kept.lost == [] and kept.kept_in == str(tmp_path / "dead-letter.jsonl")
    # Where the local folder does not outlive the run (a Lambda's /tmp), the fallback is written but the
    # items count as lost, so the lifecycle does not move past them.
    ephemeral = keep_undelivered([report], SqsDeadLetter(missing), tmp_path / "tmp", local_is_durable=False)
    assert ephemeral.lost == report.undelivered
    assert [x["payload"] for x in _lines(tmp_path / "tmp" / "dead-letter.jsonl")] == findings
    assert [x["payload"] for x in _lines(tmp_path / "dead-letter.jsonl")] == findings
