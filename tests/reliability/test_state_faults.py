"""Fault injection on the lifecycle state: a save that dies between DynamoDB items, corrupt scopes,
concurrent and killed saves of one state file. Each asserts that no finding is lost, none is closed
wrongly, and the run ends with the documented exit code instead of a traceback."""

from __future__ import annotations

import gzip
import json
import multiprocessing
import os
import random
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

from aispm.cli import main
from aispm.sinks.delivery.state import DynamoStateStore, FileStateStore, StateError
from aispm.sinks.formats.ocsf import to_ocsf
from tests.support.findings import aws_asset, finding, uids

TABLE = "aispm-state"
SCOPE = "aws:123456789012:us-east-1"
OTHER = "aws:123456789012:eu-west-1"


def _table() -> None:
    boto3.client("dynamodb", region_name="us-east-1").create_table(
        TableName=TABLE, BillingMode="PAY_PER_REQUEST",
        KeySchema=[{"AttributeName": "scope", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "scope", "AttributeType": "S"}])


@pytest.fixture
def dynamo() -> Iterator[Any]:
    with mock_aws():
        _table()
        yield boto3.client("dynamodb", region_name="us-east-1")


def _big_state(n: int, tag: str) -> dict[str, dict[str, Any]]:
    """Findings whose details do not compress, so the scope spills into several chunk items."""
    many = [finding(aws_asset(i).model_copy(update={"details": {"nonce": os.urandom(400).hex(), "tag": tag}}))
            for i in range(n)]
    return {f["finding_info"]["uid"]: f for f in many}


def _fail_put(client: Any, when: Any) -> None:
    """Make this real client's PutItem fail, as throttling or a Lambda deadline would, when ``when(params)``."""
    def hook(params: dict[str, Any], **_: Any) -> None:
        if when(params):
            raise ClientError({"Error": {"Code": "ProvisionedThroughputExceededException",
                                         "Message": "Rate exceeded"}}, "PutItem")
    client.meta.events.register("provide-client-params.dynamodb.PutItem", hook)


def test_a_save_that_dies_before_the_main_item_leaves_the_previous_state_readable(dynamo: Any) -> None:
    first = _big_state(1200, "first")
    DynamoStateStore(TABLE, client=dynamo).save({SCOPE: first})
    assert int(dynamo.get_item(TableName=TABLE, Key={"scope": {"S": SCOPE}})["Item"]["chunks"]["N"]) > 1

    crashing = boto3.client("dynamodb", region_name="us-east-1")
    _fail_put(crashing, lambda p: p["Item"]["scope"]["S"] == SCOPE)   # every chunk written, then the main item fails
    second = _big_state(1200, "second")
    with pytest.raises(StateError, match="Rate exceeded"):
        DynamoStateStore(TABLE, client=crashing).save({SCOPE: second})

    loaded = DynamoStateStore(TABLE, client=dynamo).load([SCOPE])
    assert loaded.errors == {}
    assert loaded.states[SCOPE] == first   # the old generation, whole


@pytest.mark.parametrize("fail_at", [1, 2, 3])
def test_a_save_that_dies_between_chunks_leaves_the_previous_state_readable(dynamo: Any, fail_at: int) -> None:
    first = _big_state(1200, "first")
    DynamoStateStore(TABLE, client=dynamo).save({SCOPE: first})
    calls = {"n": 0}

    def nth(_: dict[str, Any]) -> bool:
        calls["n"] += 1
        return calls["n"] == fail_at

    crashing = boto3.client("dynamodb", region_name="us-east-1")
    _fail_put(crashing, nth)
    with pytest.raises(StateError):
        DynamoStateStore(TABLE, client=crashing).save({SCOPE: _big_state(1500, "second")})
    assert DynamoStateStore(TABLE, client=dynamo).load([SCOPE]).states[SCOPE] == first


def test_a_successful_save_replaces_the_chunks_of_the_previous_generation(dynamo: Any) -> None:
    store = DynamoStateStore(TABLE, client=dynamo)
    store.load([SCOPE])
    store.save({SCOPE: _big_state(1200, "a")})
    store.save({SCOPE: _big_state(1200, "b")})
    keys = sorted(i["scope"]["S"] for i in dynamo.scan(TableName=TABLE)["Items"])
    main_item = dynamo.get_item(TableName=TABLE, Key={"scope": {"S": SCOPE}})["Item"]
    gen = main_item["gen"]["S"]
    assert [k for k in keys if k != SCOPE] == [f"{SCOPE}#{gen}#{n}" for n in range(1, int(main_item["chunks"]["N"]))]


