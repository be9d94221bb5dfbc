"""The inventory exports by format name: what the file and S3 sinks write and ``aispm export`` rebuilds."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any

from aispm.normalizer.schema import Asset
from aispm.rules.finding import Finding
from aispm.sinks.formats.cyclonedx import bom_bytes
from aispm.sinks.formats.inventory import FORMATS, Inventory
from aispm.sinks.formats.inventory_csv import csv_bytes
from aispm.sinks.formats.report import report_bytes

RENDERERS: dict[str, Callable[[Inventory], Iterator[bytes]]] = {
    "csv": csv_bytes, "cyclonedx": bom_bytes, "html": report_bytes}


def inventory_of(assets: Iterable[Asset], findings: Iterable[Finding], summary: Mapping[str, Any]) -> Inventory:
    """The inventory of a scan's batch."""
    return Inventory.build(assets, findings, summary, str(summary.get("version") or ""))


def exports(inventory: Inventory, formats: Sequence[str] = tuple(FORMATS)
            ) -> Iterator[tuple[str, str, Iterator[bytes]]]:
    """(file name, media type, content chunks) of each format, in the order asked."""
    for fmt in formats:
        name, media_type = FORMATS[fmt]
        yield name, media_type, RENDERERS[fmt](inventory)


def named_exports(summary: Mapping[str, Any], assets: Iterable[Asset],
                  findings: Iterable[Finding]) -> Iterator[tuple[str, str, Iterator[bytes]]]:
    """The exports among the files a scan's summary names (``files``): what a sink writes besides the
    scan's own files. Nothing for a batch whose summary names none (a replay, another kind of run)."""
    names = set(summary.get("files") or ())
    formats = [fmt for fmt, (name, _) in FORMATS.items() if name in names]
    if formats:
        yield from exports(inventory_of(assets, findings, summary), formats)
