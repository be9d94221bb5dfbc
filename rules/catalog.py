"""The rule catalog v1: ids are permanent, titles and severities are the spec's.

Predicates and applicability live here in code; the prose metadata
(description, risk, remediation, references, compliance mappings) is data in
``rules/data/rules.yaml``, validated against this code and the compliance
catalogs and merged in at import.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace

from aispm.rules import checks
from aispm.rules.frameworks import FRAMEWORKS, CatalogError, Framework
from aispm.rules.metadata import RuleMeta, load_metadata, problems
from aispm.rules.model import Remediation, Rule, Severity

_ALL = ("*",)

_RULES: tuple[Rule, ...] = (
    Rule(
        "AISPM-NET-001", "Inference endpoint reachable from the public internet", Severity.high,
        {"azure": ("endpoint",), "gcp": ("endpoint", "index_endpoint")},
        checks.fact_check(lambda a: a.network.public_endpoint, True, "the endpoint is reachable from the internet"),
    ),
    Rule(
        "AISPM-NET-002", "Notebook or development environment has direct internet access", Severity.high,
        {"aws": ("notebook", "studio_domain"), "azure": ("compute",), "gcp": ("notebook_runtime_template",)},
        checks.fact_check(lambda a: a.network.direct_internet_access, True, "it has direct internet access"),
    ),
    Rule(
        "AISPM-NET-003", "AI workspace or registry accepts public network access", Severity.high,
        {"azure": ("workspace", "registry")},
        checks.fact_check(lambda a: a.network.public_network_access, True, "public network access is accepted"),
    ),
    Rule(
        "AISPM-NET-004", "Workload egress not network-isolated", Severity.medium,
        {"aws": ("model", "training_job", "processing_job"), "azure": ("deployment", "workspace")},
        checks.fact_check(lambda a: a.network.egress_isolated, False, "outbound traffic is not isolated"),
    ),
    Rule(
        "AISPM-NET-005", "Compute not attached to a private network", Severity.medium,
        {
            "aws": ("notebook", "model", "training_job", "processing_job"),
            "azure": ("compute",),
            "gcp": ("custom_job",),
        },
        checks.fact_check(lambda a: a.network.private_network, False, "it is not attached to a private network"),
    ),
    Rule(
        "AISPM-NET-006", "Interactive remote access exposed", Severity.high,
        {"azure": ("compute",), "gcp": ("custom_job",)},
        checks.fact_check(lambda a: a.network.public_remote_access, True, "remote access is exposed"),
    ),
    Rule(
        "AISPM-ENC-001", "Data at rest not encrypted with a customer-managed key", Severity.medium,
        {
            "aws": ("notebook", "endpoint_config", "studio_domain", "training_job", "processing_job"),
            "azure": ("workspace",),
            "gcp": ("endpoint", "model", "custom_job", "dataset", "notebook_runtime_template"),
        },
        checks.customer_managed_key,
    ),
    Rule(
        "AISPM-ENC-002", "Traffic between training or processing nodes not encrypted", Severity.medium,
        {"aws": ("training_job", "processing_job")},
        checks.fact_check(lambda a: a.encryption.inter_node, False, "inter-node traffic is unencrypted"),
    ),
    Rule(
        "AISPM-IAM-001", "Workload identity is over-privileged", Severity.critical,
        {
            "aws": ("notebook", "model", "training_job", "processing_job", "studio_domain"),
            "azure": ("workspace", "compute", "endpoint"),
            "gcp": ("endpoint", "custom_job"),
        },
        checks.over_privileged,
    ),
    Rule(
        "AISPM-IAM-002", "Root access enabled on a notebook", Severity.high,
        {"aws": ("notebook",)},
        checks.fact_check(lambda a: a.access.root_access, True, "users can become root"),
    ),
    Rule(
        "AISPM-IAM-003", "Key-based or local authentication instead of identity", Severity.medium,
        {"azure": ("endpoint", "compute", "datastore")},
        checks.fact_check(lambda a: a.access.local_auth, True,
                          "keys or local accounts authenticate instead of identity"),
    ),
    Rule(
        "AISPM-IAM-004", "AI asset shared publicly or with unknown accounts", Severity.critical,
        {"aws": ("model_package_group",)},
        checks.shared_publicly,
    ),
    Rule(
        "AISPM-IAM-005", "Notebook allows instance metadata service v1", Severity.medium,
        {"aws": ("notebook",)},
        checks.fact_check(lambda a: a.access.imds_v1, True, "IMDSv1 is allowed"),
    ),
    Rule(
        "AISPM-SEC-001", "Plaintext secret in a container environment", Severity.critical,
        {
            "aws": ("model", "training_job", "processing_job"),
            "azure": ("deployment",),
            "gcp": ("model", "custom_job"),
        },
        checks.plaintext_secret,
    ),
    Rule(
        "AISPM-LOG-001", "Inference request/response capture disabled", Severity.low,
        {"aws": ("endpoint_config",), "azure": ("deployment",), "gcp": ("endpoint",)},
        checks.fact_check(lambda a: a.logging.request_capture, False, "requests and responses are not captured"),
    ),
    Rule(
        "AISPM-LOG-002", "Production endpoint without model monitoring", Severity.low,
        {"aws": ("endpoint",), "gcp": ("endpoint",)},
        checks.fact_check(lambda a: a.logging.monitoring, False, "no model monitoring watches the endpoint"),
    ),
    Rule(
        "AISPM-RES-001", "Endpoint without redundancy (fewer than 2 instances)", Severity.medium,
        {"aws": ("endpoint_config",), "azure": ("deployment",), "gcp": ("endpoint",)},
        checks.fact_check(lambda a: a.resilience.redundant, False, "a single instance failure takes it down"),
    ),
    Rule(
        "AISPM-GOV-001", "Notebook runs an outdated or unsupported image", Severity.medium,
        {"aws": ("notebook",), "azure": ("compute",)},
        checks.fact_check(lambda a: a.lifecycle.outdated_image, True, "the image is outdated or out of support"),
    ),
    Rule(
        "AISPM-GOV-002", "Interactive compute without idle shutdown", Severity.low,
        {"azure": ("compute",), "gcp": ("notebook_runtime_template",)},
        checks.fact_check(lambda a: a.lifecycle.idle_shutdown, False, "idle compute keeps running"),
    ),
    Rule(
        "AISPM-GOV-003", "Required ownership tags missing (only when configured)", Severity.low,
        {"aws": _ALL, "azure": _ALL, "gcp": _ALL},
        checks.required_tags,
        requires_config=True,
    ),
)


def _merge(rule: Rule, m: RuleMeta) -> Rule:
    clouds = m.remediation.clouds()
    return replace(
        rule,
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
        compliance={fid: ids for fid, ids in m.compliance.items() if ids},
    )


def build_catalog(code_rules: tuple[Rule, ...], metas: list[RuleMeta],
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
