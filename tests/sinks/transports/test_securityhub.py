"""The securityhub sink against moto's Security Hub: ASFF shape, call sizes, updates, archiving."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.stub import ANY, Stubber
from moto import mock_aws

from aispm.collectors.base import CollectOptions
from aispm.pipeline import run_scan
from aispm.pipeline_types import ScanRequest
from aispm.sinks.base import Batch
from aispm.sinks.delivery.state import FileStateStore
from aispm.sinks.formats.asff import MAX_FINDING_BYTES, product_arn, to_asff
from aispm.sinks.formats.ocsf import closed, from_ocsf
from aispm.sinks.transports.files import FileSink
from aispm.sinks.transports.retry import RateLimiter
from aispm.sinks.transports.securityhub import SecurityHubSettings, SecurityHubSink
from tests.support.findings import ACCOUNT, TIME_MS, aws_asset, aws_findings, azure_asset, finding, gcp_asset

FORBIDDEN = {"Workflow", "WorkflowState", "Note", "UserDefinedFields", "VerificationState", "Confidence",
             "Criticality"}


@pytest.fixture
def hub() -> Iterator[Any]:
    with mock_aws():
        for region in ("us-east-1", "eu-west-1"):
            boto3.client("securityhub", region_name=region).enable_security_hub()
        yield boto3.client("securityhub", region_name="us-east-1")


def all_findings(region: str = "us-east-1") -> list[dict[str, Any]]:
    client = boto3.client("securityhub", region_name=region)
    out: list[dict[str, Any]] = []
    kwargs: dict[str, Any] = {"MaxResults": 100}
    while True:
        page = client.get_findings(**kwargs)
        out.extend(page["Findings"])
        if not page.get("NextToken"):
            return out
        kwargs["NextToken"] = page["NextToken"]


def sink(**settings: Any) -> SecurityHubSink:
    return SecurityHubSink(SecurityHubSettings(**{"retry_base_seconds": 0.001, **settings}))


def batch(findings: list[dict[str, Any]]) -> Batch:
    return Batch(scan_id="s", findings=[from_ocsf(f) for f in findings], assets=[], summary={})


def test_250_findings_take_three_calls_and_arrive_as_asff(hub: Any) -> None:
    findings = aws_findings(250)
    s = sink()
    report = s.deliver(batch(findings))
    assert (report.delivered, report.undelivered, s.calls) == (250, [], 3)
    stored = {f["Id"]: f for f in all_findings()}
    assert len(stored) == 250
    f0 = findings[0]
    a = stored[f0["finding_info"]["uid"]]
    assert a["SchemaVersion"] == "2018-10-08"
    assert a["ProductArn"] == f"arn:aws:securityhub:us-east-1:{ACCOUNT}:product/{ACCOUNT}/default"
    assert a["GeneratorId"] == "AISPM-NET-002"
    assert a["AwsAccountId"] == ACCOUNT
    assert all(t.startswith("Software and Configuration Checks/") for t in a["Types"])
    assert a["Compliance"]["Status"] == "FAILED"
    assert a["Compliance"]["RelatedRequirements"] == f0["compliance"]["requirements"]
    assert a["Severity"]["Label"] == "HIGH"
    assert a["RecordState"] == "ACTIVE"
    [res] = a["Resources"]
    assert res["Type"] == "AwsSageMakerNotebookInstance"
    assert res["Id"] == f0["resources"][0]["uid"]
    assert res["Tags"] == {"owner": "ml-team"}
    assert not FORBIDDEN & set(a)


def test_reimport_updates_the_same_id(hub: Any) -> None:
    asset = aws_asset(1)
    sink().deliver(batch([finding(asset, status="fail")]))
    sink().deliver(batch([finding(asset, status="pass", time_ms=TIME_MS + 1000)]))
    [stored] = all_findings()
    assert stored["Compliance"]["Status"] == "PASSED"
    assert stored["Id"] == finding(asset)["finding_info"]["uid"]


def test_findings_go_to_their_own_region_or_the_aggregation_region(hub: Any) -> None:
    east, west = aws_findings(2), aws_findings(3, region="eu-west-1")
    assert sink().deliver(batch(east + west)).delivered == 5
    assert len(all_findings("us-east-1")) == 2
    assert len(all_findings("eu-west-1")) == 3
    assert {f["ProductArn"] for f in all_findings("eu-west-1")} == {product_arn("eu-west-1", ACCOUNT)}


def test_aggregation_region_takes_everything(hub: Any) -> None:
    west = aws_findings(3, region="eu-west-1")
    assert sink(region="us-east-1").deliver(batch(west)).delivered == 3
    assert len(all_findings("us-east-1")) == 3
    assert all_findings("eu-west-1") == []


def test_azure_and_gcp_findings_are_other_resources_in_the_callers_account(hub: Any) -> None:
    findings = [finding(azure_asset(1), "AISPM-NET-003"), finding(gcp_asset(2), "AISPM-NET-001")]
    assert sink().deliver(batch(findings)).delivered == 2
    stored = {f["Resources"][0]["Id"]: f for f in all_findings("us-east-1")}
    az = stored[findings[0]["resources"][0]["uid"]]
    assert az["AwsAccountId"] == ACCOUNT
    assert az["Resources"][0]["Type"] == "Other"
    assert az["Resources"][0]["Details"]["Other"]["provider"] == "Azure"
    assert az["Resources"][0]["Details"]["Other"]["kind"] == "workspace"
    gcp = stored[findings[1]["resources"][0]["uid"]]
    assert gcp["Resources"][0]["Details"]["Other"]["account"] == "my-project"


def test_closed_finding_is_archived_and_pass_is_passed() -> None:
    f = finding(aws_asset(1), status="pass")
    a = to_asff(f, product="p", account=ACCOUNT, region="us-east-1")
    assert (a["Compliance"]["Status"], a["RecordState"]) == ("PASSED", "ACTIVE")
    c = to_asff(closed(f, TIME_MS), product="p", account=ACCOUNT, region="us-east-1")
    assert c["RecordState"] == "ARCHIVED"
    assert not FORBIDDEN & set(c)


def test_failed_findings_are_retried_then_undelivered(hub: Any) -> None:
    # moto refuses a finding (FailedFindings) only when it has no resources, which a typed finding cannot
    # be; Stubber answers as Security Hub does when it refuses one finding of a call.
    good = aws_findings(3)
    refused = good[2]["finding_info"]["uid"]
    s = sink(max_attempts=3)
    stub = Stubber(s.client("us-east-1"))
    failed = {"Id": refused, "ErrorCode": "InvalidInput", "ErrorMessage": "refused"}
    stub.add_response("batch_import_findings", {"FailedCount": 1, "SuccessCount": 2, "FailedFindings": [failed]},
                      {"Findings": ANY})
    for _ in range(2):
        stub.add_response("batch_import_findings", {"FailedCount": 1, "SuccessCount": 0, "FailedFindings": [failed]},
                          {"Findings": ANY})
    with stub:
        report = s.deliver(batch(good))
    stub.assert_no_pending_responses()
    assert report.delivered == 2
    assert s.calls == 3  # the first call, then two retries of the refused finding alone
    [left] = report.undelivered
    assert left.payload["finding_info"]["uid"] == refused
    assert "InvalidInput" in left.reason


def test_asff_stays_under_the_size_limit() -> None:
    f = finding(aws_asset(1))
    f["finding_info"] = dict(f["finding_info"])
    f["compliance"] = dict(f["compliance"], requirements=["x" * 200] * 32)
    big = dict(f, resources=[dict(f["resources"][0], type="model",
                                  data={f"k{i}": "v" * 1000 for i in range(300)})])
    a = to_asff(big, product="p", account=ACCOUNT, region="us-east-1")
    assert len(json.dumps(a)) < MAX_FINDING_BYTES  # Details.Other is capped at 50 keys of 1024 characters


def test_rate_limiter_spaces_calls_a_tenth_of_a_second_apart() -> None:
    now = [100.0]
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(round(seconds, 6))
        now[0] += seconds

    limiter = RateLimiter(10, clock=lambda: now[0], sleep=sleep)
    for _ in range(4):
        limiter.acquire()
    assert slept == [0.1, 0.1, 0.1]
    now[0] += 5
    limiter.acquire()
    assert slept == [0.1, 0.1, 0.1]  # an idle limiter does not make the next call wait


class _Deny(BaseHTTPRequestHandler):
    """SageMaker with the scan role's permission revoked: every call is AccessDenied."""

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        body = json.dumps({"__type": "AccessDeniedException", "message": "not authorized"}).encode()
        self.send_response(400)
        self.send_header("Content-Type", "application/x-amz-json-1.1")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        return


