"""The AWS lines of rules-v2.md on normalized assets: the generative AI rules, the v1 rules on the new kinds,
OWASP LLM mappings that hold only on some kinds, and Security Hub controls that hold only on one monitoring
job-definition type.

Assets are built with the schema, not through the mappers, so these pin what the rules and the compliance
catalogs do with the facts whatever state the Bedrock and SageMaker mappers are in.
"""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

from aispm.cli import main
from aispm.normalizer.schema import Asset
from aispm.rules.catalog import _RULES, all_rules
from aispm.rules.compliance import framework_summary
from aispm.rules.engine import evaluate
from aispm.rules.finding import AssetRef, Finding, RuleRef, Status, finding_of
from aispm.rules.frameworks import FRAMEWORKS, CatalogError, compliance_refs, load_frameworks
from aispm.rules.metadata import ScopedMapping, load_metadata, problems
from aispm.rules.model import Evaluation, Severity

RULES = {r.id: r for r in all_rules()}
MONITORING_TYPES = ("DataQuality", "ModelQuality", "ModelBias", "ModelExplainability")


def asset(kind: str, service: str = "bedrock", **fields: Any) -> Asset:
    return Asset.model_validate({
        "uid": f"arn:aws:{service}:us-east-1:111111111111:{kind}/a1", "provider": "aws", "service": service,
        "kind": kind, "name": "a1", "account": "111111111111", "region": "us-east-1", **fields,
    })


def fact(value: bool, source: str = "wire.field", observed: str = "X", error: str | None = None) -> dict[str, Any]:
    return {"value": value, "source": source, "observed": observed, "error": error}


def verdicts(a: Asset, rule_id: str) -> list[Evaluation]:
    return [e for e in evaluate([a]).evaluations if e.rule.id == rule_id]


# --- the new rules: Pass, Fail, evaluation error, nothing when the fact is absent ---------------------------

NEW_RULES = [
    ("AISPM-GAI-001", "agent", "bedrock", "guardrails", "applied", "guardrailConfiguration.guardrailIdentifier"),
    ("AISPM-GAI-002", "guardrail", "bedrock", "guardrails", "harmful_content", "contentPolicy.filters"),
    ("AISPM-GAI-003", "guardrail", "bedrock", "guardrails", "sensitive_information", "sensitiveInformationPolicy"),
    ("AISPM-LOG-003", "ai_service_settings", "bedrock", "logging", "invocation_logging", "loggingConfig"),
]


@pytest.mark.parametrize(("rule_id", "kind", "service", "section", "name", "source"), NEW_RULES)
def test_new_rule_pass_fail_error_and_absent(rule_id: str, kind: str, service: str, section: str, name: str,
                                             source: str) -> None:
    def with_fact(**f: Any) -> Asset:
        return asset(kind, service, **{section: {name: fact(source=source, **f)}})

    [bad] = verdicts(with_fact(value=False, observed="absent"), rule_id)
    assert (bad.status, bad.rule.severity, bad.severity) == ("fail", RULES[rule_id].severity, RULES[rule_id].severity)
    assert bad.detail.startswith(f"{source} is absent: ")
    [ok] = verdicts(with_fact(value=True, observed="set"), rule_id)
    assert (ok.status, ok.detail) == ("pass", f"{source} is set.")
    # A fact that could not be read is an evaluation error, never a Pass (nor a Fail).
    [unknown] = verdicts(with_fact(value=True, error="GetGuardrail: AccessDeniedException"), rule_id)
    assert (unknown.status, unknown.detail) == ("error", "GetGuardrail: AccessDeniedException")
    assert verdicts(asset(kind, service), rule_id) == []


@pytest.mark.parametrize(("rule_id", "other_kind"), [
    ("AISPM-GAI-001", "guardrail"), ("AISPM-GAI-002", "agent"), ("AISPM-GAI-003", "knowledge_base"),
    ("AISPM-LOG-003", "agent")])
