"""ASFF per contract v1.1: Pass is INFORMATIONAL with the rule's severity as Original; a suppressed
failing finding carries Workflow SUPPRESSED; nothing else of the analysts' workflow is ever set."""

from __future__ import annotations

from typing import Any

import pytest

from rules.catalog import rules_by_id
from rules.model import Evaluation, Severity
from sinks.asff import suppression_note, to_asff
from sinks.ocsf import closed, to_ocsf
from tests.sinks.findings import ACCOUNT, TIME_MS, aws_asset, finding

ANALYST_FIELDS = {"Note", "UserDefinedFields", "WorkflowState", "VerificationState", "Confidence", "Criticality"}


def asff(f: dict[str, Any]) -> dict[str, Any]:
    return to_asff(f, product="p", account=ACCOUNT, region="us-east-1", updated="2026-01-01T00:00:00.000Z")


def overridden(status: str, severity: Severity, suppression: str | None = None) -> dict[str, Any]:
    """A finding of AISPM-NET-002 (a high rule) whose severity a policy file overrides."""
    rule = rules_by_id()["AISPM-NET-002"]
    ev = Evaluation(rule=rule, asset=aws_asset(1), status=status, detail="DirectInternetAccess is Enabled",  # type: ignore[arg-type]
                    severity=severity, suppression=suppression)
    return to_ocsf(ev, TIME_MS, "0.1.0", "scan-test")


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
