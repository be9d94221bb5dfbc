"""The demo Google estate read independently of the product: every GCP rule's outcome computed from the
wire JSON as rules-v1.md (and the GCP lines of rules-v2.md) read it, and the resources expected to fail each rule.

Shared by the fake's own tests (the estate covers every rule) and the GCP collector's tests (the product
agrees with this reading).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

from aispm.testing.fake_google import demo_estate

SECRET_VALUE = re.compile(
    r"(AKIA|ASIA)[A-Z0-9]{16}|-----BEGIN [A-Z ]*PRIVATE KEY-----|gh[pousr]_[A-Za-z0-9]{20,}"
    r"|xox[abpr]-|AIza[0-9A-Za-z_\-]{35}|eyJ[A-Za-z0-9_-]+\.eyJ|AccountKey="
)
SECRET_NAME = re.compile(
    r"(?i)(secret|passw(or)?d|token|api[_-]?key|private[_-]?key|access[_-]?key|conn(ection)?[_-]?str)"
)
REFERENCE = re.compile(
    r"^(\$\{.*\}|\{\{resolve:.*\}\}|arn:aws[^:]*:(secretsmanager|ssm):.*|https://[^/]+\.vault\.azure\.net/.*)$"
)


def _secret(env: list[Mapping[str, str]]) -> bool:
    for variable in env:
        value = variable.get("value", "")
        if not value:
            continue
        if SECRET_VALUE.search(value):
            return True
        if SECRET_NAME.search(variable["name"]) and not REFERENCE.match(value):
            return True
    return False


def _identity_checker(entry: Mapping[str, Any]) -> Callable[[str], bool]:
    """IAM-001 for one project: unset, or neither the Compute default account nor an owner/editor."""
    number = entry["project"]["name"].split("/")[1]
    privileged = {
        member.removeprefix("serviceAccount:")
        for binding in entry["iamPolicy"]["bindings"]
        if binding["role"] in ("roles/owner", "roles/editor") and "condition" not in binding
        for member in binding["members"]
    }
    privileged.add(f"{number}-compute@developer.gserviceaccount.com")
    return lambda account: not account or account not in privileged


def _endpoint_outcomes(
    r: Mapping[str, Any], monitored: set[str], identity_ok: Callable[[str], bool]
) -> dict[str, bool]:
    deployed = r.get("deployedModels", [])
    logging = r.get("predictRequestResponseLoggingConfig", {})
    replicas = [(m.get("dedicatedResources") or m.get("automaticResources") or {}) for m in deployed]
    return {
        "NET-001": bool(
            r.get("privateServiceConnectConfig", {}).get("enablePrivateServiceConnect")
            or r.get("enablePrivateServiceConnect")
            or r.get("network")
        ),
        "LOG-001": logging.get("enabled") is True,
        "LOG-002": r["name"] in monitored,
        "RES-001": all(spec.get("minReplicaCount", 0) >= 2 for spec in replicas),
        "IAM-001": all(identity_ok(m.get("serviceAccount", "")) for m in deployed),
    }


def _custom_job_outcomes(r: Mapping[str, Any], identity_ok: Callable[[str], bool]) -> dict[str, bool]:
    spec = r["jobSpec"]
    env = [
        variable
        for pool in spec["workerPoolSpecs"]
        for part in ("containerSpec", "pythonPackageSpec")
        for variable in pool.get(part, {}).get("env", [])
    ]
    return {
        "NET-005": bool(spec.get("network") or spec.get("pscInterfaceConfig", {}).get("networkAttachment")),
        "NET-006": not (spec.get("enableWebAccess") or spec.get("enableDashboardAccess")),
        "IAM-001": identity_ok(spec.get("serviceAccount", "")),
        "SEC-001": not _secret(env),
    }


def _generative_outcomes(collection: str, r: Mapping[str, Any], identity_ok: Callable[[str], bool]) -> dict[str, bool]:
    """rules-v2.md: IAM-001 (an unset account passes), NET-005 on pipeline runs, SEC-001 on Agent Engine's env
    (secretEnv entries are references, never secrets)."""
    outcomes: dict[str, bool] = {}
    if collection == "reasoningEngines":
        spec = r.get("spec", {})
        outcomes["IAM-001"] = identity_ok(spec.get("serviceAccount", ""))
        outcomes["SEC-001"] = not _secret(spec.get("deploymentSpec", {}).get("env", []))
    if collection in ("tuningJobs", "pipelineJobs"):
        outcomes["IAM-001"] = identity_ok(r.get("serviceAccount", ""))
    if collection == "pipelineJobs":
        outcomes["NET-005"] = bool(r.get("network") or r.get("pscInterfaceConfig", {}).get("networkAttachment"))
    return outcomes


def _provenance_outcomes(collection: str, r: Mapping[str, Any], public_buckets: set[str]) -> dict[str, bool]:
    """rules-v2.md PRV-001 (Artifact Registry or Container Registry hosts) and PRV-003 (a location's bucket
    grants a role to allUsers or allAuthenticatedUsers)."""
    outcomes: dict[str, bool] = {}
    if collection == "models" and "containerSpec" in r:
        image = r["containerSpec"]["imageUri"]
        host = image.split("/")[0] if "." in image.split("/")[0] else "docker.io"
        outcomes["PRV-001"] = host.endswith("-docker.pkg.dev") or host == "gcr.io" or host.endswith(".gcr.io")
    locations = {
        "datasets": r.get("metadata", {}).get("inputConfig", {}).get("gcsSource", {}).get("uri", []),
        "models": [r["artifactUri"]] if "artifactUri" in r else [],
        "customJobs": [r["jobSpec"]["baseOutputDirectory"]["outputUriPrefix"]]
        if "baseOutputDirectory" in r.get("jobSpec", {}) else [],
    }.get(collection, [])
    if locations:
        outcomes["PRV-003"] = not any(uri[len("gs://"):].split("/")[0] in public_buckets for uri in locations)
    return outcomes


def _resource_outcomes(
    collection: str, r: Mapping[str, Any], monitored: set[str], identity_ok: Callable[[str], bool],
    public_buckets: set[str],
) -> dict[str, bool]:
    outcomes: dict[str, bool] = _provenance_outcomes(collection, r, public_buckets)
    if collection in ("endpoints", "models", "customJobs", "datasets", "notebookRuntimeTemplates",
                      "reasoningEngines", "tuningJobs", "ragCorpora", "featureOnlineStores", "pipelineJobs"):
        outcomes["ENC-001"] = bool(r.get("encryptionSpec", {}).get("kmsKeyName"))
    if collection == "endpoints":
        outcomes.update(_endpoint_outcomes(r, monitored, identity_ok))
    if collection == "indexEndpoints":
        outcomes["NET-001"] = not r.get("publicEndpointEnabled")
    if collection == "notebookRuntimeTemplates":
        outcomes["NET-002"] = not r.get("networkSpec", {}).get("enableInternetAccess")
        idle = r.get("idleShutdownConfig")
        outcomes["GOV-002"] = idle is not None and not idle.get("idleShutdownDisabled")
    if collection == "models" and "containerSpec" in r:
        outcomes["SEC-001"] = not _secret(r["containerSpec"].get("env", []))
    if collection == "customJobs":
        outcomes.update(_custom_job_outcomes(r, identity_ok))
    outcomes.update(_generative_outcomes(collection, r, identity_ok))
    return outcomes


def wire_outcomes() -> dict[tuple[str, str], bool]:
    """(rule, display name) -> passes, computed from the wire JSON as rules-v1.md reads it."""
    results: dict[tuple[str, str], bool] = {}
    estate = demo_estate()
    public_buckets = {
        b["name"] for b in estate.get("buckets", [])
        if any(m in ("allUsers", "allAuthenticatedUsers") for binding in b["iamPolicy"].get("bindings", [])
               for m in binding["members"])
    }
    for entry in estate["projects"]:
        identity_ok = _identity_checker(entry)
        monitored = {
            job["endpoint"]
            for collections in entry["vertex"].values()
            for job in collections.get("modelDeploymentMonitoringJobs", [])
        }
        for collections in entry["vertex"].values():
            for collection, resources in collections.items():
                for r in resources:
                    # Tuning jobs are named by their tuned model, feature online stores by their id.
                    label = r.get("displayName") or r.get("tunedModelDisplayName") or r["name"].rsplit("/", 1)[-1]
                    for rule, passed in _resource_outcomes(collection, r, monitored, identity_ok,
                                                                        public_buckets).items():
                        results[(rule, label)] = passed
    return results


EXPECTED_FAILS = {
    "NET-001": {"fraud-scoring-public", "doc-classifier-eu", "llm-playground", "product-search-public"},
    "NET-002": {"ds-default", "sandbox-gpu"},
    "NET-005": {"fraud-nightly-train", "churn-retrain", "sandbox-finetune", "sandbox-eval-pipeline"},
    "NET-006": {"fraud-nightly-train", "recsys-hp-sweep-trial-7"},
    "ENC-001": {
        "fraud-scoring-public",
        "llm-playground",
        "fraud-xgb",
        "churn-sklearn",
        "llama-ft-sandbox",
        "fraud-nightly-train",
        "doc-classifier-train",
        "sandbox-finetune",
        "sandbox-eval",
        "churn-features",
        "sandbox-prompts",
        "ds-default",
        "sandbox-gpu",
        "claims-agent-legacy",
        "claims-gemini-tuned",
        "claims-corpus",
        "recsys_features_online",
        "churn-feature-pipeline",
        "sandbox-agent",
        "sandbox-eval-pipeline",
    },
    "IAM-001": {
        "fraud-scoring-public",
        "churn-legacy-psc",
        "llm-playground",
        "fraud-nightly-train",
        "doc-classifier-train",
        "sandbox-finetune",
        "sandbox-eval",
        "claims-agent-legacy",
        "churn-feature-pipeline",
        "sandbox-agent",
        "sandbox-gemini-tuned",
    },
    "SEC-001": {
        "fraud-xgb",
        "churn-sklearn",
        "llama-ft-sandbox",
        "fraud-nightly-train",
        "recsys-hp-sweep-trial-7",
        "sandbox-finetune",
        "claims-agent-legacy",
        "sandbox-agent",
    },
    "LOG-001": {"fraud-scoring-public", "recsys-vpc-peered", "llm-playground", "staging-empty"},
    "LOG-002": {"fraud-scoring-public", "churn-legacy-psc", "doc-classifier-eu", "llm-playground", "staging-empty"},
    "RES-001": {"fraud-scoring-public", "recsys-vpc-peered", "llm-playground"},
    "GOV-002": {"ds-restricted", "eu-analysts"},
    "PRV-001": {"llama-ft-sandbox"},
    "PRV-003": {"fraud-nightly-train", "credit-risk-train"},
}
