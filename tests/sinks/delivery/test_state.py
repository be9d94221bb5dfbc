"""Lifecycle state stores (file and DynamoDB behind one interface) and the pure reconcile stage."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest
from moto import mock_aws

from aispm.rules.finding import Finding
from aispm.sinks.delivery.reconcile import NO_LONGER_APPLIES, VANISHED, ScopeRun, reconcile
from aispm.sinks.delivery.state import (
    DynamoStateStore,
    FileStateStore,
    StateError,
    StateStore,
    default_state_path,
    open_state,
)
from aispm.sinks.formats.ocsf import from_ocsf, to_ocsf
from tests.support.findings import aws_asset, aws_findings, finding, uids

SCOPE = "aws:123456789012:us-east-1"
OTHER = "aws:123456789012:eu-west-1"


@pytest.fixture
def dynamo() -> Iterator[DynamoStateStore]:
    with mock_aws():
        client = boto3.client("dynamodb")
        client.create_table(TableName="aispm-state", BillingMode="PAY_PER_REQUEST",
                            KeySchema=[{"AttributeName": "scope", "KeyType": "HASH"}],
                            AttributeDefinitions=[{"AttributeName": "scope", "AttributeType": "S"}])
        yield DynamoStateStore("aispm-state")


@pytest.fixture(params=["file", "dynamodb"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> StateStore:
    if request.param == "file":
        return FileStateStore(tmp_path / "state" / "state.json")
    return request.getfixturevalue("dynamo")  # type: ignore[no-any-return]


def test_round_trip_and_other_scopes_untouched(store: StateStore) -> None:
    a, b = aws_findings(3), aws_findings(2, region="eu-west-1")
    assert store.load([SCOPE]).states == {}
    store.save({SCOPE: {f["finding_info"]["uid"]: f for f in a}, OTHER: {f["finding_info"]["uid"]: f for f in b}})
    store.save({SCOPE: {a[0]["finding_info"]["uid"]: a[0]}})
    result = store.load([SCOPE, OTHER, "aws:1:nowhere"])
    assert result.errors == {}
    loaded = result.states
    assert sorted(loaded) == [OTHER, SCOPE]
    assert list(loaded[SCOPE]) == [a[0]["finding_info"]["uid"]]
    assert loaded[SCOPE][a[0]["finding_info"]["uid"]] == a[0]
    assert sorted(loaded[OTHER]) == sorted(uids(b))


def test_large_scope_spills_into_chunks(dynamo: DynamoStateStore) -> None:
    # Incompressible-ish: distinct names and details so gzip cannot shrink the state below one item.
    import secrets

    many = [finding(aws_asset(i).model_copy(update={"details": {"nonce": secrets.token_hex(200)}}))
            for i in range(1500)]
    dynamo.save({SCOPE: {f["finding_info"]["uid"]: f for f in many}})
    item = boto3.client("dynamodb").get_item(TableName="aispm-state", Key={"scope": {"S": SCOPE}})["Item"]
    assert int(item["chunks"]["N"]) > 1
    loaded = dynamo.load([SCOPE]).states[SCOPE]
    assert sorted(loaded) == sorted(uids(many))


def test_missing_table_is_a_state_error() -> None:
    with mock_aws(), pytest.raises(StateError, match="no-such-table"):
        DynamoStateStore("no-such-table").load([SCOPE])


def test_corrupt_state_file_is_a_state_error(tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    path.write_text("[1, 2")
    with pytest.raises(StateError, match=str(path)):
        FileStateStore(path).load([SCOPE])


@pytest.mark.parametrize("content", [
    json.dumps({"scopes": {SCOPE: {}}}),
    json.dumps({"scopes": {SCOPE: {"findings": {"u": "x"}}}}),
    json.dumps({"scopes": {SCOPE: "nonsense"}}),
])
def test_malformed_scope_entry_is_a_state_error_of_that_scope(tmp_path: Path, content: str) -> None:
    path = tmp_path / "state.json"
    path.write_text(content)
    loaded = FileStateStore(path).load([SCOPE])
    assert loaded.states == {}
    assert "malformed" in loaded.errors[SCOPE]


def test_default_path_follows_xdg(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path))
    assert default_state_path() == tmp_path / "aispm" / "state.json"
    monkeypatch.delenv("XDG_STATE_HOME")
    assert default_state_path() == Path.home() / ".local" / "state" / "aispm" / "state.json"
    assert isinstance(open_state(None, "tbl"), DynamoStateStore)
    assert isinstance(open_state(str(tmp_path / "s.json"), "tbl"), FileStateStore)


def _state(findings: list[dict]) -> dict[str, dict]:
    return {f["finding_info"]["uid"]: f for f in findings}


def _typed(findings: list[dict]) -> list[Finding]:
    return [from_ocsf(f) for f in findings]


def _ocsf(findings: list[Finding]) -> list[dict]:
    return [to_ocsf(f) for f in findings]


def test_reconcile_closes_vanished_once_and_keeps_the_rest() -> None:
    before = aws_findings(4)
    now = before[:2]
    kept = before[2]  # its rule errored this run: unknown, so neither closed nor forgotten
    done = reconcile({SCOPE: _state(before)}, [ScopeRun(
        SCOPE, True, _typed(now), resource_uids=frozenset(f["resources"][0]["uid"] for f in now),
        unevaluated_uids=frozenset({kept["finding_info"]["uid"]}))], time_ms=42)
    [gone] = _ocsf(done.closed)
    assert gone["finding_info"]["uid"] == before[3]["finding_info"]["uid"]
    assert (gone["activity_id"], gone["status_id"], gone["type_uid"], gone["time"]) == (3, 4, 200303, 42)
    assert gone["status_detail"] == VANISHED
    assert sorted(done.states[SCOPE]) == sorted(uids(before[:3]))
    # Next run: nothing more to close (closed findings are delivered once).
    again = reconcile(done.states, [ScopeRun(SCOPE, True, _typed(now))], time_ms=43)
    assert uids(_ocsf(again.closed)) == [kept["finding_info"]["uid"]]


def test_reconcile_leaves_failed_scopes_alone() -> None:
    before = aws_findings(3)
    done = reconcile({SCOPE: _state(before)}, [ScopeRun(SCOPE, False, [])], time_ms=1)
    assert done.closed == [] and done.states == {}


def test_finding_that_no_longer_applies_to_an_existing_resource() -> None:
    before = [finding(aws_asset(0), "AISPM-NET-002")]
    res = before[0]["resources"][0]["uid"]
    done = reconcile({SCOPE: _state(before)}, [ScopeRun(SCOPE, True, [], resource_uids=frozenset({res}))], 5)
    assert _ocsf(done.closed)[0]["status_detail"] == NO_LONGER_APPLIES


def test_reconcile_names_the_findings_that_became_suppressed() -> None:
    old = [finding(aws_asset(0)), finding(aws_asset(1), suppression="accepted"), finding(aws_asset(2))]
    now = [finding(aws_asset(0), suppression="accepted"), finding(aws_asset(1), suppression="accepted"),
           finding(aws_asset(2)), finding(aws_asset(3), suppression="accepted")]
    done = reconcile({SCOPE: _state(old)}, [ScopeRun(SCOPE, True, _typed(now))], time_ms=9)
    # Newly suppressed (0) and new and suppressed (3); already suppressed (1) and unsuppressed (2) are not.
    assert done.became_suppressed == {now[0]["finding_info"]["uid"], now[3]["finding_info"]["uid"]}
