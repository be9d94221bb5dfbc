"""``--sink`` on the command line: bad names and settings are usage errors (exit 2, one line)."""

from __future__ import annotations

import pytest

from aispm.cli import main


@pytest.mark.parametrize(("sink", "env", "message"), [
    ("kafka", {}, "unknown sink 'kafka'"),
    ("splunk", {}, "AISPM_SPLUNK_HEC_URL"),
    ("splunk", {"AISPM_SPLUNK_HEC_URL": "https://s:8088"}, "AISPM_SPLUNK_HEC_TOKEN"),
    ("s3://", {}, "s3://bucket/prefix"),
    ("securityhub", {"AISPM_SECURITYHUB_RATE": "fast"}, "AISPM_SECURITYHUB_RATE"),
])
def test_bad_sink_is_exit_2_with_one_line(sink: str, env: dict[str, str], message: str,
                                          monkeypatch: pytest.MonkeyPatch,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    for key in ("AISPM_SPLUNK_HEC_URL", "AISPM_SPLUNK_HEC_TOKEN", "AISPM_SPLUNK_HEC_TOKEN_SECRET"):
        monkeypatch.delenv(key, raising=False)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    assert main(["scan", "--provider", "aws", "--sink", sink]) == 2
    err = capsys.readouterr().err
    assert err.startswith("aispm: error: --sink ")
    assert message in err
    assert err.count("\n") == 1


def test_security_lake_without_pyarrow_names_the_extra(monkeypatch: pytest.MonkeyPatch,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    import sys

    monkeypatch.setenv("AISPM_S3_SECURITY_LAKE", "true")
    monkeypatch.setitem(sys.modules, "pyarrow", None)  # as if the optional extra were not installed
    assert main(["scan", "--provider", "aws", "--sink", "s3://bucket/prefix"]) == 2
    assert "pip install 'aispm[parquet]'" in capsys.readouterr().err
