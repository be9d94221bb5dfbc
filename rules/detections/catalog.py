"""The detection catalog: each detection's predicate over one normalized audit event (here, keyed by id) and
everything said about it (``rules/data/detections.yaml``: title, severity, techniques, response).

A predicate names the operations it looks at (``operations``, folded to lower case), so the engine hands each
event only to the detections that can match it; it returns one sentence saying what happened, or None.
DET-003 is an aggregation (rules.detections.engine.LlmJacking), not a predicate.
"""

from __future__ import annotations

import functools
import ipaddress
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from importlib import resources
from typing import Any

import yaml

from aispm.normalizer.audit import AuditEvent
from aispm.rules.model import Severity

DET_LLMJACKING = "AISPM-DET-003"

# The 14 actions of DET-003, as CloudTrail names them (bedrock and aws-marketplace event sources).
LLMJACKING_ACTIONS = frozenset({
    "PutUseCaseForModelAccess", "PutFoundationModelEntitlement", "PutModelInvocationLoggingConfiguration",
    "CreateFoundationModelAgreement", "InvokeModel", "InvokeModelWithResponseStream", "GetUseCaseForModelAccess",
    "GetModelInvocationLoggingConfiguration", "GetFoundationModelAvailability",
    "ListFoundationModelAgreementOffers", "ListFoundationModels", "ListProvisionedModelThroughputs",
    "SearchAgreements", "AcceptAgreementRequest",
})
LLMJACKING_SOURCES = frozenset({"bedrock.amazonaws.com", "aws-marketplace.amazonaws.com"})


@dataclass(frozen=True)
class Attack:
    uid: str
    name: str
    tactic: str


@dataclass(frozen=True)
class Settings:
    """What the policy file configures for detections (``detections:``)."""

    llmjacking_threshold: float = 0.4
    trusted_cidrs: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...] = ()


Predicate = Callable[[AuditEvent, Settings], str | None]


@dataclass(frozen=True)
class Detection:
    id: str
    title: str
    severity: Severity
    providers: tuple[str, ...]
    attacks: tuple[Attack, ...]
    description: str
    response: str
    operations: frozenset[str] = frozenset()     # folded operation names the predicate looks at
    predicate: Predicate | None = None           # None: an aggregation (DET-003)
    needs: Mapping[str, str] = field(default_factory=dict)


# ------------------------------------------------------------------------------------------------ helpers

def _get(obj: Any, *path: str) -> Any:
    for key in path:
        if not isinstance(obj, Mapping):
            return None
        obj = obj.get(key)
    return obj


def _ci_get(obj: Any, key: str) -> Any:
    """A key of a JSON object compared case-insensitively (Azure request bodies are not consistent)."""
    if not isinstance(obj, Mapping):
        return None
    folded = key.casefold()
    return next((v for k, v in obj.items() if str(k).casefold() == folded), None)


def _resource_text(e: AuditEvent) -> str:
    return e.resource.uid if e.resource else "an unnamed resource"


def _ok(e: AuditEvent) -> bool:
    """Every detection but DET-003 ignores events with an error code."""
    return e.outcome == "success" and not e.error_code


# -------------------------------------------------------------------------------------------- DET-001

def _det001(e: AuditEvent, _: Settings) -> str | None:
    if not _ok(e):
        return None
    if e.provider == "aws":
        if e.operation == "DeleteModelInvocationLoggingConfiguration":
            return f"{e.principal} deleted the Bedrock model invocation logging configuration in {e.region}."
        if e.operation == "PutModelInvocationLoggingConfiguration":
            config = _get(e.request, "loggingConfig")
            if not _get(config, "cloudWatchConfig") and not _get(config, "s3Config"):
                return (f"{e.principal} set Bedrock model invocation logging in {e.region} without a CloudWatch "
                        "Logs or S3 destination.")
        return None
    if e.provider == "azure" and "/providers/microsoft.cognitiveservices/accounts/" in _resource_text(e).casefold():
        return f"{e.principal} deleted diagnostic settings of {_resource_text(e)}."
    return None


