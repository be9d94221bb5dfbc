"""`aispm rules list/show` and docs/rules.md: every metadata field reaches the reader."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from aispm.cli import main
from aispm.rules.docs import DOCS_COMMAND, catalog_markdown

ROOT = Path(__file__).resolve().parents[2]
FIELDS = {"id", "title", "pass_title", "severity", "providers", "kinds", "requires_config", "description", "risk",
          "remediation", "references", "compliance", "mappings"}


def test_docs_rules_md_is_current() -> None:
    committed = (ROOT / "docs" / "rules.md").read_text(encoding="utf-8")
    assert committed == catalog_markdown(), f"docs/rules.md is stale: run `{DOCS_COMMAND}`"


def test_docs_cover_every_rule_and_framework() -> None:
    md = catalog_markdown()
    for rid in ("AISPM-NET-001", "AISPM-GOV-003"):
        assert f"\n## {rid}\n" in md
    assert "| ISO/IEC 42001:2023 | A.6.2.8 | AI system recording of event logs |" in md
    assert "`--framework mitre-atlas`" in md
    assert "GCP Terraform: none — The Google Terraform provider has no resource for Vertex AI custom jobs" in md


def test_rules_list_json_has_every_field(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["rules", "list", "--format", "json"]) == 0
    records = [r for r in json.loads(capsys.readouterr().out) if r.get("kind") != "detection"]   # rules only
    assert len(records) == 27
    for rec in records:
        assert set(rec) == FIELDS, rec["id"]
        assert rec["description"] and rec["risk"] and rec["remediation"]["text"] and rec["references"]
        assert set(rec["remediation"]) == {"text", "cli", "terraform", "terraform_unavailable"}
        assert set(rec["remediation"]["cli"]) == set(rec["providers"])
    net2 = next(r for r in records if r["id"] == "AISPM-NET-002")
    assert net2["severity"] == "high"
    assert net2["kinds"] == {"aws": ["notebook", "studio_domain"], "azure": ["compute"],
                             "gcp": ["notebook_runtime_template"]}
    assert net2["compliance"]["aws_securityhub"] == ["SageMaker.1"]
    shub = next(m for m in net2["mappings"] if m["framework"] == "aws_securityhub")
    assert shub == {"framework": "aws_securityhub", "name": "AWS Security Hub", "provider": "aws",
                    "requirements": [{"id": "SageMaker.1", "title":
                                      "Amazon SageMaker notebook instances should not have direct internet access"}]}
    nist = next(m for m in net2["mappings"] if m["framework"] == "nist-ai-rmf")
    assert nist["name"] == "NIST AI RMF 1.0"
    assert nist["requirements"][0]["id"] == "MEASURE 2.7"
    assert nist["requirements"][0]["title"].startswith("AI system security and resilience")


def test_rules_list_table(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["rules", "list"]) == 0
    lines = [line for line in capsys.readouterr().out.splitlines() if "(detection)" not in line]   # rules only
    assert lines[0].split() == ["id", "severity", "clouds", "title"]
    assert len(lines) == 29
    assert lines[2].split()[:3] == ["AISPM-NET-001", "high", "azure,gcp"]


def test_rules_show_text(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["rules", "show", "aispm-iam-002"]) == 0
    out = capsys.readouterr().out
    assert out.startswith(
        "AISPM-IAM-002  Root access enabled on a notebook\nSeverity: high\nApplies to: AWS notebook\n")
    for section in ("\nDescription\n", "\nRisk\n", "\nRemediation\n", "\nCompliance\n", "\nReferences\n"):
        assert section in out
    assert "  AWS CLI:\n    aws sagemaker " in out
    assert "  AWS Security Hub SageMaker.3: Users should not have root access to SageMaker notebook instances" in out
    assert not out.lstrip().startswith("{")


def test_rules_show_json(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["rules", "show", "AISPM-GOV-003", "--format", "json"]) == 0
    rec = json.loads(capsys.readouterr().out)
    assert set(rec) == FIELDS
    assert rec["requires_config"] is True
    assert rec["kinds"] == {"aws": ["*"], "azure": ["*"], "gcp": ["*"]}


def test_rules_show_unknown_id_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["rules", "show", "AISPM-NOPE-1"]) == 2
    err = capsys.readouterr().err
    assert err == "aispm: error: unknown rule id 'AISPM-NOPE-1' (see 'aispm rules list')\n"
