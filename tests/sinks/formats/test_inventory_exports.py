"""The inventory exports (inventory-v1.md): inventory.csv, aibom.cdx.json and report.html."""

from __future__ import annotations

import csv
import io
import json
import re
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import pytest
from cyclonedx.schema import SchemaVersion
from cyclonedx.validation.json import JsonStrictValidator

from aispm.normalizer.schema import Asset
from aispm.sinks.formats.cyclonedx import bom_chunks
from aispm.sinks.formats.inventory import Inventory
from aispm.sinks.formats.inventory_csv import COLUMNS, _json, csv_lines, neutralize
from aispm.sinks.formats.report import context, environment, report_chunks
from tests.support.inventory import ARN, ARTIFACTS, DATA, HOSTILE, IMAGE, SECRET, estate, findings, summary


def _inventory(assets: list[Asset] | None = None) -> Inventory:
    assets = estate() if assets is None else assets
    return Inventory.build(assets, iter(findings(assets)), summary(assets), "0.1.0")


def _bom(inv: Inventory) -> dict:
    text = "".join(bom_chunks(inv))
    error = JsonStrictValidator(SchemaVersion.V1_6).validate_str(text)
    assert error is None, error
    return json.loads(text)


# ------------------------------------------------------------------ CSV

@pytest.mark.parametrize("start", ["=", "+", "-", "@", "\t", "\r"])
def test_a_cell_a_spreadsheet_would_evaluate_is_prefixed(start: str) -> None:
    assert neutralize(f"{start}SUM(A1)") == f"'{start}SUM(A1)"
    assert neutralize(f"a{start}b") == f"a{start}b"


@pytest.mark.parametrize("name", ["=cmd|' /C calc'!A0", "+1+1", "-2", "@SUM(A1)", "\tx", "\rx", "a,b",
                                  'say "hi"', "two\nlines", "ünïcødé ✓", "plain"])
def test_csv_round_trips_every_hostile_name(name: str) -> None:
    asset = estate()[0].model_copy(update={"name": name})
    text = "".join(csv_lines(_inventory([asset])))
    rows = list(csv.reader(io.StringIO(text, newline="")))
    assert rows[0] == list(COLUMNS)
    cell = rows[1][COLUMNS.index("name")]
    assert cell == (f"'{name}" if name[0] in "=+-@\t\r" else name)


# Every character class JSON escapes or not: controls, quote, backslash, DEL, Latin-1, line separators, BMP, astral.
_EVERY_ESCAPE = "".join(map(chr, [*range(0x20), 0x22, 0x2F, 0x5C, 0x7F, 0xA0, 0xE9, 0x2028, 0x2029, 0xFEFF,
                                  0xFFFF, 0x1F600, 0x10FFFF]))


def test_csv_json_cells_are_the_bytes_json_dumps_writes() -> None:
    value = {"z": _EVERY_ESCAPE, "a": [_EVERY_ESCAPE, {"rel": "x", "uid": "=1"}], "é": "ü"}
    assert _json(value) == json.dumps(value, separators=(",", ":"), ensure_ascii=False, sort_keys=True)
    assert _json([]) == "[]" and _json({}) == "{}"


def test_aibom_entries_are_the_bytes_json_dumps_writes() -> None:
    asset = estate()[0].model_copy(update={"name": _EVERY_ESCAPE})
    text = "".join(bom_chunks(_inventory([asset])))
    rest = text.partition('\n "components": [\n  ')[2]
    first = rest.split("\n")[0].rstrip(",")
    entry = json.loads(first)
    assert entry["name"] == _EVERY_ESCAPE
    assert first == json.dumps(entry, ensure_ascii=False, separators=(",", ":"))


def test_csv_is_rfc4180_sorted_and_counts_findings() -> None:
    inv = _inventory()
    lines = list(csv_lines(inv))
    assert lines[0] == ",".join(COLUMNS) + "\r\n"
    assert all(line.endswith("\r\n") for line in lines)
    rows = list(csv.DictReader(io.StringIO("".join(lines), newline="")))
    assert len(rows) == len(estate())
    keys = [(r["provider"], r["account"], r["region"], r["kind"], r["name"].lstrip("'")) for r in rows]
    assert keys == sorted(keys)
    model = next(r for r in rows if r["uid"] == f"{ARN}:model/churn-xgb")
    assert (model["fail_critical"], model["fail_high"], model["pass"]) == ("1", "0", "1")
    assert json.loads(model["lineage"])[0] == {"rel": "trained_by", "uid": f"{ARN}:training-job/churn-train"}
    assert json.loads(model["tags"]) == {"owner": "ml"}
    endpoint = next(r for r in rows if r["uid"] == f"{ARN}:endpoint/churn")
    assert endpoint["fail_high"] == "1"
    notebook = next(r for r in rows if r["kind"] == "notebook")
    assert notebook["name"].startswith("'=HYPERLINK")
    assert json.loads(notebook["tags"])["note"] == 'a,b "quoted"\nline2'
    assert SECRET not in "".join(lines)