# -------------------------------------------------------------------------------------------- DET-002

_CONTENT_FILTERS = ("HATE", "INSULTS", "SEXUAL", "VIOLENCE", "MISCONDUCT")


def guardrail_weakened(request: Mapping[str, Any]) -> str | None:
    """Why an UpdateGuardrail request weakens the guardrail (contract clarification), or None."""
    policy = request.get("contentPolicyConfig")
    if not isinstance(policy, Mapping):
        return None
    filters = policy.get("filtersConfig")
    by_type: dict[str, Mapping[str, Any]] = {}
    for f in filters if isinstance(filters, list) else []:
        if isinstance(f, Mapping):
            by_type[str(f.get("type", "")).upper()] = f
    for name in _CONTENT_FILTERS:
        f = by_type.get(name)
        if f is None:
            return f"drops the {name} content filter"
        for side in ("inputStrength", "outputStrength"):
            if str(f.get(side, "")).upper() == "NONE":
                return f"sets the {name} filter's {side} to NONE"
    attack = by_type.get("PROMPT_ATTACK")
    if attack is None:
        return "drops the PROMPT_ATTACK filter"
    if str(attack.get("inputStrength", "")).upper() == "NONE":
        return "sets the PROMPT_ATTACK filter's inputStrength to NONE"
    return None


def _det002(e: AuditEvent, _: Settings) -> str | None:
    if not _ok(e):
        return None
    if e.provider == "aws":
        if e.operation == "DeleteGuardrail":
            return f"{e.principal} deleted the Bedrock guardrail {_resource_text(e)}."
        if e.operation == "UpdateGuardrail" and (why := guardrail_weakened(e.request)):
            return f"{e.principal} updated the Bedrock guardrail {_resource_text(e)}: the request {why}."
        if e.operation == "UpdateAgent" and not e.request.get("guardrailConfiguration"):
            return f"{e.principal} updated the Bedrock agent {_resource_text(e)} without a guardrail."
        return None
    if e.provider == "azure":
        action = "deleted" if e.op.endswith("/delete") else "rewrote"
        return f"{e.principal} {action} the content filter (RAI policy) {_resource_text(e)}."
    return None


# -------------------------------------------------------------------------------------------- DET-004

def _det004(e: AuditEvent, _: Settings) -> str | None:
    if not _ok(e):
        return None
    if e.operation == "UpdateNotebookInstance":
        name = e.request.get("lifecycleConfigName")
        if not name:
            return None
        return f"{e.principal} attached the lifecycle configuration {name} to {_resource_text(e)}."
    verb = "created" if e.operation.startswith("Create") else "changed"
    return f"{e.principal} {verb} the lifecycle configuration {_resource_text(e)}."


# -------------------------------------------------------------------------------------------- DET-005

def _outside(address: str, trusted: Sequence[ipaddress.IPv4Network | ipaddress.IPv6Network]) -> bool:
    try:
        ip = ipaddress.ip_address(address.strip())
    except ValueError:
        return True   # an AWS service name or nothing: not an address of the trusted ranges
    return not any(ip.version == net.version and ip in net for net in trusted)


def _det005(e: AuditEvent, settings: Settings) -> str | None:
    if not _ok(e):
        return None
    if e.provider == "azure":
        verb = "regenerated" if "regenerate" in e.op else "listed"
        return f"{e.principal} {verb} the keys of {_resource_text(e)}."
    if e.provider == "aws" and settings.trusted_cidrs and _outside(e.source_ip, settings.trusted_cidrs):
        what = "notebook instance" if "NotebookInstance" in e.operation else "Studio domain"
        return (f"{e.principal} created a presigned {what} URL for {_resource_text(e)} from {e.source_ip or '?'}, "
                "outside the trusted ranges.")
    return None


