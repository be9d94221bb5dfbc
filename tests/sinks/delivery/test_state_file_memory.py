"""The file state store writes its JSON in pieces and, while the file is the version it last saw,
saves without decoding it again; any other run's save in between is still kept."""

from __future__ import annotations

import datetime as dt
import json
import os
from pathlib import Path

import pytest

from aispm.sinks.delivery.state import FileStateStore, StateError, dumps, json_chunks
from tests.support.findings import aws_findings

SCOPE = "aws:123456789012:us-east-1"
OTHER = "aws:123456789012:eu-west-1"


@pytest.mark.parametrize("value", [
    {"version": 1, "scopes": {SCOPE: {"updated": "t", "findings": {"u1": {"a": [1, 2.5, None, "é"]}, "u2": {}}}}},
    {"scopes": {}, "x": {1: "int key", None: "n", False: "b"}, "y": "\u2028 \"quoted\" \x00", "z": Path("p")},
    {"when": dt.datetime(2026, 12, 7, 19, 0, tzinfo=dt.UTC), "day": dt.date(2026, 12, 7), "big": 2**70,
     "floats": [1e16, -0.0, 1.5e-7, 123456789.123]},
    [], "", 3, {"a": {"b": {"c": {"d": {"e": {"f": 1}}}}}},
])
def test_chunks_read_back_as_what_json_dumps_writes(value: object) -> None:
    written = b"".join(json_chunks(value))
    assert json.loads(written) == json.loads(json.dumps(value, separators=(",", ":"), default=str))
    assert json.loads(dumps(value)) == json.loads(written)


def test_state_json_is_compact() -> None:
    assert b"".join(json_chunks({"a": [1, {"b": None}], "c": {"d": 1.5}})) == b'{"a":[1,{"b":null}],"c":{"d":1.5}}'


def test_non_ascii_is_written_as_utf8() -> None:
    assert b"".join(json_chunks({"name": "modèle ✓"})) == '{"name":"modèle ✓"}'.encode()


def _scope(findings: list[dict[str, object]]) -> dict[str, dict[str, object]]:
    return {str(f["finding_info"]["uid"]): f for f in findings}  # type: ignore[index]


def test_unchanged_file_is_not_decoded_again(tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    store = FileStateStore(path)
    store.load([SCOPE])
    first, second = _scope(aws_findings(3)), _scope(aws_findings(2))
    store.save({SCOPE: first})
    # Same file (inode, size, modification time) but unreadable content: only a store that reads it again fails.
    st = path.stat()
    path.write_bytes(b"x" * st.st_size)
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
    store.save({SCOPE: second})
    assert json.loads(path.read_bytes())["scopes"][SCOPE]["findings"] == second


def test_a_save_by_another_run_in_between_is_kept(tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    mine, theirs = FileStateStore(path), FileStateStore(path)
    mine.save({SCOPE: _scope(aws_findings(3))})
    theirs.save({OTHER: _scope(aws_findings(2, region="eu-west-1"))})
    mine.save({SCOPE: _scope(aws_findings(1))})
    loaded = FileStateStore(path).load([SCOPE, OTHER]).states
    assert sorted(loaded) == [OTHER, SCOPE] and len(loaded[OTHER]) == 2 and len(loaded[SCOPE]) == 1


def test_a_changed_file_is_read_again(tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    store = FileStateStore(path)
    store.save({SCOPE: _scope(aws_findings(1))})
    path.write_text("not json")
    with pytest.raises(StateError):
        store.save({SCOPE: _scope(aws_findings(1))})


def test_scopes_handed_out_but_not_replaced_make_it_read_again(tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    FileStateStore(path).save({SCOPE: _scope(aws_findings(2)), OTHER: _scope(aws_findings(1, region="eu-west-1"))})
    store = FileStateStore(path)
    assert sorted(store.load([SCOPE, OTHER]).states) == [OTHER, SCOPE]
    store.save({SCOPE: _scope(aws_findings(1))})   # OTHER was handed out, not replaced: it stays as stored
    assert len(FileStateStore(path).load([OTHER]).states[OTHER]) == 1
