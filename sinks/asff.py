"""OCSF finding -> AWS Security Finding Format (ASFF ``2018-10-08``), as a pure function.

The finding's own fields only: never ``Workflow``, ``Note`` or ``UserDefinedFields``,
which belong to the analysts working the finding in Security Hub (a re-import
must not overwrite their triage).
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

SCHEMA_VERSION = "2018-10-08"
MAX_FINDING_BYTES = 240 * 1024
TYPE_PREFIX = "Software and Configuration Checks/Industry and Regulatory Standards"

# Asset kinds that have a dedicated ASFF resource type (others are ``Other`` with Details.Other).
ASFF_RESOURCE_TYPES: dict[tuple[str, str], str] = {
    ("AWS", "notebook"): "AwsSageMakerNotebookInstance",
}
_LABELS = {1: "INFORMATIONAL", 2: "LOW", 3: "MEDIUM", 4: "HIGH", 5: "CRITICAL"}
_CLOSED_ACTIVITY = 3


def iso(ms: int) -> str:
    return dt.datetime.fromtimestamp(ms / 1000, dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def product_arn(region: str, account: str) -> str:
    return f"arn:aws:securityhub:{region}:{account}:product/{account}/default"


def _text(value: Any, limit: int) -> str:
    text = " ".join(str(value or "").split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _tags(labels: list[str] | None) -> dict[str, str]:
    tags: dict[str, str] = {}
    for label in labels or []:
        key, _, value = label.partition("=")
        if key:
            tags[_text(key, 128)] = _text(value, 256) or "-"
    return dict(list(tags.items())[:50])


def _other(finding: dict[str, Any], res: dict[str, Any]) -> dict[str, str]:
    """Details.Other: string values only, at most 50 keys of 128 and values of 1024 characters."""
    cloud = finding.get("cloud") or {}
    details: dict[str, str] = {
        "provider": str(cloud.get("provider", "")),
        "account": str((cloud.get("account") or {}).get("uid", "")),
        "kind": str(res.get("type", "")),
        "name": str(res.get("name", "")),
        "nativeId": str(res.get("uid", "")),
    }
    for key, value in (res.get("data") or {}).items():
        if len(details) >= 50:
            break
        rendered = value if isinstance(value, str) else json.dumps(value, default=str)
        details.setdefault(_text(key, 128), rendered)
    return {k: _text(v, 1024) for k, v in details.items() if v}


def resource(finding: dict[str, Any], region: str) -> dict[str, Any]:
    cloud = finding.get("cloud") or {}
    provider = str(cloud.get("provider", ""))
    res = (finding.get("resources") or [{}])[0]
    uid = str(res.get("uid", ""))
    asff_type = ASFF_RESOURCE_TYPES.get((provider, str(res.get("type", ""))), "Other")
    out: dict[str, Any] = {
        "Type": asff_type,
        "Id": uid,
        "Partition": uid.split(":")[1] if uid.startswith("arn:") else "aws",
        "Region": str(res.get("region") or cloud.get("region") or region),
    }
    tags = _tags(res.get("labels"))
    if tags:
        out["Tags"] = tags
    if asff_type == "AwsSageMakerNotebookInstance":
        out["Details"] = {"AwsSageMakerNotebookInstance": {
            "NotebookInstanceArn": uid, "NotebookInstanceName": str(res.get("name", ""))}}
    else:
        out["Details"] = {"Other": _other(finding, res)}
    return out


def to_asff(finding: dict[str, Any], *, product: str, account: str, region: str, updated: str) -> dict[str, Any]:
    """The ASFF object of one OCSF finding; ``updated`` must grow between imports so updates apply."""
    info = finding.get("finding_info") or {}
    compliance = finding.get("compliance") or {}
    remediation = finding.get("remediation") or {}
    rule_id = str(compliance.get("control", ""))
    observed = iso(int(finding.get("time") or 0))
    recommendation: dict[str, str] = {"Text": _text(remediation.get("desc"), 512)}
    refs = remediation.get("references") or []
    if refs:
        recommendation["Url"] = str(refs[0])
    product_fields = {
        "aispm/RuleId": rule_id,
        "aispm/Status": str(finding.get("status", "")),
        "aispm/StatusDetail": _text(finding.get("status_detail"), 1024),
        "aispm/Provider": str((finding.get("cloud") or {}).get("provider", "")),
        "aispm/ScanId": str((finding.get("metadata") or {}).get("correlation_uid", "")),
        "aispm/Standards": _text(", ".join(compliance.get("standards") or []), 1024),
    }
    category = str((info.get("types") or ["AI Security Posture"])[0]).split("/")[0]
    severity = {"Label": _LABELS.get(int(finding.get("severity_id") or 1), "INFORMATIONAL"),
                "Original": str(finding.get("severity", ""))}
    types = [f"{TYPE_PREFIX}/{category}"]
    return {
        "SchemaVersion": SCHEMA_VERSION,
        "Id": str(info.get("uid", "")),
        "ProductArn": product,
        "GeneratorId": rule_id,
        "AwsAccountId": account,
        "Types": types,
        "CreatedAt": observed,
        "UpdatedAt": updated,
        "LastObservedAt": observed,
        "Severity": severity,
        # Security Hub applies later Severity and Types changes of a provider only through these.
        "FindingProviderFields": {"Severity": dict(severity), "Types": list(types)},
        "Title": _text(info.get("title"), 256),
        "Description": _text(info.get("desc") or info.get("title"), 1024),
        "Remediation": {"Recommendation": recommendation},
        "ProductFields": {k: v for k, v in product_fields.items() if v},
        "Compliance": {
            "Status": "PASSED" if compliance.get("status") == "Pass" else "FAILED",
            "RelatedRequirements": [_text(r, 256) for r in (compliance.get("requirements") or [])][:32],
        },
        # No resource, no Resources: Security Hub refuses such a finding, which is reported, not hidden.
        "Resources": [resource(finding, region)] if finding.get("resources") else [],
        "RecordState": "ARCHIVED" if finding.get("activity_id") == _CLOSED_ACTIVITY else "ACTIVE",
    }


def size(asff: dict[str, Any]) -> int:
    return len(json.dumps(asff, separators=(",", ":")).encode("utf-8"))
