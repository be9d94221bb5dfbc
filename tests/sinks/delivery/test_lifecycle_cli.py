"""``aispm scan --state``: the lifecycle state is kept per scope and vanished resources are closed once."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import boto3
import pytest

from aispm.cli import main

SCOPE = "aws:123456789012:us-east-1"


@pytest.fixture
def aws(sagemaker: Any) -> Any:
    return sagemaker(["keep", "gone"])


def _scan(out: Path, *extra: str) -> int:
    return main(["scan", "--provider", "aws", "--region", "us-east-1", "--out", str(out), *extra])


def _findings(out: Path) -> list[dict[str, Any]]:
    return [json.loads(x) for x in (out / "findings.ocsf.jsonl").read_text().splitlines()]


def _remove(sm: Any, name: str) -> None:
    sm.stop_notebook_instance(NotebookInstanceName=name)
    sm.delete_notebook_instance(NotebookInstanceName=name)


def test_state_flag_closes_findings_of_a_vanished_notebook_once(aws: Any, tmp_path: Path) -> None:
    state = tmp_path / "s" / "state.json"
    out = tmp_path / "out"
    assert _scan(out, "--state", str(state)) == 0
    stored = json.loads(state.read_text())["scopes"][SCOPE]["findings"]
    first = _findings(out)
    assert sorted(stored) == sorted(f["finding_info"]["uid"] for f in first)
    gone = {f["finding_info"]["uid"] for f in first if f["resources"][0]["name"] == "gone"}

    _remove(aws, "gone")
    assert _scan(out, "--state", str(state)) == 0
    closed = [f for f in _findings(out) if f["activity_id"] == 3]
    assert {f["finding_info"]["uid"] for f in closed} == gone
    assert {(f["status_id"], f["type_uid"], f["status_detail"]) for f in closed} == {
        (4, 200303, "The resource no longer exists.")}
    summary = json.loads((out / "summary.json").read_text())
    assert summary["findings"]["closed"] == len(gone)
    assert summary["findings"]["fail"] + summary["findings"]["pass"] == len(first) - len(gone)

    assert _scan(out, "--state", str(state)) == 0
    assert [f for f in _findings(out) if f["activity_id"] == 3] == []


def test_default_state_lives_under_xdg_state_home(aws: Any, tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "xdg"))
    assert _scan(tmp_path / "out") == 0
    assert SCOPE in json.loads((tmp_path / "xdg" / "aispm" / "state.json").read_text())["scopes"]


def test_state_table_when_deployed(aws: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    boto3.client("dynamodb", region_name="us-east-1").create_table(
        TableName="aispm-state", BillingMode="PAY_PER_REQUEST",
        KeySchema=[{"AttributeName": "scope", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "scope", "AttributeType": "S"}])
    monkeypatch.setenv("AISPM_STATE_TABLE", "aispm-state")
    out = tmp_path / "out"
    assert _scan(out) == 0
    _remove(aws, "gone")
    assert _scan(out) == 0
    closed = [f for f in _findings(out) if f["activity_id"] == 3]
    assert closed and {f["resources"][0]["name"] for f in closed} == {"gone"}


def test_unreadable_state_is_an_error_automation_sees_and_closes_nothing(
        aws: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    state = tmp_path / "state.json"
    state.write_text("{broken")
    assert _scan(tmp_path / "out", "--state", str(state)) == 4
    assert "lifecycle state error" in capsys.readouterr().err
    assert state.read_text() == "{broken"  # never overwritten with a partial view
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert summary["state"]["status"] == "error" and str(state) in summary["state"]["error"]
    assert summary["findings"]["closed"] == 0
