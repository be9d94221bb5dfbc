"""OCSF Detection Finding -> ASFF, as a pure function (the Compliance Finding's form is in ``asff.py``).

``Id`` is the finding uid, ``GeneratorId`` the detection id, ``Types`` ``TTPs/<tactic>`` per ATT&CK tactic of
the detection, ``Severity.Label`` the detection's severity. ``CreatedAt``/``UpdatedAt`` are the event's time:
the same event read again is the same record.
"""

from __future__ import annotations

import json
from typing import Any

from aispm.sinks.formats.asff import SCHEMA_VERSION, SUPPRESSED, _text, iso, resource

_LABELS = {1: "INFORMATIONAL", 2: "LOW", 3: "MEDIUM", 4: "HIGH", 5: "CRITICAL"}
_SUPPRESSED_STATUS = 3


def types(finding: dict[str, Any]) -> list[str]:
    """``TTPs/<tactic>`` for each tactic of the detection's techniques (``Unusual Behaviors/User`` without one)."""
    tactics = [str((a.get("tactic") or {}).get("name", ""))
               for a in (finding.get("finding_info") or {}).get("attacks") or []]
    out = list(dict.fromkeys(f"TTPs/{t}" for t in tactics if t))
    return out or ["Unusual Behaviors/User"]


def _resources(finding: dict[str, Any], account: str, region: str) -> list[dict[str, Any]]:
    if finding.get("resources"):
        return [resource(finding, region)]
    cloud = finding.get("cloud") or {}
    uid = str((cloud.get("account") or {}).get("uid") or account)
    if cloud.get("provider") == "AWS":
        return [{"Type": "AwsAccount", "Id": f"AWS::::Account:{uid}", "Partition": "aws", "Region": region}]
    return [{"Type": "Other", "Id": uid, "Partition": "aws", "Region": region,
             "Details": {"Other": {"provider": str(cloud.get("provider", "")), "account": uid}}}]


def detection_to_asff(finding: dict[str, Any], *, product: str, account: str, region: str) -> dict[str, Any]:
    info = finding.get("finding_info") or {}
    detection_id = str((info.get("types") or [""])[0])
    time_ms = int(finding["time"])
    when = iso(time_ms)
    label = _LABELS.get(int(finding.get("severity_id") or 1), "INFORMATIONAL")
    sev = {"Label": label, "Original": str((finding.get("unmapped") or {}).get("detection_severity") or label)}
    ttps = types(finding)
    evidence = (finding.get("evidences") or [{}])[0].get("data") or {}
    product_fields = {
        "aispm/DetectionId": detection_id,
        "aispm/StatusDetail": _text(finding.get("status_detail"), 1024),
        "aispm/Provider": str((finding.get("cloud") or {}).get("provider", "")),
        "aispm/ScanId": str((finding.get("metadata") or {}).get("correlation_uid", "")),
        "aispm/Operation": str((finding.get("api") or {}).get("operation", "")),
        "aispm/Principal": _text(((finding.get("actor") or {}).get("user") or {}).get("uid"), 1024),
        "aispm/EventId": _text(evidence.get("event_id") or json.dumps(evidence.get("event_ids") or []), 1024),
        "aispm/Techniques": ", ".join(str((a.get("technique") or {}).get("uid", ""))
                                      for a in info.get("attacks") or []),
    }
    asff: dict[str, Any] = {
        "SchemaVersion": SCHEMA_VERSION,
        "Id": str(info.get("uid", "")),
        "ProductArn": product,
        "GeneratorId": detection_id,
        "AwsAccountId": account,
        "Types": ttps,
        "CreatedAt": when,
        "UpdatedAt": when,
        "FirstObservedAt": when,
        "LastObservedAt": when,
        "Severity": sev,
        "FindingProviderFields": {"Severity": dict(sev), "Types": list(ttps)},
        "Title": _text(info.get("title"), 256),
        "Description": _text(finding.get("status_detail") or info.get("desc"), 1024),
        "Remediation": {"Recommendation": {"Text": _text((finding.get("remediation") or {}).get("desc"), 512)}},
        "ProductFields": {k: v for k, v in product_fields.items() if v},
        "Resources": _resources(finding, account, region),
        "RecordState": "ACTIVE",
    }
    ip = (finding.get("src_endpoint") or {}).get("ip")
    if ip:
        asff["Action"] = {"ActionType": "AWS_API_CALL", "AwsApiCallAction": {
            "Api": str((finding.get("api") or {}).get("operation", "")),
            "ServiceName": str(((finding.get("api") or {}).get("service") or {}).get("name", "")),
            **({"RemoteIpDetails": {"IpAddressV4": ip}} if ":" not in ip and ip[:1].isdigit() else {})}}
    if finding.get("status_id") == _SUPPRESSED_STATUS:
        asff["Workflow"] = {"Status": SUPPRESSED}
    return asff
