"""``aispm export`` reads a findings file without making Finding objects: it must count exactly what
``from_ocsf`` would read, and reject what is not an aispm finding with one line."""

from __future__ import annotations

import gc
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import orjson
import pytest

from aispm import export
from aispm.cli import main
from aispm.exitcodes import UsageError
from aispm.export import read_findings, read_typed, verdict
from aispm.normalizer.schema import Asset
from aispm.rules.catalog import all_rules
from aispm.rules.compliance import framework_summary
from aispm.rules.finding import Finding, finding_of
from aispm.rules.frameworks import FRAMEWORKS
from aispm.rules.model import Evaluation, Severity
from aispm.sinks.formats.inventory import Inventory, Tallies
from aispm.sinks.formats.ocsf import close, from_ocsf, to_ocsf
from tests.support.inventory import ACCOUNT, ARN, TIME_MS, estate, summary, write_scan_dir

ROOT = Path(__file__).resolve().parents[2]


def _assets() -> list[Asset]:
    """The inventory estate plus monitoring job definitions, whose details some native controls filter on."""
    return [*estate(), *(
        Asset(uid=f"{ARN}:data-quality-job-definition/{kind}", provider="aws", service="sagemaker",
              kind="monitoring_job_definition", name=kind, account=ACCOUNT, region="us-east-1",
              details={"job_definition_type": kind})
        for kind in ("DataQuality", "ModelExplainability"))]


def _findings(assets: list[Asset]) -> list[Finding]:
    """Every rule on every asset: passes and fails, some suppressed, some closed, some with a policy
    severity, so every branch of the reader is taken."""
    rules = all_rules()
    out = []
    for i, asset in enumerate(assets):
        for j, rule in enumerate(rules):
            k = i * len(rules) + j
            ev = Evaluation(rule=rule, asset=asset, status="fail" if k % 3 else "pass",  # type: ignore[arg-type]
                            detail="setting is x", severity=Severity.low if k % 11 == 0 else rule.severity)
            f = finding_of(ev, TIME_MS, "0.1.0", "scan-test")
            if k % 7 == 0 and f.status == "fail":
                f = f.model_copy(update={"suppression": "accepted by the owner"})
            if k % 13 == 0:
                f = close(f, TIME_MS + 1)
            out.append(f)
    return out


def _ocsf(findings: list[Finding]) -> list[dict[str, Any]]:
    objects = [to_ocsf(f) for f in findings]
    for o in objects[::5]:   # as an older aispm wrote them: the rule's severity from severity_id
        del o["unmapped"]
    return objects


def test_the_findings_file_is_counted_as_from_ocsf_reads_it(tmp_path: Path) -> None:
    objects = _ocsf(_findings(_assets()))
    path = tmp_path / "findings.ocsf.jsonl"
    path.write_bytes(b"\n".join(orjson.dumps(o) for o in objects) + b"\n\n")
    expected = Tallies()
    for o in objects:
        expected.add_finding(from_ocsf(o))
    assert set(expected.outcomes) == {"pass", "fail", "suppressed", "closed"}
    assert any(said for (_, _, _, said, _) in expected.evidence)   # the job definitions' details are counted
    assert read_findings(path) == expected


def test_the_typed_reader_takes_every_aispm_finding_and_reads_it_as_verdict_does() -> None:
    for o in _ocsf(_findings(_assets())):
        line = orjson.dumps(o)
        assert read_typed(line) is not None
        assert read_typed(line) == verdict(orjson.loads(line))


@pytest.mark.parametrize("change", [
    lambda o: o.update(time="1767225600000"),              # the general reader takes what int() takes
    lambda o: o["compliance"].update(status=None),         # null status: not "Pass"
    lambda o: o.update(activity_id=3.0),                   # 3.0 == ACTIVITY_CLOSE
    lambda o: o["resources"].append("more"),               # only the first resource is read
    lambda o: o["resources"][0].update(data=[]),           # empty: no details
])
def test_a_line_the_typed_reader_does_not_take_is_counted_by_the_general_one(tmp_path: Path, change: Any) -> None:
    odd = _finding_line()
    change(odd)
    assert read_typed(orjson.dumps(odd)) is None
    path = tmp_path / "findings.ocsf.jsonl"
    path.write_bytes(orjson.dumps(_finding_line()) + b"\n" + orjson.dumps(odd) + b"\n")
    expected = Tallies()
    expected.add(verdict(_finding_line()))
    expected.add(verdict(odd))
    assert read_findings(path) == expected


def test_blocks_of_lines_count_every_finding_and_name_the_right_line(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(export, "_BLOCK", 10_000)   # a few findings a block, lines split across reads
    objects = _ocsf(_findings(_assets()))
    lines = [orjson.dumps(o) for o in objects]
    expected = Tallies()
    for o in objects:
        expected.add_finding(from_ocsf(o))
    path = tmp_path / "findings.ocsf.jsonl"
    path.write_bytes(b"\n".join(lines[:50]) + b"\n\n" + b"\n".join(lines[50:]))   # a blank line, no final newline
    assert read_findings(path) == expected
    path.write_bytes(b"\n".join([*lines[:60], lines[60] + b" " + lines[61], *lines[62:]]) + b"\n")
    with pytest.raises(UsageError, match=r"findings.ocsf.jsonl line 61: not valid JSON"):   # two on one line
        read_findings(path)


def test_framework_views_from_the_counts_are_framework_summary() -> None:
    assets = _assets()
    found = _findings(assets)
    inventory = Inventory.build(assets, iter(found), summary(assets), "0.1.0")
    assert inventory.frameworks == framework_summary(found, list(FRAMEWORKS))


def _finding_line() -> dict[str, Any]:
    return to_ocsf(_findings(estate()[:1])[1])


@pytest.mark.parametrize(("change", "says"), [
    (lambda o: o["cloud"].update(provider="Oracle"), "cloud.provider: unknown cloud 'Oracle'"),
    (lambda o: o["unmapped"].update(rule_severity="urgent"), "unknown severity 'urgent'"),
    (lambda o: o.update(resources=["arn:x"]), "resources[0]: not an object"),
    (lambda o: o.update(resources={}), "resources: not a non-empty list"),
    (lambda o: o["compliance"].pop("status"), "missing field 'status'"),
    (lambda o: o.update(time="yesterday"), "invalid literal for int()"),
    (lambda o: o["resources"][0].update(data=["a"]), "resources[0].data: not an object"),
])
def test_a_finding_that_is_not_aispm_s_stops_the_export_with_one_line(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], change: Any, says: str) -> None:
    scan = tmp_path / "scan"
    write_scan_dir(scan)
    good, bad = _finding_line(), _finding_line()
    change(bad)
    (scan / "findings.ocsf.jsonl").write_text(json.dumps(good) + "\n" + json.dumps(bad) + "\n")
    assert main(["export", "--from", str(scan), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "findings.ocsf.jsonl line 2: not an aispm OCSF finding" in err, err
    assert says in err
    assert gc.isenabled()   # the collector, off while exporting, is back on for the rest of the process


def test_csv_and_bom_export_loads_neither_jinja2_nor_the_scan_pipeline(tmp_path: Path) -> None:
    write_scan_dir(tmp_path)
    code = ("import sys\nfrom aispm.cli import main\n"
            f"assert main(['export', '--from', {str(tmp_path)!r}, '--format', 'csv', '--format', 'cyclonedx']) == 0\n"
            "print(sorted(m for m in ('jinja2', 'aispm.pipeline', 'aispm.scan') if m in sys.modules))")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120,
                          check=False)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines()[-1] == "[]"
