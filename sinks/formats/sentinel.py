"""OCSF findings flattened to the columns of the Microsoft Sentinel custom table ``AispmFindings_CL``.

Sentinel analytics rules and workbooks filter on typed columns; digging into one JSON column for every query is
slow and error-prone. One row per finding, posture (class 2003) and detection (class 2004) alike, with the whole
OCSF object kept in ``Ocsf`` (dynamic) so nothing is lost. ``COLUMNS`` is the table's schema: the stream
declaration of the data collection rule in siem/sentinel/ is checked against it by the tests.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Final

from aispm.sinks.formats.ocsf_detection import DETECTION_CLASS

TABLE: Final = "AispmFindings_CL"
STREAM: Final = f"Custom-{TABLE}"

# Column -> Log Analytics type (string, int, long, real, boolean, datetime, dynamic).
COLUMNS: Final[dict[str, str]] = {
    "TimeGenerated": "datetime",   # the finding's OCSF ``time`` (scan time, or the audit event's time)
    "FindingUid": "string",        # finding_info.uid: stable across scans, the key to deduplicate on
    "FindingClass": "string",      # "posture" (OCSF 2003) or "detection" (OCSF 2004)
    "RuleId": "string",            # AISPM-NET-002 (posture rule) or AISPM-DET-003 (detection)
    "Status": "string",            # OCSF status: New, Resolved, Suppressed
    "ComplianceStatus": "string",  # Pass, Fail, Error, Skip (posture findings only)
    "Severity": "string",          # Informational .. Critical
    "SeverityId": "int",
    "Cloud": "string",             # AWS, Azure, GCP
    "Account": "string",           # AWS account, Azure subscription, GCP project
    "Region": "string",
    "ResourceUid": "string",
    "ResourceType": "string",
    "ResourceName": "string",
    "Title": "string",
    "Detail": "string",            # status_detail: why this finding has this status, one sentence
    "Remediation": "string",
    "Standards": "dynamic",        # compliance.standards (posture) or the ATT&CK / ATLAS technique ids (detections)
    "Actor": "string",             # detections: the principal that acted
    "SrcIp": "string",             # detections: where it acted from
    "Operation": "string",         # detections: the API operation
    "ScanId": "string",            # metadata.correlation_uid: the scan or detect run
    "Ocsf": "dynamic",             # the OCSF object as aispm wrote it
}


def _get(obj: Any, *path: str | int) -> Any:
    for key in path:
        if isinstance(key, int):
            obj = obj[key] if isinstance(obj, list) and len(obj) > key else None
        else:
            obj = obj.get(key) if isinstance(obj, dict) else None
        if obj is None:
            return None
    return obj


def _text(value: Any) -> str:
    return "" if value is None else str(value)


def _iso(epoch_ms: Any) -> str:
    try:
        when = dt.datetime.fromtimestamp(int(epoch_ms) / 1000, dt.UTC)
    except (TypeError, ValueError, OverflowError, OSError):
        when = dt.datetime.now(dt.UTC)
    return when.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def to_row(ocsf: dict[str, Any]) -> dict[str, Any]:
    """One table row of an OCSF posture or detection finding (every column of ``COLUMNS`` present)."""
    detection = ocsf.get("class_uid") == DETECTION_CLASS
    if detection:
        rule_id = _get(ocsf, "finding_info", "types", 0)
        standards = [t for a in _get(ocsf, "finding_info", "attacks") or []
                     if (t := _get(a, "technique", "uid"))]
    else:
        rule_id = _get(ocsf, "compliance", "control")
        standards = list(_get(ocsf, "compliance", "standards") or [])
    return {
        "TimeGenerated": _iso(ocsf.get("time")),
        "FindingUid": _text(_get(ocsf, "finding_info", "uid")),
        "FindingClass": "detection" if detection else "posture",
        "RuleId": _text(rule_id),
        "Status": _text(ocsf.get("status")),
        "ComplianceStatus": _text(_get(ocsf, "compliance", "status")),
        "Severity": _text(ocsf.get("severity")),
        "SeverityId": int(ocsf.get("severity_id") or 0),
        "Cloud": _text(_get(ocsf, "cloud", "provider")),
        "Account": _text(_get(ocsf, "cloud", "account", "uid")),
        "Region": _text(_get(ocsf, "resources", 0, "region") or _get(ocsf, "cloud", "region")),
        "ResourceUid": _text(_get(ocsf, "resources", 0, "uid")),
        "ResourceType": _text(_get(ocsf, "resources", 0, "type")),
        "ResourceName": _text(_get(ocsf, "resources", 0, "name")),
        "Title": _text(_get(ocsf, "finding_info", "title")),
        "Detail": _text(ocsf.get("status_detail")),
        "Remediation": _text(_get(ocsf, "remediation", "desc")),
        "Standards": standards,
        "Actor": _text(_get(ocsf, "actor", "user", "uid")),
        "SrcIp": _text(_get(ocsf, "src_endpoint", "ip")),
        "Operation": _text(_get(ocsf, "api", "operation")),
        "ScanId": _text(_get(ocsf, "metadata", "correlation_uid")),
        "Ocsf": ocsf,
    }
