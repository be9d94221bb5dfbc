"""``aispm demo`` also runs detect: the built-in CloudTrail events through the emulator's LookupEvents and the
real CloudTrail client find each planted attack once, and not the near misses."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest

from aispm.collectors.base import CollectOptions
from aispm.demo import audit_events, aws_estate
from aispm.demo.run import safe_env
from aispm.detect import DetectRequest, run_detect

pytestmark = pytest.mark.slow


def test_demo_events_give_each_detection_once(tmp_path: Path) -> None:
    now = dt.datetime(2026, 12, 1, 12, 0, tzinfo=dt.UTC)
    with safe_env(), aws_estate.serve() as (options, creds):
        audit_events.seed(now)
        request = DetectRequest(providers=["aws"], options=CollectOptions(**options), out_dir=tmp_path,
                                end=now, since=dt.timedelta(hours=1), lookup_interval=0.0,
                                credentials={"aws": creds} if creds is not None else {})
        outcome = run_detect(request, now=now)
    assert outcome.exit_code == 0, outcome.summary
    found = [json.loads(x) for x in (tmp_path / "detections.ocsf.jsonl").read_text().splitlines()]
    assert sorted(f["finding_info"]["types"][0] for f in found) == [
        "AISPM-DET-001", "AISPM-DET-002", "AISPM-DET-003", "AISPM-DET-004"]
    llm = next(f for f in found if f["finding_info"]["types"][0] == "AISPM-DET-003")
    assert llm["evidences"][0]["data"]["regions"] == ["eu-west-1", "us-east-1"]
    assert len(llm["evidences"][0]["data"]["actions"]) == 8   # every action of the 24 h, the failed one too
    assert "IyEvYmlu" not in (tmp_path / "detections.ocsf.jsonl").read_text()   # the planted script is not copied
    assert outcome.summary["detections"]["events_read"] == {"aws": 13}
