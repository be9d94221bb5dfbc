"""``aispm export``: rebuild the inventory exports (CSV, CycloneDX AI-BOM, HTML report) from a scan's files.

Reads ``assets.jsonl``, ``findings.ocsf.jsonl`` and ``summary.json`` from ``--from`` without touching a cloud.
Whatever is missing or unreadable stops the command with one line naming the file (and line) and exit 2,
before anything is written. The findings are read as a stream and folded into tallies: of each, only the few
fields the exports count are picked (and checked) from its JSON, with no Finding made, which is most of the
command's time at 100,000 findings (bench/export_inventory.py). msgspec decodes a block of lines at a time into
typed structs of just those fields (twice as fast as parsing every field with orjson); whatever that typed
reader does not take is read again by ``verdict``, the general reader, which counts it or names what is wrong.
"""

from __future__ import annotations

import argparse
import gc
import io
import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import msgspec
import orjson
from pydantic import ValidationError

from aispm import exitcodes
from aispm.collectors.base import one_line
from aispm.exitcodes import UsageError
from aispm.normalizer.providers import BY_DISPLAY
from aispm.normalizer.schema import Asset
from aispm.outdir import check_out_dir
from aispm.rules.compliance import said_details
from aispm.rules.finding import Outcome
from aispm.rules.model import Severity
from aispm.sinks.atomic import write_atomic
from aispm.sinks.formats.exports import exports
from aispm.sinks.formats.inventory import DETAIL_KEYS, FORMATS, Inventory, Tallies, Verdict
from aispm.sinks.formats.ocsf import ACTIVITY_CLOSE, STATUS_SUPPRESSED
from aispm.sinks.transports.files import ASSETS_FILE, FINDINGS_FILE, SUMMARY_FILE
from aispm.terminal import say

_SEVERITIES = {s.name: s for s in Severity}
_SEVERITY_IDS = {s.value: s for s in Severity}
_PROVIDERS = {display: p.name for display, p in BY_DISPLAY.items()}
# An OCSF resource's data is the asset's details plus its service (from_ocsf takes that out).
_DETAIL_KEYS = [k for k in DETAIL_KEYS if k != "service"]


def _why(exc: Exception) -> str:
    if isinstance(exc, ValidationError):
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err.get("loc", ())) or "value"
        return f"{where}: {err.get('msg', 'invalid')}"
    if isinstance(exc, KeyError):
        return f"missing field {exc.args[0]!r}"
    return one_line(exc, 200)


def _asset(path: Path, n: int, raw: bytes) -> Asset:
    """One line of assets.jsonl: pydantic parses and validates it in one step; a line it rejects is read again
    with orjson and validated as a dict, which names the error (or takes the line) as before."""
    try:
        return Asset.model_validate_json(raw)
    except ValidationError:
        pass
    try:
        value = orjson.loads(raw)
    except ValueError as exc:
        raise UsageError(f"{path} line {n}: not valid JSON ({one_line(exc, 120)})") from None
    try:
        return Asset.model_validate(value)
    except ValidationError as exc:
        raise UsageError(f"{path} line {n}: not an aispm asset ({_why(exc)})") from None


def read_assets(path: Path) -> list[Asset]:
    try:
        with path.open("rb") as fh:
            return [_asset(path, n, raw) for n, raw in enumerate(fh, 1) if raw.strip()]
    except OSError as exc:
        raise UsageError(f"{path}: cannot read ({exc.strerror or exc})") from None


def _object(value: Any, name: str) -> dict[str, Any]:
    if type(value) is not dict:
        raise ValueError(f"{name}: not an object")
    return value


def verdict(o: Any) -> Verdict:
    """What the exports count of one OCSF finding of aispm's, read as ``from_ocsf`` reads it (the tests hold
    the two to the same tallies) but without making a Finding; KeyError/ValueError when it is not one."""
    o = _object(o, "finding")
    info, comp, cloud = _object(o["finding_info"], "finding_info"), _object(o["compliance"], "compliance"), \
        _object(o["cloud"], "cloud")
    resources = o["resources"]
    if type(resources) is not list or not resources:
        raise ValueError("resources: not a non-empty list")
    res = _object(resources[0], "resources[0]")
    provider = _PROVIDERS.get(cloud["provider"])
    if provider is None:
        raise ValueError(f"cloud.provider: unknown cloud {cloud['provider']!r}")
    _object(cloud["account"], "cloud.account")["uid"]   # as from_ocsf, which needs them: the account, the time
    int(o["time"])
    title = str(info["title"])
    remediation = _object(o.get("remediation") or {}, "remediation")
    desc = remediation.get("desc", "")
    unmapped = o.get("unmapped")
    name = (_object(unmapped, "unmapped").get("rule_severity") if unmapped else None) \
        or Severity(int(o["severity_id"])).name
    severity = _SEVERITIES.get(name)
    if severity is None:
        raise ValueError(f"unmapped.rule_severity: unknown severity {name!r}")
    data = res.get("data")
    said = said_details(_object(data, "resources[0].data"), _DETAIL_KEYS) if data else ()
    outcome: Outcome
    if o.get("activity_id") == ACTIVITY_CLOSE:
        outcome = "closed"
    elif comp["status"] == "Pass":
        outcome = "pass"
    else:
        outcome = "suppressed" if o.get("status_id") == STATUS_SUPPRESSED else "fail"
    return (str(res["uid"]), provider, str(res.get("type", "")), said, str(comp["control"]), title,
            ("" if desc == title else str(desc)) or title, severity, outcome)


