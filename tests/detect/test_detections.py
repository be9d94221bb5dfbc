"""Each detection on normalized audit events: a matching event, and a near miss that must not match."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest

from aispm.normalizer.audit import AuditEvent, from_activity_log, from_cloud_audit, from_cloudtrail
from aispm.rules.detections.catalog import Settings, all_detections
from aispm.rules.detections.engine import Evaluator, finding_of
from aispm.rules.policy import Policy
from tests.support.audit import ALICE, T0, record

FULL_FILTERS = [{"type": t, "inputStrength": "HIGH", "outputStrength": "HIGH"}
                for t in ("HATE", "INSULTS", "SEXUAL", "VIOLENCE", "MISCONDUCT")] + [
    {"type": "PROMPT_ATTACK", "inputStrength": "HIGH", "outputStrength": "NONE"}]


def fired(events: list[AuditEvent], settings: Settings | None = None) -> list[str]:
    ev = Evaluator(settings=settings or Settings())
    ev.feed_all(events)
    return [h.detection.id for h in ev.finish()]


def aws(name: str, **kw: Any) -> AuditEvent:
    return from_cloudtrail(record(name, **kw))


def filters(**change: dict[str, Any] | None) -> dict[str, Any]:
    out = []
    for f in FULL_FILTERS:
        if f["type"] in change:
            if change[f["type"]] is None:
                continue
            f = {**f, **change[f["type"]]}   # type: ignore[dict-item]
        out.append(f)
    return {"guardrailIdentifier": "gr-1", "contentPolicyConfig": {"filtersConfig": out}}


def test_catalog_has_seven_detections_with_techniques() -> None:
    ids = [d.id for d in all_detections()]
    assert ids == [f"AISPM-DET-00{n}" for n in range(1, 8)]
    assert all(d.attacks and d.response and d.description for d in all_detections())


@pytest.mark.parametrize(("event", "expected"), [
    (aws("DeleteModelInvocationLoggingConfiguration"), ["AISPM-DET-001"]),
    (aws("PutModelInvocationLoggingConfiguration", params={"loggingConfig": {"textDataDeliveryEnabled": True}}),
     ["AISPM-DET-001"]),
    (aws("PutModelInvocationLoggingConfiguration",
         params={"loggingConfig": {"s3Config": {"bucketName": "logs"}}}), []),
    (aws("DeleteModelInvocationLoggingConfiguration", error="AccessDenied"), []),
    (aws("DeleteGuardrail", params={"guardrailIdentifier": "gr-1"}), ["AISPM-DET-002"]),
    (aws("UpdateGuardrail", params=filters(HATE={"inputStrength": "NONE"})), ["AISPM-DET-002"]),
    (aws("UpdateGuardrail", params=filters(VIOLENCE=None)), ["AISPM-DET-002"]),
    (aws("UpdateGuardrail", params=filters(PROMPT_ATTACK=None)), ["AISPM-DET-002"]),
    (aws("UpdateGuardrail", params=filters(PROMPT_ATTACK={"inputStrength": "NONE"})), ["AISPM-DET-002"]),
    (aws("UpdateGuardrail", params=filters()), []),   # keeps every filter (PROMPT_ATTACK output NONE is normal)
    (aws("UpdateGuardrail", params={"guardrailIdentifier": "gr-1", "name": "renamed"}), []),
    (aws("UpdateAgent", params={"agentId": "A1", "agentName": "a"}), ["AISPM-DET-002"]),
    (aws("UpdateAgent", params={"agentId": "A1", "guardrailConfiguration": {"guardrailIdentifier": "gr-1"}}), []),
    (aws("CreateNotebookInstanceLifecycleConfig", params={"notebookInstanceLifecycleConfigName": "lc"}),
     ["AISPM-DET-004"]),
    (aws("UpdateNotebookInstanceLifecycleConfig", params={"notebookInstanceLifecycleConfigName": "lc"}),
     ["AISPM-DET-004"]),
    (aws("CreateStudioLifecycleConfig", params={"studioLifecycleConfigName": "s"}), ["AISPM-DET-004"]),
    (aws("UpdateNotebookInstance", params={"notebookInstanceName": "nb", "lifecycleConfigName": "lc"}),
     ["AISPM-DET-004"]),
    (aws("UpdateNotebookInstance", params={"notebookInstanceName": "nb", "instanceType": "ml.t3.large"}), []),
    (aws("CreateNotebookInstanceLifecycleConfig", params={"notebookInstanceLifecycleConfigName": "lc"},
         error="ValidationException"), []),
    (aws("CreateDomain", params={"domainName": "d", "appNetworkAccessType": "PublicInternetOnly"}),
     ["AISPM-DET-007"]),
    (aws("UpdateDomain", params={"domainId": "d-1", "appNetworkAccessType": "VpcOnly"}), []),
    (aws("PutModelPackageGroupPolicy", params={"modelPackageGroupName": "g", "resourcePolicy": json.dumps(
        {"Statement": [{"Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "sagemaker:*"}]})}),
     ["AISPM-DET-007"]),
    (aws("PutModelPackageGroupPolicy", params={"modelPackageGroupName": "g", "resourcePolicy": json.dumps(
        {"Statement": [{"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::111122223333:root"}}]})}), []),
])
def test_aws_detections(event: AuditEvent, expected: list[str]) -> None:
    assert fired([event]) == expected


def test_presigned_urls_only_with_trusted_cidrs() -> None:
    outside = aws("CreatePresignedNotebookInstanceUrl", params={"notebookInstanceName": "nb"}, ip="198.51.100.7")
    inside = aws("CreatePresignedDomainUrl", params={"domainId": "d-1"}, ip="10.1.2.3")
    trusted = Policy.model_validate({"detections": {"trusted_cidrs": ["10.0.0.0/8"]}}).detections.config()
    assert fired([outside, inside]) == []                     # not configured: not evaluated
    assert fired([outside, inside], trusted) == ["AISPM-DET-005"]


def azure(operation: str, status: str = "Succeeded", *, resource: str | None = None, op_id: str = "op-1",
          body: dict[str, Any] | None = None, n: int = 1) -> dict[str, Any]:
    rid = resource or ("/subscriptions/s1/resourceGroups/rg/providers/Microsoft.CognitiveServices/accounts/oai")
    rec: dict[str, Any] = {
        "operationName": {"value": operation, "localizedValue": operation},
        "resourceProviderName": {"value": rid.split("/providers/")[1].split("/")[0]},
        "caller": "mallory@example.com", "httpRequest": {"clientIpAddress": "203.0.113.9"},
        "status": {"value": status}, "resourceId": rid, "eventTimestamp": (T0 + dt.timedelta(seconds=n)).isoformat(),
        "eventDataId": f"{op_id}-{status}", "operationId": op_id, "subscriptionId": "s1", "properties": {},
    }
    if body is not None:
        rec["properties"]["requestbody"] = json.dumps(body)
    return rec


ML_WS = "/subscriptions/s1/resourceGroups/rg/providers/Microsoft.MachineLearningServices/workspaces/ws"


@pytest.mark.parametrize(("records", "expected"), [
    ([azure("Microsoft.CognitiveServices/accounts/listKeys/action", "Started"),
      azure("Microsoft.CognitiveServices/accounts/listKeys/action", n=2)], ["AISPM-DET-005"]),
    ([azure("MICROSOFT.COGNITIVESERVICES/ACCOUNTS/REGENERATEKEY/ACTION")], ["AISPM-DET-005"]),
    ([azure("Microsoft.CognitiveServices/accounts/listKeys/action", "Started"),
      azure("Microsoft.CognitiveServices/accounts/listKeys/action", "Failed", n=2)], []),   # a listKeys that failed
    ([azure("Microsoft.MachineLearningServices/workspaces/onlineEndpoints/listKeys/action", resource=ML_WS)],
     ["AISPM-DET-005"]),
    ([azure("Microsoft.Insights/diagnosticSettings/delete",
            resource="/subscriptions/s1/resourceGroups/rg/providers/Microsoft.CognitiveServices/accounts/oai"
                     "/providers/Microsoft.Insights/diagnosticSettings/ds")], ["AISPM-DET-001"]),
    ([azure("Microsoft.CognitiveServices/accounts/raiPolicies/delete")], ["AISPM-DET-002"]),
    ([azure("Microsoft.CognitiveServices/accounts/raiPolicies/write")], ["AISPM-DET-002"]),
    ([azure("Microsoft.MachineLearningServices/workspaces/write", "Started", resource=ML_WS,
            body={"properties": {"publicNetworkAccess": "Enabled"}}),
      azure("Microsoft.MachineLearningServices/workspaces/write", resource=ML_WS, n=2)], ["AISPM-DET-007"]),
    ([azure("Microsoft.MachineLearningServices/workspaces/write", resource=ML_WS,
            body={"properties": {"publicNetworkAccess": "Disabled"}})], []),
    ([azure("Microsoft.CognitiveServices/accounts/write")], []),     # no request body: skipped
])
def test_azure_detections_once_per_succeeded_operation(records: list[dict[str, Any]], expected: list[str]) -> None:
    assert fired(from_activity_log(records, "s1")) == expected


def gcp(method: str, request: dict[str, Any] | None = None, *, service: str = "aiplatform.googleapis.com",
        resource: str = "projects/p1/locations/us-central1/models/m1", code: int = 0) -> AuditEvent:
    return from_cloud_audit({
        "insertId": f"ins-{method}-{code}", "timestamp": "2026-12-01T12:00:00.123456789Z",
        "resource": {"labels": {"project_id": "p1", "location": "us-central1"}},
        "protoPayload": {"@type": "type.googleapis.com/google.cloud.audit.AuditLog", "serviceName": service,
                         "methodName": method, "resourceName": resource,
                         "authenticationInfo": {"principalEmail": "eve@example.com"},
                         "requestMetadata": {"callerIp": "203.0.113.5"}, "request": request or {},
                         "status": {"code": code} if code else {}}}, "p1")


PUBLIC = {"policy": {"bindings": [{"role": "roles/aiplatform.user", "members": ["allUsers"]}]}}
PRIVATE = {"policy": {"bindings": [{"role": "roles/aiplatform.user", "members": ["user:a@example.com"]}]}}


@pytest.mark.parametrize(("event", "expected"), [
    (gcp("google.cloud.aiplatform.v1.ModelService.ExportModel",
         {"outputConfig": {"artifactDestination": {"outputUriPrefix": "gs://out/"}}}), ["AISPM-DET-006"]),
    (gcp("google.cloud.aiplatform.v1.ModelService.ExportModel", code=7), []),
    (gcp("google.cloud.aiplatform.v1.ModelService.GetModel"), []),
    (gcp("SetIamPolicy", PUBLIC, service="cloudresourcemanager.googleapis.com", resource="projects/p1"),
     ["AISPM-DET-007"]),
    (gcp("SetIamPolicy", PRIVATE, service="cloudresourcemanager.googleapis.com", resource="projects/p1"), []),
    (gcp("google.cloud.aiplatform.v1.EndpointService.SetIamPolicy",
         {"policy": {"bindings": [{"role": "r", "members": ["allAuthenticatedUsers"]}]}}), ["AISPM-DET-007"]),
])
def test_gcp_detections(event: AuditEvent, expected: list[str]) -> None:
    assert fired([event]) == expected


# ------------------------------------------------------------------------------------------------ DET-003

ACTIONS = ["ListFoundationModels", "GetFoundationModelAvailability", "ListFoundationModelAgreementOffers",
           "PutUseCaseForModelAccess", "CreateFoundationModelAgreement", "InvokeModel", "SearchAgreements",
           "AcceptAgreementRequest"]


def burst(n: int, spacing: dt.timedelta = dt.timedelta(minutes=1), **kw: Any) -> list[AuditEvent]:
    return [aws(a, at=T0 + i * spacing, **kw) for i, a in enumerate(ACTIONS[:n])]


def test_llmjacking_needs_at_least_the_threshold_share() -> None:
    assert fired(burst(5)) == []                              # 5/14 = 36 % < 40 %
    assert fired(burst(6)) == ["AISPM-DET-003"]               # 6/14 = 43 % >= 40 %
    at_39 = Settings(llmjacking_threshold=0.39)               # 0.39 * 14 = 5.46: six actions needed
    assert fired(burst(5), at_39) == []
    exactly = Settings(llmjacking_threshold=5 / 14)           # "at least": 5 of 14 is enough
    assert fired(burst(5), exactly) == ["AISPM-DET-003"]


def test_llmjacking_failed_attempts_count_and_repeats_do_not() -> None:
    events = [*burst(5, error="AccessDeniedException"), aws("ListFoundationModels", at=T0 + dt.timedelta(hours=1))]
    assert fired(events) == []
    assert fired([*events, aws("InvokeModel", at=T0 + dt.timedelta(hours=2), error="AccessDeniedException")]) == [
        "AISPM-DET-003"]


def test_llmjacking_closed_24h_window() -> None:
    day = dt.timedelta(hours=24)
    within = [*burst(5), aws(ACTIONS[5], at=T0 + day)]               # exactly 24 h after the first: inside
    assert fired(within) == ["AISPM-DET-003"]
    outside = [*burst(5, spacing=dt.timedelta(0)), aws(ACTIONS[5], at=T0 + day + dt.timedelta(seconds=1))]
    assert fired(outside) == []


def test_llmjacking_counts_one_principal_across_regions_and_names_them() -> None:
    east = burst(3)
    west = [aws(a, at=T0 + dt.timedelta(minutes=10 + i), region="us-west-2") for i, a in enumerate(ACTIONS[3:6])]
    bob = [aws(a, at=T0, arn="arn:aws:iam::123456789012:user/bob") for a in ACTIONS[6:8]]
    ev = Evaluator()
    ev.feed_all(east + west + bob)
    hits = ev.finish()
    assert [h.detection.id for h in hits] == ["AISPM-DET-003"]
    assert hits[0].evidence["regions"] == ["us-east-1", "us-west-2"]
    assert sorted(hits[0].evidence["event_ids"]) == sorted(e.event_id for e in east + west)   # type: ignore[arg-type]
    finding = finding_of(hits[0])
    assert finding.principal == ALICE and finding.severity.name == "critical"
    again = Evaluator()
    again.feed_all(list(reversed(east + west)))
    assert finding_of(again.finish()[0]).uid == finding.uid   # deterministic from the events counted


def test_disabled_detection_and_suppression() -> None:
    delete = aws("DeleteGuardrail", params={"guardrailIdentifier": "gr-sandbox"})
    assert fired([delete], None) == ["AISPM-DET-002"]
    ev = Evaluator(disabled=frozenset({"AISPM-DET-002"}))
    ev.feed(delete)
    assert ev.finish() == []
    policy = Policy.model_validate({"suppressions": [
        {"rule": "AISPM-DET-002", "resource": "arn:aws:bedrock:*:guardrail/gr-sandbox",
         "justification": "sandbox"}]})
    ev = Evaluator()
    ev.feed(delete)
    assert finding_of(ev.finish()[0], policy).suppression == "sandbox"
