"""The compliance view: findings rolled up per framework requirement, in summary.json and on the terminal."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

from aispm.cli import main
from aispm.normalizer.schema import ASSET_KINDS
from aispm.rules.catalog import all_rules
from aispm.rules.compliance import UnknownFramework, check_framework_ids, framework_summary
from aispm.rules.finding import AssetRef, Finding, RuleRef, Status
from aispm.rules.frameworks import FRAMEWORKS, CatalogError, compliance_refs, load_frameworks
from aispm.rules.model import Severity


def finding(rule: str, cloud: str, status: str, suppressed: bool = False, closed: bool = False,
            kind: str | None = "notebook") -> Finding:
    """A finding as far as the compliance view reads it (``kind`` None: a resource of no known kind)."""
    provider = {"AWS": "aws", "Azure": "azure", "GCP": "gcp"}[cloud]
    return Finding(
        rule=RuleRef(id=rule, title=rule),
        asset=AssetRef(uid=f"uid-{rule}-{kind}", provider=provider, service="", kind=kind or "", name="n",
                       account="a", region="r"),
        status=Status.PASS if status == "Pass" else Status.FAIL, severity=Severity.high, detail="",
        suppression="accepted" if suppressed else None, closed="gone" if closed else None,
        time_ms=1, first_seen_ms=1, last_seen_ms=1)


FINDINGS = [
    finding("AISPM-NET-002", "AWS", "Fail"),
    finding("AISPM-NET-002", "AWS", "Fail", suppressed=True),
    finding("AISPM-NET-002", "AWS", "Pass"),
    finding("AISPM-NET-002", "Azure", "Fail", kind="compute"),
    finding("AISPM-NET-005", "AWS", "Pass"),
    finding("AISPM-LOG-001", "GCP", "Fail", kind="endpoint"),
    finding("AISPM-NET-002", "AWS", "Fail", closed=True),   # a vanished resource: not an evaluation
]


def _req(summary: dict[str, Any], fid: str, req: str) -> dict[str, Any]:
    return next(r for r in summary[fid]["requirements"] if r["id"] == req)


def _counts(req: dict[str, Any]) -> tuple[int, int, int, list[str]]:
    return req["pass"], req["fail"], req["suppressed"], req["failing_rules"]


def test_iso_requirements_rolled_up() -> None:
    s = framework_summary(FINDINGS, ["iso-42001"])
    assert list(s) == ["iso-42001"]
    assert s["iso-42001"]["name"] == "ISO/IEC 42001:2023"
    assert [r["id"] for r in s["iso-42001"]["requirements"]] == [
        "A.3.2", "A.4.2", "A.4.3", "A.4.4", "A.4.5", "A.6.2.2", "A.6.2.5", "A.6.2.6", "A.6.2.8", "A.7.2", "A.7.5",
        "A.9.2", "A.10.3"]
    a45 = _req(s, "iso-42001", "A.4.5")
    assert a45["title"] == "System and computing resources"
    # NET-002 + NET-005 on every cloud: the suppressed Fail is counted apart, never as failing.
    assert _counts(a45) == (2, 2, 1, ["AISPM-NET-002"])
    assert {"AISPM-NET-002", "AISPM-NET-005", "AISPM-RES-001"} <= set(a45["rules"])
    assert {k: _req(s, "iso-42001", "A.6.2.5")[k] for k in ("pass", "fail", "failing_rules")} == {
        "pass": 1, "fail": 0, "failing_rules": []}
    assert {k: _req(s, "iso-42001", "A.6.2.8")[k] for k in ("title", "pass", "fail", "failing_rules", "rules")} == {
        "title": "AI system recording of event logs", "pass": 0, "fail": 1,
        "failing_rules": ["AISPM-LOG-001"], "rules": ["AISPM-LOG-001", "AISPM-LOG-003"]}
    a32 = _req(s, "iso-42001", "A.3.2")
    assert (a32["pass"], a32["fail"], a32["failing_rules"]) == (0, 0, [])


def test_nist_measure_2_7_sees_every_rule() -> None:
    s = framework_summary(FINDINGS, ["nist-ai-rmf"])
    m27 = _req(s, "nist-ai-rmf", "MEASURE 2.7")
    assert len(m27["rules"]) == 27
    assert _counts(m27) == (2, 3, 1, ["AISPM-NET-002", "AISPM-LOG-001"])


def test_native_controls_count_only_their_own_cloud() -> None:
    s = framework_summary(FINDINGS, ["aws_securityhub", "azure_policy"])
    assert s["aws_securityhub"]["name"] == "AWS Security Hub"
    sm1 = _req(s, "aws_securityhub", "SageMaker.1")
    assert _counts(sm1) == (1, 1, 1, ["AISPM-NET-002"])       # the Azure NET-002 Fail is not counted
    sm2 = _req(s, "aws_securityhub", "SageMaker.2")
    assert (sm2["pass"], sm2["fail"], sm2["rules"]) == (1, 0, ["AISPM-NET-005"])
    azure_vnet = _req(s, "azure_policy", "7804b5c7-01dc-4723-969b-ae300cc07ff1")
    assert (azure_vnet["pass"], azure_vnet["fail"]) == (0, 0)              # NET-005 only passed on AWS


def test_a_rule_whose_only_fails_are_suppressed_is_not_failing() -> None:
    findings = [finding("AISPM-IAM-002", "AWS", "Fail", suppressed=True),
                finding("AISPM-IAM-002", "AWS", "Fail", suppressed=True),
                finding("AISPM-IAM-002", "AWS", "Pass")]
    s = framework_summary(findings, ["aws_securityhub", "iso-42001", "nist-ai-rmf"])
    assert _counts(_req(s, "aws_securityhub", "SageMaker.3")) == (1, 0, 2, [])
    assert _counts(_req(s, "nist-ai-rmf", "MEASURE 2.7")) == (1, 0, 2, [])
    assert all("AISPM-IAM-002" not in r["failing_rules"] for fw in s.values() for r in fw["requirements"])


def test_native_controls_count_only_the_asset_kinds_they_cover() -> None:
    findings = [
        finding("AISPM-NET-005", "AWS", "Fail", kind="notebook"),
        finding("AISPM-NET-005", "AWS", "Fail", kind="training_job"),      # SageMaker.2: notebooks only
        finding("AISPM-NET-005", "AWS", "Fail", kind="model", suppressed=True),
        finding("AISPM-NET-005", "AWS", "Pass", kind="processing_job"),
        finding("AISPM-NET-002", "AWS", "Fail", kind="studio_domain"),      # SageMaker.1: notebooks only
        finding("AISPM-ENC-001", "AWS", "Fail", kind="endpoint_config"),    # SageMaker.21: notebooks only
        finding("AISPM-ENC-001", "AWS", "Pass", kind="notebook"),
        finding("AISPM-RES-001", "AWS", "Fail", kind="endpoint_config"),    # SageMaker.4: endpoint configs
        finding("AISPM-NET-004", "AWS", "Fail", kind="training_job"),       # SageMaker.5: models only
        finding("AISPM-NET-004", "AWS", "Pass", kind="model"),
        finding("AISPM-NET-004", "Azure", "Fail", kind="deployment"),       # managed vnet policy: workspaces
        finding("AISPM-NET-004", "Azure", "Pass", kind="workspace"),
        finding("AISPM-NET-003", "Azure", "Fail", kind="registry"),         # workspace public access policies
        finding("AISPM-IAM-003", "Azure", "Fail", kind="datastore"),        # compute local auth policies
        finding("AISPM-IAM-003", "Azure", "Fail", kind="compute"),
        finding("AISPM-ENC-001", "GCP", "Fail", kind="dataset"),            # CMEK constraint: Vertex AI resources
        finding("AISPM-NET-005", "AWS", "Fail", kind=None),                 # no resource: no native evidence
    ]
    s = framework_summary(findings, ["aws_securityhub", "azure_policy", "gcp_org_policy", "iso-42001"])
    assert _counts(_req(s, "aws_securityhub", "SageMaker.2")) == (0, 1, 0, ["AISPM-NET-005"])
    assert _counts(_req(s, "aws_securityhub", "SageMaker.1")) == (0, 0, 0, [])
    assert _counts(_req(s, "aws_securityhub", "SageMaker.21")) == (1, 0, 0, [])
    assert _counts(_req(s, "aws_securityhub", "SageMaker.4")) == (0, 1, 0, ["AISPM-RES-001"])
    assert _counts(_req(s, "aws_securityhub", "SageMaker.5")) == (1, 0, 0, [])
    assert _counts(_req(s, "azure_policy", "6ddb1705-c8cf-450e-aa4b-19ad6703c440")) == (1, 0, 0, [])
    assert _counts(_req(s, "azure_policy", "438c38d2-3772-465a-a9cc-7a6666a275ce")) == (0, 0, 0, [])
    assert _counts(_req(s, "azure_policy", "e96a9a5f-07ca-471b-9bc5-6a0f33cbd68f")) == (0, 1, 0, ["AISPM-IAM-003"])
    assert _counts(_req(s, "gcp_org_policy", "constraints/gcp.restrictNonCmekServices")) == (
        0, 1, 0, ["AISPM-ENC-001"])
    # The frameworks see every kind (and findings without resources): A.4.5 counts all NET-005 findings
    # (notebook, training job, no resource; the model's is suppressed), the Studio domain's NET-002 and RES-001.
    a45 = _req(s, "iso-42001", "A.4.5")
    assert _counts(a45) == (1, 5, 1, ["AISPM-NET-002", "AISPM-NET-005", "AISPM-RES-001"])


def test_ocsf_requirements_list_native_controls_only_on_the_kinds_they_cover() -> None:
    rules = {r.id: r for r in all_rules()}
    std, req = compliance_refs(rules["AISPM-NET-005"], "aws", "notebook")
    assert (std[-1], req[-1]) == ("AWS Security Hub", "SageMaker.2")
    for kind in ("training_job", "processing_job", "model"):
        std, req = compliance_refs(rules["AISPM-NET-005"], "aws", kind)
        assert std == ["NIST AI RMF 1.0", "ISO/IEC 42001:2023", "MITRE ATLAS"]
        assert req == ["MEASURE 2.7", "A.4.5", "A.6.2.5", "AML.T0025"]
    assert "SageMaker.21" not in compliance_refs(rules["AISPM-ENC-001"], "aws", "endpoint_config")[1]
    assert "SageMaker.21" in compliance_refs(rules["AISPM-ENC-001"], "aws", "notebook")[1]
    assert "SageMaker.1" not in compliance_refs(rules["AISPM-NET-002"], "aws", "studio_domain")[1]
    std, req = compliance_refs(rules["AISPM-NET-004"], "azure", "deployment")
    assert "Azure Policy" not in std and "6ddb1705-c8cf-450e-aa4b-19ad6703c440" not in req
    std, req = compliance_refs(rules["AISPM-NET-004"], "azure", "workspace")
    assert (std[-1], req[-1]) == ("Azure Policy", "6ddb1705-c8cf-450e-aa4b-19ad6703c440")
    std, req = compliance_refs(rules["AISPM-IAM-003"], "azure", "endpoint")   # compute local-auth policies
    assert "Azure Policy" not in std and not any(r.startswith(("e96a9a5f", "a6f9a2d0")) for r in req)
    assert compliance_refs(rules["AISPM-IAM-003"], "azure", "compute")[1][-2:] == [
        "e96a9a5f-07ca-471b-9bc5-6a0f33cbd68f", "a6f9a2d0-cff7-4855-83ad-4cd750666512"]
    # Without a kind (older callers) every control of the asset's cloud is listed, as before.
    assert compliance_refs(rules["AISPM-NET-005"], "aws")[1][-1] == "SageMaker.2"


def test_every_native_mapping_covers_a_kind_the_rule_evaluates() -> None:
    """A rule mapped to a native control that covers none of the rule's kinds would never show the control."""
    dead = []
    for rule in all_rules():
        for fid, ids in rule.compliance.items():
            fw = FRAMEWORKS[fid]
            if fw.provider is None:
                continue
            kinds = rule.kinds.get(fw.provider, ())
            dead += [f"{rule.id} -> {fid} {i}" for i in ids
                     if kinds != ("*",) and not any(fw.covers(i, k) for k in kinds)]
    assert dead == []