def test_a_concurrent_newer_save_is_not_overwritten(dynamo: Any) -> None:
    mine, theirs = DynamoStateStore(TABLE, client=dynamo), DynamoStateStore(TABLE, client=dynamo)
    mine.load([SCOPE])
    theirs.load([SCOPE])
    theirs.save({SCOPE: _big_state(3, "theirs")})
    with pytest.raises(StateError, match="ConditionalCheckFailed"):
        mine.save({SCOPE: _big_state(3, "mine")})
    [tag] = {f["resources"][0]["data"]["tag"] for f in mine.load([SCOPE]).states[SCOPE].values()}
    assert tag == "theirs"


def test_a_save_that_switches_generations_while_another_run_reads_is_read_again(dynamo: Any) -> None:
    DynamoStateStore(TABLE, client=dynamo).save({SCOPE: _big_state(1200, "old")})
    newer = _big_state(1200, "new")
    reader_client = boto3.client("dynamodb", region_name="us-east-1")
    calls = {"n": 0}

    def between_reads(**_: Any) -> None:
        calls["n"] += 1
        if calls["n"] == 2:   # the main item is read, its chunks not yet: another run saves now
            writer = DynamoStateStore(TABLE, client=dynamo)
            writer.load([SCOPE])
            writer.save({SCOPE: newer})

    reader_client.meta.events.register("before-call.dynamodb.BatchGetItem", between_reads)
    loaded = DynamoStateStore(TABLE, client=reader_client).load([SCOPE])
    assert calls["n"] > 2
    assert loaded.errors == {}
    assert loaded.states[SCOPE] == newer


def _torn_old_layout(client: Any, scope: str) -> dict[str, Any]:
    """What the older save left after dying between chunks: a main item whose chunk belongs to another save."""
    blob = gzip.compress(json.dumps(_big_state(1200, "old")).encode())
    other = gzip.compress(json.dumps(_big_state(1200, "other")).encode())
    item = {"scope": {"S": scope}, "findings": {"B": blob[:350_000]}, "chunks": {"N": "2"},
            "count": {"N": "1200"}, "updated": {"S": "2026-11-01T00:00:00+00:00"}}
    client.put_item(TableName=TABLE, Item=item)
    client.put_item(TableName=TABLE, Item={"scope": {"S": f"{scope}#1"}, "findings": {"B": other[350_000:]}})
    return item


def test_a_corrupt_scope_is_a_state_error_of_that_scope_only(dynamo: Any) -> None:
    _torn_old_layout(dynamo, SCOPE)
    good = _big_state(3, "good")
    DynamoStateStore(TABLE, client=dynamo).save({OTHER: good})
    loaded = DynamoStateStore(TABLE, client=dynamo).load([SCOPE, OTHER])
    assert loaded.states == {OTHER: good}
    assert SCOPE in loaded.errors[SCOPE] and "cannot be read" in loaded.errors[SCOPE]


def _findings(out: Path) -> list[dict[str, Any]]:
    return [json.loads(x) for x in (out / "findings.ocsf.jsonl").read_text().splitlines()]


