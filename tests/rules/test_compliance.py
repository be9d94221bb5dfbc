"""The compliance view: findings rolled up per framework requirement, in summary.json and on the terminal."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

from aispm.cli import main
from rules.compliance import UnknownFramework, check_framework_ids, framework_summary


def finding(rule: str, cloud: str, status: str, suppressed: bool = False, closed: bool = False) -> dict[str, Any]:
    return {
        "activity_id": 3 if closed else 1,
        "status_id": 3 if suppressed else (4 if status == "Pass" else 1),
        "compliance": {"control": rule, "status": status},
        "cloud": {"provider": cloud},
    }


FINDINGS = [
    finding("AISPM-NET-002", "AWS", "Fail"),
    finding("AISPM-NET-002", "AWS", "Fail", suppressed=True),
    finding("AISPM-NET-002", "AWS", "Pass"),
    finding("AISPM-NET-002", "Azure", "Fail"),
    finding("AISPM-NET-005", "AWS", "Pass"),
    finding("AISPM-LOG-001", "GCP", "Fail"),
    finding("AISPM-NET-002", "AWS", "Fail", closed=True),   # a vanished resource: not an evaluation
]


def _req(summary: dict[str, Any], fid: str, req: str) -> dict[str, Any]:
    return next(r for r in summary[fid]["requirements"] if r["id"] == req)


def test_iso_requirements_rolled_up() -> None:
    s = framework_summary(FINDINGS, ["iso-42001"])
    assert list(s) == ["iso-42001"]
    assert s["iso-42001"]["name"] == "ISO/IEC 42001:2023"
    assert [r["id"] for r in s["iso-42001"]["requirements"]] == [
        "A.3.2", "A.4.2", "A.4.3", "A.4.4", "A.4.5", "A.6.2.5", "A.6.2.6", "A.6.2.8", "A.7.5"]
    a45 = _req(s, "iso-42001", "A.4.5")
    assert a45["title"] == "System and computing resources"
    assert (a45["pass"], a45["fail"], a45["suppressed"]) == (2, 3, 1)   # NET-002 + NET-005, all clouds
    assert a45["failing_rules"] == ["AISPM-NET-002"]
    assert {"AISPM-NET-002", "AISPM-NET-005", "AISPM-RES-001"} <= set(a45["rules"])
    assert {k: _req(s, "iso-42001", "A.6.2.5")[k] for k in ("pass", "fail", "failing_rules")} == {
        "pass": 1, "fail": 0, "failing_rules": []}
    assert {k: _req(s, "iso-42001", "A.6.2.8")[k] for k in ("title", "pass", "fail", "failing_rules", "rules")} == {
        "title": "AI system recording of event logs", "pass": 0, "fail": 1,
        "failing_rules": ["AISPM-LOG-001"], "rules": ["AISPM-LOG-001"]}
    a32 = _req(s, "iso-42001", "A.3.2")
    assert (a32["pass"], a32["fail"], a32["failing_rules"]) == (0, 0, [])


def test_nist_measure_2_7_sees_every_rule() -> None:
    s = framework_summary(FINDINGS, ["nist-ai-rmf"])
    m27 = _req(s, "nist-ai-rmf", "MEASURE 2.7")
    assert len(m27["rules"]) == 20
    assert (m27["pass"], m27["fail"], m27["suppressed"]) == (2, 4, 1)
    assert m27["failing_rules"] == ["AISPM-NET-002", "AISPM-LOG-001"]


def test_native_controls_count_only_their_own_cloud() -> None:
    s = framework_summary(FINDINGS, ["aws_securityhub", "azure_policy"])
    assert s["aws_securityhub"]["name"] == "AWS Security Hub"
    sm1 = _req(s, "aws_securityhub", "SageMaker.1")
    assert (sm1["pass"], sm1["fail"], sm1["suppressed"]) == (1, 2, 1)       # the Azure NET-002 Fail is not counted
    sm2 = _req(s, "aws_securityhub", "SageMaker.2")
    assert (sm2["pass"], sm2["fail"], sm2["rules"]) == (1, 0, ["AISPM-NET-005"])
    azure_vnet = _req(s, "azure_policy", "7804b5c7-01dc-4723-969b-ae300cc07ff1")
    assert (azure_vnet["pass"], azure_vnet["fail"]) == (0, 0)              # NET-005 only passed on AWS


def test_framework_ids_are_checked() -> None:
    assert check_framework_ids(["mitre-atlas", "iso-42001", "mitre-atlas"]) == ["mitre-atlas", "iso-42001"]
    with pytest.raises(UnknownFramework, match="unknown framework 'nist'"):
        check_framework_ids(["nist"])


def test_invalid_framework_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out"
    assert main(["scan", "--provider", "aws", "--framework", "soc2", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("aispm: error: --framework: unknown framework 'soc2' (choose from ")
    assert "nist-ai-rmf" in err
    assert err.count("\n") == 1
    assert not out.exists()


@pytest.fixture
def estate() -> Iterator[None]:
    with mock_aws():
        sm: Any = boto3.client("sagemaker", region_name="us-east-1")
        iam: Any = boto3.client("iam", region_name="us-east-1")
        role = iam.create_role(RoleName="r", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
        sm.create_notebook_instance(NotebookInstanceName="open", InstanceType="ml.t3.medium", RoleArn=role,
                                    DirectInternetAccess="Enabled", RootAccess="Enabled")
        sm.create_notebook_instance(NotebookInstanceName="closed", InstanceType="ml.t3.medium", RoleArn=role,
                                    DirectInternetAccess="Disabled", RootAccess="Disabled", SubnetId="subnet-1",
                                    SecurityGroupIds=["sg-1"])
        yield


def test_scan_with_framework_writes_and_prints_the_view(
        estate: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out"
    code = main(["scan", "--provider", "aws", "--region", "us-east-1", "--out", str(out),
                 "--framework", "aws_securityhub", "--framework", "iso-42001"])
    assert code == 0
    summary = json.loads((out / "summary.json").read_text())
    assert list(summary["frameworks"]) == ["aws_securityhub", "iso-42001"]
    sm1 = _req(summary["frameworks"], "aws_securityhub", "SageMaker.1")   # NET-002: notebooks' internet access
    assert (sm1["pass"], sm1["fail"], sm1["failing_rules"]) == (1, 1, ["AISPM-NET-002"])
    sm3 = _req(summary["frameworks"], "aws_securityhub", "SageMaker.3")   # IAM-002: root access
    assert (sm3["pass"], sm3["fail"], sm3["failing_rules"]) == (1, 1, ["AISPM-IAM-002"])
    findings = [json.loads(x) for x in (out / "findings.ocsf.jsonl").read_text().splitlines()]
    a45 = _req(summary["frameworks"], "iso-42001", "A.4.5")
    expected_fail = sum(f["compliance"]["status"] == "Fail" and f["compliance"]["control"] in a45["rules"]
                        for f in findings)
    assert a45["fail"] == expected_fail > 0
    stdout = capsys.readouterr().out
    assert "\nAWS Security Hub\nrequirement" in stdout
    assert "\nISO/IEC 42001:2023\nrequirement" in stdout
    row = next(line for line in stdout.splitlines() if line.startswith("SageMaker.1 "))
    assert row.split()[-3:] == ["1", "1", "AISPM-NET-002"]


def test_scan_without_framework_has_no_view(estate: None, tmp_path: Path) -> None:
    out = tmp_path / "out"
    assert main(["scan", "--provider", "aws", "--region", "us-east-1", "--out", str(out)]) == 0
    assert "frameworks" not in json.loads((out / "summary.json").read_text())