# -------------------------------------------------------------------------------------------- DET-006

def _det006(e: AuditEvent, _: Settings) -> str | None:
    if not _ok(e) or e.provider != "gcp":
        return None
    dest = _get(e.request, "outputConfig") or {}
    where = _get(dest, "artifactDestination", "outputUriPrefix") or _get(dest, "imageDestination", "outputUri")
    return f"{e.principal} exported the model {_resource_text(e)}" + (f" to {where}." if where else ".")


# -------------------------------------------------------------------------------------------- DET-007

_PUBLIC_MEMBERS = ("allUsers", "allAuthenticatedUsers")


def _policy_public(policy: Any) -> bool:
    """Whether an IAM resource policy (JSON text or object) grants a ``*`` principal."""
    if isinstance(policy, str):
        try:
            policy = json.loads(policy)
        except ValueError:
            return False
    statements = _get(policy, "Statement")
    for st in statements if isinstance(statements, list) else [statements]:
        principal = _get(st, "Principal")
        if principal == "*":
            return True
        if isinstance(principal, Mapping):
            values = principal.get("AWS")
            if values == "*" or (isinstance(values, list) and "*" in values):
                return True
    return False


def _det007(e: AuditEvent, _: Settings) -> str | None:
    if not _ok(e):
        return None
    if e.provider == "gcp":
        if e.service not in ("aiplatform.googleapis.com", "cloudresourcemanager.googleapis.com"):
            return None
        if e.service == "cloudresourcemanager.googleapis.com" and not _resource_text(e).startswith("projects/"):
            return None
        bindings = _get(e.request, "policy", "bindings")
        for b in bindings if isinstance(bindings, list) else []:
            members = [m for m in (_get(b, "members") or []) if m in _PUBLIC_MEMBERS]
            if members:
                return (f"{e.principal} granted {_get(b, 'role')} to {', '.join(members)} on "
                        f"{_resource_text(e)}.")
        return None
    if e.provider == "azure":
        access = _ci_get(_ci_get(e.request, "properties"), "publicNetworkAccess")
        if str(access or "").casefold() == "enabled":
            return f"{e.principal} enabled public network access on {_resource_text(e)}."
        return None
    if e.operation in ("CreateDomain", "UpdateDomain"):
        if e.request.get("appNetworkAccessType") == "PublicInternetOnly":
            return f"{e.principal} set the SageMaker domain {_resource_text(e)} to PublicInternetOnly."
        return None
    if _policy_public(e.request.get("resourcePolicy")):
        return f"{e.principal} put a model package group policy with a '*' principal on {_resource_text(e)}."
    return None


def _fold(*names: str) -> frozenset[str]:
    return frozenset(n.casefold() for n in names)


_CODE: dict[str, tuple[frozenset[str], Predicate | None]] = {
    "AISPM-DET-001": (_fold("DeleteModelInvocationLoggingConfiguration", "PutModelInvocationLoggingConfiguration",
                            "Microsoft.Insights/diagnosticSettings/delete"), _det001),
    "AISPM-DET-002": (_fold("DeleteGuardrail", "UpdateGuardrail", "UpdateAgent",
                            "Microsoft.CognitiveServices/accounts/raiPolicies/delete",
                            "Microsoft.CognitiveServices/accounts/raiPolicies/write"), _det002),
    DET_LLMJACKING: (frozenset(), None),
    "AISPM-DET-004": (_fold("CreateNotebookInstanceLifecycleConfig", "UpdateNotebookInstanceLifecycleConfig",
                            "UpdateNotebookInstance", "CreateStudioLifecycleConfig"), _det004),
    "AISPM-DET-005": (_fold("Microsoft.CognitiveServices/accounts/listKeys/action",
                            "Microsoft.CognitiveServices/accounts/regenerateKey/action",
                            "Microsoft.MachineLearningServices/workspaces/listKeys/action",
                            "Microsoft.MachineLearningServices/workspaces/onlineEndpoints/listKeys/action",
                            "Microsoft.MachineLearningServices/workspaces/onlineEndpoints/regenerateKeys/action",
                            "CreatePresignedNotebookInstanceUrl", "CreatePresignedDomainUrl"), _det005),
    "AISPM-DET-006": (_fold("google.cloud.aiplatform.v1.ModelService.ExportModel",
                            "google.cloud.aiplatform.v1beta1.ModelService.ExportModel"), _det006),
    "AISPM-DET-007": (_fold("SetIamPolicy", "google.iam.v1.IAMPolicy.SetIamPolicy",
                            "google.cloud.aiplatform.v1.EndpointService.SetIamPolicy",
                            "Microsoft.CognitiveServices/accounts/write",
                            "Microsoft.MachineLearningServices/workspaces/write",
                            "CreateDomain", "UpdateDomain", "PutModelPackageGroupPolicy"), _det007),
}

