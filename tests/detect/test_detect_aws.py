"""``aispm detect`` on AWS end to end: STS from moto, CloudTrail LookupEvents answered by botocore's Stubber
(moto does not implement it) with records shaped like CloudTrail's, through the real boto3 client."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from moto import mock_aws

from aispm import exitcodes
from aispm.collectors.base import CollectOptions
from aispm.detect import DetectRequest, run_detect
from aispm.rules.model import Severity
from aispm.rules.policy import Policy
from aispm.sinks.delivery.state import FileStateStore
from tests.support.audit import ALICE, T0, Trail, record

HOUR = dt.timedelta(hours=1)


@pytest.fixture
def aws() -> Iterator[None]:
    with mock_aws():
        yield


def detect(trail: Trail, out: Path, *, start: dt.datetime | None = T0, end: dt.datetime = T0 + HOUR,
           regions: tuple[str, ...] = ("us-east-1",), state: Path | None = None, **kw: Any) -> Any:
    request = DetectRequest(providers=["aws"], options=CollectOptions(regions=list(regions)), out_dir=out,
                            start=start, end=end, cloudtrail_client=trail.factory, lookup_interval=0.0,
                            state=FileStateStore(state) if state else None, **kw)
    return run_detect(request, now=end)


def lines(out: Path) -> list[dict[str, Any]]:
    path = out / "detections.ocsf.jsonl"
    return [json.loads(x) for x in path.read_text().splitlines()] if path.exists() else []


def test_detection_findings_file_and_summary(aws: None, tmp_path: Path) -> None:
    delete = record("DeleteGuardrail", T0 + dt.timedelta(minutes=5), params={"guardrailIdentifier": "gr-1"})
    lc = record("CreateNotebookInstanceLifecycleConfig", T0 + dt.timedelta(minutes=6),
                params={"notebookInstanceLifecycleConfigName": "persist", "onStart": [{"content": "c2VjcmV0"}]})
    quiet = record("ListGuardrails", T0 + dt.timedelta(minutes=7))
    trail = Trail(page_size=1).add(delete, lc, quiet)    # one record per page: pagination is followed
    outcome = detect(trail, tmp_path)
    assert outcome.exit_code == exitcodes.OK
    found = lines(tmp_path)
    assert [f["finding_info"]["types"] for f in found] == [["AISPM-DET-002"], ["AISPM-DET-004"]]
    f = found[0]
    assert (f["class_uid"], f["category_uid"], f["type_uid"], f["activity_id"]) == (2004, 2, 200401, 1)
    assert f["time"] == int((T0 + dt.timedelta(minutes=5)).timestamp() * 1000)
    assert (f["severity_id"], f["severity"]) == (4, "High")
    assert f["actor"]["user"] == {"uid": ALICE, "name": "alice"}
    assert f["src_endpoint"] == {"ip": "198.51.100.7"}
    assert f["api"]["operation"] == "DeleteGuardrail"
    assert f["resources"][0] == {"uid": "arn:aws:bedrock:us-east-1:123456789012:guardrail/gr-1",
                                 "type": "guardrail", "name": "gr-1", "region": "us-east-1"}
    assert f["cloud"] == {"provider": "AWS", "account": {"uid": "123456789012"}, "region": "us-east-1"}
    assert f["finding_info"]["attacks"][0]["technique"]["uid"] == "T1562.001"
    assert f["evidences"][0]["data"]["event_id"] == delete["eventID"]
    assert f["metadata"]["product"]["name"] == "aispm" and f["metadata"]["profiles"] == ["cloud"]
    assert "c2VjcmV0" not in (tmp_path / "detections.ocsf.jsonl").read_text()   # request bodies are not copied
    summary = json.loads((tmp_path / "summary.json").read_text())["detections"]
    assert summary["by_id"]["AISPM-DET-002"] == 1 and summary["by_id"]["AISPM-DET-004"] == 1
    assert summary["by_id"]["AISPM-DET-001"] == 0
    assert summary["window"] == {"start": "2026-12-01T12:00:00Z", "end": "2026-12-01T13:00:00Z"}
    assert summary["events_read"] == {"aws": 3}
    assert any("AISPM-DET-003 needs a window of at least 24 h" in n for n in summary["notes"])
    assert not (tmp_path / "findings.ocsf.jsonl").exists()   # a detect run leaves the scan's files alone


def test_rerunning_a_window_makes_no_new_uid(aws: None, tmp_path: Path) -> None:
    trail = Trail().add(record("DeleteModelInvocationLoggingConfiguration", T0 + HOUR / 2))
    first = [f["finding_info"]["uid"] for f in (detect(trail, tmp_path / "a"), lines(tmp_path / "a"))[1]]
    second = [f["finding_info"]["uid"] for f in (detect(trail, tmp_path / "b"), lines(tmp_path / "b"))[1]]
    assert first == second and len(first) == 1


def test_event_on_the_boundary_is_found_once_across_consecutive_windows(aws: None, tmp_path: Path) -> None:
    state = tmp_path / "state.json"
    boundary = record("DeleteGuardrail", T0 + HOUR, params={"guardrailIdentifier": "gr-b"})
    trail = Trail().add(boundary)   # LookupEvents' EndTime is inclusive: both windows' calls return it
    one = detect(trail, tmp_path / "1", start=None, end=T0 + HOUR, since=HOUR, state=state)
    assert lines(tmp_path / "1") == [] and one.exit_code == 0
    two = detect(trail, tmp_path / "2", start=None, end=T0 + 2 * HOUR, since=HOUR, state=state)
    assert [f["finding_info"]["types"][0] for f in lines(tmp_path / "2")] == ["AISPM-DET-002"]
    assert two.summary["scopes"][0]["window"] == {"start": "2026-12-01T13:00:00Z", "end": "2026-12-01T14:00:00Z"}
    stored = json.loads(state.read_text())["scopes"]["detect#aws:123456789012:us-east-1"]
    assert stored["findings"]["window"]["end"].startswith("2026-12-01T14:00:00")
    # Nothing is read twice: the next window starts at 14:00, after the boundary event.
    three = detect(trail, tmp_path / "3", start=None, end=T0 + 3 * HOUR, since=HOUR, state=state)
    assert lines(tmp_path / "3") == [] and three.summary["detections"]["events_read"] == {"aws": 0}


def test_failed_source_is_exit_4_and_its_window_does_not_advance(aws: None, tmp_path: Path) -> None:
    state = tmp_path / "state.json"
    ok = Trail().add(record("DeleteGuardrail", T0 + HOUR / 2, params={"guardrailIdentifier": "gr-1"}))
    detect(ok, tmp_path / "1", start=None, end=T0 + HOUR, since=HOUR, state=state)
    before = json.loads(state.read_text())["scopes"]
    denied = Trail().fail("us-east-1", "AccessDeniedException")
    outcome = detect(denied, tmp_path / "2", start=None, end=T0 + 2 * HOUR, since=HOUR, state=state)
    assert outcome.exit_code == exitcodes.PARTIAL
    scope = outcome.summary["scopes"][0]
    assert scope["status"] == "error" and "AccessDeniedException" in scope["error"]
    after = json.loads(state.read_text())["scopes"]
    assert after["detect#aws:123456789012:us-east-1"]["findings"] == \
        before["detect#aws:123456789012:us-east-1"]["findings"]


def test_throttled_lookups_are_retried(aws: None, tmp_path: Path) -> None:
    waits: list[float] = []
    trail = Trail().fail("us-east-1", "ThrottlingException", times=2).add(
        record("DeleteGuardrail", T0 + HOUR / 2, params={"guardrailIdentifier": "gr-1"}))
    outcome = detect(trail, tmp_path, sleep=waits.append)
    assert outcome.exit_code == exitcodes.OK
    assert len(lines(tmp_path)) == 1
    assert waits == [1.0, 2.0]          # backoff between the throttled attempts
    for stub in trail.stubbers:
        stub.assert_no_pending_responses()


def test_throttled_past_retries_fails_the_scope(aws: None, tmp_path: Path) -> None:
    trail = Trail().fail("us-east-1", "ThrottlingException", times=6)
    outcome = detect(trail, tmp_path, sleep=lambda _: None)
    assert outcome.exit_code == exitcodes.PARTIAL
    assert "ThrottlingException" in outcome.summary["scopes"][0]["error"]


def test_llmjacking_across_regions_of_the_account(aws: None, tmp_path: Path) -> None:
    names = ["ListFoundationModels", "GetFoundationModelAvailability", "ListFoundationModelAgreementOffers",
             "PutUseCaseForModelAccess", "CreateFoundationModelAgreement", "InvokeModel"]
    trail = Trail()
    for i, name in enumerate(names):
        trail.add(record(name, T0 + dt.timedelta(minutes=i), region="us-east-1" if i < 3 else "us-west-2",
                         error="AccessDeniedException" if i == 4 else None))
    outcome = detect(trail, tmp_path, regions=("us-east-1", "us-west-2"), end=T0 + 24 * HOUR,
                     fail_on=Severity.critical)
    found = lines(tmp_path)
    assert [f["finding_info"]["types"][0] for f in found] == ["AISPM-DET-003"]
    data = found[0]["evidences"][0]["data"]
    assert data["regions"] == ["us-east-1", "us-west-2"] and len(data["event_ids"]) == 6
    assert found[0]["severity"] == "Critical"
    assert outcome.exit_code == exitcodes.FAIL_ON
    assert not outcome.summary["detections"]["notes"][:1] or "24 h" not in outcome.summary["detections"]["notes"][0]


def test_policy_threshold_disabled_and_suppressed(aws: None, tmp_path: Path) -> None:
    trail = Trail().add(record("DeleteGuardrail", T0 + HOUR / 2, params={"guardrailIdentifier": "gr-sandbox"}),
                        record("DeleteModelInvocationLoggingConfiguration", T0 + HOUR / 2))
    policy = Policy.model_validate({"rules": {"disabled": ["AISPM-DET-001"]}, "suppressions": [
        {"rule": "AISPM-DET-002", "resource": "*guardrail/gr-sandbox", "justification": "sandbox account"}]})
    outcome = detect(trail, tmp_path, policy=policy, fail_on=Severity.high)
    found = lines(tmp_path)
    assert [(f["finding_info"]["types"][0], f["status_id"]) for f in found] == [("AISPM-DET-002", 3)]
    assert found[0]["status_detail"].startswith("Suppressed: sandbox account (")
    assert outcome.exit_code == exitcodes.OK   # a suppressed detection does not reach --fail-on
    assert "AISPM-DET-001" not in outcome.summary["detections"]["by_id"]
