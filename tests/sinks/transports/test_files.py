"""The file sink writes the batch's typed assets: assets.jsonl and the exports are exactly what the assets'
JSON (and the assets validated again from it) give."""

from __future__ import annotations

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
    assert (tmp_path / ASSETS_FILE).read_text().splitlines() == [
        json.dumps(d, separators=(",", ":"), default=str) for d in dumped]
    again = Inventory.build([Asset.model_validate(d) for d in dumped], found, head, str(head.get("version") or ""))
    for name, _, chunks in exports(again, list(FORMATS)):
        assert (tmp_path / name).read_bytes() == b"".join(chunks), name
