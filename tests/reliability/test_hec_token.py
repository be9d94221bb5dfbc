"""HEC token hygiene (contract v1.1): whitespace around the token is stripped; a control character
left inside it is a configuration error (exit 2, one line, never the token), and nothing on the
Splunk delivery path lets an exception escape deliver()."""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

from aispm.cli import main
from aispm.sinks.base import Batch
from aispm.sinks.errors import SinkConfigError
from aispm.sinks.formats.ocsf import from_ocsf
from aispm.sinks.registry import build_sink
from aispm.sinks.transports.splunk import SplunkSettings, SplunkSink
from aispm.testing.hec import FakeHec
from tests.support.findings import aws_findings, uids

TOKEN = "0c5a4c8e-3e0f-4a53-9f0e-4f1f6a7b2d10"
HEAD, TAIL = TOKEN[:18], TOKEN[18:]  # a control character goes between them

# What an operator's copy-paste or a templating step leaves inside a token (an environment
# variable cannot hold NUL; the secret test covers it).
BAD_INSIDE = ["\r\n", "\n", "\r", "\t", "\x1b", "\x7f", "\x85"]


def batch(findings: list[dict[str, Any]]) -> Batch:
    return Batch(scan_id="s", findings=[from_ocsf(f) for f in findings], assets=[], summary={})


