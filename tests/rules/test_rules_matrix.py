"""Every rule on every asset kind of every cloud it applies to, on the normalized schema.

Mappers turn wire fields (and the clouds' documented defaults for absent fields)
into facts; these tests pin what each rule does with those facts: Pass, Fail,
and nothing when the fact is absent (the spec's *skip*) or the kind is not
covered. Assets are built directly so the rules are tested for Azure and GCP
kinds whatever state their mappers are in; AWS wire-level cases go through the
AWS mapper in test_rules_aws.py.
"""

from __future__ import annotations

from typing import Any

import pytest

from aispm.normalizer.providers import PROVIDERS
from aispm.normalizer.schema import Asset, EnvVar, Identity, PolicyStatement, RoleAssignment
from aispm.rules.catalog import all_rules
from aispm.rules.engine import evaluate
from aispm.rules.model import Evaluation
from aispm.rules.policy import Policy

# rules-v1.md "Per-cloud semantics" and the AWS, Azure and GCP lines of rules-v2.md: rule -> provider -> asset kinds.
APPLIES: dict[str, dict[str, tuple[str, ...]]] = {
    "AISPM-NET-001": {"azure": ("endpoint",), "gcp": ("endpoint", "index_endpoint")},
    "AISPM-NET-002": {"aws": ("notebook", "studio_domain"), "azure": ("compute",),
                      "gcp": ("notebook_runtime_template",)},
    "AISPM-NET-003": {"azure": ("workspace", "registry", "ai_services_account")},
    "AISPM-NET-004": {"aws": ("model", "training_job", "processing_job", "monitoring_job_definition"),
                      "azure": ("deployment", "workspace")},
    "AISPM-NET-005": {"aws": ("notebook", "model", "training_job", "processing_job", "monitoring_job_definition"),
                      "azure": ("compute",), "gcp": ("custom_job", "pipeline_job")},
    "AISPM-NET-006": {"azure": ("compute",), "gcp": ("custom_job",)},
    "AISPM-ENC-001": {"aws": ("notebook", "endpoint_config", "studio_domain", "training_job", "processing_job",
                              "custom_model", "agent", "knowledge_base", "feature_group", "monitoring_job_definition"),
                      "azure": ("workspace", "ai_services_account"),
                      "gcp": ("endpoint", "model", "custom_job", "dataset", "notebook_runtime_template",
                              "reasoning_engine", "tuning_job", "rag_corpus", "feature_online_store", "pipeline_job")},
    "AISPM-ENC-002": {"aws": ("training_job", "processing_job", "monitoring_job_definition")},
    "AISPM-IAM-001": {"aws": ("notebook", "model", "training_job", "processing_job", "studio_domain",
                              "agent", "knowledge_base", "feature_group", "monitoring_job_definition"),
                      "azure": ("workspace", "compute", "endpoint", "ai_services_account", "ai_project"),
                      "gcp": ("endpoint", "custom_job", "reasoning_engine", "tuning_job", "pipeline_job")},
    "AISPM-IAM-002": {"aws": ("notebook",)},
    "AISPM-IAM-003": {"azure": ("endpoint", "compute", "datastore", "ai_services_account")},
    "AISPM-IAM-004": {"aws": ("model_package_group",)},
    "AISPM-IAM-005": {"aws": ("notebook",)},
    "AISPM-SEC-001": {"aws": ("model", "training_job", "processing_job", "notebook"), "azure": ("deployment",),
                      "gcp": ("model", "custom_job", "reasoning_engine")},
    "AISPM-GAI-001": {"aws": ("agent",), "azure": ("model_deployment",)},
    "AISPM-GAI-002": {"aws": ("guardrail",), "azure": ("model_deployment",)},
    "AISPM-GAI-003": {"aws": ("guardrail",)},
    "AISPM-LOG-001": {"aws": ("endpoint_config",), "azure": ("deployment",), "gcp": ("endpoint",)},
    "AISPM-LOG-002": {"aws": ("endpoint",), "gcp": ("endpoint",)},
    "AISPM-LOG-003": {"aws": ("ai_service_settings",), "azure": ("ai_services_account",)},
    "AISPM-PRV-001": {"aws": ("model",), "gcp": ("model",)},
    "AISPM-PRV-002": {"aws": ("model",), "azure": ("deployment",)},
    "AISPM-PRV-003": {"aws": ("training_job", "model", "knowledge_base", "custom_model"), "azure": ("datastore",),
                      "gcp": ("dataset", "model", "custom_job")},
    "AISPM-RES-001": {"aws": ("endpoint_config",), "azure": ("deployment",), "gcp": ("endpoint",)},
    "AISPM-GOV-001": {"aws": ("notebook",), "azure": ("compute",)},
    "AISPM-GOV-002": {"azure": ("compute",), "gcp": ("notebook_runtime_template",)},
    "AISPM-GOV-003": {"aws": ("*",), "azure": ("*",), "gcp": ("*",)},
}

