"""Fault injection on delivery: replay racing a scan that appends dead letters, torn dead-letter lines,
a dead-letter store that cannot be written, an unwritable ``--out``, jobs that fall out of the listing
window. Each asserts that every finding uid is in a sink or the dead-letter store, none is closed
wrongly, there is no traceback, and the exit code is the documented one."""

from __future__ import annotations

import json
import multiprocessing
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from aispm.cli import main
from aispm.sinks.base import Undelivered
from aispm.sinks.delivery.deadletter import FileDeadLetter
from aispm.testing.hec import FakeHec
from tests.support.findings import aws_asset, finding, uids

ROLE = "arn:aws:iam::123456789012:role/exec"
SCAN = ["scan", "--provider", "aws", "--region", "us-east-1"]


@pytest.fixture
def sm(sagemaker: Any) -> Any:
    return sagemaker(["keep", "gone"])


def _lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(x) for x in path.read_text().splitlines() if x.strip()] if path.exists() else []


def _remove(sm: Any, name: str) -> None:
    sm.stop_notebook_instance(NotebookInstanceName=name)
    sm.delete_notebook_instance(NotebookInstanceName=name)


# ------------------------------------------------------------------ replay and dead letters


def _append_letters(path: str, start: int, n: int, pause: float = 0.0) -> None:
    store = FileDeadLetter(path)
    for i in range(start, start + n):
        store.put([Undelivered("file", "busy", finding(aws_asset(i)))])
        time.sleep(pause)


def test_letters_stored_between_a_replay_read_and_its_settle_are_kept(tmp_path: Path) -> None:
    path = tmp_path / "dead-letter.jsonl"
    _append_letters(str(path), 0, 3)
    replaying = FileDeadLetter(path)
    read = replaying.read()
    _append_letters(str(path), 100, 2)   # a scan appends while the replay delivers
    replaying.settle(read, [read[2].item])   # two delivered, one still failing
    left = [x.item.payload for x in FileDeadLetter(path).read()]
    assert sorted(uids(left)) == sorted(uids([finding(aws_asset(i)) for i in (2, 100, 101)]))


def test_replay_concurrent_with_a_scan_appending_loses_no_letter(tmp_path: Path) -> None:
    path = tmp_path / "dead-letter.jsonl"
    _append_letters(str(path), 0, 40)
    out = tmp_path / "replayed"
    ctx = multiprocessing.get_context("fork")
    writer = ctx.Process(target=_append_letters, args=(str(path), 1000, 200, 0.01))
    writer.start()
    replays = 0
    while writer.is_alive() and replays < 200:
        assert main(["replay", str(path), "--out", str(out)]) == 0
        replays += 1
    writer.join(60)
    assert writer.exitcode == 0
    assert main(["replay", str(path), "--out", str(out)]) == 0
    expected = uids([finding(aws_asset(i)) for i in [*range(40), *range(1000, 1200)]])
    delivered = uids(_lines(out / "findings.ocsf.jsonl"))
    assert sorted(set(delivered)) == sorted(expected)   # every letter reached the sink ...
    assert len(delivered) == len(expected)              # ... exactly once
    assert _lines(path) == []


