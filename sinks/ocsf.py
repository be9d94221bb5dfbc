"""OCSF 1.3.0 Compliance Finding (class 2003) serialization, exactly as the output contract says."""

from __future__ import annotations

import uuid
from typing import Any

from aispm.normalizer.schema import PROVIDER_DISPLAY, Asset
from aispm.rules.frameworks import FRAMEWORKS
from aispm.rules.model import Evaluation, Rule, Severity

OCSF_VERSION = "1.3.0"
VENDOR = "aispm project"
_FINDING_NAMESPACE = uuid.UUID("5d6f3c1e-8a3b-4f5e-9a51-6b1f3f2a9c40")

# Derived from the compliance catalogs (rules/data): framework id -> display name, provider -> native control set.
FRAMEWORK_NAMES: dict[str, str] = {fid: f.name for fid, f in FRAMEWORKS.items()}
NATIVE_FRAMEWORK: dict[str, str] = {f.provider: fid for fid, f in FRAMEWORKS.items() if f.provider}


STATUS_NEW, STATUS_SUPPRESSED, STATUS_RESOLVED = 1, 3, 4
_STATUS_NAMES = {STATUS_NEW: "New", STATUS_SUPPRESSED: "Suppressed", STATUS_RESOLVED: "Resolved"}
ACTIVITY_CREATE, ACTIVITY_CLOSE = 1, 3
_ACTIVITY_NAMES = {ACTIVITY_CREATE: "Create", ACTIVITY_CLOSE: "Close"}


def finding_uid(rule_id: str, resource_uid: str) -> str:
    """Deterministic from (rule id, resource uid) only, so SIEMs update rather than duplicate."""
    return str(uuid.uuid5(_FINDING_NAMESPACE, f"{rule_id}|{resource_uid}"))


def compliance_refs(rule: Rule, provider: str, kind: str | None = None) -> tuple[list[str], list[str]]:
    """(standards, requirements) the rule maps to, native controls filtered to the asset's cloud and kind.

    A native control (Security Hub, Azure Policy, Google org policy) is listed only for its own
    cloud and, when ``kind`` (the asset kind) is given, only on the asset kinds it covers, e.g.
    SageMaker.2 on notebook instances but never on training jobs; a native set left with no
    control is not named either. Display names come from the compliance catalogs (rules/data).
    """
    standards: list[str] = []
    requirements: list[str] = []
    for framework, ids in rule.compliance.items():
        fw = FRAMEWORKS.get(framework)
        native_of = fw.provider if fw is not None else None
        if native_of is not None and native_of != provider:
            continue
        if fw is not None and native_of is not None and kind is not None:
            ids = tuple(i for i in ids if fw.covers(i, kind))
        if not ids:
            continue
        standards.append(FRAMEWORK_NAMES.get(framework, framework))
        requirements.extend(ids)
    return standards, requirements


def resource(asset: Asset) -> dict[str, Any]:
    data: dict[str, Any] = {"service": asset.service}
    data.update(asset.details)
    out: dict[str, Any] = {
        "uid": asset.uid,
        "type": asset.kind,
        "name": asset.name,
        "region": asset.region,
        "cloud_partition": asset.uid.split(":")[1] if asset.uid.startswith("arn:") else None,
        "labels": [f"{k}={v}" for k, v in sorted(asset.tags.items())] or None,
        "data": data,
    }
    return {k: v for k, v in out.items() if v is not None}


def to_ocsf(ev: Evaluation, time_ms: int, product_version: str, scan_id: str = "") -> dict[str, Any]:
    """The OCSF object of one evaluation (Pass or Fail; errors are never serialized)."""
    rule, asset = ev.rule, ev.asset
    passed = ev.status == "pass"
    if ev.suppression is not None:
        status_id, detail = STATUS_SUPPRESSED, f"Suppressed: {ev.suppression} ({ev.detail})"
    else:
        status_id, detail = (STATUS_RESOLVED if passed else STATUS_NEW), ev.detail
    standards, requirements = compliance_refs(rule, asset.provider, asset.kind)
    remediation: dict[str, Any] = {"desc": rule.remediation.text or rule.title}
    if rule.references:
        remediation["references"] = list(rule.references)
    finding: dict[str, Any] = {
        "class_uid": 2003,
        "class_name": "Compliance Finding",
        "category_uid": 2,
        "category_name": "Findings",
        "type_uid": 200300 + ACTIVITY_CREATE,
        "type_name": "Compliance Finding: Create",
        "activity_id": ACTIVITY_CREATE,
        "activity_name": _ACTIVITY_NAMES[ACTIVITY_CREATE],
        "time": time_ms,
        # v1.1: a Pass is informational; the rule's own severity travels in unmapped.rule_severity.
        "severity_id": int(Severity.informational) if passed else int(ev.severity),
        "severity": Severity.informational.label if passed else ev.severity.label,
        "status_id": status_id,
        "status": _STATUS_NAMES[status_id],
        "status_detail": detail,
        "message": f"{(rule.pass_title or rule.title) if passed else rule.title}: {asset.name}",
        "metadata": {
            "version": OCSF_VERSION,
            "profiles": ["cloud"],
            "product": {"name": "aispm", "vendor_name": VENDOR, "version": product_version},
            "log_name": "aispm-findings",
            **({"correlation_uid": scan_id} if scan_id else {}),
        },
        "finding_info": {
            "uid": finding_uid(rule.id, asset.uid),
            "title": rule.title,
            "desc": rule.description or rule.title,
            "types": [f"AI Security Posture/{rule.id.split('-')[1]}"],
            # The lifecycle stage carries first_seen_time over from the state while the outcome holds.
            "first_seen_time": time_ms,
            "last_seen_time": time_ms,
        },
        "compliance": {
            "control": rule.id,
            "status": "Pass" if passed else "Fail",
            "status_id": 1 if passed else 3,
            "standards": standards,
            "requirements": requirements,
        },
        "resources": [resource(asset)],
        "cloud": {
            "provider": PROVIDER_DISPLAY[asset.provider],
            "account": {"uid": asset.account},
            "region": asset.region,
        },
        "remediation": remediation,
        "unmapped": {"rule_severity": ev.severity.name},
    }
    return finding


def closed(finding: dict[str, Any], time_ms: int) -> dict[str, Any]:
    """A previously delivered finding re-issued as closed (the caller sets why in ``status_detail``);
    its first and last seen times stay those of the scans that saw it."""
    out = dict(finding)
    out.update(
        activity_id=ACTIVITY_CLOSE,
        activity_name=_ACTIVITY_NAMES[ACTIVITY_CLOSE],
        type_uid=200300 + ACTIVITY_CLOSE,
        type_name="Compliance Finding: Close",
        time=time_ms,
        status_id=STATUS_RESOLVED,
        status=_STATUS_NAMES[STATUS_RESOLVED],
        status_detail="The resource no longer exists.",
    )
    return out