def test_new_rules_emit_nothing_on_other_kinds_or_clouds(rule_id: str, other_kind: str) -> None:
    section, name = next((s, n) for r, _, _, s, n, _ in NEW_RULES if r == rule_id)
    assert verdicts(asset(other_kind, **{section: {name: fact(False)}}), rule_id) == []
    kind = next(k for r, k, *_ in NEW_RULES if r == rule_id)
    azure = Asset.model_validate({"uid": "/subscriptions/s/x", "provider": "azure", "service": "azureai",
                                  "kind": kind, "name": "x", "account": "s", "region": "westeurope",
                                  section: {name: fact(False)}})
    assert verdicts(azure, rule_id) == []   # only the AWS lines are in the catalog today


# --- v1 rules on the new AWS kinds ----------------------------------------------------------------------------

@pytest.mark.parametrize(("rule_id", "section", "name", "fails_when"), [
    ("AISPM-NET-004", "network", "egress_isolated", False),
    ("AISPM-NET-005", "network", "private_network", False),
    ("AISPM-ENC-002", "encryption", "inter_node", False),
])
@pytest.mark.parametrize("job_type", MONITORING_TYPES)
def test_monitoring_job_definitions_network_and_transit(rule_id: str, section: str, name: str, fails_when: bool,
                                                        job_type: str) -> None:
    def mjd(**f: Any) -> Asset:
        return asset("monitoring_job_definition", "sagemaker", details={"job_definition_type": job_type},
                     **{section: {name: fact(**f)}})

    assert [e.status for e in verdicts(mjd(value=fails_when), rule_id)] == ["fail"]
    assert [e.status for e in verdicts(mjd(value=not fails_when), rule_id)] == ["pass"]
    assert [e.status for e in verdicts(mjd(value=True, error="DescribeModelBiasJobDefinition failed"),
                                       rule_id)] == ["error"]


@pytest.mark.parametrize(("kind", "service"), [
    ("custom_model", "bedrock"), ("agent", "bedrock"), ("knowledge_base", "bedrock"),
    ("feature_group", "sagemaker"), ("monitoring_job_definition", "sagemaker")])
def test_enc001_on_the_new_kinds(kind: str, service: str) -> None:
    def stores(*facts: dict[str, Any]) -> Asset:
        return asset(kind, service, encryption={"customer_managed_key": list(facts)})

    [ok] = verdicts(stores(fact(True, "a.kmsKeyArn", "arn:aws:kms:k"), fact(True, "b.KmsKeyId", "k")), "AISPM-ENC-001")
    assert ok.status == "pass"
    [bad] = verdicts(stores(fact(True, "a.kmsKeyArn", "k"), fact(False, "b.KmsKeyId", "absent")), "AISPM-ENC-001")
    assert bad.status == "fail" and bad.detail.startswith("b.KmsKeyId is absent: ")
    # A data source that could not be read: an error naming it, even beside a store that passes.
    [unknown] = verdicts(stores(fact(True, "a.kmsKeyArn", "k"), fact(True, error="GetDataSource ds-1: throttled")),
                         "AISPM-ENC-001")
    assert (unknown.status, unknown.detail) == ("error", "GetDataSource ds-1: throttled")
    assert verdicts(asset(kind, service), "AISPM-ENC-001") == []


def test_enc001_knowledge_base_without_data_sources_passes_when_the_mapper_says_so() -> None:
    # The mapper states "no data source" as one passing fact (spec: no data source -> Pass).
    kb = asset("knowledge_base", encryption={"customer_managed_key": [fact(True, "dataSources", "none")]})
    assert [e.status for e in verdicts(kb, "AISPM-ENC-001")] == ["pass"]


def test_sec001_notebook_lifecycle_configuration() -> None:
    leaked = [{"name": "HF_TOKEN", "value": "***REDACTED***", "secret": "secret-like name",
               "container": "lifecycle config on-start"},
              {"name": "line 7", "value": "***REDACTED***", "secret": "AWS access key id",
               "container": "lifecycle config on-start"}]
    [bad] = verdicts(asset("notebook", "sagemaker", environment=leaked), "AISPM-SEC-001")
    assert bad.status == "fail"
    assert "lifecycle config on-start:HF_TOKEN" in bad.detail and "lifecycle config on-start:line 7" in bad.detail
    assert "REDACTED" not in bad.detail
    [ok] = verdicts(asset("notebook", "sagemaker", environment=[{"name": "DATA_DIR", "value": "${HOME}/data"}]),
                    "AISPM-SEC-001")
    assert ok.status == "pass"
    [none] = verdicts(asset("notebook", "sagemaker", environment=[]), "AISPM-SEC-001")   # no lifecycle config
    assert none.status == "pass"
    [unknown] = verdicts(asset("notebook", "sagemaker", environment=[],
                               environment_error="DescribeNotebookInstanceLifecycleConfig: AccessDenied"),
                         "AISPM-SEC-001")
    assert (unknown.status, unknown.detail) == ("error", "DescribeNotebookInstanceLifecycleConfig: AccessDenied")
    assert verdicts(asset("notebook", "sagemaker"), "AISPM-SEC-001") == []


