"""OCSF finding -> AWS Security Finding Format (ASFF ``2018-10-08``), as a pure function.

The finding's own fields only. ``Note`` and ``UserDefinedFields`` are never set,
and ``Workflow`` only on a suppressed failing finding (OCSF ``status_id`` 3):
``{"Status": "SUPPRESSED"}``, which Security Hub applies when the finding is new
(the ``securityhub`` sink sets it on an existing finding with BatchUpdateFindings,
see ``suppression_note``). Everything else in the workflow belongs to the
analysts working the finding in Security Hub; a re-import must not overwrite
their triage.

Severity (contract v1.1): a PASSED finding is ``INFORMATIONAL``; a FAILED one takes
its label from the OCSF ``severity_id``. ``Original`` is the rule's own severity
after policy overrides (``unmapped.rule_severity``, or the OCSF ``severity`` text
when a finding does not carry it), the same in ``Severity`` and
``FindingProviderFields.Severity``.

Times come from the finding, never from the clock of the delivery: ``UpdatedAt``
and ``LastObservedAt`` are the OCSF ``time`` of the scan that produced it (for a
closed finding, the closing scan's), ``CreatedAt`` its ``finding_info.first_seen_time``
(the first scan that saw its current outcome), else ``time``. Successive scans have
growing times, so each scan's import is an update of the one before, and the same
record sent again later (a dead letter replayed) keeps the ``UpdatedAt`` of its
scan: the ``securityhub`` sink compares it with what Security Hub holds to never
replace a newer record with an older one.
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
_SUPPRESSED_STATUS = 3
SUPPRESSED = "SUPPRESSED"
NOTE_AUTHOR = "aispm"
MAX_NOTE_CHARS = 512


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


def is_suppressed(finding: dict[str, Any]) -> bool:
    """A failing finding a policy suppression covers (OCSF ``status_id`` 3, compliance ``Fail``, or a detection
    finding), not closed."""
    return (finding.get("status_id") == _SUPPRESSED_STATUS
            and ((finding.get("compliance") or {}).get("status") == "Fail" or finding.get("class_uid") == 2004)
            and finding.get("activity_id") != _CLOSED_ACTIVITY)


def suppression_note(finding: dict[str, Any]) -> str:
    """The ``Note.Text`` for a suppressed finding: its ``status_detail``, which carries the justification."""
    return _text(finding.get("status_detail"), MAX_NOTE_CHARS) or "Suppressed by the aispm policy file"


def severity(finding: dict[str, Any]) -> dict[str, str]:
    """ASFF Severity: INFORMATIONAL for a Pass, else from ``severity_id``; Original the rule's severity."""
    passed = (finding.get("compliance") or {}).get("status") == "Pass"
    try:
        severity_id = int(finding.get("severity_id") or 1)
    except (TypeError, ValueError):
        severity_id = 1
    label = "INFORMATIONAL" if passed else _LABELS.get(severity_id, "INFORMATIONAL")
    rule_severity = (finding.get("unmapped") or {}).get("rule_severity")
    original = str(rule_severity) if rule_severity else str(finding.get("severity", ""))
    return {"Label": label, "Original": original}


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


def _epoch_ms(value: Any) -> int | None:
    """A positive epoch-milliseconds value, or None."""
    if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
        return None
    return int(value)


def record_times(finding: dict[str, Any]) -> tuple[int, int]:
    """(created, updated) in epoch ms: the first scan that saw the finding's current outcome
    (``finding_info.first_seen_time``, else ``time``) and the scan that produced this record (``time``).

    Raises ValueError for a finding without a valid ``time``: it cannot be ordered against other records.
    """
    updated = _epoch_ms(finding.get("time"))
    if updated is None:
        raise ValueError(f"the finding has no valid OCSF time (epoch ms): {finding.get('time')!r}")
    first = _epoch_ms((finding.get("finding_info") or {}).get("first_seen_time"))
    return (updated if first is None else min(first, updated)), updated


def to_asff(finding: dict[str, Any], *, product: str, account: str, region: str) -> dict[str, Any]:
    """The ASFF object of one OCSF finding.

    ``UpdatedAt`` and ``LastObservedAt`` are the finding's OCSF ``time`` (the scan that produced this record),
    ``CreatedAt`` its ``finding_info.first_seen_time`` when present, else ``time`` (never after ``time``).
    Raises ValueError when the finding has no valid ``time``. A Detection Finding (class 2004) takes its own
    form (``asff_detection``).
    """
    if finding.get("class_uid") == 2004:
        from aispm.sinks.formats.asff_detection import detection_to_asff

        return detection_to_asff(finding, product=product, account=account, region=region)
    info = finding.get("finding_info") or {}
    compliance = finding.get("compliance") or {}
    remediation = finding.get("remediation") or {}
    rule_id = str(compliance.get("control", ""))
    created_ms, updated_ms = record_times(finding)
    observed = iso(updated_ms)
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
    sev = severity(finding)
    product_fields["aispm/RuleSeverity"] = sev["Original"]
    types = [f"{TYPE_PREFIX}/{category}"]
    asff: dict[str, Any] = {
        "SchemaVersion": SCHEMA_VERSION,
        "Id": str(info.get("uid", "")),
        "ProductArn": product,
        "GeneratorId": rule_id,
        "AwsAccountId": account,
        "Types": types,
        "CreatedAt": iso(created_ms),
        "UpdatedAt": observed,
        "LastObservedAt": observed,
        "Severity": sev,
        # Security Hub applies later Severity and Types changes of a provider only through these.
        "FindingProviderFields": {"Severity": dict(sev), "Types": list(types)},
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
    if is_suppressed(finding):
        asff["Workflow"] = {"Status": SUPPRESSED}  # taken by Security Hub for a new finding only
    return asff


def size(asff: dict[str, Any]) -> int:
    return len(json.dumps(asff, separators=(",", ":")).encode("utf-8"))
