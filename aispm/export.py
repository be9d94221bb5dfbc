"""``aispm export``: rebuild the inventory exports (CSV, CycloneDX AI-BOM, HTML report) from a scan's files.

Reads ``assets.jsonl``, ``findings.ocsf.jsonl`` and ``summary.json`` from ``--from`` without touching a cloud.
Whatever is missing or unreadable stops the command with one line naming the file (and line) and exit 2,
before anything is written. The findings are read as a stream: only their tallies are kept.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
from pydantic import ValidationError

from aispm import exitcodes
from aispm.collectors.base import one_line
from aispm.exitcodes import UsageError
from aispm.normalizer.schema import Asset
from aispm.rules.finding import Finding
from aispm.scan import check_out_dir
from aispm.sinks.atomic import write_atomic
from aispm.sinks.formats.exports import exports
from aispm.sinks.formats.inventory import FORMATS, Inventory
from aispm.sinks.formats.ocsf import from_ocsf
from aispm.sinks.transports.files import ASSETS_FILE, FINDINGS_FILE, SUMMARY_FILE
from aispm.terminal import say


def _why(exc: Exception) -> str:
    if isinstance(exc, ValidationError):
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err.get("loc", ())) or "value"
        return f"{where}: {err.get('msg', 'invalid')}"
    if isinstance(exc, KeyError):
        return f"missing field {exc.args[0]!r}"
    return one_line(exc, 200)


def _lines(path: Path) -> Iterator[tuple[int, Any]]:
    """(line number, JSON value) of each non-blank line; UsageError names the first line that is not JSON."""
    try:
        with path.open("rb") as fh:
            for n, raw in enumerate(fh, 1):
                if not raw.strip():
                    continue
                try:
                    yield n, orjson.loads(raw)
                except ValueError as exc:
                    raise UsageError(f"{path} line {n}: not valid JSON ({one_line(exc, 120)})") from None
    except OSError as exc:
        raise UsageError(f"{path}: cannot read ({exc.strerror or exc})") from None


def read_assets(path: Path) -> list[Asset]:
    assets: list[Asset] = []
    for n, value in _lines(path):
        try:
            assets.append(Asset.model_validate(value))
        except ValidationError as exc:
            raise UsageError(f"{path} line {n}: not an aispm asset ({_why(exc)})") from None
    return assets


def read_findings(path: Path) -> Iterator[Finding]:
    for n, value in _lines(path):
        try:
            if not isinstance(value, dict):
                raise ValueError("not a JSON object")
            yield from_ocsf(value)
        except (KeyError, ValueError, TypeError, IndexError) as exc:   # ValidationError is a ValueError
            raise UsageError(f"{path} line {n}: not an aispm OCSF finding ({_why(exc)})") from None


def read_summary(path: Path) -> dict[str, Any]:
    try:
        value = json.loads(path.read_bytes())
    except OSError as exc:
        raise UsageError(f"{path}: cannot read ({exc.strerror or exc})") from None
    except ValueError as exc:
        raise UsageError(f"{path}: not valid JSON ({one_line(exc, 120)})") from None
    if not isinstance(value, dict) or not isinstance(value.get("scopes", []), list):
        raise UsageError(f"{path}: not an aispm summary (expected an object with scan_id, scopes, ...)")
    return value


def load(folder: Path) -> Inventory:
    """The inventory of the scan whose files are in ``folder`` (UsageError when they cannot be used)."""
    if not folder.is_dir():
        raise UsageError(f"--from {folder}: not a folder")
    paths = {name: folder / name for name in (ASSETS_FILE, FINDINGS_FILE, SUMMARY_FILE)}
    for name, path in paths.items():
        if not path.is_file():
            raise UsageError(f"{path}: not found (--from must be a scan's --out folder with {name})")
    summary = read_summary(paths[SUMMARY_FILE])
    assets = read_assets(paths[ASSETS_FILE])
    return Inventory.build(assets, read_findings(paths[FINDINGS_FILE]), summary, str(summary.get("version") or ""))


def run_export(args: argparse.Namespace) -> int:
    source = Path(args.source)
    out_dir = Path(args.out) if args.out else source
    formats = list(dict.fromkeys(args.format or FORMATS))
    inventory = load(source)
    check_out_dir(out_dir)
    written = []
    for name, _, chunks in exports(inventory, formats):
        path = out_dir / name
        try:
            write_atomic(path, chunks)
        except OSError as exc:
            raise UsageError(f"--out {out_dir}: cannot write {name} ({exc.strerror or exc})") from None
        written.append(str(path))
    say(f"aispm export: {len(inventory.assets)} assets -> {', '.join(written)}")
    return exitcodes.OK