# --- OWASP Top 10 for LLM Applications 2025 ---------------------------------------------------------------------

def test_owasp_llm_2025_catalog() -> None:
    fw = FRAMEWORKS["owasp-llm-2025"]
    assert (fw.name, fw.version, fw.provider) == ("OWASP Top 10 for LLM Applications 2025", "2025", None)
    assert [(r.id, r.title) for r in fw.requirements] == [
        ("LLM01", "Prompt Injection"), ("LLM02", "Sensitive Information Disclosure"), ("LLM03", "Supply Chain"),
        ("LLM04", "Data and Model Poisoning"), ("LLM05", "Improper Output Handling"), ("LLM06", "Excessive Agency"),
        ("LLM07", "System Prompt Leakage"), ("LLM08", "Vector and Embedding Weaknesses"),
        ("LLM09", "Misinformation"), ("LLM10", "Unbounded Consumption")]


def test_owasp_mappings_are_the_specs() -> None:
    owasp = {r.id: (r.compliance.get("owasp-llm-2025", ()), dict(r.compliance_kinds.get("owasp-llm-2025", {})))
             for r in all_rules() if "owasp-llm-2025" in r.compliance}
    assert owasp == {
        "AISPM-ENC-001": (("LLM08",), {"LLM08": ("knowledge_base", "rag_corpus")}),
        "AISPM-IAM-001": (("LLM06",), {"LLM06": ("agent", "reasoning_engine")}),
        "AISPM-GAI-001": (("LLM01", "LLM05"), {}),
        "AISPM-GAI-002": (("LLM01", "LLM05"), {}),
        "AISPM-GAI-003": (("LLM02",), {}),
        "AISPM-LOG-003": (("LLM10",), {}),
        "AISPM-PRV-001": (("LLM03",), {}),
        "AISPM-PRV-002": (("LLM03",), {}),
        "AISPM-PRV-003": (("LLM04",), {}),
    }


def test_a_scoped_mapping_is_listed_only_on_its_kinds() -> None:
    iam1, enc1 = RULES["AISPM-IAM-001"], RULES["AISPM-ENC-001"]
    std, req = compliance_refs(iam1, "aws", "agent")
    assert "LLM06" in req and "OWASP Top 10 for LLM Applications 2025" in std
    for kind in ("notebook", "training_job", "knowledge_base", "feature_group"):
        std, req = compliance_refs(iam1, "aws", kind)
        assert "LLM06" not in req and "OWASP Top 10 for LLM Applications 2025" not in std
    assert "LLM06" not in compliance_refs(iam1, "gcp", "custom_job")[1]
    assert "LLM06" in compliance_refs(iam1, "gcp", "reasoning_engine")[1]   # Agent Engine: agents on Vertex AI
    assert "LLM08" in compliance_refs(enc1, "gcp", "rag_corpus")[1]         # RAG corpora: vector stores
    assert compliance_refs(enc1, "aws", "knowledge_base")[1][-2:] == ["LLM08", "Bedrock.1"]
    assert "LLM08" not in compliance_refs(enc1, "aws", "agent")[1]
    assert "LLM08" not in compliance_refs(enc1, "gcp", "endpoint")[1]
    # Unscoped mappings hold on every kind the rule evaluates.
    assert compliance_refs(RULES["AISPM-GAI-002"], "aws", "guardrail")[1][-2:] == ["LLM01", "LLM05"]