# Read permissions a detection needs per cloud (beyond the posture scan's), for docs and `rules show`.
_NEEDS = {
    "aws": "cloudtrail:LookupEvents",
    "azure": "Reader (Microsoft.Insights/eventtypes/values/read)",
    # ExportModel and SetIamPolicy are Admin Activity entries: Data Access logs (privateLogViewer) are not needed.
    "gcp": "roles/logging.viewer (Admin Activity audit logs)",
}


def operation_matches(detection: Detection, op: str) -> bool:
    """Whether a folded operation name is one the detection looks at (GCP SetIamPolicy of any service)."""
    return op in detection.operations or (detection.id == "AISPM-DET-007" and op.endswith(".setiampolicy"))


class CatalogError(ValueError):
    """detections.yaml does not match the code."""


@functools.cache
def all_detections() -> tuple[Detection, ...]:
    raw: Any = yaml.safe_load((resources.files("aispm.rules") / "data" / "detections.yaml").read_text("utf-8"))
    out: list[Detection] = []
    for item in raw:
        did = str(item["id"])
        if did not in _CODE:
            raise CatalogError(f"detections.yaml: {did} has no predicate in the catalog")
        operations, predicate = _CODE[did]
        providers = tuple(item["providers"])
        needs = {p: _NEEDS[p] for p in providers}
        out.append(Detection(
            id=did, title=str(item["title"]), severity=Severity[str(item["severity"])], providers=providers,
            attacks=tuple(Attack(str(a["uid"]), str(a["name"]), str(a["tactic"])) for a in item["attacks"]),
            description=" ".join(str(item["description"]).split()), response=" ".join(str(item["response"]).split()),
            operations=operations, predicate=predicate, needs=needs,
        ))
    missing = set(_CODE) - {d.id for d in out}
    if missing:
        raise CatalogError(f"detections.yaml: no metadata for {', '.join(sorted(missing))}")
    return tuple(out)


def detections_by_id() -> dict[str, Detection]:
    return {d.id: d for d in all_detections()}


def detection_record(d: Detection) -> dict[str, Any]:
    """Everything the catalog says of a detection, as JSON (``aispm rules list/show --format json``)."""
    return {
        "id": d.id, "kind": "detection", "title": d.title, "severity": d.severity.name,
        "providers": list(d.providers), "description": d.description, "response": d.response,
        "attacks": [{"uid": a.uid, "name": a.name, "tactic": a.tactic} for a in d.attacks],
        "needs": dict(d.needs),
    }


def detection_text(d: Detection) -> str:
    lines = [f"{d.id}  {d.title}", f"kind: detection (aispm detect)   severity: {d.severity.name}   "
             f"clouds: {', '.join(d.providers)}", "", d.description, "", f"Response: {d.response}", "",
             "Techniques:"]
    lines += [f"  {a.uid}  {a.name} ({a.tactic})" for a in d.attacks]
    lines += ["", "Reads:"] + [f"  {p}: {need}" for p, need in d.needs.items()]
    return "\n".join(lines)