# Rules that read one boolean fact: rule -> (schema path, the value that fails).
FACT_RULES: dict[str, tuple[str, bool]] = {
    "AISPM-NET-001": ("network.public_endpoint", True),
    "AISPM-NET-002": ("network.direct_internet_access", True),
    "AISPM-NET-003": ("network.public_network_access", True),
    "AISPM-NET-004": ("network.egress_isolated", False),
    "AISPM-NET-005": ("network.private_network", False),
    "AISPM-NET-006": ("network.public_remote_access", True),
    "AISPM-ENC-002": ("encryption.inter_node", False),
    "AISPM-IAM-002": ("access.root_access", True),
    "AISPM-IAM-003": ("access.local_auth", True),
    "AISPM-IAM-005": ("access.imds_v1", True),
    "AISPM-LOG-001": ("logging.request_capture", False),
    "AISPM-LOG-002": ("logging.monitoring", False),
    "AISPM-LOG-003": ("logging.invocation_logging", False),
    "AISPM-PRV-001": ("provenance.private_image", False),
    "AISPM-PRV-002": ("provenance.registered", False),
    "AISPM-PRV-003": ("provenance.public_storage", True),
    "AISPM-GAI-001": ("guardrails.applied", False),
    "AISPM-GAI-002": ("guardrails.harmful_content", False),
    "AISPM-GAI-003": ("guardrails.sensitive_information", False),
    "AISPM-RES-001": ("resilience.redundant", False),
    "AISPM-GOV-001": ("lifecycle.outdated_image", True),
    "AISPM-GOV-002": ("lifecycle.idle_shutdown", False),
}


def asset(provider: str, kind: str, **fields: Any) -> Asset:
    return Asset.model_validate({
        "uid": f"{provider}/{kind}/a1", "provider": provider, "service": PROVIDERS[provider].services[0],
        "kind": kind, "name": "a1", "account": "acct-1", "region": "region-1", **fields,
    })


def with_fact(provider: str, kind: str, path: str, value: bool | None) -> Asset:
    section, name = path.split(".")
    if value is None:
        return asset(provider, kind)
    return asset(provider, kind, **{section: {name: {"value": value, "source": "wire.setting", "observed": "X"}}})


def verdicts(a: Asset, rule_id: str, **kw: Any) -> list[Evaluation]:
    return [e for e in evaluate([a], **kw).evaluations if e.rule.id == rule_id]


def _cases(rules: set[str] | dict[str, Any]) -> list[tuple[str, str, str]]:
    return [(r, p, k) for r in rules for p, kinds in APPLIES[r].items() for k in kinds]


def test_applicability_is_the_specs() -> None:
    assert {r.id: dict(r.kinds) for r in all_rules()} == APPLIES


@pytest.mark.parametrize(("rule_id", "provider", "kind"), _cases(FACT_RULES))
def test_fact_rule_pass_fail_and_absent(rule_id: str, provider: str, kind: str) -> None:
    path, fail_value = FACT_RULES[rule_id]
    [failing] = verdicts(with_fact(provider, kind, path, fail_value), rule_id)
    assert failing.status == "fail"
    assert failing.detail.startswith("wire.setting is X: ")
    [passing] = verdicts(with_fact(provider, kind, path, not fail_value), rule_id)
    assert (passing.status, passing.detail) == ("pass", "wire.setting is X.")
    assert verdicts(with_fact(provider, kind, path, None), rule_id) == []


