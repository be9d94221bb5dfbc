"""``report.html`` (inventory-v1.md): the scan as one self-contained page a security lead opens in a browser.

Rendered from a Jinja2 template with autoescaping on, so every name, tag and error text from a cloud is
HTML-escaped. The CSS and the small search-and-paging script are inline and allowed by their SHA-256 hashes
in a Content-Security-Policy meta that forbids every other load (no network, no fonts, no images). Charts
and lineage pictures are inline SVG built here. The inventory table is paged by the script (100 rows at a
time), so 10,000 assets stay usable; without the script every row is simply shown.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cache
from itertools import pairwise
from typing import TYPE_CHECKING, Any

from markupsafe import Markup

from aispm import __version__
from aispm.normalizer.providers import PROVIDERS
from aispm.normalizer.schema import Asset
from aispm.sinks.formats.cyclonedx import MODEL_KINDS
from aispm.sinks.formats.inventory import FAIL_SEVERITIES, Inventory

if TYPE_CHECKING:
    from jinja2 import Environment
    from jinja2.bccache import BytecodeCache

TOP_RULES = 25
_BAR_WIDTH = 520
_LABEL = 28   # characters of a name shown in a lineage box (the whole name is its tooltip)


def template_cache(directory: str | None = None) -> BytecodeCache | None:
    """Where the compiled template is kept between runs (Jinja2's per-user directory under the system temp
    directory, mode 0700, unless ``directory``): compiling it anew costs every scan 0.1 s. A cache that cannot
    be made, read or written, or holds a damaged file, only means compiling again, never a failed report."""
    from jinja2 import FileSystemBytecodeCache

    class _Cache(FileSystemBytecodeCache):
        def load_bytecode(self, bucket: Any) -> None:
            try:
                super().load_bytecode(bucket)
            except Exception:  # noqa: BLE001 - unreadable, truncated or garbled: compile again
                bucket.reset()

        def dump_bytecode(self, bucket: Any) -> None:
            with contextlib.suppress(OSError):
                super().dump_bytecode(bucket)

    try:   # the version in the name: a release may change the environment's options without the template
        return _Cache(directory, f"__aispm-{__version__}_%s.cache")
    except (OSError, RuntimeError):   # Jinja2 refuses a temp directory another user owns or could write
        return None


def environment(cache_dir: str | None = None) -> Environment:
    # Imported here: Jinja2 is the report's alone, and the CSV and AI-BOM exports need not load it.
    from jinja2 import Environment, PackageLoader, select_autoescape

    return Environment(loader=PackageLoader("aispm.sinks.formats", "templates"),
                       autoescape=select_autoescape(default=True, default_for_string=True),
                       trim_blocks=True, lstrip_blocks=True, auto_reload=False,
                       bytecode_cache=template_cache(cache_dir))


@cache
def _environment() -> Environment:
    return environment()


def _static(name: str) -> str:
    loader = _environment().loader
    assert loader is not None
    source, _, _ = loader.get_source(_environment(), name)
    return source


def _sha256(text: str) -> str:
    return "sha256-" + base64.b64encode(hashlib.sha256(text.encode("utf-8")).digest()).decode("ascii")


def _display(provider: str) -> str:
    known = {name: p.display for name, p in PROVIDERS.items()}
    return known.get(provider, provider)


@dataclass
class Bar:
    label: str
    total: int
    segments: list[tuple[str, int, float, float]] = field(default_factory=list)  # (severity, n, x, width)


def _bars(rows: list[tuple[str, Counter[str]]]) -> list[Bar]:
    """Horizontal stacked bars by severity, scaled to the largest total."""
    top = max((sum(c.values()) for _, c in rows), default=0) or 1
    bars: list[Bar] = []
    for label, counts in rows:
        bar, x = Bar(label, sum(counts.values())), 0.0
        for sev in FAIL_SEVERITIES:
            n = counts[sev.name]
            if n:
                width = round(_BAR_WIDTH * n / top, 1)
                bar.segments.append((sev.name, n, x, width))
                x += width
        bars.append(bar)
    return bars


@dataclass
class Box:
    label: str
    title: str
    x: int
    y: int
    model: bool = False


@dataclass
class Lineage:
    """One model's picture: data -> job -> model -> endpoint, in columns, with the edges between them."""

    model: Asset
    height: int
    boxes: list[Box]
    lines: list[tuple[int, int, int, int]]


_COLUMNS = ("data", "job", "model", "endpoint")
_BOX_W, _BOX_H, _GAP_X, _GAP_Y = 190, 26, 40, 8


def _short(text: str) -> str:
    return text if len(text) <= _LABEL else text[: _LABEL - 1] + "\u2026"