def _finding(rule: str, kind: str, status: str, details: dict[str, str] | None = None,
             suppressed: bool = False) -> Finding:
    return Finding(
        rule=RuleRef(id=rule, title=rule),
        asset=AssetRef(uid=f"{rule}/{kind}/{status}/{details}", provider="aws", service="", kind=kind, name="n",
                       account="a", region="r", details=details or {}),
        status=Status.PASS if status == "pass" else Status.FAIL, severity=Severity.high, detail="",
        suppression="accepted" if suppressed else None, time_ms=1, first_seen_ms=1, last_seen_ms=1)


def _req(summary: dict[str, Any], fid: str, req: str) -> dict[str, Any]:
    return next(r for r in summary[fid]["requirements"] if r["id"] == req)


def _counts(req: dict[str, Any]) -> tuple[int, int, int, list[str]]:
    return req["pass"], req["fail"], req["suppressed"], req["failing_rules"]


def test_owasp_view_counts_scoped_mappings_on_their_kinds_only() -> None:
    findings = [
        _finding("AISPM-IAM-001", "agent", "fail"),
        _finding("AISPM-IAM-001", "agent", "pass"),
        _finding("AISPM-IAM-001", "notebook", "fail"),          # an over-privileged notebook is not LLM06
        _finding("AISPM-IAM-001", "knowledge_base", "fail"),
        _finding("AISPM-ENC-001", "knowledge_base", "fail"),
        _finding("AISPM-ENC-001", "knowledge_base", "fail", suppressed=True),
        _finding("AISPM-ENC-001", "custom_model", "fail"),      # not a vector store: not LLM08
        _finding("AISPM-GAI-001", "agent", "fail"),
        _finding("AISPM-GAI-002", "guardrail", "pass"),
        _finding("AISPM-GAI-003", "guardrail", "fail"),
        _finding("AISPM-LOG-003", "ai_service_settings", "pass"),
    ]
    s = framework_summary(findings, ["owasp-llm-2025", "nist-ai-rmf"])
    assert s["owasp-llm-2025"]["name"] == "OWASP Top 10 for LLM Applications 2025"
    assert [r["id"] for r in s["owasp-llm-2025"]["requirements"]] == ["LLM01", "LLM02", "LLM03", "LLM04", "LLM05",
                                                                     "LLM06", "LLM08", "LLM10"]
    assert _counts(_req(s, "owasp-llm-2025", "LLM06")) == (1, 1, 0, ["AISPM-IAM-001"])
    assert _counts(_req(s, "owasp-llm-2025", "LLM08")) == (0, 1, 1, ["AISPM-ENC-001"])
    assert _counts(_req(s, "owasp-llm-2025", "LLM01")) == (1, 1, 0, ["AISPM-GAI-001"])
    assert _req(s, "owasp-llm-2025", "LLM01")["rules"] == ["AISPM-GAI-001", "AISPM-GAI-002"]
    assert _counts(_req(s, "owasp-llm-2025", "LLM02")) == (0, 1, 0, ["AISPM-GAI-003"])
    assert _counts(_req(s, "owasp-llm-2025", "LLM10")) == (1, 0, 0, [])
    # The same findings count in full where the mapping is not scoped.
    m27 = _req(s, "nist-ai-rmf", "MEASURE 2.7")
    assert (m27["pass"], m27["fail"], m27["suppressed"]) == (3, 7, 1)


# --- Security Hub controls on monitoring job definitions, feature groups and knowledge bases -----------------

# Which monitoring job-definition type each SageMaker control judges, and the rule it is mapped from.
MONITORING_CONTROLS = {
    "SageMaker.9": ("DataQuality", "AISPM-ENC-002"), "SageMaker.10": ("ModelExplainability", "AISPM-ENC-002"),
    "SageMaker.11": ("DataQuality", "AISPM-NET-004"), "SageMaker.12": ("ModelBias", "AISPM-NET-004"),
    "SageMaker.13": ("ModelQuality", "AISPM-ENC-002"), "SageMaker.15": ("ModelBias", "AISPM-ENC-002"),
    "SageMaker.20": ("ModelExplainability", "AISPM-NET-004"), "SageMaker.25": ("ModelQuality", "AISPM-NET-004"),
}