def test_csv_rows_are_produced_one_at_a_time() -> None:
    lines = csv_lines(_inventory())
    assert next(lines).startswith("provider,")
    assert next(lines).count("\r\n") == 1


# ------------------------------------------------------------------ CycloneDX

def test_aibom_validates_against_cyclonedx_1_6_and_follows_lineage() -> None:
    bom = _bom(_inventory())
    assert (bom["bomFormat"], bom["specVersion"], bom["version"]) == ("CycloneDX", "1.6", 1)
    assert re.fullmatch(r"urn:uuid:[0-9a-f-]{36}", bom["serialNumber"])
    assert bom["metadata"]["tools"]["components"][0]["name"] == "aispm"
    components = {c["bom-ref"]: c for c in bom["components"]}
    services = {s["bom-ref"]: s for s in bom["services"]}
    model = components[f"{ARN}:model/churn-xgb"]
    assert model["type"] == "machine-learning-model"
    props = {p["name"]: p["value"] for p in model["properties"]}
    assert props == {"aispm:provider": "aws", "aispm:service": "sagemaker", "aispm:kind": "model",
                     "aispm:account": "123456789012", "aispm:region": "us-east-1", "aispm:fail": "1",
                     "aispm:rules_failed": "AISPM-SEC-001"}
    # trained on DATA through its training job
    assert model["modelCard"]["modelParameters"]["datasets"] == [{"ref": DATA}]
    assert components[DATA]["type"] == "data" and components[DATA]["data"] == [{"type": "dataset", "name": DATA}]
    assert components[ARTIFACTS]["type"] == "data"
    assert components[IMAGE]["type"] == "container"
    assert components[f"{ARN}:endpoint-config/churn-cfg"]["type"] == "platform"
    # the Azure OpenAI deployment's foundation model, by name and version
    gpt = [c for c in bom["components"] if c["name"] == "gpt-4o"]
    assert len(gpt) == 1 and gpt[0]["type"] == "machine-learning-model" and gpt[0]["version"] == "2024-08-06"
    assert components["projects/42/locations/us-central1/models/7"]["version"] == "3"
    # services: authenticated, x-trust-boundary when public
    assert services[f"{ARN}:endpoint/churn"]["x-trust-boundary"] is False
    assert services["projects/42/locations/us-central1/endpoints/9"]["x-trust-boundary"] is True
    assert all(s["authenticated"] is True for s in services.values())

    deps = {d["ref"]: d.get("dependsOn", []) for d in bom["dependencies"]}
    assert set(deps) == set(components) | set(services)   # one entry per component or service
    for asset in estate():
        assert set(deps[asset.uid]) >= {e.uid for e in asset.lineage}
    assert deps[f"{ARN}:endpoint/churn"] == sorted([f"{ARN}:endpoint-config/churn-cfg", f"{ARN}:model/churn-xgb"])
    assert set(deps[f"{ARN}:model/churn-xgb"]) == {f"{ARN}:training-job/churn-train", ARTIFACTS, IMAGE}
    assert deps[f"{ARN}:training-job/churn-train"] == [DATA]
    deployment = next(a for a in estate() if a.kind == "model_deployment")
    assert deps[deployment.uid] == [gpt[0]["bom-ref"]]


def test_aibom_holds_no_environment_value_and_serial_is_per_scan() -> None:
    inv = _inventory()
    text = "".join(bom_chunks(inv))
    assert SECRET not in text and "REDACTED" not in text and "DB_URL" not in text
    again = json.loads("".join(bom_chunks(_inventory())))
    assert again["serialNumber"] == json.loads(text)["serialNumber"]   # the same scan exported again
    other = Inventory.build(estate(), [], {**summary(estate()), "scan_id": "another"}, "0.1.0")
    assert json.loads("".join(bom_chunks(other)))["serialNumber"] != again["serialNumber"]


def test_aibom_of_an_empty_inventory_validates() -> None:
    bom = _bom(Inventory.build([], [], {}, ""))
    assert bom["components"] == [] and bom["services"] == [] and bom["dependencies"] == []


# ------------------------------------------------------------------ HTML report

class _Page(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.scripts: list[str] = []
        self.styles: list[str] = []
        self._in: str | None = None
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))
        self._in = tag if tag in ("script", "style") else None

    def handle_endtag(self, tag: str) -> None:
        self._in = None

    def handle_data(self, data: str) -> None:
        if self._in == "script":
            self.scripts.append(data)
        elif self._in == "style":
            self.styles.append(data)
        else:
            self.text.append(data)


def _page(html: str) -> _Page:
    page = _Page()
    page.feed(html)
    page.close()
    return page


