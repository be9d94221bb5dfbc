"""The new lifecycle state holds this run's Findings, made OCSF only as a store writes each one: what is
stored is exactly the OCSF objects the state held before."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

from aispm.rules.finding import Finding
from aispm.sinks.base import Undelivered
from aispm.sinks.delivery.lifecycle import close_vanished, hold_back, save_ahead, save_state
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


class _Counting:
    """A file store that counts its saves and what each held."""

    def __init__(self, path: Path) -> None:
        self.inner = FileStateStore(path)
        self.location = self.inner.location
        self.saved: list[set[str]] = []

    def load(self, scopes: Any) -> Any:
        return self.inner.load(scopes)

    def save(self, states: Any) -> None:
        self.saved.append({uid for state in states.values() for uid in state})
        self.inner.save(states)


def test_a_run_that_closes_nothing_saves_its_state_once(tmp_path: Path) -> None:
    """Before delivery the state is saved with what the run closes; when it closes nothing, that save is the
    final state and is not written again. A run that closes something saves twice: ahead (with the findings it
    closes) and final (without them), and a lost closure stays in the final state."""
    store = _Counting(tmp_path / "state.json")
    first = _typed(3)
    lifecycle = close_vanished(store, [ScopeRun(SCOPE, True, first)], 1)
    save_ahead(store, lifecycle)
    save_state(store, lifecycle)
    assert store.saved == [{f.uid for f in first}]
    stored = json.loads((tmp_path / "state.json").read_bytes())["scopes"][SCOPE]["findings"]
    assert stored == {f.uid: to_ocsf(f) for f in first}

    store.saved.clear()
    closing = close_vanished(store, [ScopeRun(SCOPE, True, first[:2])], 2)
    save_ahead(store, closing)
    save_state(store, closing)
    assert store.saved == [{f.uid for f in first}, {f.uid for f in first[:2]}]

    store.saved.clear()
    lost = close_vanished(store, [ScopeRun(SCOPE, True, first[:1])], 3)
    save_ahead(store, lost)
    hold_back(lost, [Undelivered.of("splunk", "down", lost.closed[0])])
    save_state(store, lost)
    assert store.saved == [{f.uid for f in first[:2]}, {first[0].uid, lost.closed[0].uid}]


def test_a_failed_save_ahead_is_saved_again_after_delivery(tmp_path: Path) -> None:
    store = FileStateStore(tmp_path / "state.json")
    lifecycle = close_vanished(store, [ScopeRun(SCOPE, True, _typed(2))], 1)
    (tmp_path / "state.json").mkdir()   # not a file: the save before delivery fails
    save_ahead(store, lifecycle)
    assert lifecycle.errors and "not saved before delivery" in lifecycle.errors[0]
    assert not lifecycle.final_saved
    (tmp_path / "state.json").rmdir()
    save_state(store, lifecycle)
    assert len(json.loads((tmp_path / "state.json").read_bytes())["scopes"][SCOPE]["findings"]) == 2
