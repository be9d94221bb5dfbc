"""``aispm detect`` flags and ``aispm rules list/show`` for detections."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from aispm.cli import main
from aispm.detect import parse_duration


@pytest.mark.parametrize(("argv", "message"), [
    (["detect", "--provider", "aws", "--since", "5x"], "expected a duration such as 15m, 6h or 2d, got '5x'"),
    (["detect", "--provider", "aws", "--since", "0h"], "expected a duration"),
    (["detect", "--provider", "aws", "--start", "yesterday"], "expected an ISO 8601 time"),
    (["detect", "--provider", "aws", "--start", "2026-01-02T00:00:00Z", "--end", "2026-01-01T00:00:00Z"],
     "--start must be before --end"),
])
def test_bad_windows_are_usage_errors(argv: list[str], message: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1


def test_bad_detection_settings_are_config_errors(tmp_path, capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "policy.yaml"
    config.write_text("detections:\n  llmjacking_threshold: 1.5\n")
    assert main(["detect", "--provider", "aws", "--config", str(config), "--out", str(tmp_path / "o")]) == 2
    assert "detections.llmjacking_threshold" in capsys.readouterr().err
    config.write_text("detections:\n  trusted_cidrs: [10.0.0.0/33]\n")
    assert main(["detect", "--provider", "aws", "--config", str(config), "--out", str(tmp_path / "o")]) == 2
    assert "not an address range" in capsys.readouterr().err


def test_durations() -> None:
    assert parse_duration("15m") == dt.timedelta(minutes=15)
    assert parse_duration("6h") == dt.timedelta(hours=6)
    assert parse_duration("2d") == dt.timedelta(days=2)


def test_rules_list_and_show_cover_detections(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["rules", "list", "--format", "json"]) == 0
    records = {r["id"]: r for r in json.loads(capsys.readouterr().out)}
    det = records["AISPM-DET-003"]
    assert det["kind"] == "detection" and det["severity"] == "critical"
    assert [a["uid"] for a in det["attacks"]] == ["AML.T0040", "T1496"]
    assert det["needs"] == {"aws": "cloudtrail:LookupEvents"}
    assert main(["rules", "show", "aispm-det-006"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("AISPM-DET-006  Model exported out of the platform\n")
    assert "AML.T0024" in out and "gcp: roles/logging.viewer" in out
    assert main(["rules", "list"]) == 0
    assert "AISPM-DET-007  high      aws,azure,gcp  AI resource exposed publicly (detection)" in capsys.readouterr().out
