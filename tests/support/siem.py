"""Real aispm events for the SIEM content tests: OCSF posture findings of every cloud (fail, pass, suppressed)
and Detection Findings of the engine (critical, high), as the sinks send them."""

from __future__ import annotations

from typing import Any

from aispm.normalizer.audit import from_cloudtrail
from aispm.rules.detections.engine import Evaluator, finding_of
from aispm.rules.detections.finding import DetectionFinding
from aispm.sinks.formats.ocsf_detection import to_ocsf_detection
from tests.support.audit import T0, record
from tests.support.findings import aws_asset, azure_asset, finding, gcp_asset

LLMJACKING = ["ListFoundationModels", "GetFoundationModelAvailability", "ListFoundationModelAgreementOffers",
              "PutUseCaseForModelAccess", "CreateFoundationModelAgreement", "InvokeModel"]


def detection_findings() -> list[DetectionFinding]:
    """A deleted guardrail, a lifecycle configuration, removed invocation logging and LLMjacking."""
    ev = Evaluator()
    ev.feed(from_cloudtrail(record("DeleteGuardrail", T0, params={"guardrailIdentifier": "gr-1"})))
    ev.feed(from_cloudtrail(record("CreateStudioLifecycleConfig", T0, params={"studioLifecycleConfigName": "s"})))
    ev.feed(from_cloudtrail(record("DeleteModelInvocationLoggingConfiguration", T0)))
    for name in LLMJACKING:
        ev.feed(from_cloudtrail(record(name, T0)))
    return [finding_of(h, scan_id="scan-1", product_version="0.1.0") for h in ev.finish()]


def posture_events() -> list[dict[str, Any]]:
    """OCSF Compliance Findings: each cloud failing and passing, one suppressed, one critical."""
    return [finding(aws_asset(1)), finding(aws_asset(2), status="pass"), finding(azure_asset(3)),
            finding(gcp_asset(4)), finding(gcp_asset(5), status="pass"),
            finding(aws_asset(6), suppression="accepted risk"),
            finding(aws_asset(7, kind="endpoint"), rule_id="AISPM-ENC-001")]


def detection_events() -> list[dict[str, Any]]:
    return [to_ocsf_detection(f) for f in detection_findings()]
