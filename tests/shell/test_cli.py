"""The CLI's contract: exit codes, one-line errors, the demo end to end, a scan against a moto server."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import boto3
import pytest

from aispm.cli import main

ROOT = Path(__file__).resolve().parents[2]


def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "aispm", *args], capture_output=True, text=True, cwd=ROOT,
                          env={**os.environ, **(env or {})}, timeout=300, check=False)


@pytest.mark.parametrize("argv", [
    ["scan", "--bogus"],
    ["scan", "--provider", "oracle"],
    ["scan", "--workers", "0"],
    ["frobnicate"],
    [],
])
def test_usage_errors_exit_2_with_one_line(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("aispm: error: ")
    assert err.count("\n") == 1


def test_bad_config_exit_2_names_file_key_and_reason(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cfg = tmp_path / "policy.yaml"
    cfg.write_text("suppressions:\n  - rule: AISPM-NET-002\n    resource: 'x*'\n")
    assert main(["scan", "--provider", "aws", "--config", str(cfg)]) == 2
    err = capsys.readouterr().err
    assert str(cfg) in err
    assert "suppressions.0.justification" in err
    assert err.count("\n") == 1


def test_unknown_rule_in_config(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cfg = tmp_path / "p.yaml"
    cfg.write_text("rules:\n  disabled: [AISPM-XYZ-999]\n")
    assert main(["scan", "--provider", "aws", "--config", str(cfg)]) == 2
    assert "unknown rule id 'AISPM-XYZ-999'" in capsys.readouterr().err


def test_version() -> None:
    proc = run("--version")
    assert proc.returncode == 0
    assert proc.stdout.startswith("aispm ")


def test_rules_list_json() -> None:
    proc = run("rules", "list", "--format", "json")
    assert proc.returncode == 0
    ids = [r["id"] for r in json.loads(proc.stdout) if r.get("kind") != "detection"]   # rules only
    assert len(ids) == 27
    assert ids[0] == "AISPM-NET-001"


@pytest.mark.slow
def test_demo_end_to_end(tmp_path: Path) -> None:
    proc = run("demo", "--out", str(tmp_path))
    assert proc.returncode == 0, proc.stderr
    summary = json.loads((tmp_path / "summary.json").read_text())
    findings = [json.loads(line) for line in (tmp_path / "findings.ocsf.jsonl").read_text().splitlines()]
    assets = [json.loads(line) for line in (tmp_path / "assets.jsonl").read_text().splitlines()]
    assert summary["assets"] == len(assets) > 0
    fails = [f for f in findings if f["compliance"]["status"] == "Fail"]
    assert summary["findings"]["fail"] == sum(f["status_id"] != 3 for f in fails) > 0
    assert summary["findings"]["suppressed"] == sum(f["status_id"] == 3 for f in fails) > 0
    assert summary["findings"]["pass"] == sum(f["compliance"]["status"] == "Pass" for f in findings) > 0
    # v1.1: a Pass is informational and keeps the rule's severity apart; every finding has the cloud profile.
    assert {(f["severity_id"], f["severity"]) for f in findings if f["compliance"]["status"] == "Pass"} == {
        (1, "Informational")}
    assert all(f["unmapped"]["rule_severity"] in ("low", "medium", "high", "critical") for f in findings)
    assert all(f["metadata"]["profiles"] == ["cloud"] for f in findings)
    assert all(s["status"] == "ok" for s in summary["scopes"])
    assert "AKIAIOSFODNN7EXAMPLE" not in (tmp_path / "assets.jsonl").read_text()
    assert "AKIAIOSFODNN7EXAMPLE" not in (tmp_path / "findings.ocsf.jsonl").read_text()
    assert "failing" in proc.stdout




def _seed(url: str) -> None:
    sm: Any = boto3.client("sagemaker", region_name="us-east-1", endpoint_url=url)
    iam: Any = boto3.client("iam", region_name="us-east-1", endpoint_url=url)
    role = iam.create_role(RoleName="r", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
    sm.create_notebook_instance(NotebookInstanceName="open-nb", InstanceType="ml.t3.medium", RoleArn=role,
                                DirectInternetAccess="Enabled")


@pytest.mark.slow
def test_scan_against_moto_server_twice_gives_identical_finding_uids(moto_server: str, tmp_path: Path) -> None:
    _seed(moto_server)
    env = {"AWS_ENDPOINT_URL": moto_server}
    outs = []
    for i in range(2):
        out = tmp_path / f"run{i}"
        proc = run("scan", "--provider", "aws", "--region", "us-east-1", "--out", str(out), env=env)
        assert proc.returncode == 0, proc.stderr
        outs.append([json.loads(x) for x in (out / "findings.ocsf.jsonl").read_text().splitlines()])
    uids = [sorted(f["finding_info"]["uid"] for f in run_) for run_ in outs]
    assert uids[0] == uids[1]
    assert len(uids[0]) == len(set(uids[0])) > 0
    net = [f for f in outs[0] if f["compliance"]["control"] == "AISPM-NET-002"]
    assert net[0]["compliance"]["status"] == "Fail"
    assert net[0]["resources"][0]["uid"] == "arn:aws:sagemaker:us-east-1:123456789012:notebook-instance/open-nb"


@pytest.mark.slow
def test_fail_on_threshold_exit_3(moto_server: str, tmp_path: Path) -> None:
    _seed(moto_server)
    proc = run("scan", "--provider", "aws", "--out", str(tmp_path), "--fail-on", "high",
               env={"AWS_ENDPOINT_URL": moto_server})
    assert proc.returncode == 3, proc.stderr


@pytest.mark.slow
def test_unreachable_endpoint_is_partial_scan_exit_4(tmp_path: Path) -> None:
    proc = run("scan", "--provider", "aws", "--out", str(tmp_path),
               env={"AWS_ENDPOINT_URL": "http://127.0.0.1:9", "AWS_MAX_ATTEMPTS": "1"})
    assert proc.returncode == 4, proc.stderr
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["scopes"][0]["status"] == "error"
    assert "Traceback" not in proc.stderr