@pytest.mark.parametrize("job_type", MONITORING_TYPES)
def test_monitoring_controls_are_listed_only_on_their_job_definition_type(job_type: str) -> None:
    for rule_id in ("AISPM-NET-004", "AISPM-ENC-002"):
        _, req = compliance_refs(RULES[rule_id], "aws", "monitoring_job_definition", {"job_definition_type": job_type})
        listed = {r for r in req if r.startswith("SageMaker.")}
        assert listed == {c for c, (t, rid) in MONITORING_CONTROLS.items() if t == job_type and rid == rule_id}
        # Without its type, a definition gets none of them; a training job never does.
        _, req = compliance_refs(RULES[rule_id], "aws", "monitoring_job_definition", {})
        assert not any(r in MONITORING_CONTROLS for r in req)
        assert not any(r in MONITORING_CONTROLS for r in compliance_refs(RULES[rule_id], "aws", "training_job")[1])


def test_findings_carry_the_controls_of_their_job_definition_type() -> None:
    bias = asset("monitoring_job_definition", "sagemaker", details={"job_definition_type": "ModelBias"},
                 network={"egress_isolated": fact(False)}, encryption={"inter_node": fact(False)})
    evs = [e for e in evaluate([bias]).evaluations if e.rule.id in ("AISPM-NET-004", "AISPM-ENC-002")]
    reqs = {e.rule.id: finding_of(e, 1, "test").rule.requirements for e in evs}
    assert "SageMaker.12" in reqs["AISPM-NET-004"] and "SageMaker.11" not in reqs["AISPM-NET-004"]
    assert "SageMaker.15" in reqs["AISPM-ENC-002"] and "SageMaker.9" not in reqs["AISPM-ENC-002"]


def test_security_hub_view_counts_monitoring_controls_by_type() -> None:
    def mjd(rule: str, status: str, job_type: str | None) -> Finding:
        return _finding(rule, "monitoring_job_definition", status,
                        {"job_definition_type": job_type, "arn": f"x-{status}"} if job_type else {"arn": "y"})

    findings = [
        mjd("AISPM-ENC-002", "fail", "DataQuality"),
        mjd("AISPM-ENC-002", "pass", "DataQuality"),
        mjd("AISPM-ENC-002", "fail", "ModelBias"),          # SageMaker.15, never SageMaker.9
        mjd("AISPM-ENC-002", "fail", None),                 # no type: no control
        mjd("AISPM-NET-004", "fail", "ModelQuality"),
        _finding("AISPM-ENC-002", "training_job", "fail"),
        _finding("AISPM-ENC-001", "feature_group", "fail"),
        _finding("AISPM-ENC-001", "knowledge_base", "pass"),
        _finding("AISPM-ENC-001", "agent", "fail"),         # Bedrock.1 concerns knowledge-base data sources
    ]
    s = framework_summary(findings, ["aws_securityhub"])
    assert _counts(_req(s, "aws_securityhub", "SageMaker.9")) == (1, 1, 0, ["AISPM-ENC-002"])
    assert _counts(_req(s, "aws_securityhub", "SageMaker.15")) == (0, 1, 0, ["AISPM-ENC-002"])
    assert _counts(_req(s, "aws_securityhub", "SageMaker.13")) == (0, 0, 0, [])
    assert _counts(_req(s, "aws_securityhub", "SageMaker.25")) == (0, 1, 0, ["AISPM-NET-004"])
    assert _counts(_req(s, "aws_securityhub", "SageMaker.11")) == (0, 0, 0, [])
    assert _counts(_req(s, "aws_securityhub", "SageMaker.17")) == (0, 1, 0, ["AISPM-ENC-001"])
    assert _counts(_req(s, "aws_securityhub", "SageMaker.18")) == (0, 1, 0, ["AISPM-ENC-001"])
    assert _counts(_req(s, "aws_securityhub", "Bedrock.1")) == (1, 0, 0, [])