@pytest.mark.parametrize("rule_id", sorted(FACT_RULES))
def test_fact_rule_emits_nothing_for_kinds_it_does_not_cover(rule_id: str) -> None:
    path, fail_value = FACT_RULES[rule_id]
    for provider in ("aws", "azure", "gcp"):
        covered = APPLIES[rule_id].get(provider, ())
        kind = next(k for k in ("dataset", "registry", "model_package_group", "batch_endpoint") if k not in covered)
        assert verdicts(with_fact(provider, kind, path, fail_value), rule_id) == []


def _cmk(*values: bool) -> dict[str, Any]:
    return {"customer_managed_key": [{"value": v, "source": f"key{i}", "observed": "x" if v else "absent"}
                                     for i, v in enumerate(values)]}


@pytest.mark.parametrize(("provider", "kind"), [(p, k) for _, p, k in _cases({"AISPM-ENC-001"})])
def test_enc001_every_store_needs_a_customer_managed_key(provider: str, kind: str) -> None:
    [ok] = verdicts(asset(provider, kind, encryption=_cmk(True, True)), "AISPM-ENC-001")
    assert ok.status == "pass"
    [bad] = verdicts(asset(provider, kind, encryption=_cmk(True, False)), "AISPM-ENC-001")
    assert bad.status == "fail"
    assert "key1 is absent" in bad.detail
    assert "key0" not in bad.detail
    assert verdicts(asset(provider, kind), "AISPM-ENC-001") == []


ADMIN = {
    "aws": Identity(uid="arn:aws:iam::1:role/admin", provider="aws", kind="aws_role", account="1", statements=(
        PolicyStatement(policy="AdministratorAccess", effect="Allow", actions=("*",), resources=("*",)),)),
    "azure": Identity(uid="p-admin", provider="azure", kind="azure_principal", account="sub", role_assignments=(
        RoleAssignment(role_definition_id="/subscriptions/sub/providers/Microsoft.Authorization/roleDefinitions/"
                                          "B24988AC-6180-42A0-AB88-20F7382DD24C", scope="/subscriptions/sub"),)),
    "gcp": Identity(uid="sa-admin@p.iam.gserviceaccount.com", provider="gcp", kind="gcp_service_account",
                    account="p", project_roles=("roles/editor",)),
}
NARROW = {
    "aws": Identity(uid="arn:aws:iam::1:role/narrow", provider="aws", kind="aws_role", account="1", statements=(
        PolicyStatement(policy="p", effect="Allow", actions=("s3:GetObject",), resources=("arn:aws:s3:::b/*",)),
        # '*' on '*' but only under a condition: does not count.
        PolicyStatement(policy="p", effect="Allow", actions=("*",), resources=("*",), conditional=True),
    )),
    "azure": Identity(uid="p-narrow", provider="azure", kind="azure_principal", account="sub", role_assignments=(
        # Owner on one storage account only: assignments scoped to single other resources do not count.
        RoleAssignment(role_definition_id="/providers/Microsoft.Authorization/roleDefinitions/"
                                          "8e3af657-a8ff-443c-a75c-2fe8c4bcb635",
                       scope="/subscriptions/sub/resourceGroups/rg/providers/Microsoft.Storage/storageAccounts/s"),)),
    "gcp": Identity(uid="sa-narrow@p.iam.gserviceaccount.com", provider="gcp", kind="gcp_service_account",
                    account="p", project_roles=("roles/aiplatform.user",)),
}


