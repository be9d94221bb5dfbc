"""The rule catalog: ids are permanent, titles and severities are the spec's.

Each rule is written once, in two halves that never repeat each other: here in code its logic (the asset
kinds it covers per cloud and its predicate); in ``rules/data/rules.yaml`` everything said about it (title,
severity, pass wording, description, risk, remediation, references, compliance mappings). The data is
validated against this code and the compliance catalogs and merged in at import.
"""

from __future__ import annotations

from collections.abc import Mapping

from aispm.rules import checks
from aispm.rules.frameworks import FRAMEWORKS, CatalogError, Framework
from aispm.rules.metadata import RuleMeta, load_metadata, problems
from aispm.rules.model import Logic, Remediation, Rule, Severity

_ALL = ("*",)

_RULES: tuple[Logic, ...] = (
    Logic(
        "AISPM-NET-001",
        {"azure": ("endpoint",), "gcp": ("endpoint", "index_endpoint")},
        checks.fact_check(lambda a: a.network.public_endpoint, True, "the endpoint is reachable from the internet"),
    ),
    Logic(
        "AISPM-NET-002",
        {"aws": ("notebook", "studio_domain"), "azure": ("compute",), "gcp": ("notebook_runtime_template",)},
        checks.fact_check(lambda a: a.network.direct_internet_access, True, "it has direct internet access"),
    ),
    Logic(
        "AISPM-NET-003",
        {"azure": ("workspace", "registry", "ai_services_account")},
        checks.fact_check(lambda a: a.network.public_network_access, True, "public network access is accepted"),
    ),
    Logic(
        "AISPM-NET-004",
        {"aws": ("model", "training_job", "processing_job", "monitoring_job_definition"),
         "azure": ("deployment", "workspace")},
        checks.fact_check(lambda a: a.network.egress_isolated, False, "outbound traffic is not isolated"),
    ),
    Logic(
        "AISPM-NET-005",
        {
            "aws": ("notebook", "model", "training_job", "processing_job", "monitoring_job_definition"),
            "azure": ("compute",),
            "gcp": ("custom_job", "pipeline_job"),
        },
        checks.fact_check(lambda a: a.network.private_network, False, "it is not attached to a private network"),
    ),
    Logic(
        "AISPM-NET-006",
        {"azure": ("compute",), "gcp": ("custom_job",)},
        checks.fact_check(lambda a: a.network.public_remote_access, True, "remote access is exposed"),
    ),
    Logic(
        "AISPM-ENC-001",
        {
            "aws": ("notebook", "endpoint_config", "studio_domain", "training_job", "processing_job",
                    "custom_model", "agent", "knowledge_base", "feature_group", "monitoring_job_definition"),
            "azure": ("workspace", "ai_services_account"),
            "gcp": ("endpoint", "model", "custom_job", "dataset", "notebook_runtime_template",
                    "reasoning_engine", "tuning_job", "rag_corpus", "feature_online_store", "pipeline_job"),
        },
        checks.customer_managed_key,
    ),
    Logic(
        "AISPM-ENC-002",
        {"aws": ("training_job", "processing_job", "monitoring_job_definition")},
        checks.fact_check(lambda a: a.encryption.inter_node, False, "inter-node traffic is unencrypted"),
    ),
    Logic(
        "AISPM-IAM-001",
        {
            "aws": ("notebook", "model", "training_job", "processing_job", "studio_domain",
                    "agent", "knowledge_base", "feature_group", "monitoring_job_definition"),
            "azure": ("workspace", "compute", "endpoint", "ai_services_account", "ai_project"),
            "gcp": ("endpoint", "custom_job", "reasoning_engine", "tuning_job", "pipeline_job"),
        },
        checks.over_privileged,
    ),
    Logic(
        "AISPM-IAM-002",
        {"aws": ("notebook",)},
        checks.fact_check(lambda a: a.access.root_access, True, "users can become root"),
    ),
    Logic(
        "AISPM-IAM-003",
        {"azure": ("endpoint", "compute", "datastore", "ai_services_account")},
        checks.fact_check(lambda a: a.access.local_auth, True,
                          "keys or local accounts authenticate instead of identity"),
    ),
    Logic(
        "AISPM-IAM-004",
        {"aws": ("model_package_group",)},
        checks.shared_publicly,
    ),
    Logic(
        "AISPM-IAM-005",
        {"aws": ("notebook",)},
        checks.fact_check(lambda a: a.access.imds_v1, True, "IMDSv1 is allowed"),
    ),
    Logic(
        "AISPM-SEC-001",
        {
            "aws": ("model", "training_job", "processing_job", "notebook"),
            "azure": ("deployment",),
            "gcp": ("model", "custom_job", "reasoning_engine"),
        },
        checks.plaintext_secret,
    ),
    # rules-v2.md: generative AI safeguards.
    Logic(
        "AISPM-GAI-001",
        {"aws": ("agent",), "azure": ("model_deployment",)},
        checks.fact_check(lambda a: a.guardrails.applied, False, "no guardrail screens its prompts and answers"),
    ),
    Logic(
        "AISPM-GAI-002",
        {"aws": ("guardrail",), "azure": ("model_deployment",)},
        checks.fact_check(lambda a: a.guardrails.harmful_content, False,
                          "prompt attacks or harmful content get through"),
    ),
    Logic(
        "AISPM-GAI-003",
        {"aws": ("guardrail",)},
        checks.fact_check(lambda a: a.guardrails.sensitive_information, False,
                          "sensitive information is not filtered"),
    ),
    Logic(
        "AISPM-LOG-001",
        {"aws": ("endpoint_config",), "azure": ("deployment",), "gcp": ("endpoint",)},
        checks.fact_check(lambda a: a.logging.request_capture, False, "requests and responses are not captured"),
    ),
    Logic(
        "AISPM-LOG-002",
        {"aws": ("endpoint",), "gcp": ("endpoint",)},
        checks.fact_check(lambda a: a.logging.monitoring, False, "no model monitoring watches the endpoint"),
    ),
    Logic(
        "AISPM-LOG-003",
        {"aws": ("ai_service_settings",), "azure": ("ai_services_account",)},
        checks.fact_check(lambda a: a.logging.invocation_logging, False, "model invocations are not logged"),
    ),
    # rules-v2.md: provenance (PRV-002 does not apply on GCP: every Vertex AI model is a registry version).
    Logic(
        "AISPM-PRV-001",
        {"aws": ("model",), "gcp": ("model",)},
        checks.fact_check(lambda a: a.provenance.private_image, False,
                          "the image comes from a public or unmanaged registry"),
    ),
    Logic(
        "AISPM-PRV-002",
        {"aws": ("model",), "azure": ("deployment",)},
        checks.fact_check(lambda a: a.provenance.registered, False,
                          "the model was not deployed from a registered model version"),
    ),
    Logic(
        "AISPM-PRV-003",
        {"aws": ("training_job", "model", "knowledge_base", "custom_model"), "azure": ("datastore",),
         "gcp": ("dataset", "model", "custom_job")},
        checks.fact_check(lambda a: a.provenance.public_storage, True, "anyone can read or replace that data"),
    ),
    Logic(
        "AISPM-RES-001",
        {"aws": ("endpoint_config",), "azure": ("deployment",), "gcp": ("endpoint",)},
        checks.fact_check(lambda a: a.resilience.redundant, False, "a single instance failure takes it down"),
    ),
    Logic(
        "AISPM-GOV-001",
        {"aws": ("notebook",), "azure": ("compute",)},
        checks.fact_check(lambda a: a.lifecycle.outdated_image, True, "the image is outdated or out of support"),
    ),
    Logic(
        "AISPM-GOV-002",
        {"azure": ("compute",), "gcp": ("notebook_runtime_template",)},
        checks.fact_check(lambda a: a.lifecycle.idle_shutdown, False, "idle compute keeps running"),
    ),
    Logic(
        "AISPM-GOV-003",
        {"aws": _ALL, "azure": _ALL, "gcp": _ALL},
        checks.required_tags,
        requires_config=True,
    ),
)