def test_security_hub_catalog_for_the_new_kinds() -> None:
    sh = {r.id: r for r in FRAMEWORKS["aws_securityhub"].requirements}
    assert sh["Bedrock.1"].title == "Amazon Bedrock data sources should be encrypted with customer managed AWS KMS keys"
    assert (sh["Bedrock.1"].kinds, sh["Bedrock.1"].details) == (("knowledge_base",), None)
    for control, (job_type, _) in MONITORING_CONTROLS.items():
        assert sh[control].kinds == ("monitoring_job_definition",)
        assert sh[control].details == {"job_definition_type": job_type}
    assert {c: sh[c].kinds for c in ("SageMaker.17", "SageMaker.18")} == {
        "SageMaker.17": ("feature_group",), "SageMaker.18": ("feature_group",)}
    assert {c: rid for c, (_, rid) in MONITORING_CONTROLS.items()} == {
        c: r.id for r in all_rules() for c in r.compliance.get("aws_securityhub", ()) if c in MONITORING_CONTROLS}


# --- validation of the new catalog syntax ---------------------------------------------------------------------

def _data_copy(tmp_path: Path) -> Path:
    data = tmp_path / "data"
    shutil.copytree(Path(__file__).resolve().parents[2] / "rules" / "data", data)
    return data


@pytest.mark.parametrize(("edit", "message"), [
    # details on a control that covers no kind
    (lambda t: t.replace("      kinds: [monitoring_job_definition]\n      details: {job_definition_type: DataQuality}",
                         "      kinds: []\n      details: {job_definition_type: DataQuality}", 1),
     "control 'SageMaker.9': 'details' narrows 'kinds', which names no asset kind"),
    (lambda t: t.replace("details: {job_definition_type: DataQuality}", "details: {}", 1),
     "native-controls.yaml: aws_securityhub: requirements.8.details"),
])
def test_control_details_are_validated_at_load(tmp_path: Path, edit: Any, message: str) -> None:
    data = _data_copy(tmp_path)
    native = data / "native-controls.yaml"
    text = native.read_text()
    changed = edit(text)
    assert changed != text
    native.write_text(changed)
    with pytest.raises(CatalogError, match=re.escape(message)):
        load_frameworks(data)


def test_details_on_a_framework_requirement_are_refused(tmp_path: Path) -> None:
    data = _data_copy(tmp_path)
    owasp = data / "frameworks" / "owasp-llm-2025.yaml"
    text = owasp.read_text()
    owasp.write_text(text.replace('    title: "Excessive Agency"\n',
                                  '    title: "Excessive Agency"\n    details: {job_definition_type: DataQuality}\n'))
    with pytest.raises(CatalogError, match=r"frameworks/owasp-llm-2025\.yaml: .*'details' is only for cloud-native"):
        load_frameworks(data)


def test_a_scoped_mapping_on_a_kind_the_rule_does_not_evaluate_is_named() -> None:
    metas = load_metadata()
    iam1 = next(m for m in metas if m.id == "AISPM-IAM-001")
    bad_scope = {**iam1.compliance, "owasp-llm-2025": (ScopedMapping(id="LLM06", kinds=("agent", "guardrail")),)}
    changed = [m.model_copy(update={"compliance": bad_scope}) if m.id == "AISPM-IAM-001" else m for m in metas]
    assert problems(_RULES, changed, FRAMEWORKS) == [
        "AISPM-IAM-001: compliance.owasp-llm-2025: LLM06 on 'guardrail', a kind the rule does not evaluate"]
    unknown = {**iam1.compliance, "owasp-llm-2025": (ScopedMapping(id="LLM99", kinds=("agent",)),)}
    changed = [m.model_copy(update={"compliance": unknown}) if m.id == "AISPM-IAM-001" else m for m in metas]
    assert problems(_RULES, changed, FRAMEWORKS) == [
        "AISPM-IAM-001: compliance.owasp-llm-2025: unknown requirement 'LLM99'"]


def test_scoped_mappings_read_from_yaml() -> None:
    iam1 = next(m for m in load_metadata() if m.id == "AISPM-IAM-001")
    assert iam1.mapped_ids("owasp-llm-2025") == ("LLM06",)
    assert iam1.scoped("owasp-llm-2025") == {"LLM06": ("agent", "reasoning_engine")}
    assert iam1.scoped("nist-ai-rmf") == {}


# --- the CLI and the docs --------------------------------------------------------------------------------------

