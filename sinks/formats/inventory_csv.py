"""``inventory.csv`` (inventory-v1.md): one row per asset, RFC 4180, safe to open in a spreadsheet.

Rows are produced one at a time (the file sink streams them to disk), so the CSV costs no memory beyond
the assets already held.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from typing import Any

import orjson

from aispm.normalizer.schema import Asset
from aispm.sinks.formats.inventory import FAIL_SEVERITIES, Inventory

COLUMNS = ("provider", "service", "kind", "account", "region", "name", "uid", "created", "tags", "identities",
           "lineage", "fail_critical", "fail_high", "fail_medium", "fail_low", "pass")
# A spreadsheet evaluates a cell starting with one of these as a formula (CSV injection, OWASP).
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def neutralize(cell: str) -> str:
    """The cell with a leading ``'`` when a spreadsheet would read it as a formula."""
    return "'" + cell if cell.startswith(FORMULA_STARTS) else cell


def _json(value: Any) -> str:
    """Compact JSON with sorted keys, non-ASCII as is: the bytes of ``json.dumps(value, separators=(",", ":"),
    ensure_ascii=False, sort_keys=True)`` (the same escapes for every character), three times faster."""
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS).decode()


def row(asset: Asset, inventory: Inventory) -> list[str]:
    tally = inventory.tally(asset.uid)
    cells = [
        asset.provider, asset.service, asset.kind, asset.account, asset.region, asset.name, asset.uid,
        asset.created.isoformat() if asset.created else "",
        _json(asset.tags),
        _json(list(asset.identities or ())),
        _json([{"rel": e.rel, "uid": e.uid} for e in asset.lineage]),
        *(str(tally.fail[s]) for s in FAIL_SEVERITIES),
        str(tally.passed),
    ]
    return [neutralize(c) for c in cells]


def csv_lines(inventory: Inventory) -> Iterator[str]:
    """The header, then one CRLF-terminated record per asset in the inventory order."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, dialect="excel", lineterminator="\r\n", quoting=csv.QUOTE_MINIMAL)

    def take(cells: list[str]) -> str:
        writer.writerow(cells)
        text = buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()
        return text

    yield take(list(COLUMNS))
    for asset in inventory.assets:
        yield take(row(asset, inventory))


def csv_bytes(inventory: Inventory) -> Iterator[bytes]:
    for line in csv_lines(inventory):
        yield line.encode("utf-8")
