"""ASFF per contract v1.1: Pass is INFORMATIONAL with the rule's severity as Original; a suppressed
failing finding carries Workflow SUPPRESSED; nothing else of the analysts' workflow is ever set."""

from __future__ import annotations

from typing import Any

import pytest

from aispm.rules.catalog import rules_by_id
from aispm.rules.finding import finding_of
from aispm.rules.model import Evaluation, Severity
from aispm.sinks.delivery.reconcile import first_seen
from aispm.sinks.formats.asff import iso, suppression_note, to_asff
from aispm.sinks.formats.ocsf import closed, from_ocsf, to_ocsf
from tests.support.findings import ACCOUNT, TIME_MS, aws_asset, finding

ANALYST_FIELDS = {"Note", "UserDefinedFields", "WorkflowState", "VerificationState", "Confidence", "Criticality"}


def asff(f: dict[str, Any]) -> dict[str, Any]:
    return to_asff(f, product="p", account=ACCOUNT, region="us-east-1")


def overridden(status: str, severity: Severity, suppression: str | None = None) -> dict[str, Any]:
    """A finding of AISPM-NET-002 (a high rule) whose severity a policy file overrides."""
    rule = rules_by_id()["AISPM-NET-002"]
    ev = Evaluation(rule=rule, asset=aws_asset(1), status=status, detail="DirectInternetAccess is Enabled",  # type: ignore[arg-type]
                    severity=severity, suppression=suppression)
    return to_ocsf(finding_of(ev, TIME_MS, "0.1.0", "scan-test"))


def test_pass_is_informational_with_the_rules_severity_as_original() -> None:
    a = asff(finding(aws_asset(1), status="pass"))
    assert a["Compliance"]["Status"] == "PASSED"
    assert a["Severity"] == {"Label": "INFORMATIONAL", "Original": "high"}
    assert a["FindingProviderFields"]["Severity"] == {"Label": "INFORMATIONAL", "Original": "high"}


def test_fail_takes_its_label_from_severity_id_and_original_from_the_rule() -> None:
    a = asff(finding(aws_asset(1), status="fail"))
    assert a["Compliance"]["Status"] == "FAILED"
    assert a["Severity"] == a["FindingProviderFields"]["Severity"] == {"Label": "HIGH", "Original": "high"}


@pytest.mark.parametrize(("status", "label"), [("fail", "MEDIUM"), ("pass", "INFORMATIONAL")])
def test_policy_severity_override_is_the_original(status: str, label: str) -> None:
    a = asff(overridden(status, Severity.medium))
    assert a["FindingProviderFields"]["Severity"] == {"Label": label, "Original": "medium"}
    assert a["ProductFields"]["aispm/RuleSeverity"] == "medium"


def test_without_rule_severity_the_ocsf_severity_text_is_the_original() -> None:
    f = finding(aws_asset(1), status="fail")
    f.pop("unmapped")
    assert asff(f)["Severity"] == {"Label": "HIGH", "Original": "High"}
    # An older producer that gave a Pass the rule's severity: still INFORMATIONAL in ASFF.
    p = dict(finding(aws_asset(1), status="pass"), severity_id=4, severity="High")
    p.pop("unmapped")
    assert asff(p)["Severity"] == {"Label": "INFORMATIONAL", "Original": "High"}


def test_suppressed_failing_finding_is_imported_suppressed() -> None:
    f = finding(aws_asset(1), status="fail", suppression="Sandbox accounts are isolated by SCP")
    assert f["status_id"] == 3
    a = asff(f)
    assert a["Workflow"] == {"Status": "SUPPRESSED"}
    assert a["Compliance"]["Status"] == "FAILED"
    assert not ANALYST_FIELDS & set(a)
    assert "Sandbox accounts are isolated by SCP" in suppression_note(f)
    assert len(suppression_note(dict(f, status_detail="x" * 2000))) <= 512


def test_other_findings_never_carry_workflow() -> None:
    unsuppressed = [finding(aws_asset(1), status="fail"), finding(aws_asset(1), status="pass")]
    # A suppressed finding that closes is resolved, not suppressed.
    gone = closed(finding(aws_asset(2), status="fail", suppression="Sandbox"), TIME_MS + 1)
    for f in [*unsuppressed, gone]:
        a = asff(f)
        assert "Workflow" not in a
        assert not ANALYST_FIELDS & set(a)
    assert asff(gone)["RecordState"] == "ARCHIVED"


# ------------------------------------------------------------------ times
DAY = 86_400_000


def test_updated_and_last_observed_are_the_scans_time_not_the_delivery_time() -> None:
    a = asff(finding(aws_asset(1), time_ms=TIME_MS))
    assert a["UpdatedAt"] == a["LastObservedAt"] == "2026-01-01T00:00:00.000Z" == iso(TIME_MS)
    assert a["CreatedAt"] == iso(TIME_MS)   # first seen by this scan
    # The same record converted again (a dead letter replayed later) keeps its scan's times.
    assert asff(finding(aws_asset(1), time_ms=TIME_MS)) == a


def test_created_is_when_the_current_outcome_was_first_seen() -> None:
    before = finding(aws_asset(1), status="fail", time_ms=TIME_MS)
    now = finding(aws_asset(1), status="fail", time_ms=TIME_MS + DAY)
    now = to_ocsf(first_seen(from_ocsf(now), from_ocsf(before)))   # carried over while the outcome holds
    a = asff(now)
    assert (a["CreatedAt"], a["UpdatedAt"], a["LastObservedAt"]) == (iso(TIME_MS), iso(TIME_MS + DAY),
                                                                       iso(TIME_MS + DAY))
    flipped = finding(aws_asset(1), status="pass", time_ms=TIME_MS + 2 * DAY)
    flipped = to_ocsf(first_seen(from_ocsf(flipped), from_ocsf(now)))  # a new outcome starts again
    assert asff(flipped)["CreatedAt"] == iso(TIME_MS + 2 * DAY)


def test_without_first_seen_time_created_is_the_scans_time() -> None:
    f = finding(aws_asset(1), time_ms=TIME_MS + DAY)
    del f["finding_info"]["first_seen_time"]
    assert asff(f)["CreatedAt"] == asff(f)["UpdatedAt"] == iso(TIME_MS + DAY)
    # Never created after it was updated, whatever a producer put in first_seen_time.
    f["finding_info"]["first_seen_time"] = TIME_MS + 2 * DAY
    assert asff(f)["CreatedAt"] == iso(TIME_MS + DAY)


def test_a_closure_is_newer_than_the_finding_it_closes() -> None:
    open_ = finding(aws_asset(1), time_ms=TIME_MS)
    gone = closed(open_, TIME_MS + DAY)
    a, c = asff(open_), asff(gone)
    assert c["UpdatedAt"] == c["LastObservedAt"] == iso(TIME_MS + DAY) > a["UpdatedAt"]
    assert c["CreatedAt"] == a["CreatedAt"] == iso(TIME_MS)
    assert c["RecordState"] == "ARCHIVED"


def test_successive_scans_give_growing_updated_at() -> None:
    stamps = [asff(finding(aws_asset(1), time_ms=TIME_MS + i * 1000))["UpdatedAt"] for i in range(3)]
    assert stamps == sorted(stamps) and len(set(stamps)) == 3


@pytest.mark.parametrize("bad", [None, 0, -5, "1767225600000", True])
def test_a_finding_without_a_valid_time_is_refused(bad: Any) -> None:
    f = dict(finding(aws_asset(1)), time=bad)
    with pytest.raises(ValueError, match="time"):
        asff(f)
