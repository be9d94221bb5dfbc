"""Terminal hygiene (contract v1.1): text from clouds reaches the terminal with its control characters
escaped, so an error message cannot recolour, retitle or rewrite what the analyst reads; files keep
the exact value."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from aispm.cli import main
from aispm.terminal import safe

IDENTITY = """<GetCallerIdentityResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">
<GetCallerIdentityResult><Arn>arn:aws:iam::123456789012:user/t</Arn><UserId>AIDA</UserId>
<Account>123456789012</Account></GetCallerIdentityResult>
<ResponseMetadata><RequestId>1</RequestId></ResponseMetadata></GetCallerIdentityResponse>"""
HOSTILE = "bad value \x1b]0;owned\x07\x1b[2J\x1b[31m red\r\x08\x9b"


@pytest.fixture
def hostile_aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """An AWS endpoint whose every answer is a JSON-protocol error carrying escape sequences."""

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            request = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            if b"Action=GetCallerIdentity" in request:   # STS (query protocol) answers; SageMaker does not
                body = IDENTITY.encode()
                status, content_type = 200, "text/xml"
            else:
                body = json.dumps({"__type": "ValidationException", "message": HOSTILE}).encode()
                status, content_type = 400, "application/x-amz-json-1.1"
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *_: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{server.server_address[1]}")
    yield
    server.shutdown()
    server.server_close()


def test_escape_sequences_in_cloud_errors_are_escaped_on_the_terminal_and_kept_in_files(
        hostile_aws: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["scan", "--provider", "aws", "--region", "us-east-1", "--out", str(tmp_path)])
    assert code == 4
    captured = capsys.readouterr()
    printed = captured.out + captured.err
    assert "scope aws:123456789012:us-east-1 failed" in captured.err
    for ch in ("\x1b", "\x07", "\x08", "\r", "\x9b"):
        assert ch not in printed
    assert "\\x1b]0;owned\\x07" in captured.err
    summary = json.loads((tmp_path / "summary.json").read_text())
    errors = " ".join(s.get("error", "") for s in summary["scopes"])
    assert "\x1b]0;owned\x07" in errors   # the file keeps the exact value, JSON-escaped on disk


def test_safe_keeps_tabs_newlines_and_text() -> None:
    assert safe("a\tb\nc é ✓") == "a\tb\nc é ✓"
    assert safe("\x00\x1b\x7f\x85") == "\\x00\\x1b\\x7f\\x85"