@pytest.mark.parametrize(("provider", "kind"), [(p, k) for _, p, k in _cases({"AISPM-IAM-001"})])
def test_iam001_workload_identity(provider: str, kind: str) -> None:
    ids = {i.uid: i for i in (ADMIN[provider], NARROW[provider])}
    [bad] = verdicts(asset(provider, kind, identities=[ADMIN[provider].uid]), "AISPM-IAM-001", identities=ids)
    assert bad.status == "fail"
    assert ADMIN[provider].uid in bad.detail
    [ok] = verdicts(asset(provider, kind, identities=[NARROW[provider].uid]), "AISPM-IAM-001", identities=ids)
    assert ok.status == "pass"
    [none] = verdicts(asset(provider, kind, identities=[]), "AISPM-IAM-001", identities=ids)
    assert none.status == "pass"                       # runs with no identity of its own
    [unknown] = verdicts(asset(provider, kind, identities=["never-collected"]), "AISPM-IAM-001", identities=ids)
    assert unknown.status == "error"                   # reported, never a silent Pass
    assert verdicts(asset(provider, kind), "AISPM-IAM-001", identities=ids) == []


def test_iam001_gcp_compute_default_account_is_over_privileged() -> None:
    sa = Identity(uid="123-compute@developer.gserviceaccount.com", provider="gcp", kind="gcp_service_account",
                  account="p", default_compute_account=True)
    [ev] = verdicts(asset("gcp", "custom_job", identities=[sa.uid]), "AISPM-IAM-001", identities={sa.uid: sa})
    assert ev.status == "fail"
    assert "Compute Engine default service account" in ev.detail


@pytest.mark.parametrize(("principals", "expected"), [
    ([], "pass"),
    (["*"], "fail"),
    (["999999999999"], "fail"),
    (["111111111111"], "pass"),
    (None, None),
])
def test_iam004_model_package_group_sharing(principals: list[str] | None, expected: str | None) -> None:
    a = asset("aws", "model_package_group", access={"resource_policy_principals": principals})
    evs = verdicts(a, "AISPM-IAM-004", known_accounts={"111111111111"})
    assert [e.status for e in evs] == ([expected] if expected else [])


@pytest.mark.parametrize(("provider", "kind"), [(p, k) for _, p, k in _cases({"AISPM-SEC-001"})])
def test_sec001_plaintext_secret(provider: str, kind: str) -> None:
    clean = [{"name": "MODEL_DIR", "value": "/opt/ml"}]
    leaked = [*clean, {"name": "DB_PASSWORD", "value": "***REDACTED***", "secret": "password-like name",
                       "container": "main"}]
    [ok] = verdicts(asset(provider, kind, environment=clean), "AISPM-SEC-001")
    assert ok.status == "pass"
    [bad] = verdicts(asset(provider, kind, environment=leaked), "AISPM-SEC-001")
    assert bad.status == "fail"
    assert "main:DB_PASSWORD" in bad.detail
    assert "REDACTED" not in bad.detail
    [empty] = verdicts(asset(provider, kind, environment=[]), "AISPM-SEC-001")
    assert empty.status == "pass"
    assert verdicts(asset(provider, kind), "AISPM-SEC-001") == []   # container spec not returned: skip
    assert EnvVar.model_validate(leaked[1]).secret == "password-like name"


@pytest.mark.parametrize(("provider", "kind"), [("aws", "notebook"), ("aws", "model_package_group"),
                                                ("azure", "workspace"), ("azure", "datastore"),
                                                ("gcp", "endpoint"), ("gcp", "custom_job")])
def test_gov003_required_tags(provider: str, kind: str) -> None:
    policy = Policy(required_tags=["owner", "cost-center"])
    [ok] = verdicts(asset(provider, kind, tags={"owner": "t", "cost-center": "1"}), "AISPM-GOV-003", policy=policy)
    assert ok.status == "pass"
    [bad] = verdicts(asset(provider, kind, tags={"owner": "t"}), "AISPM-GOV-003", policy=policy)
    assert (bad.status, bad.detail) == ("fail", "Required tag keys missing: cost-center.")
    assert verdicts(asset(provider, kind, tags={}, taggable=False), "AISPM-GOV-003", policy=policy) == []
    assert verdicts(asset(provider, kind, tags={}), "AISPM-GOV-003") == []   # not configured: disabled
