"""The file sink writes the batch's typed assets: assets.jsonl and the exports are exactly what the assets'
JSON (and the assets validated again from it) give."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

from aispm.normalizer.schema import Asset
from aispm.sinks.base import Batch
from aispm.sinks.formats.exports import exports
from aispm.sinks.formats.inventory import FORMATS, INVENTORY_FILES, Inventory
from aispm.sinks.transports.files import ASSETS_FILE, FileSink
from tests.support.inventory import estate, findings, summary


def test_typed_assets_are_written_as_their_json(tmp_path: Path) -> None:
    assets = estate()
    found = findings(assets)
    head = {**summary(assets), "files": list(INVENTORY_FILES)}
    report = FileSink(tmp_path).deliver(Batch(scan_id="scan-1", findings=found, assets=assets, summary=head))
    assert report.undelivered == []
    dumped = [a.model_dump(mode="json") for a in assets]
    lines = (tmp_path / ASSETS_FILE).read_bytes().decode("utf-8").splitlines()
    assert [json.loads(line) for line in lines] == dumped
    assert lines[4].count('"ünï":"cødé"') == 1   # compact, non-ASCII written as UTF-8
    again = Inventory.build([Asset.model_validate(d) for d in dumped], found, head, str(head.get("version") or ""))
    for name, _, chunks in exports(again, list(FORMATS)):
        assert (tmp_path / name).read_bytes() == b"".join(chunks), name


def test_a_value_orjson_refuses_is_still_written(tmp_path: Path) -> None:
    """A lone surrogate (a cloud's JSON can carry one) and an integer beyond 64 bits are written by json."""
    from aispm.sinks.formats.jsonbytes import compact, json_lines

    odd = {"tag": "half \ud800 pair", "size": 2**70, "when": dt.datetime(2026, 12, 7, tzinfo=dt.UTC), 1: "one"}
    assert json.loads(compact(odd)) == {"tag": "half \ud800 pair", "size": 2**70, "when": "2026-12-07 00:00:00+00:00",
                                        "1": "one"}
    assert compact({"a": [1, None, True]}) == b'{"a":[1,null,true]}'
    assert b"".join(json_lines([{"a": 1}, odd])).count(b"\n") == 2