def test_report_loads_nothing_from_outside_and_allows_only_its_own_inline_code() -> None:
    html = "".join(report_chunks(_inventory()))
    page = _page(html)
    csp = next(a["content"] for t, a in page.tags if t == "meta" and a.get("http-equiv") == "Content-Security-Policy")
    assert csp is not None
    assert "default-src 'none'" in csp
    assert "unsafe-inline" not in csp and "http" not in csp
    import base64
    import hashlib
    for code, directive in ((page.scripts, "script-src"), (page.styles, "style-src")):
        assert len(code) == 1
        digest = base64.b64encode(hashlib.sha256(code[0].encode()).digest()).decode()
        assert f"{directive} 'sha256-{digest}'" in csp
    for tag, attrs in page.tags:
        for name in ("src", "href", "xlink:href", "action", "srcset", "poster", "data"):
            value = attrs.get(name)
            if value is not None:
                assert value.startswith("#"), (tag, name, value)   # in-page links only
        assert tag not in ("iframe", "object", "embed", "link", "img", "base", "form")
        assert not any(k.startswith("on") for k in attrs)          # no inline event handlers
    assert "url(" not in "".join(page.styles)


def test_report_escapes_hostile_names_tags_and_errors() -> None:
    html = "".join(report_chunks(_inventory()))
    assert HOSTILE not in html and "<b>red</b>" not in html
    assert "&lt;script&gt;alert(" in html
    page = _page(html)
    assert len(page.scripts) == 1   # only the report's own script
    text = "".join(page.text)
    assert HOSTILE in text and "team=<b>red</b>" in text   # shown as text
    assert f"PermissionDenied {HOSTILE}" in text            # the scope error


def test_report_sections() -> None:
    inv = _inventory()
    html = "".join(report_chunks(inv))
    for anchor in ("clouds", "failing", "rules", "frameworks", "errors", "inventory", "lineage"):
        assert f'id="{anchor}' in html
    assert 'href="#fix-AISPM-SEC-001"' in html and 'id="fix-AISPM-SEC-001"' in html
    assert "NIST AI RMF" in html
    page = _page(html)
    text = " ".join(page.text)
    assert "churn-train" in text and "churn-xgb" in text   # the lineage picture of the AWS model
    assert text.count(f"{ARN}:endpoint/churn") >= 1
    assert html.count("<svg") >= 3


def test_the_compiled_report_template_is_kept_for_the_next_run(tmp_path: Path) -> None:
    inv = _inventory()
    expected = "".join(report_chunks(inv))
    cache_dir = tmp_path / "templates"
    cache_dir.mkdir(mode=0o700)
    first = environment(str(cache_dir))
    assert "".join(first.get_template("report.html.j2").generate(**context(inv))) == expected
    [kept] = list(cache_dir.iterdir())
    assert kept.stat().st_size > 10_000
    # The next run's environment finds the compiled code for the unchanged template.
    second = environment(str(cache_dir))
    assert second.loader is not None and second.bytecode_cache is not None
    source, filename, _ = second.loader.get_source(second, "report.html.j2")
    assert second.bytecode_cache.get_bucket(second, "report.html.j2", filename, source).code is not None
    assert "".join(second.get_template("report.html.j2").generate(**context(inv))) == expected
    # A damaged file (a crash while it was written) is compiled again and replaced, never a failed report.
    for damaged in (kept.read_bytes()[:20], kept.read_bytes()[:100], b"garbage"):
        kept.write_bytes(damaged)
        third = environment(str(cache_dir))
        assert "".join(third.get_template("report.html.j2").generate(**context(inv))) == expected


def test_a_cache_that_cannot_be_written_still_renders_the_report(tmp_path: Path) -> None:
    inv = _inventory()
    not_a_dir = tmp_path / "file"
    not_a_dir.write_text("x")
    env = environment(str(not_a_dir))
    assert "".join(env.get_template("report.html.j2").generate(**context(inv))) == "".join(report_chunks(inv))
    assert not_a_dir.read_text() == "x"


@pytest.mark.skipif(shutil.which("chromium") is None, reason="Debian's chromium is not installed")
def test_report_renders_headless_without_console_errors(tmp_path: Path) -> None:
    page = tmp_path / "report.html"
    page.write_text("".join(report_chunks(_inventory())), encoding="utf-8")
    shot = tmp_path / "report.png"
    proc = subprocess.run(
        ["chromium", "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-extensions",
         # The browser is a subprocess pytest-socket cannot guard: no background traffic, and no name resolves.
         "--disable-background-networking", "--disable-component-update", "--disable-domain-reliability",
         "--disable-sync", "--no-pings", "--host-resolver-rules=MAP * ~NOTFOUND", "--proxy-server=127.0.0.1:9",
         "--enable-logging=stderr", "--v=0", "--window-size=1280,2000", f"--screenshot={shot}",
         page.as_uri()],
        capture_output=True, text=True, timeout=120, check=False, env={"HOME": str(tmp_path), "PATH": "/usr/bin:/bin"})
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert shot.stat().st_size > 10_000
    console = [line for line in proc.stderr.splitlines() if "CONSOLE" in line or "Content Security Policy" in line]
    assert console == []
