"""OCSF 1.3.0 Compliance Finding (class 2003): the wire format of a Finding, exactly as the output
contract says, and back.

``to_ocsf`` is the only place a Finding becomes OCSF; ``from_ocsf`` reads one back (dead letters, findings
files and lifecycle state hold OCSF), so that ``to_ocsf(from_ocsf(x)) == x`` for everything aispm writes.
"""

from __future__ import annotations

import re
from typing import Any

from aispm.normalizer.providers import BY_DISPLAY, PROVIDERS
from aispm.rules.finding import AssetRef, Finding, RuleRef, Status, finding_uid
from aispm.rules.model import Severity

OCSF_VERSION = "1.3.0"
VENDOR = "aispm project"

STATUS_NEW, STATUS_SUPPRESSED, STATUS_RESOLVED = 1, 3, 4
_STATUS_NAMES = {STATUS_NEW: "New", STATUS_SUPPRESSED: "Suppressed", STATUS_RESOLVED: "Resolved"}
ACTIVITY_CREATE, ACTIVITY_CLOSE = 1, 3
_ACTIVITY_NAMES = {ACTIVITY_CREATE: "Create", ACTIVITY_CLOSE: "Close"}
_SUPPRESSED_DETAIL = re.compile(r"Suppressed: (?P<why>.*) \((?P<detail>.*)\)", re.DOTALL)

__all__ = ["ACTIVITY_CLOSE", "STATUS_SUPPRESSED", "close", "closed", "finding_uid", "from_ocsf", "to_ocsf"]


def _resource(asset: AssetRef) -> dict[str, Any]:
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


def _status_detail(f: Finding) -> str:
    if f.closed is not None:
        return f.closed
    if f.suppression is not None:
        return f"Suppressed: {f.suppression} ({f.detail})"
    return f.detail


def to_ocsf(f: Finding) -> dict[str, Any]:
    """The OCSF object of one finding."""
    rule, asset = f.rule, f.asset
    passed = f.status is Status.PASS
    if f.closed is not None:
        status_id, activity = STATUS_RESOLVED, ACTIVITY_CLOSE
    else:
        status_id = STATUS_SUPPRESSED if f.suppressed else (STATUS_RESOLVED if passed else STATUS_NEW)
        activity = ACTIVITY_CREATE
    remediation: dict[str, Any] = {"desc": rule.remediation or rule.title}
    if rule.references:
        remediation["references"] = list(rule.references)
    severity = f.reported_severity
    return {
        "class_uid": 2003,
        "class_name": "Compliance Finding",
        "category_uid": 2,
        "category_name": "Findings",
        "type_uid": 200300 + activity,
        "type_name": f"Compliance Finding: {_ACTIVITY_NAMES[activity]}",
        "activity_id": activity,
        "activity_name": _ACTIVITY_NAMES[activity],
        "time": f.time_ms,
        # v1.1: a Pass is informational; the rule's own severity travels in unmapped.rule_severity.
        "severity_id": int(severity),
        "severity": severity.label,
        "status_id": status_id,
        "status": _STATUS_NAMES[status_id],
        "status_detail": _status_detail(f),
        "message": f"{(rule.pass_title or rule.title) if passed else rule.title}: {asset.name}",
        "metadata": {
            "version": OCSF_VERSION,
            "profiles": ["cloud"],
            "product": {"name": "aispm", "vendor_name": VENDOR, "version": f.product_version},
            "log_name": "aispm-findings",
            **({"correlation_uid": f.scan_id} if f.scan_id else {}),
        },
        "finding_info": {
            "uid": f.uid,
            "title": rule.title,
            "desc": rule.description or rule.title,
            "types": [f"AI Security Posture/{rule.id.split('-')[1]}"],
            "first_seen_time": f.first_seen_ms,
            "last_seen_time": f.last_seen_ms,
        },
        "compliance": {
            "control": rule.id,
            "status": "Pass" if passed else "Fail",
            "status_id": 1 if passed else 3,
            "standards": list(rule.standards),
            "requirements": list(rule.requirements),
        },
        "resources": [_resource(asset)],
        "cloud": {
            "provider": PROVIDERS[asset.provider].display,
            "account": {"uid": asset.account},
            "region": asset.region,
        },
        "remediation": remediation,
        "unmapped": {"rule_severity": f.severity.name},
    }


def from_ocsf(o: dict[str, Any]) -> Finding:
    """The Finding an OCSF object of aispm's was made from (KeyError/ValueError when it is not one)."""
    info, comp, res = o["finding_info"], o["compliance"], o["resources"][0]
    unmapped = o.get("unmapped") or {}
    data = dict(res.get("data") or {})
    service = str(data.pop("service", ""))
    tags = dict(label.split("=", 1) for label in res.get("labels") or [])
    passed = comp["status"] == "Pass"
    detail = str(o.get("status_detail", ""))
    closed = detail if o.get("activity_id") == ACTIVITY_CLOSE else None
    suppression: str | None = None
    if closed is None and o.get("status_id") == STATUS_SUPPRESSED:
        match = _SUPPRESSED_DETAIL.fullmatch(detail)
        suppression, detail = (match["why"], match["detail"]) if match is not None else ("", detail)
    rule_title = str(info["title"])
    message = str(o.get("message", ""))
    name = str(res.get("name", ""))
    pass_title = message[: -len(f": {name}")] if passed and message.endswith(f": {name}") else ""
    remediation = o.get("remediation") or {}
    severity_name = unmapped.get("rule_severity") or Severity(int(o["severity_id"])).name
    time_ms = int(o["time"])
    return Finding(
        rule=RuleRef(
            id=str(comp["control"]),
            title=rule_title,
            pass_title="" if pass_title == rule_title else pass_title,
            description="" if info.get("desc") == rule_title else str(info.get("desc", "")),
            remediation="" if remediation.get("desc") == rule_title else str(remediation.get("desc", "")),
            references=tuple(remediation.get("references") or ()),
            standards=tuple(comp.get("standards") or ()),
            requirements=tuple(comp.get("requirements") or ()),
        ),
        asset=AssetRef(uid=str(res["uid"]), provider=BY_DISPLAY[o["cloud"]["provider"]].name, service=service,
                       kind=str(res.get("type", "")), name=name, account=str(o["cloud"]["account"]["uid"]),
                       region=str(o["cloud"].get("region", res.get("region", ""))), tags=tags, details=data),
        status=Status.PASS if passed else Status.FAIL,
        severity=Severity[str(severity_name)],
        detail=detail,
        suppression=suppression,
        closed=closed,
        time_ms=time_ms,
        first_seen_ms=int(info.get("first_seen_time") or time_ms),
        last_seen_ms=int(info.get("last_seen_time") or time_ms),
        scan_id=str((o.get("metadata") or {}).get("correlation_uid", "")),
        product_version=str(((o.get("metadata") or {}).get("product") or {}).get("version", "")),
    )


def close(f: Finding, time_ms: int, why: str = "The resource no longer exists.") -> Finding:
    """A previously delivered finding re-issued as closed; its first and last seen times stay those of
    the scans that saw it."""
    return f.model_copy(update={"closed": why, "time_ms": time_ms})


def closed(finding: dict[str, Any], time_ms: int) -> dict[str, Any]:
    """``close`` on an OCSF object (state and dead letters hold OCSF)."""
    return to_ocsf(close(from_ocsf(finding), time_ms))
