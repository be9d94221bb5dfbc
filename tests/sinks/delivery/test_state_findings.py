"""The new lifecycle state holds this run's Findings, made OCSF only as a store writes each one: what is
stored is exactly the OCSF objects the state held before."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest
from moto import mock_aws

from aispm.rules.finding import Finding
from aispm.sinks.delivery.lifecycle import close_vanished, save_ahead, save_state
from aispm.sinks.delivery.reconcile import ScopeRun, reconcile
from aispm.sinks.delivery.state import DynamoStateStore, FileStateStore, StateStore, json_chunks
from aispm.sinks.formats.ocsf import from_ocsf, to_ocsf
from tests.support.findings import aws_findings

SCOPE = "aws:123456789012:us-east-1"


def _typed(n: int) -> list[Finding]:
    return [from_ocsf(f) for f in aws_findings(n)]


@pytest.fixture(params=["file", "dynamodb"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[StateStore]:
    if request.param == "file":
        yield FileStateStore(tmp_path / "state.json")
        return
    with mock_aws():
        boto3.client("dynamodb").create_table(
            TableName="aispm-state", BillingMode="PAY_PER_REQUEST",
            KeySchema=[{"AttributeName": "scope", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "scope", "AttributeType": "S"}])
        yield DynamoStateStore("aispm-state")


def test_reconcile_keeps_findings_not_their_ocsf() -> None:
    now = _typed(3)
    done = reconcile({}, [ScopeRun(SCOPE, True, now)], time_ms=1)
    assert all(isinstance(v, Finding) for v in done.states[SCOPE].values())
    assert list(done.states[SCOPE].values()) == now


def test_a_finding_is_written_as_its_ocsf_object() -> None:
    [f] = _typed(1)
    value = {"scopes": {SCOPE: {"findings": {f.uid: f}}}}
    wire = {"scopes": {SCOPE: {"findings": {f.uid: to_ocsf(f)}}}}
    assert json.loads(b"".join(json_chunks(value))) == wire


def test_stored_findings_read_back_as_ocsf(store: StateStore) -> None:
    typed = _typed(3)
    store.save({SCOPE: {f.uid: f for f in typed}})
    assert store.load([SCOPE]).states[SCOPE] == {f.uid: to_ocsf(f) for f in typed}


def test_a_scan_lifecycle_saves_the_same_state_as_before(tmp_path: Path) -> None:
    store = FileStateStore(tmp_path / "state.json")
    first = _typed(3)
    runs = [ScopeRun(SCOPE, True, first)]
    lifecycle = close_vanished(store, runs, 1)
    save_ahead(store, lifecycle)
    save_state(store, lifecycle)
    stored = json.loads((tmp_path / "state.json").read_bytes())["scopes"][SCOPE]["findings"]
    assert stored == {f.uid: to_ocsf(f) for f in first}
    # The next run reads them back and closes the one that vanished.
    again = close_vanished(FileStateStore(tmp_path / "state.json"), [ScopeRun(SCOPE, True, first[:2])], 2)
    assert [f.uid for f in again.closed] == [first[2].uid]