def test_scan_with_a_corrupt_scope_in_the_table_exits_4_and_reconciles_the_rest(
        sagemaker: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    _table()
    dynamo = boto3.client("dynamodb", region_name="us-east-1")
    monkeypatch.setenv("AISPM_STATE_TABLE", TABLE)
    east = sagemaker(["keep", "gone"])
    west = sagemaker(["west-keep", "west-gone"], region="eu-west-1")
    argv = ["scan", "--provider", "aws", "--region", "us-east-1", "--region", "eu-west-1"]
    assert main([*argv, "--out", str(tmp_path / "1")]) == 0
    first = _findings(tmp_path / "1")

    item = _torn_old_layout(dynamo, OTHER)   # eu-west-1's state is now unreadable
    for sm, name in ((east, "gone"), (west, "west-gone")):
        sm.stop_notebook_instance(NotebookInstanceName=name)
        sm.delete_notebook_instance(NotebookInstanceName=name)
    capsys.readouterr()
    assert main([*argv, "--out", str(tmp_path / "2")]) == 4
    err = capsys.readouterr().err
    assert "Traceback" not in err and "lifecycle state error" in err
    summary = json.loads((tmp_path / "2" / "summary.json").read_text())
    assert summary["state"]["status"] == "error" and OTHER in summary["state"]["error"]
    closed = [f for f in _findings(tmp_path / "2") if f["activity_id"] == 3]
    # us-east-1 is reconciled: exactly the vanished notebook's findings close; eu-west-1 closes nothing.
    assert sorted(uids(closed)) == sorted(uids([f for f in first if f["resources"][0]["name"] == "gone"]))
    # The corrupt scope is left exactly as it was.
    assert dynamo.get_item(TableName=TABLE, Key={"scope": {"S": OTHER}})["Item"] == item


# ------------------------------------------------------------------ the state file


def _save_loop(path: str, scope: str, rounds: int) -> None:
    store = FileStateStore(path)
    for n in range(rounds):
        f = finding(aws_asset(n))
        store.save({scope: {f["finding_info"]["uid"]: f}})


def test_concurrent_saves_to_one_file_keep_every_scope(tmp_path: Path) -> None:
    path = str(tmp_path / "state.json")
    scopes = [f"aws:1111111111{i:02d}:us-east-1" for i in range(6)]
    ctx = multiprocessing.get_context("fork")
    procs = [ctx.Process(target=_save_loop, args=(path, s, 25)) for s in scopes]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
        assert p.exitcode == 0
    loaded = FileStateStore(path).load(scopes)
    assert loaded.errors == {}
    assert sorted(loaded.states) == sorted(scopes)
    last = finding(aws_asset(24))["finding_info"]["uid"]
    assert all(list(state) == [last] for state in loaded.states.values())
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


def _save_forever(path: str) -> None:
    store = FileStateStore(path)
    state = {f["finding_info"]["uid"]: f for f in (finding(aws_asset(i)) for i in range(300))}
    while True:
        store.save({SCOPE: state})


def test_a_save_killed_at_any_point_leaves_a_readable_state_file(tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    expected = sorted(uids([finding(aws_asset(i)) for i in range(300)]))
    ctx = multiprocessing.get_context("fork")
    rng = random.Random(7)
    rounds_with_state = 0
    for _ in range(8):
        proc = ctx.Process(target=_save_forever, args=(str(path),))
        proc.start()
        time.sleep(rng.uniform(0.05, 0.4))
        assert proc.pid is not None
        os.kill(proc.pid, signal.SIGKILL)
        proc.join(10)
        loaded = FileStateStore(path).load([SCOPE])
        assert loaded.errors == {}
        if loaded.states:   # the first kill may land before the first save completed
            assert sorted(loaded.states[SCOPE]) == expected
            rounds_with_state += 1
    assert rounds_with_state >= 4


def test_a_torn_state_file_exits_4_and_is_kept(sagemaker: Any, tmp_path: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    sagemaker(["nb"])
    state = tmp_path / "state.json"
    argv = ["scan", "--provider", "aws", "--region", "us-east-1", "--state", str(state)]
    assert main([*argv, "--out", str(tmp_path / "1")]) == 0
    torn = state.read_bytes()[: len(state.read_bytes()) // 2]
    state.write_bytes(torn)
    capsys.readouterr()
    assert main([*argv, "--out", str(tmp_path / "2")]) == 4
    assert "Traceback" not in capsys.readouterr().err
    assert state.read_bytes() == torn
    summary = json.loads((tmp_path / "2" / "summary.json").read_text())
    assert summary["state"]["status"] == "error"
    assert summary["findings"]["closed"] == 0
    assert {f["activity_id"] for f in _findings(tmp_path / "2")} == {1}


def test_a_scan_whose_state_save_dies_half_way_exits_4_and_the_next_scan_closes_only_what_vanished(
        sagemaker: Any, tmp_path: Path) -> None:
    from aispm.collectors.base import CollectOptions
    from aispm.pipeline import run_scan
    from aispm.pipeline_types import ScanRequest

    _table()
    sm = sagemaker(["keep", "gone"])
    options = CollectOptions(regions=["us-east-1"])
    healthy = boto3.client("dynamodb", region_name="us-east-1")
    first = run_scan(ScanRequest(providers=["aws"], options=options, out_dir=tmp_path / "1",
                                 state=DynamoStateStore(TABLE, client=healthy)))
    assert first.exit_code == 0

    sm.stop_notebook_instance(NotebookInstanceName="gone")
    sm.delete_notebook_instance(NotebookInstanceName="gone")
    crashing = boto3.client("dynamodb", region_name="us-east-1")
    _fail_put(crashing, lambda p: p["Item"]["scope"]["S"] == SCOPE)
    second = run_scan(ScanRequest(providers=["aws"], options=options, out_dir=tmp_path / "2",
                                  state=DynamoStateStore(TABLE, client=crashing)))
    summary = json.loads((tmp_path / "2" / "summary.json").read_text())
    assert second.exit_code == 4
    assert summary["state"]["status"] == "error" and "Rate exceeded" in summary["state"]["error"]
    gone = sorted(uids([f for f in map(to_ocsf, first.batch.findings) if f["resources"][0]["name"] == "gone"]))
    assert sorted(uids([f for f in map(to_ocsf, second.batch.findings) if f["activity_id"] == 3])) == gone

    # The state still holds the first scan: the next healthy run closes the vanished notebook again
    # (delivered at least once, never lost) and nothing of the notebook that still exists.
    third = run_scan(ScanRequest(providers=["aws"], options=options, out_dir=tmp_path / "3",
                                 state=DynamoStateStore(TABLE, client=healthy)))
    assert third.exit_code == 0
    closed = [f for f in map(to_ocsf, third.batch.findings) if f["activity_id"] == 3]
    assert sorted(uids(closed)) == gone
    assert not [f for f in closed if f["resources"][0]["name"] == "keep"]
