"""The ``file`` sink: findings.ocsf.jsonl, assets.jsonl and summary.json in the output folder."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from aispm.sinks.atomic import write_atomic
from aispm.sinks.base import Batch, DeliveryReport, Undelivered
from aispm.sinks.formats.exports import named_exports
from aispm.sinks.formats.jsonbytes import json_lines
from aispm.sinks.formats.ocsf import to_ocsf
from aispm.sinks.formats.ocsf_detection import to_ocsf_detection

FINDINGS_FILE = "findings.ocsf.jsonl"
DETECTIONS_FILE = "detections.ocsf.jsonl"
ASSETS_FILE = "assets.jsonl"
SUMMARY_FILE = "summary.json"


def _write_atomic(path: Path, lines: Iterable[str]) -> None:
    write_atomic(path, (line.encode("utf-8") for line in lines))


def rewrite_summary(out_dir: Path, summary: dict[str, Any]) -> None:
    """summary.json again once delivery and the state are settled (best effort: the scan's files are written)."""
    path = Path(out_dir) / SUMMARY_FILE
    if not path.parent.is_dir():
        return
    with contextlib.suppress(OSError):
        _write_atomic(path, [json.dumps(summary, indent=2) + "\n"])


class FileSink:
    name = "file"

    def __init__(self, out_dir: str | Path) -> None:
        self.out_dir = Path(out_dir)

    def deliver(self, batch: Batch) -> DeliveryReport:
        report = DeliveryReport(sink=self.name)
        try:
            self.out_dir.mkdir(parents=True, exist_ok=True)
            if not batch.summary and not batch.assets:
                # A replay carries findings only: add them, never replace a scan's files.
                if batch.findings:
                    with (self.out_dir / FINDINGS_FILE).open("ab") as fh:
                        fh.writelines(json_lines(to_ocsf(f) for f in batch.findings))
                if batch.detections:
                    with (self.out_dir / DETECTIONS_FILE).open("ab") as fh:
                        fh.writelines(json_lines(to_ocsf_detection(d) for d in batch.detections))
                report.delivered = len(batch.items)
                return report
            if batch.kind == "detect":   # a detect run leaves the scan's findings and assets as they are
                write_atomic(self.out_dir / DETECTIONS_FILE, json_lines(to_ocsf_detection(d) for d in batch.detections))
            else:
                write_atomic(self.out_dir / FINDINGS_FILE, json_lines(to_ocsf(f) for f in batch.findings))
                write_atomic(self.out_dir / ASSETS_FILE, json_lines(a.model_dump(mode="json") for a in batch.assets))
            _write_atomic(self.out_dir / SUMMARY_FILE, [json.dumps(batch.summary, indent=2) + "\n"])
            for name, _, chunks in named_exports(batch.summary, batch.assets, batch.findings):   # inventory-v1.md
                write_atomic(self.out_dir / name, chunks)
        except OSError as exc:
            reason = f"cannot write to {self.out_dir}: {exc.strerror or exc}"
            report.undelivered = [Undelivered.of(self.name, reason, f) for f in batch.items]
            return report
        report.delivered = len(batch.items)
        return report