def test_scan_help_lists_every_framework(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as done:
        main(["scan", "--help"])
    assert done.value.code == 0
    text = " ".join(capsys.readouterr().out.split())
    for fid in FRAMEWORKS:
        assert fid in text
    assert "owasp-llm-2025; or a cloud's own controls" in text


def test_rules_show_names_the_scoped_mappings(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["rules", "show", "AISPM-IAM-001"]) == 0
    out = capsys.readouterr().out
    assert "  OWASP Top 10 for LLM Applications 2025 LLM06: Excessive Agency (on agent, reasoning_engine)\n" in out
    assert main(["rules", "show", "AISPM-ENC-002", "--format", "json"]) == 0
    rec = json.loads(capsys.readouterr().out)
    shub = next(m for m in rec["mappings"] if m["framework"] == "aws_securityhub")
    assert {"id": "SageMaker.15", "title":
            "SageMaker model bias job definitions should have inter-container traffic encryption enabled"} \
        in shub["requirements"]
    assert main(["rules", "show", "AISPM-ENC-001", "--format", "json"]) == 0
    rec = json.loads(capsys.readouterr().out)
    owasp = next(m for m in rec["mappings"] if m["framework"] == "owasp-llm-2025")
    assert owasp["requirements"] == [{"id": "LLM08", "title": "Vector and Embedding Weaknesses",
                                      "kinds": ["knowledge_base", "rag_corpus"]}]


def test_docs_show_scoped_mappings_and_control_details() -> None:
    from aispm.rules.docs import catalog_markdown

    md = catalog_markdown()
    assert "`--framework owasp-llm-2025`" in md
    assert "| LLM06 | Excessive Agency | AISPM-IAM-001 (on agent, reasoning_engine) |" in md
    assert ("| OWASP Top 10 for LLM Applications 2025 | LLM08 | Vector and Embedding Weaknesses | "
            "knowledge_base, rag_corpus |") in md
    assert ("| SageMaker.12 | SageMaker model bias job definitions should have network isolation enabled | "
            "monitoring_job_definition (job_definition_type ModelBias) | AISPM-NET-004 |") in md
    assert "| AWS Security Hub | Bedrock.1 | Amazon Bedrock data sources should be encrypted with customer managed " \
           "AWS KMS keys | knowledge_base |" in md


@pytest.fixture
def sagemaker_estate() -> Iterator[None]:
    with mock_aws(config={"iam": {"load_aws_managed_policies": True}}):
        sm: Any = boto3.client("sagemaker", region_name="us-east-1")
        iam: Any = boto3.client("iam", region_name="us-east-1")
        role = iam.create_role(RoleName="admin", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
        iam.attach_role_policy(RoleName="admin", PolicyArn="arn:aws:iam::aws:policy/AdministratorAccess")
        sm.create_notebook_instance(NotebookInstanceName="nb", InstanceType="ml.t3.medium", RoleArn=role)
        yield


def test_scan_with_the_owasp_framework(sagemaker_estate: None, tmp_path: Path,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out"
    main(["scan", "--provider", "aws", "--region", "us-east-1", "--out", str(out),
          "--framework", "owasp-llm-2025"])
    summary = json.loads((out / "summary.json").read_text())
    view = summary["frameworks"]["owasp-llm-2025"]
    assert view["name"] == "OWASP Top 10 for LLM Applications 2025"
    assert {r["id"] for r in view["requirements"]} >= {"LLM01", "LLM02", "LLM05", "LLM06", "LLM08", "LLM10"}
    findings = [json.loads(x) for x in (out / "findings.ocsf.jsonl").read_text().splitlines()]
    iam1 = [f for f in findings if f["compliance"]["control"] == "AISPM-IAM-001"
            and f["resources"][0]["type"] == "notebook"]
    assert [f["compliance"]["status"] for f in iam1] == ["Fail"]            # an administrator notebook role
    assert "LLM06" not in iam1[0]["compliance"]["requirements"]
    llm06 = _req(summary["frameworks"], "owasp-llm-2025", "LLM06")
    assert (llm06["pass"], llm06["fail"], llm06["rules"]) == (0, 0, ["AISPM-IAM-001"])   # no agent in the estate
    assert "\nOWASP Top 10 for LLM Applications 2025\nrequirement" in capsys.readouterr().out