def test_every_native_control_names_its_kinds_and_frameworks_name_none() -> None:
    for fw in FRAMEWORKS.values():
        for r in fw.requirements:
            assert (r.kinds is not None) == (fw.provider is not None), (fw.id, r.id)
            assert set(r.kinds or ()) <= set(ASSET_KINDS)
    sh = {r.id: r.kinds for r in FRAMEWORKS["aws_securityhub"].requirements}
    assert {i: sh[i] for i in ("SageMaker.1", "SageMaker.2", "SageMaker.3", "SageMaker.8",
                               "SageMaker.4", "SageMaker.5", "SageMaker.21")} == {
        "SageMaker.1": ("notebook",), "SageMaker.2": ("notebook",), "SageMaker.3": ("notebook",),
        "SageMaker.8": ("notebook",), "SageMaker.4": ("endpoint_config",), "SageMaker.5": ("model",),
        "SageMaker.21": ("notebook",)}


def _data_copy(tmp_path: Path) -> Path:
    data = tmp_path / "data"
    shutil.copytree(Path(__file__).resolve().parents[2] / "rules" / "data", data)
    return data


@pytest.mark.parametrize(("edit", "message"), [
    (lambda t: t.replace("      kinds: [endpoint_config]\n", "      kinds: [endpoint_configuration]\n"),
     "native-controls.yaml: aws_securityhub: requirements.3.kinds: unknown asset kind 'endpoint_configuration'"),
    (lambda t: t.replace("      kinds: [endpoint_config]\n", ""),
     "native-controls.yaml: aws_securityhub: control 'SageMaker.4': 'kinds' is required"),
    (lambda t: t.replace("      kinds: [endpoint_config]\n", "      kinds: [model, model]\n"),
     "native-controls.yaml: aws_securityhub: requirements.3.kinds: an asset kind is listed twice"),
    (lambda t: t.replace("      kinds: [endpoint_config]\n", "      kinds: endpoint_config\n"),
     "native-controls.yaml: aws_securityhub: requirements.3.kinds"),
])
def test_native_control_kinds_are_validated_at_load(tmp_path: Path, edit: Any, message: str) -> None:
    data = _data_copy(tmp_path)
    native = data / "native-controls.yaml"
    text = native.read_text()
    changed = edit(text)
    assert changed != text
    native.write_text(changed)
    with pytest.raises(CatalogError, match=re.escape(message)):
        load_frameworks(data)