def _merge(rule: Logic, m: RuleMeta) -> Rule:
    clouds = m.remediation.clouds()
    return Rule(
        id=rule.id,
        title=m.title,
        severity=Severity[m.severity],
        kinds=rule.kinds,
        check=rule.check,
        requires_config=rule.requires_config,
        pass_title=m.pass_title.strip(),
        description=m.description.strip(),
        risk=m.risk.strip(),
        remediation=Remediation(
            text=m.remediation.text.strip(),
            cli={p: c.cli for p, c in clouds.items()},
            terraform={p: c.terraform for p, c in clouds.items() if c.terraform},
            terraform_unavailable={p: c.terraform_unavailable for p, c in clouds.items() if c.terraform_unavailable},
        ),
        references=m.references,
        compliance={fid: ids for fid in m.compliance if (ids := m.mapped_ids(fid))},
        compliance_kinds={fid: scoped for fid in m.compliance if (scoped := m.scoped(fid))},
    )


def build_catalog(code_rules: tuple[Logic, ...], metas: list[RuleMeta],
                  frameworks: Mapping[str, Framework]) -> tuple[Rule, ...]:
    """The code's rules with their validated metadata; CatalogError lists every inconsistency."""
    found = problems(code_rules, metas, frameworks)
    if found:
        raise CatalogError("rule catalog is inconsistent:\n  " + "\n  ".join(found))
    by_id = {m.id: m for m in metas}
    return tuple(_merge(r, by_id[r.id]) for r in code_rules)


# Built and checked at import: an inconsistent catalog must fail loudly, never ship half-described rules.
_CATALOG: tuple[Rule, ...] = build_catalog(_RULES, load_metadata(), FRAMEWORKS)
_BY_ID: dict[str, Rule] = {r.id: r for r in _CATALOG}


def all_rules() -> tuple[Rule, ...]:
    """Every rule of the catalog with its metadata, in catalog order."""
    return _CATALOG


def rules_by_id() -> dict[str, Rule]:
    return dict(_BY_ID)
