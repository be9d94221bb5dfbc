"""The rule catalog as a product: complete, consistent with the spec, and validated so a bad id cannot ship."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest
import yaml

from aispm.rules.catalog import _RULES, all_rules, build_catalog
from aispm.rules.frameworks import FRAMEWORKS, CatalogError, compliance_refs, load_frameworks
from aispm.rules.metadata import RuleMeta, load_metadata, problems
from aispm.rules.model import Rule, Severity

ROOT = Path(__file__).resolve().parents[2]

# The rules-v1 table and the AWS rules of the rules-v2 table, copied from the specs: id -> (title, severity).
SPEC = {
    "AISPM-NET-001": ("Inference endpoint reachable from the public internet", "high"),
    "AISPM-NET-002": ("Notebook or development environment has direct internet access", "high"),
    "AISPM-NET-003": ("AI workspace or registry accepts public network access", "high"),
    "AISPM-NET-004": ("Workload egress not network-isolated", "medium"),
    "AISPM-NET-005": ("Compute not attached to a private network", "medium"),
    "AISPM-NET-006": ("Interactive remote access exposed", "high"),
    "AISPM-ENC-001": ("Data at rest not encrypted with a customer-managed key", "medium"),
    "AISPM-ENC-002": ("Traffic between training or processing nodes not encrypted", "medium"),
    "AISPM-IAM-001": ("Workload identity is over-privileged", "critical"),
    "AISPM-IAM-002": ("Root access enabled on a notebook", "high"),
    "AISPM-IAM-003": ("Key-based or local authentication instead of identity", "medium"),
    "AISPM-IAM-004": ("AI asset shared publicly or with unknown accounts", "critical"),
    "AISPM-IAM-005": ("Notebook allows instance metadata service v1", "medium"),
    "AISPM-SEC-001": ("Plaintext secret in a container environment", "critical"),
    "AISPM-GAI-001": ("Generative AI application without a guardrail or content filter", "high"),
    "AISPM-GAI-002": ("Guardrail or content filter does not block prompt attacks and harmful content", "high"),
    "AISPM-GAI-003": ("Guardrail does not filter sensitive information", "medium"),
    "AISPM-LOG-001": ("Inference request/response capture disabled", "low"),
    "AISPM-LOG-002": ("Production endpoint without model monitoring", "low"),
    "AISPM-LOG-003": ("Generative AI model invocations are not logged", "medium"),
    "AISPM-PRV-001": ("Model image from a public or unmanaged container registry", "high"),
    "AISPM-PRV-002": ("Model deployed from outside the model registry", "medium"),
    "AISPM-PRV-003": ("Training data or model artifacts in publicly accessible storage", "critical"),
    "AISPM-RES-001": ("Endpoint without redundancy (fewer than 2 instances)", "medium"),
    "AISPM-GOV-001": ("Notebook runs an outdated or unsupported image", "medium"),
    "AISPM-GOV-002": ("Interactive compute without idle shutdown", "low"),
    "AISPM-GOV-003": ("Required ownership tags missing (only when configured)", "low"),
}


def test_catalog_titles_and_severities_are_the_specs() -> None:
    assert {r.id: (r.title, r.severity.name) for r in all_rules()} == SPEC
    assert [r.id for r in all_rules()] == list(SPEC)


def test_rules_yaml_titles_and_severities_are_the_specs() -> None:
    raw = yaml.safe_load((ROOT / "rules" / "data" / "rules.yaml").read_text())
    assert {e["id"]: (e["title"], e["severity"]) for e in raw["rules"]} == SPEC


@pytest.mark.parametrize("r", all_rules(), ids=lambda r: r.id)
def test_every_rule_has_complete_metadata(r: Rule) -> None:
    assert len(r.description) > 80
    assert len(r.risk) > 80
    assert len(r.remediation.text) > 40
    assert r.references and all(ref.startswith("https://") for ref in r.references)
    for provider in r.providers:
        assert r.remediation.cli.get(provider), f"no {provider} CLI"
        assert r.remediation.terraform.get(provider) or r.remediation.terraform_unavailable.get(provider), \
            f"no {provider} Terraform and no reason why"
    assert "MEASURE 2.7" in r.compliance["nist-ai-rmf"]
    assert r.compliance["iso-42001"]
    assert all(iso.startswith("A.") for iso in r.compliance["iso-42001"])
    for fid, ids in r.compliance.items():
        assert all(FRAMEWORKS[fid].requirement(i) is not None for i in ids), fid


def test_catalogs_load_with_names_and_native_providers() -> None:
    assert FRAMEWORKS["nist-ai-rmf"].name == "NIST AI RMF 1.0"
    assert FRAMEWORKS["iso-42001"].name == "ISO/IEC 42001:2023"
    assert FRAMEWORKS["mitre-atlas"].name == "MITRE ATLAS"
    assert {f: FRAMEWORKS[f].provider for f in ("aws_securityhub", "azure_policy", "gcp_org_policy")} == {
        "aws_securityhub": "aws", "azure_policy": "azure", "gcp_org_policy": "gcp"}
    assert FRAMEWORKS["aws_securityhub"].title_of("SageMaker.3") == \
        "Users should not have root access to SageMaker notebook instances"
    assert FRAMEWORKS["iso-42001"].title_of("A.6.2.8") == "AI system recording of event logs"
    assert len(FRAMEWORKS["iso-42001"].requirements) == 38


def _metas() -> list[RuleMeta]:
    return load_metadata()


def _with(meta_id: str, **changes: object) -> list[RuleMeta]:
    return [m.model_copy(update=changes) if m.id == meta_id else m for m in _metas()]


def test_shipped_metadata_has_no_problems() -> None:
    assert problems(_RULES, _metas(), FRAMEWORKS) == []


def test_unknown_compliance_id_fails_validation() -> None:
    net1 = next(m for m in _metas() if m.id == "AISPM-NET-001")
    bad = _with("AISPM-NET-001", compliance={**net1.compliance, "iso-42001": ("A.6.2.5", "A.99.1")})
    assert problems(_RULES, bad, FRAMEWORKS) == ["AISPM-NET-001: compliance.iso-42001: unknown requirement 'A.99.1'"]
    with pytest.raises(CatalogError, match=re.escape("unknown requirement 'A.99.1'")):
        build_catalog(_RULES, bad, FRAMEWORKS)


@pytest.mark.parametrize(("rule_id", "changes", "expected"), [
    ("AISPM-NET-002", {"compliance": {"nist-ai-rmf": ("MEASURE 2.7",), "iso-42001": ("A.4.5",),
                                      "cis": ("1.1",)}}, "compliance.cis: unknown framework"),
    ("AISPM-NET-002", {"compliance": {"nist-ai-rmf": ("GOVERN 1.6",), "iso-42001": ("A.4.5",)}},
     "must include 'MEASURE 2.7'"),
    ("AISPM-NET-002", {"compliance": {"nist-ai-rmf": ("MEASURE 2.7",), "iso-42001": ()}},
     "compliance.iso-42001: must map to at least one Annex A control"),
    # NET-003 is Azure-only: a Security Hub control on it would show on no finding.
    ("AISPM-NET-003", {"compliance": {"nist-ai-rmf": ("MEASURE 2.7",), "iso-42001": ("A.6.2.5",),
                                      "aws_securityhub": ("SageMaker.1",)}},
     "compliance.aws_securityhub: aws controls, but the rule does not apply to aws"),
])
def test_inconsistent_metadata_is_named(rule_id: str, changes: dict[str, object], expected: str) -> None:
    found = problems(_RULES, _with(rule_id, **changes), FRAMEWORKS)
    assert len(found) == 1
    assert found[0].startswith(f"{rule_id}: ")
    assert expected in found[0]


def test_title_severity_and_pass_wording_are_written_once_in_rules_yaml() -> None:
    metas = _with("AISPM-NET-002", title="Notebook is open", severity="low", pass_title="Notebook is closed")
    assert problems(_RULES, metas, FRAMEWORKS) == []
    net2 = next(r for r in build_catalog(_RULES, metas, FRAMEWORKS) if r.id == "AISPM-NET-002")
    assert (net2.title, net2.severity, net2.pass_title) == ("Notebook is open", Severity.low, "Notebook is closed")


def test_a_kind_outside_the_contract_is_named() -> None:
    bad = (*_RULES[1:], replace(_RULES[0], kinds={"azure": ("endpoint", "online_endpoint")}))
    assert problems(bad, _metas(), FRAMEWORKS) == [
        "AISPM-NET-001: kinds.azure: unknown asset kind 'online_endpoint'",
        "AISPM-NET-001: remediation.gcp: given, but the rule does not apply to gcp"]


def test_remediation_must_cover_each_cloud_the_rule_applies_to() -> None:
    net2 = next(m for m in _metas() if m.id == "AISPM-NET-002")
    bad = _with("AISPM-NET-002", remediation=net2.remediation.model_copy(update={"gcp": None}))
    assert problems(_RULES, bad, FRAMEWORKS) == [
        "AISPM-NET-002: remediation.gcp: missing (the rule applies to gcp)"]
    net3 = next(m for m in _metas() if m.id == "AISPM-NET-003")
    extra = _with("AISPM-NET-003", remediation=net3.remediation.model_copy(update={"aws": net2.remediation.aws}))
    assert problems(_RULES, extra, FRAMEWORKS) == [
        "AISPM-NET-003: remediation.aws: given, but the rule does not apply to aws"]


def test_missing_and_unknown_rules_are_named() -> None:
    metas = [m for m in _metas() if m.id != "AISPM-GOV-002"]
    metas.append(metas[0].model_copy(update={"id": "AISPM-XYZ-001"}))
    found = problems(_RULES, metas, FRAMEWORKS)
    assert "AISPM-GOV-002: no metadata in rules.yaml" in found
    assert "AISPM-XYZ-001: in rules.yaml but not a rule of the catalog" in found
    code_only = (*_RULES, replace(_RULES[0], id="AISPM-NEW-001"))
    assert "AISPM-NEW-001: no metadata in rules.yaml" in problems(code_only, _metas(), FRAMEWORKS)


def _data_copy(tmp_path: Path) -> Path:
    data = tmp_path / "data"
    shutil.copytree(ROOT / "rules" / "data", data)
    return data


def test_framework_catalog_errors_are_named(tmp_path: Path) -> None:
    data = _data_copy(tmp_path)
    iso = data / "frameworks" / "iso-42001.yaml"
    iso.write_text(iso.read_text() + '  - id: "A.2.2"\n    title: "AI policy again"\n')
    with pytest.raises(CatalogError, match=r"frameworks/iso-42001\.yaml: .*requirement 'A\.2\.2' is listed twice"):
        load_frameworks(data)
    data = _data_copy(tmp_path / "2")
    native = data / "native-controls.yaml"
    native.write_text(native.read_text().replace("  provider: azure\n", ""))
    with pytest.raises(CatalogError, match=re.escape("native-controls.yaml: azure_policy")):
        load_frameworks(data)


def test_an_unknown_compliance_id_in_the_shipped_data_fails_at_import(tmp_path: Path) -> None:
    # A copy of the package whose rules.yaml maps a rule to an ISO control that does not exist.
    pkg = tmp_path / "aispm"
    shutil.copytree(ROOT / "aispm", pkg, ignore=shutil.ignore_patterns("__pycache__"))   # links copied as folders
    rules_yaml = pkg / "rules" / "data" / "rules.yaml"
    text = rules_yaml.read_text()
    assert 'iso-42001: ["A.6.2.8"]' in text
    rules_yaml.write_text(text.replace('iso-42001: ["A.6.2.8"]', 'iso-42001: ["A.6.2.99"]', 1))
    env = {**os.environ, "PYTHONPATH": str(tmp_path)}
    proc = subprocess.run([sys.executable, "-c", "import aispm.rules.catalog"], capture_output=True, text=True,
                          env=env, cwd=tmp_path, timeout=120, check=False)
    assert proc.returncode != 0
    assert "CatalogError" in proc.stderr
    assert "AISPM-LOG-001: compliance.iso-42001: unknown requirement 'A.6.2.99'" in proc.stderr


def test_ocsf_standards_use_catalog_names_and_native_controls_of_the_assets_cloud() -> None:
    net5 = next(r for r in all_rules() if r.id == "AISPM-NET-005")
    std, req = compliance_refs(net5, "aws")
    assert std == ["NIST AI RMF 1.0", "ISO/IEC 42001:2023", "MITRE ATLAS", "AWS Security Hub"]
    assert req == ["MEASURE 2.7", "A.4.5", "A.6.2.5", "AML.T0025", "SageMaker.2"]
    std, req = compliance_refs(net5, "azure")
    assert std[-1] == "Azure Policy"
    assert req[-1] == "7804b5c7-01dc-4723-969b-ae300cc07ff1"
    assert "SageMaker.2" not in req
    std, req = compliance_refs(net5, "gcp")          # no GCP-native control for NET-005
    assert std == ["NIST AI RMF 1.0", "ISO/IEC 42001:2023", "MITRE ATLAS"]
