"""``aispm detect`` on Azure and GCP end to end: the real azure-core pipeline against the fake Resource
Manager's Activity Log, and google-auth's session against the fake Google server's ``entries:list``."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest
from google.auth.credentials import AnonymousCredentials

from aispm import exitcodes
from aispm.collectors.azure.arm import ArmCredentials
from aispm.collectors.base import CollectOptions
from aispm.detect import DetectRequest, run_detect
from aispm.testing.fake_arm import FakeArm
from aispm.testing.fake_google import FakeGoogle
from aispm.testing.fake_google import demo_estate as google_demo
from tests.support.audit import T0
from tests.support.azure import AllowPlainHttpForTests, StaticTokenCredential

SUB = "00000000-0000-4000-8000-0000000000aa"
ACCOUNT = f"/subscriptions/{SUB}/resourceGroups/rg/providers/Microsoft.CognitiveServices/accounts/oai"
HOUR = dt.timedelta(hours=1)


def activity(operation: str, status: str, at: dt.datetime, op_id: str, *, resource: str = ACCOUNT,
             body: dict[str, Any] | None = None) -> dict[str, Any]:
    namespace = resource.split("/providers/")[1].split("/")[0]
    rec: dict[str, Any] = {
        "authorization": {"action": operation, "scope": resource},
        "caller": "mallory@example.com",
        "channels": "Operation",
        "correlationId": op_id,
        "eventDataId": f"{op_id}-{status.lower()}",
        "eventName": {"value": "EndRequest" if status != "Started" else "BeginRequest"},
        "eventTimestamp": at.isoformat().replace("+00:00", "Z"),
        "httpRequest": {"clientIpAddress": "203.0.113.9", "method": "POST"},
        "id": f"{resource}/events/{op_id}-{status}",
        "level": "Informational",
        "operationId": op_id,
        "operationName": {"value": operation, "localizedValue": operation},
        "resourceGroupName": "rg",
        "resourceProviderName": {"value": namespace, "localizedValue": namespace},
        "resourceId": resource,
        "status": {"value": status, "localizedValue": status},
        "subStatus": {"value": ""},
        "subscriptionId": SUB,
        "properties": {},
    }
    if body is not None:
        rec["properties"]["requestbody"] = json.dumps(body)
    return rec


@pytest.fixture
def arm(monkeypatch: pytest.MonkeyPatch) -> Any:
    log = [
        # listKeys: Started inside, Succeeded inside -> one finding
        activity("Microsoft.CognitiveServices/accounts/listKeys/action", "Started", T0 + 10 * dt.timedelta(minutes=1),
                 "op-keys"),
        activity("Microsoft.CognitiveServices/accounts/listKeys/action", "Succeeded",
                 T0 + 11 * dt.timedelta(minutes=1), "op-keys"),
        # a listKeys that failed: no finding
        activity("Microsoft.CognitiveServices/accounts/listKeys/action", "Failed", T0 + 12 * dt.timedelta(minutes=1),
                 "op-failed"),
        # public network access: the body is on the Started record, before the window; Succeeded inside
        activity("Microsoft.CognitiveServices/accounts/write", "Started", T0 - 5 * dt.timedelta(minutes=1), "op-pub",
                 body={"properties": {"publicNetworkAccess": "Enabled"}}),
        activity("Microsoft.CognitiveServices/accounts/write", "Succeeded", T0 + 2 * dt.timedelta(minutes=1),
                 "op-pub"),
        # Succeeded exactly at the window end: the next window's
        activity("Microsoft.CognitiveServices/accounts/raiPolicies/delete", "Succeeded", T0 + HOUR, "op-rai"),
        # another provider: not read
        activity("Microsoft.Storage/storageAccounts/listKeys/action", "Succeeded", T0 + HOUR / 2, "op-storage",
                 resource=f"/subscriptions/{SUB}/resourceGroups/rg/providers/Microsoft.Storage/storageAccounts/s"),
    ]
    estate = {"subscriptions": [{"subscriptionId": SUB, "displayName": "ai", "state": "Enabled"}],
              "resources": [], "activityLog": log}
    with FakeArm(estate, token="t", page_size=2) as fake:
        monkeypatch.setenv("AISPM_AZURE_ARM_ENDPOINT", fake.url)
        yield fake


def azure_request(out: Path, **kw: Any) -> DetectRequest:
    creds = ArmCredentials(StaticTokenCredential("t"), (AllowPlainHttpForTests(),))
    return DetectRequest(providers=["azure"], options=CollectOptions(subscriptions=[SUB]), out_dir=out,
                         credentials={"azure": creds}, **kw)


def found(out: Path) -> list[dict[str, Any]]:
    return [json.loads(x) for x in (out / "detections.ocsf.jsonl").read_text().splitlines()]


def test_azure_activity_log_once_per_succeeded_operation(arm: FakeArm, tmp_path: Path) -> None:
    outcome = run_detect(azure_request(tmp_path, start=T0, end=T0 + HOUR))
    assert outcome.exit_code == exitcodes.OK, outcome.summary
    got = [(f["finding_info"]["types"][0], f["evidences"][0]["data"]["event_id"]) for f in found(tmp_path)]
    assert got == [("AISPM-DET-007", "op-pub-succeeded"), ("AISPM-DET-005", "op-keys-succeeded")]   # by time
    f = found(tmp_path)[1]
    assert f["cloud"] == {"provider": "Azure", "account": {"uid": SUB}}
    assert f["actor"]["user"]["uid"] == "mallory@example.com" and f["src_endpoint"] == {"ip": "203.0.113.9"}
    assert f["resources"][0]["uid"] == ACCOUNT
    assert outcome.summary["detections"]["events_read"] == {"azure": 3}
    # The Activity Log was read through the pipeline with the filter on the window (an hour earlier for bodies)
    reads = arm.requests_to(f"/subscriptions/{SUB}/providers/Microsoft.Insights/eventtypes/management/values")
    assert reads and all(r.status == 200 for r in reads)
    assert "eventTimestamp ge '2026-12-01T11:00:00.000000Z'" in reads[0].query["$filter"]
    assert len(reads) > 1   # paged by nextLink


def test_azure_boundary_operation_belongs_to_the_next_window(arm: FakeArm, tmp_path: Path) -> None:
    state = tmp_path / "state.json"
    from aispm.sinks.delivery.state import FileStateStore

    run_detect(azure_request(tmp_path / "1", end=T0 + HOUR, since=HOUR, state=FileStateStore(state)))
    assert "AISPM-DET-002" not in [f["finding_info"]["types"][0] for f in found(tmp_path / "1")]
    run_detect(azure_request(tmp_path / "2", end=T0 + 2 * HOUR, since=HOUR, state=FileStateStore(state)))
    assert [f["finding_info"]["types"][0] for f in found(tmp_path / "2")] == ["AISPM-DET-002"]


def test_azure_denied_activity_log_fails_the_scope(arm: FakeArm, tmp_path: Path) -> None:
    arm.deny(f"/subscriptions/{SUB}/providers/Microsoft.Insights")
    outcome = run_detect(azure_request(tmp_path, start=T0, end=T0 + HOUR))
    assert outcome.exit_code == exitcodes.PARTIAL
    assert "403" in outcome.summary["scopes"][0]["error"]


# ------------------------------------------------------------------------------------------------ GCP

def entry(method: str, at: dt.datetime, insert_id: str, request: dict[str, Any] | None = None, *,
          service: str = "aiplatform.googleapis.com", resource: str = "projects/123/locations/us-central1/models/m",
          code: int = 0) -> dict[str, Any]:
    return {
        "insertId": insert_id,
        "logName": "projects/PROJECT/logs/cloudaudit.googleapis.com%2Factivity",
        "timestamp": at.isoformat().replace("+00:00", ".123456789Z"),
        "receiveTimestamp": at.isoformat().replace("+00:00", "Z"),
        "severity": "NOTICE",
        "resource": {"type": "audited_resource", "labels": {"service": service, "method": method}},
        "protoPayload": {
            "@type": "type.googleapis.com/google.cloud.audit.AuditLog",
            "serviceName": service, "methodName": method, "resourceName": resource,
            "authenticationInfo": {"principalEmail": "eve@example.com"},
            "requestMetadata": {"callerIp": "203.0.113.5", "callerSuppliedUserAgent": "gcloud"},
            "request": request or {}, **({"status": {"code": code, "message": "denied"}} if code else {}),
        },
    }


@pytest.fixture
def google(monkeypatch: pytest.MonkeyPatch) -> Any:
    estate = google_demo()
    project = estate["projects"][0]
    pid = project["project"]["projectId"]
    public = {"policy": {"bindings": [{"role": "roles/viewer", "members": ["allUsers"]}]}}
    project["auditLog"] = [
        entry("google.cloud.aiplatform.v1.ModelService.ExportModel", T0 + HOUR / 4, "exp-1",
              {"outputConfig": {"artifactDestination": {"outputUriPrefix": "gs://elsewhere/"}}}),
        entry("google.cloud.aiplatform.v1.ModelService.ExportModel", T0 + HOUR / 3, "exp-denied", code=7),
        entry("SetIamPolicy", T0 + HOUR / 2, "iam-1", public, service="cloudresourcemanager.googleapis.com",
              resource=f"projects/{pid}"),
        entry("google.cloud.aiplatform.v1.ModelService.ExportModel", T0 + HOUR, "exp-boundary"),
        entry("storage.objects.get", T0 + HOUR / 2, "other", service="storage.googleapis.com"),
    ]
    with FakeGoogle(estate, page_size=1) as fake:
        monkeypatch.setenv("AISPM_GCP_ENDPOINT", fake.url)
        fake.project_id = pid
        yield fake


def test_gcp_audit_logs(google: Any, tmp_path: Path) -> None:
    request = DetectRequest(providers=["gcp"], out_dir=tmp_path, start=T0, end=T0 + HOUR,
                            options=CollectOptions(projects=[google.project_id], locations=["us-central1"]),
                            credentials={"gcp": AnonymousCredentials()})  # type: ignore[no-untyped-call]
    outcome = run_detect(request)
    assert outcome.exit_code == exitcodes.OK, outcome.summary
    got = [(f["finding_info"]["types"][0], f["evidences"][0]["data"]["event_id"]) for f in found(tmp_path)]
    assert got == [("AISPM-DET-006", "exp-1"), ("AISPM-DET-007", "iam-1")]
    assert outcome.summary["scopes"][0]["scope"] == f"gcp:{google.project_id}"
    assert outcome.summary["detections"]["events_read"] == {"gcp": 3}
    posts = google.requests_to("/v2/entries:list", "POST")
    assert len(posts) == 3   # one entry per page: paged by nextPageToken
    assert posts[0].body["resourceNames"] == [f"projects/{google.project_id}"]
    assert 'protoPayload.serviceName="aiplatform.googleapis.com"' in posts[0].body["filter"]


def test_gcp_denied_logging_fails_the_scope(google: Any, tmp_path: Path) -> None:
    google.deny("/v2/entries:list")
    request = DetectRequest(providers=["gcp"], out_dir=tmp_path, start=T0, end=T0 + HOUR,
                            options=CollectOptions(projects=[google.project_id], locations=["us-central1"]),
                            credentials={"gcp": AnonymousCredentials()})  # type: ignore[no-untyped-call]
    outcome = run_detect(request)
    assert outcome.exit_code == exitcodes.PARTIAL
    assert "HTTP 403" in outcome.summary["scopes"][0]["error"]