# The fields of an aispm OCSF finding that ``verdict`` reads, typed as aispm writes them; msgspec skips the rest.
class _Info(msgspec.Struct):
    title: str


class _Compliance(msgspec.Struct):
    control: str
    status: str | None = None


class _Account(msgspec.Struct):
    uid: msgspec.Raw


class _Cloud(msgspec.Struct):
    provider: str
    account: _Account


class _Resource(msgspec.Struct):
    uid: str
    type: str = ""
    data: dict[str, msgspec.Raw] | None = None   # only the values said_details reads are decoded (with orjson)


class _Remediation(msgspec.Struct):
    desc: str = ""


class _Unmapped(msgspec.Struct):
    rule_severity: str | None = None


class _Finding(msgspec.Struct):
    finding_info: _Info
    compliance: _Compliance
    cloud: _Cloud
    resources: list[_Resource]
    time: int
    activity_id: int | None = None
    status_id: int | None = None
    severity_id: int | None = None
    remediation: _Remediation | None = None
    unmapped: _Unmapped | None = None


_DECODER = msgspec.json.Decoder(_Finding)
_BLOCK = 1 << 22   # bytes read at a time (plus the rest of the last line): some 1,400 findings


def typed_verdict(f: _Finding) -> Verdict | None:
    """``verdict`` of a finding the typed decoder read, or None where the typed fields alone cannot say it
    the same way (an unknown cloud or severity, no resource, a status that is null or missing): the general
    reader then decides."""
    if not f.resources:
        return None
    res, comp = f.resources[0], f.compliance
    provider = _PROVIDERS.get(f.cloud.provider)
    name = f.unmapped.rule_severity if f.unmapped else None
    if name:
        severity = _SEVERITIES.get(name)
    else:
        severity = _SEVERITY_IDS.get(f.severity_id) if f.severity_id is not None else None
    if provider is None or severity is None:
        return None
    outcome: Outcome
    if f.activity_id == ACTIVITY_CLOSE:
        outcome = "closed"
    elif comp.status is None:
        return None
    elif comp.status == "Pass":
        outcome = "pass"
    else:
        outcome = "suppressed" if f.status_id == STATUS_SUPPRESSED else "fail"
    data = res.data
    said = tuple([(k, str(orjson.loads(memoryview(data[k])))) for k in _DETAIL_KEYS if k in data]) if data else ()
    title = f.finding_info.title
    desc = f.remediation.desc if f.remediation else ""
    return (res.uid, provider, res.type, said, comp.control, title, ("" if desc == title else desc) or title,
            severity, outcome)


def _typed_block(block: bytes, lines: int) -> list[Verdict] | None:
    """The verdicts of a block of ``lines`` lines when the typed reader takes every one, else None.
    ``decode_lines`` reads whitespace-separated JSON values, so it must find exactly one per line."""
    try:
        found = _DECODER.decode_lines(block)
    except msgspec.MsgspecError:
        return None
    if len(found) != lines:
        return None
    out = []
    for f in found:
        v = typed_verdict(f)
        if v is None:
            return None
        out.append(v)
    return out


def read_typed(raw: bytes) -> Verdict | None:
    """The verdict of one line by the typed reader, or None when it does not take the line."""
    try:
        return typed_verdict(_DECODER.decode(raw))
    except msgspec.MsgspecError:
        return None


def _line_verdict(path: Path, n: int, raw: bytes) -> Verdict:
    """One line: the typed reader, else the general one, which names what is wrong."""
    v = read_typed(raw)
    if v is not None:
        return v
    try:
        value = orjson.loads(raw)
    except ValueError as exc:
        raise UsageError(f"{path} line {n}: not valid JSON ({one_line(exc, 120)})") from None
    try:
        return verdict(value)
    except (KeyError, ValueError, TypeError) as exc:
        raise UsageError(f"{path} line {n}: not an aispm OCSF finding ({_why(exc)})") from None


def read_findings(path: Path) -> Tallies:
    """The findings file folded into tallies, a block of whole lines at a time (one line at a time where a
    block has a blank line or a line the typed reader does not take)."""
    tallies = Tallies()
    first = 1   # the block's first line number
    try:
        with path.open("rb") as fh:
            while block := fh.read(_BLOCK):
                if not block.endswith(b"\n"):
                    block += fh.readline()
                lines = block.count(b"\n") + (not block.endswith(b"\n"))
                verdicts = _typed_block(block, lines)
                if verdicts is None:
                    verdicts = [_line_verdict(path, n, raw) for n, raw in enumerate(io.BytesIO(block), first)
                                if raw.strip()]
                for v in verdicts:
                    tallies.add(v)
                first += lines
    except OSError as exc:
        raise UsageError(f"{path}: cannot read ({exc.strerror or exc})") from None
    return tallies


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
    return Inventory.of(assets, read_findings(paths[FINDINGS_FILE]), summary, str(summary.get("version") or ""))


@contextmanager
def _no_cycle_collection() -> Iterator[None]:
    """The cycle collector off while the export runs: it builds hundreds of thousands of long-lived objects
    (10,000 assets) and makes next to no cyclic garbage, and the collector re-walking them made reading the
    assets 2.5x slower."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def run_export(args: argparse.Namespace) -> int:
    source = Path(args.source)
    out_dir = Path(args.out) if args.out else source
    formats = list(dict.fromkeys(args.format or FORMATS))
    with _no_cycle_collection():
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