@pytest.fixture(autouse=True)
def _splunk_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for key in ("AISPM_SPLUNK_HEC_URL", "AISPM_SPLUNK_HEC_TOKEN", "AISPM_SPLUNK_HEC_TOKEN_SECRET", "AISPM_SINKS"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("AISPM_SPLUNK_RETRY_BASE_SECONDS", "0.001")
    monkeypatch.setenv("AISPM_SPLUNK_RETRY_CAP_SECONDS", "0.01")


class _Recorder(BaseHTTPRequestHandler):
    """Stands in for every AWS endpoint: records each request and answers 500."""

    seen: list[str]

    def _any(self) -> None:
        self.seen.append(f"{self.command} {self.path} {self.headers.get('X-Amz-Target', '')}")
        self.rfile.read(int(self.headers.get("Content-Length", 0) or 0))
        self.send_response(500)
        self.send_header("Content-Length", "0")
        self.end_headers()

    do_GET = do_POST = do_PUT = _any

    def log_message(self, *args: Any) -> None:
        return


@contextmanager
def recording_aws_endpoint() -> Iterator[tuple[str, list[str]]]:
    seen: list[str] = []
    handler = type("Handler", (_Recorder,), {"seen": seen})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", seen
    finally:
        server.shutdown()
        server.server_close()


def assert_one_clean_line(err: str) -> None:
    assert err.startswith("aispm: error: --sink splunk: "), err
    assert err.count("\n") == 1, err
    assert "Traceback" not in err
    for piece in (TOKEN, HEAD, TAIL, repr(TOKEN)[1:-1]):
        assert piece not in err, err


@pytest.mark.parametrize("bad", BAD_INSIDE, ids=[repr(b) for b in BAD_INSIDE])
def test_control_character_in_env_token_is_exit_2_before_any_cloud_call(
        bad: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    with FakeHec(TOKEN) as hec, recording_aws_endpoint() as (aws_url, aws_requests):
        monkeypatch.setenv("AWS_ENDPOINT_URL", aws_url)  # any AWS call of the scan would land here
        monkeypatch.setenv("AISPM_SPLUNK_HEC_URL", hec.url)
        monkeypatch.setenv("AISPM_SPLUNK_HEC_TOKEN", f" {HEAD}{bad}{TAIL}\n")
        code = main(["scan", "--provider", "aws", "--sink", "splunk", "--out", str(tmp_path / "out")])
        err = capsys.readouterr().err
        assert code == 2, err
        assert_one_clean_line(err)
        assert "AISPM_SPLUNK_HEC_TOKEN" in err
        assert "control character" in err
        assert aws_requests == []  # stopped before the scan touched AWS
        assert hec.requests == []
    assert not (tmp_path / "out" / "findings.ocsf.jsonl").exists()


@pytest.mark.parametrize("as_json", [True, False], ids=["json-secret", "plain-secret"])
@pytest.mark.parametrize("bad", ["\r\n", "\n", "\x00"], ids=["crlf", "lf", "nul"])
def test_control_character_in_secret_token_is_exit_2(
        bad: str, as_json: bool, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    name = f"aispm/hec-{uuid.uuid4()}"  # a fresh name each time: Powertools caches secret values by name
    value = f"{HEAD}{bad}{TAIL}"
    with FakeHec(TOKEN) as hec, mock_aws():
        boto3.client("secretsmanager").create_secret(
            Name=name, SecretString=json.dumps({"token": value}) if as_json else value)
        monkeypatch.setenv("AISPM_SPLUNK_HEC_URL", hec.url)
        monkeypatch.setenv("AISPM_SPLUNK_HEC_TOKEN_SECRET", name)
        code = main(["scan", "--provider", "aws", "--sink", "splunk", "--out", str(tmp_path / "out")])
        err = capsys.readouterr().err
        assert code == 2, err
        assert_one_clean_line(err)
        assert name in err and "control character" in err
        assert hec.requests == []
    assert not (tmp_path / "out" / "findings.ocsf.jsonl").exists()


def test_settings_built_in_code_are_checked_too() -> None:
    with pytest.raises(SinkConfigError) as caught:
        SplunkSink(SplunkSettings(hec_url="https://splunk.example:8088", hec_token=f"{HEAD}\r\n{TAIL}"))
    assert HEAD not in str(caught.value) and TAIL not in str(caught.value)
    with pytest.raises(SinkConfigError, match="empty"):
        SplunkSink(SplunkSettings(hec_url="https://splunk.example:8088", hec_token=" \n "))


def test_env_token_with_trailing_newline_is_stripped_and_works(monkeypatch: pytest.MonkeyPatch) -> None:
    findings = aws_findings(3)
    with FakeHec(TOKEN) as hec:
        monkeypatch.setenv("AISPM_SPLUNK_HEC_URL", hec.url)
        monkeypatch.setenv("AISPM_SPLUNK_HEC_TOKEN", f"  {TOKEN}\r\n")
        report = build_sink("splunk", out_dir=None).deliver(batch(findings))  # type: ignore[arg-type]
        assert (report.delivered, report.undelivered) == (3, [])
        assert {p.headers["authorization"] for p in hec.event_posts} == {f"Splunk {TOKEN}"}
        assert sorted(hec.events_by_uid()) == sorted(uids(findings))


@pytest.mark.parametrize("secret", [f"{TOKEN}\n", json.dumps({"token": f"\t{TOKEN}\r\n"})],
                         ids=["plain", "json"])
def test_secret_token_with_surrounding_whitespace_works(secret: str, monkeypatch: pytest.MonkeyPatch) -> None:
    name = f"aispm/hec-{uuid.uuid4()}"
    with FakeHec(TOKEN) as hec, mock_aws():
        boto3.client("secretsmanager").create_secret(Name=name, SecretString=secret)
        monkeypatch.setenv("AISPM_SPLUNK_HEC_URL", hec.url)
        monkeypatch.setenv("AISPM_SPLUNK_HEC_TOKEN_SECRET", name)
        report = build_sink("splunk", out_dir=None).deliver(batch(aws_findings(2)))  # type: ignore[arg-type]
        assert (report.delivered, report.undelivered) == (2, [])
        assert hec.event_posts[0].headers["authorization"] == f"Splunk {TOKEN}"


def test_secret_unreadable_at_build_then_bad_at_delivery_fails_every_finding_cleanly() -> None:
    name = f"aispm/hec-{uuid.uuid4()}"
    findings = aws_findings(4)
    with FakeHec(TOKEN) as hec, mock_aws():
        s = SplunkSink(SplunkSettings(hec_url=hec.url, hec_token_secret=name))  # the secret does not exist yet
        boto3.client("secretsmanager").create_secret(Name=name, SecretString=json.dumps({"token": f"{HEAD}\n{TAIL}"}))
        report = s.deliver(batch(findings))
        assert report.delivered == 0
        assert sorted(uids([u.payload for u in report.undelivered])) == sorted(uids(findings))
        for u in report.undelivered:
            assert u.reason.startswith("cannot read the HEC token") and "control character" in u.reason
            assert HEAD not in u.reason and TAIL not in u.reason
        assert hec.requests == []


class _Garbled(BaseHTTPRequestHandler):
    """A collector whose answer claims gzip but is not: urllib3 cannot decode it (not a network error)."""

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", 0) or 0))
        body = b"not gzip at all"
        self.send_response(200)
        self.send_header("Content-Encoding", "gzip")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        return


def test_an_unexpected_error_while_sending_ends_in_undelivered_items() -> None:
    findings = aws_findings(5)
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Garbled)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        s = SplunkSink(SplunkSettings(hec_url=f"http://127.0.0.1:{server.server_address[1]}", hec_token=TOKEN,
                                      retry_base_seconds=0.001))
        report = s.deliver(batch(findings))
    finally:
        server.shutdown()
        server.server_close()
    assert report.delivered == 0
    assert sorted(uids([u.payload for u in report.undelivered])) == sorted(uids(findings))
    assert all(u.reason.startswith("unexpected error while delivering to HEC: DecodeError")
               for u in report.undelivered)
    assert all(TOKEN not in u.reason for u in report.undelivered)


def test_a_finding_that_cannot_be_serialized_costs_only_itself() -> None:
    findings = aws_findings(4)
    resource = dict(findings[1]["resources"][0])
    resource["data"] = {**resource["data"], "huge": 2 ** 70}   # beyond what JSON serializers accept
    bad = dict(findings[1], resources=[resource])
    with FakeHec(TOKEN) as hec:
        s = SplunkSink(SplunkSettings(hec_url=hec.url, hec_token=TOKEN))
        report = s.deliver(batch([findings[0], bad, *findings[2:]]))
        assert report.delivered == 3
        [left] = report.undelivered
        assert left.payload == bad and left.reason.startswith("cannot serialize the finding")
        assert sorted(hec.events_by_uid()) == sorted(uids([findings[0], *findings[2:]]))