def test_kinds_on_a_framework_requirement_are_refused(tmp_path: Path) -> None:
    data = _data_copy(tmp_path)
    iso = data / "frameworks" / "iso-42001.yaml"
    text = iso.read_text()
    first = re.search(r"^(\s*)title: .*$", text, flags=re.MULTILINE)
    assert first is not None
    iso.write_text(text[:first.end()] + f"\n{first.group(1)}kinds: [notebook]" + text[first.end():])
    with pytest.raises(CatalogError, match=r"frameworks/iso-42001\.yaml: .*'kinds' is only for cloud-native"):
        load_frameworks(data)


def test_an_unknown_kind_in_the_shipped_data_fails_at_import(tmp_path: Path) -> None:
    pkg = tmp_path / "aispm"   # a copy of the package (links copied as folders)
    shutil.copytree(Path(__file__).resolve().parents[2] / "aispm", pkg,
                    ignore=shutil.ignore_patterns("__pycache__"))
    native = pkg / "rules" / "data" / "native-controls.yaml"
    native.write_text(native.read_text().replace("kinds: [monitoring_schedule]", "kinds: [monitor]", 1))
    env = {**os.environ, "PYTHONPATH": str(tmp_path)}
    proc = subprocess.run([sys.executable, "-c", "import aispm.rules.frameworks"], capture_output=True, text=True,
                          env=env, cwd=tmp_path, timeout=120, check=False)
    assert proc.returncode != 0
    assert "CatalogError" in proc.stderr and "unknown asset kind 'monitor'" in proc.stderr


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
        # A training job outside any VPC fails NET-005, which SageMaker.2 (notebook instances) must not count.
        sm.create_training_job(
            TrainingJobName="tj-open", RoleArn=role,
            AlgorithmSpecification={"TrainingImage": "i", "TrainingInputMode": "File"},
            StoppingCondition={"MaxRuntimeInSeconds": 1}, OutputDataConfig={"S3OutputPath": "s3://b"},
            ResourceConfig={"InstanceType": "ml.m5.large", "InstanceCount": 1, "VolumeSizeInGB": 1})
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
    net5 = {f["resources"][0]["type"]: f["compliance"]["status"] for f in findings
            if f["compliance"]["control"] == "AISPM-NET-005" and f["resources"][0]["name"] in ("open", "tj-open")}
    assert net5 == {"notebook": "Fail", "training_job": "Fail"}
    sm2 = _req(summary["frameworks"], "aws_securityhub", "SageMaker.2")   # NET-005 on the notebooks only
    assert (sm2["pass"], sm2["fail"], sm2["failing_rules"]) == (1, 1, ["AISPM-NET-005"])
    a45 = _req(summary["frameworks"], "iso-42001", "A.4.5")
    expected_fail = sum(f["compliance"]["status"] == "Fail" and f["compliance"]["control"] in a45["rules"]
                        for f in findings)
    assert a45["fail"] == expected_fail > 0
    stdout = capsys.readouterr().out
    assert "\nAWS Security Hub\nrequirement" in stdout
    assert "\nISO/IEC 42001:2023\nrequirement" in stdout
    row = next(line for line in stdout.splitlines() if line.startswith("SageMaker.1 "))
    # columns: requirement, title, pass, fail, suppressed, failing rules
    assert row.split()[-4:] == ["1", "1", "0", "AISPM-NET-002"]


def test_scan_without_framework_has_no_view(estate: None, tmp_path: Path) -> None:
    out = tmp_path / "out"
    assert main(["scan", "--provider", "aws", "--region", "us-east-1", "--out", str(out)]) == 0
    assert "frameworks" not in json.loads((out / "summary.json").read_text())


def test_scan_lists_native_controls_in_ocsf_only_on_the_kinds_they_cover(estate: None, tmp_path: Path) -> None:
    out = tmp_path / "out"
    assert main(["scan", "--provider", "aws", "--region", "us-east-1", "--out", str(out)]) == 0
    findings = [json.loads(x) for x in (out / "findings.ocsf.jsonl").read_text().splitlines()]
    net5 = {f["resources"][0]["type"]: f["compliance"] for f in findings
            if f["compliance"]["control"] == "AISPM-NET-005" and f["resources"][0]["name"] in ("open", "tj-open")}
    assert "SageMaker.2" in net5["notebook"]["requirements"]
    assert "AWS Security Hub" in net5["notebook"]["standards"]
    assert "SageMaker.2" not in net5["training_job"]["requirements"]
    assert "AWS Security Hub" not in net5["training_job"]["standards"]
    assert "A.4.5" in net5["training_job"]["requirements"]
