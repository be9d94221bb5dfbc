"""Benchmark ``aispm export``: 10,000 assets and 100,000 findings, each format in its own process.

Generates a scan folder (assets with lineage across the three clouds, 10 findings per asset) in a temporary
directory, then runs ``aispm export --format F`` for csv, cyclonedx, both at once and html, and reports the
wall time, the CPU time (user + system: what a loaded machine does not inflate as much as the wall time), the
peak RSS of the export process and the size of what it wrote.

    python bench/export_inventory.py [--assets 10000] [--findings-per-asset 10] [--keep DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from aispm.normalizer.schema import Asset, Fact, LineageEdge, Network  # noqa: E402
from aispm.rules.catalog import all_rules  # noqa: E402
from aispm.rules.finding import finding_of  # noqa: E402
from aispm.rules.model import Evaluation  # noqa: E402
from aispm.sinks.formats.ocsf import to_ocsf  # noqa: E402

TIME_MS = 1_767_225_600_000


def _estate(n: int) -> list[Asset]:
    """Groups of five: data location -> training job -> model -> endpoint config -> endpoint, over three clouds."""
    out: list[Asset] = []
    for i in range(n // 5):
        acct, region = f"{100000000000 + i % 7}", ("us-east-1", "eu-west-1", "us-west-2")[i % 3]
        arn = f"arn:aws:sagemaker:{region}:{acct}"
        data = f"s3://bench-data-{i % 50}/set-{i}/"
        job, model, cfg = f"{arn}:training-job/job-{i}", f"{arn}:model/model-{i}", f"{arn}:endpoint-config/cfg-{i}"
        common = {"provider": "aws", "service": "sagemaker", "account": acct, "region": region,
                  "tags": {"owner": f"team-{i % 13}", "env": ("prod", "dev")[i % 2]}}
        out += [
            Asset(uid=job, kind="training_job", name=f"job-{i}", lineage=(LineageEdge(rel="trained_on", uid=data),),
                  **common),
            Asset(uid=model, kind="model", name=f"model-{i}", details={"images": "img:1"},
                  lineage=(LineageEdge(rel="trained_by", uid=job), LineageEdge(rel="image", uid=f"ecr/img-{i % 9}")),
                  **common),
            Asset(uid=cfg, kind="endpoint_config", name=f"cfg-{i}", lineage=(LineageEdge(rel="serves", uid=model),),
                  **common),
            Asset(uid=f"{arn}:endpoint/ep-{i}", kind="endpoint", name=f"ep-{i}",
                  network=Network(public_endpoint=Fact(value=i % 4 == 0, source="x", observed="x")),
                  lineage=(LineageEdge(rel="serves", uid=cfg), LineageEdge(rel="serves", uid=model)), **common),
            Asset(uid=f"projects/{i}/locations/us-central1/datasets/{i}", provider="gcp", service="vertexai",
                  kind="dataset", name=f"dataset-{i}", account=f"project-{i % 5}", region="us-central1"),
        ]
    return out


def generate(folder: Path, n_assets: int, per_asset: int) -> tuple[int, int]:
    assets = _estate(n_assets)
    rules = all_rules()
    folder.mkdir(parents=True, exist_ok=True)
    n_findings = 0
    with (folder / "assets.jsonl").open("w") as fa, (folder / "findings.ocsf.jsonl").open("w") as ff:
        for k, asset in enumerate(assets):
            fa.write(json.dumps(asset.model_dump(mode="json")) + "\n")
            for j in range(per_asset):
                rule = rules[(k + j) % len(rules)]
                status = "fail" if (k + j) % 3 == 0 else "pass"
                ev = Evaluation(rule=rule, asset=asset, status=status, detail="setting is x",  # type: ignore[arg-type]
                                severity=rule.severity)
                ff.write(json.dumps(to_ocsf(finding_of(ev, TIME_MS, "0.1.0", "bench"))) + "\n")
                n_findings += 1
    (folder / "summary.json").write_text(json.dumps({
        "scan_id": "00000000-0000-4000-8000-000000000000", "version": "0.1.0",
        "started": "2026-01-01T00:00:00+00:00", "finished": "2026-01-01T00:10:00+00:00",
        "assets": len(assets), "scopes": [], "evaluation_errors": []}))
    return len(assets), n_findings


def run_export(source: Path, out: Path, formats: list[str]) -> tuple[float, float, float]:
    """Wall seconds, CPU seconds and peak RSS (MB) of one ``aispm export`` process."""
    start = time.perf_counter()
    flags = [arg for fmt in formats for arg in ("--format", fmt)]
    proc = subprocess.Popen([sys.executable, "-m", "aispm", "export", "--from", str(source), "--out", str(out),
                             *flags], cwd=ROOT, stdout=subprocess.DEVNULL)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise SystemExit(f"aispm export {' '.join(flags)} exited {proc.returncode}")
    return wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--assets", type=int, default=10_000)
    parser.add_argument("--findings-per-asset", type=int, default=10)
    parser.add_argument("--keep", type=Path, default=None, help="generate into (or reuse) this folder")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        source = args.keep or Path(tmp) / "scan"
        if not (source / "summary.json").is_file():
            t = time.perf_counter()
            n_assets, n_findings = generate(source, args.assets, args.findings_per_asset)
            print(f"generated {n_assets} assets, {n_findings} findings in {time.perf_counter() - t:.1f} s "
                  f"({(source / 'findings.ocsf.jsonl').stat().st_size / 1e6:.0f} MB of findings)")
        out = Path(tmp) / "out"
        print(f"{'format':14} {'wall s':>8} {'CPU s':>7} {'peak RSS MB':>12} {'file MB':>8}")
        for formats, names in ((["csv"], ["inventory.csv"]), (["cyclonedx"], ["aibom.cdx.json"]),
                               (["csv", "cyclonedx"], ["inventory.csv", "aibom.cdx.json"]),
                               (["html"], ["report.html"])):
            wall, cpu, rss = run_export(source, out, formats)
            size = sum((out / name).stat().st_size for name in names) / 1e6
            print(f"{'+'.join(formats):14} {wall:8.2f} {cpu:7.2f} {rss:12.0f} {size:8.2f}")
        print(f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
