"""``--fail-on`` and suppressions (contract v1.1): suppressed findings are not failing anywhere, and a
tripped threshold says so in one stderr line."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from aispm.cli import main

SCAN = ["scan", "--provider", "aws", "--region", "us-east-1"]


@pytest.fixture
def estate(sagemaker: Any) -> None:
    sagemaker(["a", "b"])


def test_fail_on_prints_one_line_naming_the_threshold_and_the_count(
        estate: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main([*SCAN, "--out", str(tmp_path), "--fail-on", "high"]) == 3
    findings = [json.loads(x) for x in (tmp_path / "findings.ocsf.jsonl").read_text().splitlines()]
    n = sum(1 for f in findings if f["compliance"]["status"] == "Fail" and f["severity_id"] >= 4)
    assert n > 0
    lines = [x for x in capsys.readouterr().err.splitlines() if "--fail-on" in x]
    assert lines == [f"aispm: --fail-on high reached: {n} failing findings at high or above"]


def test_suppressed_findings_are_counted_apart_and_never_trip_fail_on(
        estate: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "policy.yaml"
    config.write_text('suppressions:\n  - rule: "*"\n    resource: "*"\n    justification: "accepted risk"\n')
    out = tmp_path / "out"
    assert main([*SCAN, "--out", str(out), "--config", str(config), "--fail-on", "low"]) == 0
    assert "--fail-on" not in capsys.readouterr().err
    findings = [json.loads(x) for x in (out / "findings.ocsf.jsonl").read_text().splitlines()]
    fails = [f for f in findings if f["compliance"]["status"] == "Fail"]
    assert fails and {f["status_id"] for f in fails} == {3}
    summary = json.loads((out / "summary.json").read_text())
    assert summary["findings"]["fail"] == 0
    assert summary["findings"]["suppressed"] == len(fails)
    assert all(r["fail"] == 0 for r in summary["by_rule"].values())
    assert sum(r["suppressed"] for r in summary["by_rule"].values()) == len(fails)
    assert summary["by_provider"]["aws"]["fail"] == 0