def _lineages(inventory: Inventory) -> tuple[list[Lineage], list[Asset]]:
    """Pictures of the models that have lineage, and the models that have none recorded."""
    by_uid = {a.uid: a for a in inventory.assets}
    serving: dict[str, list[str]] = {}
    for a in inventory.assets:
        for e in a.lineage:
            if e.rel == "serves":
                serving.setdefault(e.uid, []).append(a.uid)
    pictures: list[Lineage] = []
    bare: list[Asset] = []
    for model in (a for a in inventory.assets if a.kind in MODEL_KINDS):
        jobs = [e.uid for e in model.lineage if e.rel == "trained_by"]
        data = [e.uid for e in model.lineage if e.rel == "trained_on"]
        for job in jobs:
            data += [e.uid for e in (by_uid[job].lineage if job in by_uid else ()) if e.rel == "trained_on"]
        endpoints = serving.get(model.uid, [])
        if not (jobs or data or endpoints):
            bare.append(model)
            continue
        columns = [list(dict.fromkeys(data)), list(dict.fromkeys(jobs)), [model.uid], list(dict.fromkeys(endpoints))]
        rows = max(len(c) for c in columns)
        height = rows * (_BOX_H + _GAP_Y) + _GAP_Y
        centers: list[list[tuple[int, int]]] = []
        boxes: list[Box] = []
        for i, refs in enumerate(columns):
            x = i * (_BOX_W + _GAP_X)
            top = (height - len(refs) * (_BOX_H + _GAP_Y)) // 2 + _GAP_Y // 2
            col: list[tuple[int, int]] = []
            for j, ref in enumerate(refs):
                y = top + j * (_BOX_H + _GAP_Y)
                asset = by_uid.get(ref)
                # A target outside the inventory (a location, a job past the window) shows the end of its id.
                name = asset.name if asset is not None else ref.rstrip("/").rsplit("/", 1)[-1] or ref
                kind = asset.kind if asset is not None else _COLUMNS[i]
                boxes.append(Box(_short(name), f"{kind}: {ref}", x, y, model=i == 2))
                col.append((x, y + _BOX_H // 2))
            centers.append(col)
        lines: list[tuple[int, int, int, int]] = []
        # data -> jobs (or straight to the model when no job is known) -> model -> endpoints
        chain = [c for c in centers if c]
        for left, right in pairwise(chain):
            for x1, y1 in left:
                for x2, y2 in right:
                    lines.append((x1 + _BOX_W, y1, x2, y2))
        pictures.append(Lineage(model, height, boxes, lines))
    return pictures, bare


def _frameworks(inventory: Inventory) -> list[dict[str, Any]]:
    out = []
    for fid, fw in inventory.frameworks.items():
        reqs = fw["requirements"]
        failing = [r for r in reqs if r["fail"]]
        passing = [r for r in reqs if not r["fail"] and r["pass"]]
        if not (failing or passing):
            continue
        out.append({"id": fid, "name": fw["name"], "version": fw.get("version") or "", "failing": len(failing),
                    "passing": len(passing), "requirements": [r for r in reqs if r["fail"] or r["pass"]]})
    return out


def context(inventory: Inventory) -> dict[str, Any]:
    """Everything the template shows, computed once."""
    providers = sorted({a.provider for a in inventory.assets} | {p for p, _ in inventory.by_provider})
    assets_by: Counter[str] = Counter(a.provider for a in inventory.assets)
    clouds = [{"name": _display(p), "assets": assets_by[p], "fail": inventory.by_provider[(p, "fail")],
               "suppressed": inventory.by_provider[(p, "suppressed")], "pass": inventory.by_provider[(p, "pass")]}
              for p in providers]
    by_cloud = [(_display(p), Counter({s.name: inventory.fail_by[(p, s)] for s in FAIL_SEVERITIES}))
                for p in providers]
    by_severity = [(s.label, Counter({s.name: sum(inventory.fail_by[(p, s)] for p in providers)}))
                   for s in FAIL_SEVERITIES]
    rules = sorted(inventory.rules.values(), key=lambda r: (-r.failing, -int(r.severity), r.id))[:TOP_RULES]
    pictures, bare = _lineages(inventory)
    css, js = _static("report.css"), _static("report.js")
    csp = ("default-src 'none'; img-src 'none'; font-src 'none'; connect-src 'none'; "
           f"style-src '{_sha256(css)}'; script-src '{_sha256(js)}'; base-uri 'none'; form-action 'none'")
    return {
        "inv": inventory,
        "csp": csp,
        "css": Markup(css),  # noqa: S704 - the report's own stylesheet, allowed by its hash
        "js": Markup(js),    # noqa: S704 - the report's own script, allowed by its hash
        "generated": inventory.timestamp.strftime("%Y-%m-%d %H:%M UTC"),
        "providers": providers,
        "display": {p: _display(p) for p in providers},
        "clouds": clouds,
        "cloud_bars": _bars(by_cloud),
        "severity_bars": _bars(by_severity),
        "bar_width": _BAR_WIDTH,
        "rules": rules,
        "frameworks": _frameworks(inventory),
        "errors": inventory.scope_errors(),
        "severities": FAIL_SEVERITIES,
        "lineages": pictures,
        "bare_models": bare,
        "box": {"w": _BOX_W, "h": _BOX_H, "width": 4 * _BOX_W + 3 * _GAP_X},
    }


def report_chunks(inventory: Inventory) -> Iterator[str]:
    """The page, rendered in chunks (the file sink streams them to disk)."""
    stream = _environment().get_template("report.html.j2").stream(**context(inventory))
    # Jinja2 yields every literal and expression apart (720,000 pieces at 10,000 assets); joined 4,000 at a time
    # the page is encoded and written in a few hundred pieces instead.
    stream.enable_buffering(4000)
    yield from stream


def report_bytes(inventory: Inventory) -> Iterator[bytes]:
    for chunk in report_chunks(inventory):
        yield chunk.encode("utf-8")
