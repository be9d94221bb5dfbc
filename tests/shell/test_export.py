"""``aispm export`` and the inventory files every scan writes (inventory-v1.md)."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import boto3
import pytest
from cyclonedx.schema import SchemaVersion
from cyclonedx.validation.json import JsonStrictValidator

from aispm.cli import main
from tests.support.inventory import HOSTILE, write_scan_dir

ROOT = Path(__file__).resolve().parents[2]
EXPORTS = ("inventory.csv", "aibom.cdx.json", "report.html")


def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "aispm", *args], capture_output=True, text=True, cwd=ROOT,
                          env={**os.environ, **(env or {})}, timeout=300, check=False)


def _valid_bom(path: Path) -> dict[str, Any]:
    text = path.read_text(encoding="utf-8")
    error = JsonStrictValidator(SchemaVersion.V1_6).validate_str(text)
    assert error is None, error
    bom: dict[str, Any] = json.loads(text)
    return bom


def test_export_rebuilds_every_format_from_a_scan_folder(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    scan = tmp_path / "scan"
    assets, _ = write_scan_dir(scan)
    out = tmp_path / "exports"
    assert main(["export", "--from", str(scan), "--out", str(out)]) == 0
    assert sorted(p.name for p in out.iterdir()) == sorted(EXPORTS)
    rows = list(csv.DictReader((out / "inventory.csv").open(encoding="utf-8", newline="")))
    assert len(rows) == len(assets)
    bom = _valid_bom(out / "aibom.cdx.json")
    assert len(bom["components"]) + len(bom["services"]) > len(assets)   # plus locations, image, base model
    html = (out / "report.html").read_text(encoding="utf-8")
    assert HOSTILE not in html and "Content-Security-Policy" in html
    assert f"{len(assets)} assets" in capsys.readouterr().out


def test_export_writes_only_the_formats_asked_into_the_scan_folder(tmp_path: Path) -> None:
    write_scan_dir(tmp_path)
    assert main(["export", "--from", str(tmp_path), "--format", "cyclonedx"]) == 0
    assert (tmp_path / "aibom.cdx.json").is_file()
    assert not (tmp_path / "inventory.csv").exists() and not (tmp_path / "report.html").exists()
    first = (tmp_path / "aibom.cdx.json").read_bytes()
    assert main(["export", "--from", str(tmp_path), "--format", "cyclonedx", "--format", "csv"]) == 0
    assert (tmp_path / "aibom.cdx.json").read_bytes() == first   # the same scan gives the same BOM
    assert (tmp_path / "inventory.csv").is_file()


def _break(folder: Path, name: str, content: str | None) -> None:
    path = folder / name
    if content is None:
        path.unlink()
    else:
        path.write_text(content)


@pytest.mark.parametrize(("name", "content", "says"), [
    ("assets.jsonl", None, "assets.jsonl: not found"),
    ("findings.ocsf.jsonl", None, "findings.ocsf.jsonl: not found"),
    ("summary.json", None, "summary.json: not found"),
    ("summary.json", "{not json", "summary.json: not valid JSON"),
    ("summary.json", "[1, 2]", "summary.json: not an aispm summary"),
    ("assets.jsonl", '{"uid": "x"}\n', "assets.jsonl line 1: not an aispm asset"),
    ("assets.jsonl", "\n\n{torn", "assets.jsonl line 3: not valid JSON"),
    ("findings.ocsf.jsonl", '{"class_uid": 2003}\n', "findings.ocsf.jsonl line 1: not an aispm OCSF finding"),
    ("findings.ocsf.jsonl", "[]\n", "findings.ocsf.jsonl line 1: not an aispm OCSF finding"),
    ("findings.ocsf.jsonl", '{"finding_info": {"title": "t"}, "compliance": {}, "resources": []}\n',
     "findings.ocsf.jsonl line 1: not an aispm OCSF finding"),
])
def test_missing_or_corrupt_files_exit_2_with_one_line_and_write_nothing(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], name: str, content: str | None, says: str) -> None:
    scan = tmp_path / "scan"
    write_scan_dir(scan)
    _break(scan, name, content)
    out = tmp_path / "out"
    assert main(["export", "--from", str(scan), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("aispm: error: ") and err.count("\n") == 1, err
    assert says in err
    assert "Traceback" not in err
    assert not out.exists() or not any(out.iterdir())


def test_from_must_be_a_folder_and_format_a_known_one(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["export", "--from", str(tmp_path / "nope")]) == 2
    assert "not a folder" in capsys.readouterr().err
    assert main(["export", "--from", str(tmp_path), "--format", "pdf"]) == 2
    assert main(["export"]) == 2
    err = capsys.readouterr().err
    assert "invalid choice" in err and "--from" in err


def test_export_as_a_process_prints_no_traceback(tmp_path: Path) -> None:
    (tmp_path / "assets.jsonl").write_text("{}\n")
    (tmp_path / "findings.ocsf.jsonl").write_text("")
    (tmp_path / "summary.json").write_text("{}")
    proc = run("export", "--from", str(tmp_path))
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1 and "assets.jsonl line 1" in proc.stderr


def _check_scan_exports(out: Path) -> None:
    summary = json.loads((out / "summary.json").read_text())
    assert summary["files"] == ["findings.ocsf.jsonl", "assets.jsonl", "summary.json", *EXPORTS]
    for name in summary["files"]:
        assert (out / name).is_file(), name
    assets = [json.loads(x) for x in (out / "assets.jsonl").read_text().splitlines()]
    rows = list(csv.DictReader((out / "inventory.csv").open(encoding="utf-8", newline="")))
    assert sorted(r["uid"] for r in rows) == sorted(a["uid"] for a in assets)
    bom = _valid_bom(out / "aibom.cdx.json")
    refs = {c["bom-ref"] for c in bom["components"]} | {s["bom-ref"] for s in bom["services"]}
    assert {a["uid"] for a in assets} <= refs
    deps = {d["ref"]: set(d.get("dependsOn", [])) for d in bom["dependencies"]}
    for a in assets:   # the dependencies are the lineage
        assert deps[a["uid"]] >= {e["uid"] for e in a["lineage"]}
    assert "Content-Security-Policy" in (out / "report.html").read_text(encoding="utf-8")


@pytest.mark.slow
def test_demo_writes_the_inventory_files_and_export_rebuilds_them_identically(tmp_path: Path) -> None:
    out = tmp_path / "demo"
    proc = run("demo", "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    _check_scan_exports(out)
    again = tmp_path / "again"
    proc = run("export", "--from", str(out), "--out", str(again))
    assert proc.returncode == 0, proc.stderr
    for name in EXPORTS:
        assert (again / name).read_bytes() == (out / name).read_bytes(), name


@pytest.mark.slow
def test_scan_writes_the_inventory_files(moto_server: str, tmp_path: Path) -> None:
    sm: Any = boto3.client("sagemaker", region_name="us-east-1", endpoint_url=moto_server)
    iam: Any = boto3.client("iam", region_name="us-east-1", endpoint_url=moto_server)
    role = iam.create_role(RoleName="r", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
    sm.create_notebook_instance(NotebookInstanceName="nb", InstanceType="ml.t3.medium", RoleArn=role)
    proc = run("scan", "--provider", "aws", "--region", "us-east-1", "--out", str(tmp_path),
               env={"AWS_ENDPOINT_URL": moto_server})
    assert proc.returncode == 0, proc.stderr
    _check_scan_exports(tmp_path)
    assert "nb" in (tmp_path / "inventory.csv").read_text()