@contextmanager
def denying_server() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Deny)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def _create_notebook(name: str) -> None:
    iam = boto3.client("iam", region_name="us-east-1")
    if not iam.list_roles()["Roles"]:
        trust = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole",
                                                         "Principal": {"Service": "sagemaker.amazonaws.com"}}]}
        iam.create_role(RoleName="exec", AssumeRolePolicyDocument=json.dumps(trust))
    sm = boto3.client("sagemaker", region_name="us-east-1")
    sm.create_notebook_instance(NotebookInstanceName=name, InstanceType="ml.t3.medium",
                                RoleArn=f"arn:aws:iam::{ACCOUNT}:role/exec", DirectInternetAccess="Enabled")


def _delete_notebook(name: str) -> None:
    sm = boto3.client("sagemaker", region_name="us-east-1")
    sm.stop_notebook_instance(NotebookInstanceName=name)
    sm.delete_notebook_instance(NotebookInstanceName=name)


def _scan(tmp_path: Path, state: FileStateStore) -> Any:
    out = tmp_path / "out"
    return run_scan(ScanRequest(providers=["aws"], options=CollectOptions(regions=["us-east-1"]), out_dir=out,
                                sinks=[FileSink(out), SecurityHubSink(SecurityHubSettings())], state=state))


def test_vanished_resource_is_archived_once_and_failed_scope_left_untouched(
        hub: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    state = FileStateStore(tmp_path / "state.json")
    _create_notebook("keep")
    _create_notebook("gone")
    first = _scan(tmp_path, state)
    assert first.exit_code == 0, (first.batch.summary["scopes"], first.batch.summary["evaluation_errors"])
    arn = f"arn:aws:sagemaker:us-east-1:{ACCOUNT}:notebook-instance/gone"
    gone_ids = {f["Id"] for f in all_findings() if f["Resources"][0]["Id"] == arn}
    assert gone_ids
    assert {f["RecordState"] for f in all_findings()} == {"ACTIVE"}

    # The scope fails: nothing may be archived, and its state must stay as it was.
    _delete_notebook("gone")
    before = (tmp_path / "state.json").read_text()
    with denying_server() as url:
        monkeypatch.setenv("AWS_ENDPOINT_URL_SAGEMAKER", url)
        failed = _scan(tmp_path, state)
        monkeypatch.delenv("AWS_ENDPOINT_URL_SAGEMAKER")
    assert failed.exit_code == 4
    assert failed.batch.summary["findings"]["closed"] == 0
    assert {f["RecordState"] for f in all_findings()} == {"ACTIVE"}
    assert (tmp_path / "state.json").read_text() == before

    # The scope succeeds again: the vanished notebook's findings are archived, the rest stay active.
    second = _scan(tmp_path, state)
    assert second.exit_code == 0
    assert second.batch.summary["findings"]["closed"] == len(gone_ids)
    by_id = {f["Id"]: f for f in all_findings()}
    assert {by_id[i]["RecordState"] for i in gone_ids} == {"ARCHIVED"}
    assert {f["RecordState"] for i, f in by_id.items() if i not in gone_ids} == {"ACTIVE"}
    lines = [json.loads(x) for x in (tmp_path / "out" / "findings.ocsf.jsonl").read_text().splitlines()]
    assert {f["finding_info"]["uid"] for f in lines if f["activity_id"] == 3} == gone_ids

    # Closed once: a further scan closes nothing more.
    third = _scan(tmp_path, state)
    assert third.batch.summary["findings"]["closed"] == 0


MEMBER = "111122223333"


def _member_findings() -> list[dict[str, Any]]:
    creds = boto3.client("sts").assume_role(RoleArn=f"arn:aws:iam::{MEMBER}:role/aispm-import",
                                            RoleSessionName="check")["Credentials"]
    client = boto3.client("securityhub", region_name="us-east-1", aws_access_key_id=creds["AccessKeyId"],
                          aws_secret_access_key=creds["SecretAccessKey"], aws_session_token=creds["SessionToken"])
    return list(client.get_findings(MaxResults=100)["Findings"])


def test_another_accounts_finding_is_imported_through_its_role(hub: Any) -> None:
    findings = aws_findings(2, account=MEMBER)
    report = sink(role_name="aispm-import").deliver(batch(findings))
    assert (report.delivered, report.undelivered) == (2, [])
    stored = _member_findings()
    assert sorted(f["Id"] for f in stored) == sorted(f["finding_info"]["uid"] for f in findings)
    assert {f["AwsAccountId"] for f in stored} == {MEMBER}
    assert {f["ProductArn"] for f in stored} == {product_arn("us-east-1", MEMBER)}
    assert all_findings() == []  # nothing in the caller's account


def test_without_a_role_another_accounts_finding_lands_in_the_callers_account(hub: Any) -> None:
    findings = aws_findings(2, account=MEMBER)
    assert sink().deliver(batch(findings)).delivered == 2
    stored = all_findings()
    assert {f["AwsAccountId"] for f in stored} == {ACCOUNT}
    assert {f["Resources"][0]["Id"].split(":")[4] for f in stored} == {MEMBER}  # the resource keeps its ARN


def test_severity_and_types_are_also_provider_fields() -> None:
    a = to_asff(finding(aws_asset(1)), product="p", account=ACCOUNT, region="us-east-1")
    assert a["FindingProviderFields"] == {"Severity": a["Severity"], "Types": a["Types"]}


def test_a_finding_without_a_time_is_undelivered_not_imported_as_1970(hub: Any) -> None:
    good, timeless = aws_findings(2)
    timeless = dict(timeless, time=None)
    with pytest.raises(TypeError):   # a letter without a time never becomes a finding (replay keeps it)
        from_ocsf(timeless)
    report = sink().deliver(batch([good]))
    assert report.delivered == 1
    assert [f["Id"] for f in all_findings()] == [good["finding_info"]["uid"]]