def test_replay_skips_a_torn_line_names_it_and_delivers_the_rest(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "dead-letter.jsonl"
    findings = [finding(aws_asset(i)) for i in range(3)]
    FileDeadLetter(path).put([Undelivered("file", "busy", f) for f in findings])
    torn = json.dumps({"sink": "file", "reason": "busy", "payload": findings[0]})[:80]
    with path.open("a") as fh:
        fh.write(torn)   # a crash mid-append
    # A scan appending after the crash still writes whole, parseable lines.
    late = finding(aws_asset(9))
    FileDeadLetter(path).put([Undelivered("file", "busy", late)])
    out = tmp_path / "replayed"
    assert main(["replay", str(path), "--out", str(out)]) == 0
    err = capsys.readouterr().err
    assert f"{path}:4" in err and "Traceback" not in err
    assert sorted(uids(_lines(out / "findings.ocsf.jsonl"))) == sorted(uids([*findings, late]))
    assert _lines(path) == []
    assert (tmp_path / "dead-letter.jsonl.invalid").read_text() == torn + "\n"


def test_an_unwritable_dead_letter_store_is_said_plainly_and_the_closure_is_retried(
        sm: Any, hec: FakeHec, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    state = tmp_path / "state.json"
    argv = [*SCAN, "--state", str(state), "--sink", "splunk"]
    assert main([*argv, "--out", str(tmp_path / "1")]) == 0
    gone = sorted(uids([f for f in _lines(tmp_path / "1" / "findings.ocsf.jsonl")
                        if f["resources"][0]["name"] == "gone"]))

    _remove(sm, "gone")
    hec.set_forbidden(code=4)
    out = tmp_path / "2"
    out.mkdir()
    (out / "dead-letter.jsonl").mkdir()   # the store cannot be written, even by root
    capsys.readouterr()
    assert main([*argv, "--out", str(out)]) == 5
    err = capsys.readouterr().err
    assert "kept in the dead-letter store" not in err and "could NOT be kept" in err
    assert "Traceback" not in err
    summary = json.loads((out / "summary.json").read_text())
    assert summary["delivery"]["lost"] == summary["delivery"]["undelivered"] > 0
    # The lost closures were not recorded as done: the state still holds the vanished notebook's findings.
    stored = json.loads(state.read_text())["scopes"]["aws:123456789012:us-east-1"]["findings"]
    assert set(gone) <= set(stored)

    hec.set_forbidden(False)
    hec.clear()
    assert main([*argv, "--out", str(tmp_path / "3")]) == 0
    closed = [f for f in _lines(tmp_path / "3" / "findings.ocsf.jsonl") if f["activity_id"] == 3]
    assert sorted(uids(closed)) == gone
    assert set(gone) <= set(hec.events_by_uid())   # the SIEM got every closure in the end


@pytest.mark.parametrize("make", ["file", "under-a-file"])
def test_an_unwritable_out_stops_before_any_cloud_call(tmp_path: Path, make: str,
                                                       monkeypatch: pytest.MonkeyPatch,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    calls: list[str] = []

    class Counting(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            calls.append(self.path)
            self.send_response(500)
            self.end_headers()

        def log_message(self, *_: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Counting)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{server.server_address[1]}")
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    out = blocker if make == "file" else blocker / "out"
    try:
        assert main([*SCAN, "--out", str(out)]) == 2
    finally:
        server.shutdown()
        server.server_close()
    err = capsys.readouterr().err
    assert err.startswith(f"aispm: error: --out {out}: cannot write there") and err.count("\n") == 1
    assert calls == []
    assert blocker.read_text() == "x"


# ------------------------------------------------------------------ listing windows


def test_a_job_that_falls_out_of_the_window_is_carried_over_not_closed(
        sm: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    sm.create_training_job(
        TrainingJobName="old-job", RoleArn=ROLE,
        AlgorithmSpecification={"TrainingImage": "123456789012.dkr.ecr.us-east-1.amazonaws.com/t:1",
                                "TrainingInputMode": "File"},
        OutputDataConfig={"S3OutputPath": "s3://bucket/out"},
        ResourceConfig={"InstanceType": "ml.m5.large", "InstanceCount": 1, "VolumeSizeInGB": 10},
        StoppingCondition={"MaxRuntimeInSeconds": 3600})
    state = tmp_path / "state.json"
    argv = [*SCAN, "--state", str(state)]
    assert main([*argv, "--out", str(tmp_path / "1")]) == 0
    job = sorted(uids([f for f in _lines(tmp_path / "1" / "findings.ocsf.jsonl")
                       if f["resources"][0]["type"] == "training_job"]))
    assert job

    # The job still exists but is now outside the window (as after a week of scans, or a lowered window).
    monkeypatch.setenv("AISPM_JOB_WINDOW_DAYS", "0")
    assert main([*argv, "--out", str(tmp_path / "2")]) == 0
    second = _lines(tmp_path / "2" / "findings.ocsf.jsonl")
    assert not [f for f in second if f["resources"][0]["type"] == "training_job"]   # not listed ...
    assert [f for f in second if f["activity_id"] == 3] == []                         # ... and not closed
    summary = json.loads((tmp_path / "2" / "summary.json").read_text())
    assert summary["carried_over"] == len(job) and summary["findings"]["closed"] == 0
    stored = json.loads(state.read_text())["scopes"]["aws:123456789012:us-east-1"]["findings"]
    assert set(job) <= set(stored)

    monkeypatch.setenv("AISPM_JOB_WINDOW_DAYS", "30")   # back in the window: the same findings, still open
    assert main([*argv, "--out", str(tmp_path / "3")]) == 0
    third = _lines(tmp_path / "3" / "findings.ocsf.jsonl")
    assert sorted(uids([f for f in third if f["resources"][0]["type"] == "training_job"])) == job
    assert [f for f in third if f["activity_id"] == 3] == []


def test_first_seen_time_comes_from_the_state_and_a_closure_says_why(
        sm: Any, tmp_path: Path) -> None:
    state = tmp_path / "state.json"
    argv = [*SCAN, "--state", str(state)]
    assert main([*argv, "--out", str(tmp_path / "1")]) == 0
    first = {f["finding_info"]["uid"]: f for f in _lines(tmp_path / "1" / "findings.ocsf.jsonl")}
    config = tmp_path / "policy.yaml"
    config.write_text("rules:\n  disabled: [AISPM-IAM-005]\n")
    assert main([*argv, "--config", str(config), "--out", str(tmp_path / "2")]) == 0
    second = _lines(tmp_path / "2" / "findings.ocsf.jsonl")
    for f in second:
        if f["activity_id"] == 1:
            before = first[f["finding_info"]["uid"]]
            assert f["finding_info"]["first_seen_time"] == before["finding_info"]["first_seen_time"]
            assert f["finding_info"]["last_seen_time"] == f["time"] > before["time"] - 1
    closed = [f for f in second if f["activity_id"] == 3]
    assert closed and {f["compliance"]["control"] for f in closed} == {"AISPM-IAM-005"}
    assert {f["status_detail"] for f in closed} == {
        "The rule no longer applies: AISPM-IAM-005 is disabled by policy."}
    for f in closed:   # a closure keeps the times of the scans that saw the finding
        before = first[f["finding_info"]["uid"]]["finding_info"]
        assert f["finding_info"]["first_seen_time"] == before["first_seen_time"]
        assert f["finding_info"]["last_seen_time"] == before["last_seen_time"]


def test_closures_never_trip_fail_on(sm: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "policy.yaml"
    config.write_text('suppressions:\n  - rule: "*"\n    resource: "*"\n    justification: "accepted"\n')
    argv = [*SCAN, "--state", str(tmp_path / "state.json"), "--config", str(config), "--fail-on", "low"]
    assert main([*argv, "--out", str(tmp_path / "1")]) == 0
    _remove(sm, "gone")   # its failing findings close in the next run
    capsys.readouterr()
    assert main([*argv, "--out", str(tmp_path / "2")]) == 0
    assert [f for f in _lines(tmp_path / "2" / "findings.ocsf.jsonl") if f["activity_id"] == 3]
    assert "--fail-on" not in capsys.readouterr().err


def test_a_line_that_is_not_utf8_is_set_aside_byte_for_byte(tmp_path: Path,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "dead-letter.jsonl"
    good = finding(aws_asset(1))
    FileDeadLetter(path).put([Undelivered("file", "busy", good)])
    bad = b'{"sink":"file","reason":"x","payload":{"name":"caf\xe9"}}'
    with path.open("ab") as fh:
        fh.write(bad + b"\n")
    out = tmp_path / "replayed"
    assert main(["replay", str(path), "--out", str(out)]) == 0
    assert "not UTF-8" in capsys.readouterr().err
    assert uids(_lines(out / "findings.ocsf.jsonl")) == uids([good])
    assert (tmp_path / "dead-letter.jsonl.invalid").read_bytes() == bad + b"\n"
    assert path.read_bytes() == b""


def test_a_store_that_cannot_be_updated_after_delivery_exits_5_and_keeps_its_letters(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "dead-letter.jsonl"
    letters = [finding(aws_asset(i)) for i in range(2)]
    FileDeadLetter(path).put([Undelivered("file", "busy", f) for f in letters])
    with path.open("a") as fh:
        fh.write("torn\n")
    (tmp_path / "dead-letter.jsonl.invalid").mkdir()   # setting the torn line aside fails, even for root
    assert main(["replay", str(path), "--out", str(tmp_path / "replayed")]) == 5
    err = capsys.readouterr().err
    assert "was not updated" in err and "Traceback" not in err
    assert uids([x.item.payload for x in FileDeadLetter(path).read()]) == uids(letters)   # sent again next time
