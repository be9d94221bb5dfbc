"""OCSF 1.3.0 Detection Finding (class 2004): the wire format of a DetectionFinding, and back.

Next to the Compliance Finding of ``ocsf.py``: the same metadata and cloud objects, with the event's actor,
source address, API operation and evidence instead of a compliance verdict. ``to_ocsf_detection`` is the only
place a DetectionFinding becomes OCSF; ``from_ocsf_detection`` reads one back (dead letters hold OCSF), so
that ``to_ocsf_detection(from_ocsf_detection(x)) == x``.
"""

from __future__ import annotations

from typing import Any

from aispm.normalizer.providers import BY_DISPLAY, PROVIDERS
from aispm.rules.detections.finding import AttackRef, DetectionFinding, DetectionRef, ResourceRef
from aispm.rules.model import Severity
from aispm.sinks.formats.ocsf import OCSF_VERSION, VENDOR

DETECTION_CLASS = 2004
STATUS_NEW, STATUS_SUPPRESSED = 1, 3
_SUPPRESSED_PREFIX = "Suppressed: "


def is_detection(o: dict[str, Any]) -> bool:
    """Whether an OCSF object is a Detection Finding (as opposed to a Compliance Finding)."""
    return o.get("class_uid") == DETECTION_CLASS


def _attack(a: AttackRef) -> dict[str, Any]:
    out: dict[str, Any] = {"technique": {"uid": a.uid, **({"name": a.name} if a.name else {})}}
    if a.tactic:
        out["tactic"] = {"name": a.tactic}
    return out


def to_ocsf_detection(f: DetectionFinding) -> dict[str, Any]:
    d = f.detection
    status_id = STATUS_SUPPRESSED if f.suppressed else STATUS_NEW
    detail = f"{_SUPPRESSED_PREFIX}{f.suppression} ({f.detail})" if f.suppressed else f.detail
    out: dict[str, Any] = {
        "class_uid": DETECTION_CLASS,
        "class_name": "Detection Finding",
        "category_uid": 2,
        "category_name": "Findings",
        "type_uid": DETECTION_CLASS * 100 + 1,
        "type_name": "Detection Finding: Create",
        "activity_id": 1,
        "activity_name": "Create",
        "time": f.time_ms,
        "severity_id": int(f.severity),
        "severity": f.severity.label,
        "status_id": status_id,
        "status": "Suppressed" if f.suppressed else "New",
        "status_detail": detail,
        "message": f"{d.title}: {f.principal or 'unknown principal'}",
        "metadata": {
            "version": OCSF_VERSION,
            "profiles": ["cloud"],
            "product": {"name": "aispm", "vendor_name": VENDOR, "version": f.product_version},
            "log_name": "aispm-detections",
            **({"correlation_uid": f.scan_id} if f.scan_id else {}),
        },
        "finding_info": {
            "uid": f.uid,
            "title": d.title,
            "desc": d.description or d.title,
            "types": [d.id],
            "attacks": [_attack(a) for a in d.attacks],
            "first_seen_time": f.time_ms,
            "last_seen_time": f.time_ms,
        },
        "actor": {"user": {"uid": f.principal, "name": f.principal.rsplit("/", 1)[-1]}},
        "api": {"operation": f.operation, **({"service": {"name": f.service}} if f.service else {})},
        "cloud": {
            "provider": PROVIDERS[f.provider].display,
            "account": {"uid": f.account},
            **({"region": f.region} if f.region else {}),
        },
        "evidences": [{"data": {**f.evidence, "event_key": f.event_key}}],
        "remediation": {"desc": d.response or d.title},
        "unmapped": {"detection_severity": f.severity.name,
                     **({"suppression": f.suppression} if f.suppression is not None else {})},
    }
    if f.source_ip:
        out["src_endpoint"] = {"ip": f.source_ip}
    if f.resource is not None:
        res = {"uid": f.resource.uid, "type": f.resource.type, "name": f.resource.name, "region": f.resource.region}
        out["resources"] = [{k: v for k, v in res.items() if v}]
    return out


def from_ocsf_detection(o: dict[str, Any]) -> DetectionFinding:
    """The DetectionFinding an OCSF object of aispm's was made from (KeyError/ValueError when it is not one)."""
    if not is_detection(o):
        raise ValueError("not an OCSF Detection Finding")
    info = o["finding_info"]
    evidence = dict((o.get("evidences") or [{}])[0].get("data") or {})
    event_key = str(evidence.pop("event_key"))
    detail = str(o.get("status_detail", ""))
    suppression = (o.get("unmapped") or {}).get("suppression")
    if suppression is not None:
        suppression = str(suppression)
        wrapped = f"{_SUPPRESSED_PREFIX}{suppression} ("
        if detail.startswith(wrapped) and detail.endswith(")"):
            detail = detail[len(wrapped):-1]
    res = (o.get("resources") or [None])[0]
    attacks = tuple(AttackRef(uid=str(a["technique"]["uid"]), name=str(a["technique"].get("name", "")),
                              tactic=str((a.get("tactic") or {}).get("name", ""))) for a in info.get("attacks") or [])
    title = str(info["title"])
    remediation = str((o.get("remediation") or {}).get("desc", ""))
    severity_name = (o.get("unmapped") or {}).get("detection_severity") or Severity(int(o["severity_id"])).name
    cloud = o["cloud"]
    return DetectionFinding(
        detection=DetectionRef(id=str(info["types"][0]), title=title,
                               description="" if info.get("desc") == title else str(info.get("desc", "")),
                               response="" if remediation == title else remediation, attacks=attacks),
        severity=Severity[str(severity_name)],
        provider=BY_DISPLAY[cloud["provider"]].name,
        account=str(cloud["account"]["uid"]),
        region=str(cloud.get("region", "")),
        time_ms=int(o["time"]),
        event_key=event_key,
        principal=str(((o.get("actor") or {}).get("user") or {}).get("uid", "")),
        source_ip=str((o.get("src_endpoint") or {}).get("ip", "")),
        service=str(((o.get("api") or {}).get("service") or {}).get("name", "")),
        operation=str((o.get("api") or {}).get("operation", "")),
        resource=ResourceRef(uid=str(res["uid"]), type=str(res.get("type", "")), name=str(res.get("name", "")),
                             region=str(res.get("region", ""))) if res else None,
        evidence=evidence,
        detail=detail,
        suppression=suppression,
        scan_id=str((o.get("metadata") or {}).get("correlation_uid", "")),
        product_version=str(((o.get("metadata") or {}).get("product") or {}).get("version", "")),
    )
