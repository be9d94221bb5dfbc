"""The splunk sink against a local HEC server speaking the real protocol, with injected faults."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from itertools import pairwise
from typing import Any

import boto3
import pytest
from moto import mock_aws

from aispm.sinks.base import Batch
from aispm.sinks.errors import SinkConfigError
from aispm.sinks.formats.ocsf import from_ocsf
from aispm.sinks.registry import build_sink
from aispm.sinks.transports.retry import Backoff
from aispm.sinks.transports.splunk import SplunkSettings, SplunkSink
from aispm.testing.hec import FakeHec
from tests.support.findings import TIME_MS, aws_findings, uids

TOKEN = "0c5a4c8e-3e0f-4a53-9f0e-4f1f6a7b2d10"


@pytest.fixture
def hec() -> Iterator[FakeHec]:
    with FakeHec(TOKEN) as fake:
        yield fake


@pytest.fixture
def hec_ack() -> Iterator[FakeHec]:
    with FakeHec(TOKEN, ack=True) as fake:
        yield fake


def sink(fake: FakeHec, **overrides: Any) -> SplunkSink:
    values: dict[str, Any] = {"hec_url": fake.url, "hec_token": TOKEN, "host": "collector-1",
                              "retry_base_seconds": 0.001, "retry_cap_seconds": 0.01, "ack_timeout_seconds": 2}
    values.update(overrides)
    return SplunkSink(SplunkSettings(**values))


def batch(findings: list[dict[str, Any]]) -> Batch:
    return Batch(scan_id="s", findings=[from_ocsf(f) for f in findings], assets=[], summary={})


def assert_exactly_once(fake: FakeHec, findings: list[dict[str, Any]]) -> None:
    counts = fake.events_by_uid()
    assert sorted(counts) == sorted(uids(findings))
    assert set(counts.values()) == {1}


def test_events_carry_the_ocsf_finding_and_hec_metadata(hec: FakeHec) -> None:
    findings = aws_findings(3)
    report = sink(hec, index="aispm", source="aispm-scan").deliver(batch(findings))
    assert (report.delivered, report.undelivered) == (3, [])
    event = hec.events[0]
    assert event["event"] == findings[0]
    assert event["time"] == TIME_MS / 1000
    assert (event["host"], event["source"], event["sourcetype"], event["index"]) == (
        "collector-1", "aispm-scan", "aispm:finding", "aispm")
    [post] = hec.event_posts
    assert post.compressed
    assert post.headers["authorization"] == f"Splunk {TOKEN}"
    assert post.event_count == 3


def test_batches_are_bounded_by_bytes_and_count(hec: FakeHec) -> None:
    findings = aws_findings(40)
    one = len(json.dumps({"event": findings[0]}))
    report = sink(hec, batch_bytes=one * 5 + 2000).deliver(batch(findings))
    assert report.delivered == 40
    posts = hec.event_posts
    assert all(p.decoded_size <= one * 5 + 2000 for p in posts)
    assert len(posts) >= 40 // 6
    hec.clear()
    sink(hec, batch_count=7).deliver(batch(findings))
    assert [p.event_count for p in hec.event_posts] == [7, 7, 7, 7, 7, 5]
    assert_exactly_once(hec, findings)


def test_busy_throttled_and_dropped_posts_are_retried_and_arrive_once(hec: FakeHec) -> None:
    findings = aws_findings(50)
    hec.fail_busy(2)
    hec.throttle(1, retry_after=0)
    hec.drop_connections(1)
    hec.drop_connections(1, reset=True)
    hec.fail_next(1, code=8)
    report = sink(hec, batch_count=10, max_attempts=8).deliver(batch(findings))
    assert (report.delivered, report.undelivered) == (50, [])
    assert_exactly_once(hec, findings)
    outcomes = [p.outcome for p in hec.event_posts]
    assert outcomes.count("injected") == 4 and outcomes.count("dropped") == 2


def test_retries_run_out_into_undelivered_with_reason(hec: FakeHec) -> None:
    findings = aws_findings(4)
    hec.fail_busy(100)
    report = sink(hec, max_attempts=3).deliver(batch(findings))
    assert report.delivered == 0
    assert len(report.undelivered) == 4
    assert "HTTP 503 Server is busy (code 9)" in report.undelivered[0].reason
    assert "3 attempts" in report.undelivered[0].reason
    assert [u.payload for u in report.undelivered] == findings
    assert len(hec.event_posts) == 3


def test_forbidden_token_is_never_retried_and_nothing_is_lost(hec: FakeHec) -> None:
    findings = aws_findings(30)
    hec.set_forbidden(code=1)
    report = sink(hec, batch_count=10).deliver(batch(findings))
    assert len(hec.event_posts) == 1  # the first 403 stops everything: no retry, no further batches
    assert report.delivered == 0
    assert [u.payload for u in report.undelivered] == findings
    assert "HTTP 403 Token disabled" in report.undelivered[0].reason
    assert TOKEN not in report.undelivered[0].reason


def test_wrong_token_is_a_clear_error_without_the_token(hec: FakeHec) -> None:
    report = sink(hec, hec_token="wrong-" + TOKEN).deliver(batch(aws_findings(2)))
    assert len(report.undelivered) == 2
    reason = report.undelivered[0].reason
    assert "Invalid token" in reason
    assert TOKEN not in reason
    assert len(hec.event_posts) == 1


def test_bad_request_is_not_retried(hec: FakeHec) -> None:
    hec.fail_next(1, code=6)
    report = sink(hec).deliver(batch(aws_findings(2)))
    assert len(report.undelivered) == 2
    assert "HTTP 400 Invalid data format" in report.undelivered[0].reason
    assert len(hec.event_posts) == 1


def test_too_large_posts_are_split() -> None:
    findings = aws_findings(8)
    with FakeHec(TOKEN, max_content_length=2000) as fake:   # one event fits, a batch of them does not
        report = sink(fake).deliver(batch(findings))
        assert report.delivered == 8
        assert_exactly_once(fake, findings)
        assert any(p.status == 413 for p in fake.event_posts)


def test_ack_mode_waits_for_every_ack(hec_ack: FakeHec) -> None:
    findings = aws_findings(25)
    report = sink(hec_ack, ack=True, batch_count=10).deliver(batch(findings))
    assert report.delivered == 25
    assert_exactly_once(hec_ack, findings)
    channels = {p.channel for p in hec_ack.requests}
    assert len(channels) == 1 and None not in channels
    assert hec_ack.pending_acks == 0


def test_slow_acks_are_polled_until_true() -> None:
    findings = aws_findings(12)
    with FakeHec(TOKEN, ack=True, ack_after_polls=3, ack_after_seconds=0.2) as fake:
        report = sink(fake, ack=True, batch_count=5).deliver(batch(findings))
        assert (report.delivered, report.undelivered) == (12, [])
        assert_exactly_once(fake, findings)
        assert sum(1 for r in fake.requests if r.outcome == "acks") >= 4


def test_lost_acks_are_sent_again_and_arrive_once(hec_ack: FakeHec) -> None:
    findings = aws_findings(30)
    hec_ack.lose_acks(2)
    hec_ack.drop_connections(1, endpoint="ack")
    hec_ack.fail_busy(1)
    report = sink(hec_ack, ack=True, batch_count=10, ack_timeout_seconds=0.5).deliver(batch(findings))
    assert (report.delivered, report.undelivered) == (30, [])
    assert_exactly_once(hec_ack, findings)
    assert len(hec_ack.lost_events) == 20
    assert sum(p.event_count for p in hec_ack.event_posts) == 50


def test_acks_that_never_come_end_undelivered(hec_ack: FakeHec) -> None:
    findings = aws_findings(5)
    hec_ack.lose_acks(10)
    report = sink(hec_ack, ack=True, ack_timeout_seconds=0.2, ack_resends=1).deliver(batch(findings))
    assert report.delivered == 0
    assert len(report.undelivered) == 5
    assert "not acknowledged" in report.undelivered[0].reason
    assert len(hec_ack.event_posts) == 2


def test_tls_is_verified_with_the_custom_ca(monkeypatch: pytest.MonkeyPatch) -> None:
    findings = aws_findings(3)
    with FakeHec(TOKEN, tls=True) as fake:
        monkeypatch.delenv("SSL_CERT_FILE", raising=False)
        monkeypatch.setenv("REQUESTS_CA_BUNDLE", fake.ca_file)
        report = sink(fake).deliver(batch(findings))
        assert report.delivered == 3
        assert_exactly_once(fake, findings)

        monkeypatch.delenv("REQUESTS_CA_BUNDLE")
        monkeypatch.setenv("SSL_CERT_FILE", fake.ca_file)
        assert sink(fake).deliver(batch(findings)).delivered == 3


def test_tls_without_the_ca_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("REQUESTS_CA_BUNDLE", raising=False)
    monkeypatch.delenv("SSL_CERT_FILE", raising=False)
    findings = aws_findings(3)
    with FakeHec(TOKEN, tls=True) as fake:
        s = sink(fake)
        report = s.deliver(batch(findings))
        assert report.delivered == 0
        assert len(report.undelivered) == 3
        assert "not trusted" in report.undelivered[0].reason
        assert fake.requests == []  # no request ever reached the server
        assert s.requests == 1  # refused once, not retried


def test_token_from_secrets_manager(hec: FakeHec, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AISPM_SPLUNK_HEC_URL", hec.url)
    monkeypatch.delenv("AISPM_SPLUNK_HEC_TOKEN", raising=False)
    monkeypatch.setenv("AISPM_SPLUNK_HEC_TOKEN_SECRET", "aispm/hec")
    with mock_aws():
        boto3.client("secretsmanager").create_secret(Name="aispm/hec", SecretString=json.dumps({"token": TOKEN}))
        built = build_sink("splunk", out_dir=None)  # type: ignore[arg-type]
        report = built.deliver(batch(aws_findings(2)))
    assert report.delivered == 2
    assert hec.event_posts[0].headers["authorization"] == f"Splunk {TOKEN}"


def test_missing_secret_leaves_everything_undelivered(hec: FakeHec, monkeypatch: pytest.MonkeyPatch) -> None:
    with mock_aws():
        s = sink(hec, hec_token=None, hec_token_secret="missing-secret")
        report = s.deliver(batch(aws_findings(2)))
    assert len(report.undelivered) == 2
    assert report.undelivered[0].reason.startswith("cannot read the HEC token")
    assert hec.requests == []


@pytest.mark.parametrize(("env", "message"), [
    ({}, "AISPM_SPLUNK_HEC_URL"),
    ({"AISPM_SPLUNK_HEC_URL": "https://splunk.example:8088"}, "AISPM_SPLUNK_HEC_TOKEN"),
    ({"AISPM_SPLUNK_HEC_URL": "http://splunk.example:8088", "AISPM_SPLUNK_HEC_TOKEN": "t"}, "must use https"),
    ({"AISPM_SPLUNK_HEC_URL": "https://s:8088", "AISPM_SPLUNK_HEC_TOKEN": "t", "AISPM_SPLUNK_BATCH_BYTES": "x"},
     "AISPM_SPLUNK_BATCH_BYTES"),
])
def test_settings_errors_name_the_variable(env: dict[str, str], message: str,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    for key in ("AISPM_SPLUNK_HEC_URL", "AISPM_SPLUNK_HEC_TOKEN", "AISPM_SPLUNK_HEC_TOKEN_SECRET"):
        monkeypatch.delenv(key, raising=False)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    with pytest.raises(SinkConfigError, match=message):
        SplunkSink()


def test_backoff_grows_and_honours_retry_after() -> None:
    b = Backoff(base=1.0, cap=8.0)
    assert all(0 <= b.delay(1) <= 1.0 for _ in range(50))
    assert all(0 <= b.delay(10) <= 8.0 for _ in range(50))
    assert max(b.delay(4) for _ in range(200)) > 4.0
    assert b.delay(1, retry_after=5) >= 5
    assert b.delay(1, retry_after=500) == 8.0


def test_posts_are_gzip(hec: FakeHec) -> None:
    findings = aws_findings(20)
    s = sink(hec)
    s.deliver(batch(findings))
    [post] = hec.event_posts
    assert post.compressed and post.body_size < post.decoded_size / 3


def _gaps(fake: FakeHec) -> list[float]:
    times = [p.received_at for p in fake.event_posts]
    return [b - a for a, b in pairwise(times)]


def test_backoff_doubles_from_the_base_after_an_immediate_first_retry(hec: FakeHec) -> None:
    findings = aws_findings(3)
    hec.fail_busy(3)
    s = sink(hec, retry_base_seconds=0.3, retry_cap_seconds=5, max_attempts=4)
    report = s.deliver(batch(findings))
    assert (report.delivered, report.undelivered) == (3, [])
    first, second, third = _gaps(hec)
    assert first < 0.25                 # urllib3 retries once at once ...
    assert 0.3 <= second < 1.2          # ... then waits the base plus up to the base of jitter ...
    assert 0.6 <= third < 1.8           # ... doubling each time
    assert s.requests == len(hec.requests) == 4


def test_retry_after_is_honoured_up_to_the_cap(hec: FakeHec) -> None:
    findings = aws_findings(2)
    hec.throttle(1, retry_after=1)
    assert sink(hec, retry_cap_seconds=5).deliver(batch(findings)).delivered == 2
    assert _gaps(hec)[0] >= 1.0
    hec.clear()
    hec.fail_busy(1, retry_after=60)   # far beyond the cap: wait the cap, not a minute
    assert sink(hec, retry_cap_seconds=0.05).deliver(batch(findings)).delivered == 2
    assert _gaps(hec)[0] < 1.0
    assert_exactly_once(hec, findings)


class _BusyWithBadRetryAfter(BaseHTTPRequestHandler):
    """Answers the first post 503 with a Retry-After that is neither seconds nor a date, then accepts."""

    answered = 0

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", 0) or 0))
        type(self).answered += 1
        busy = type(self).answered == 1
        body = b'{"text":"Server is busy","code":9}' if busy else b'{"text":"Success","code":0}'
        self.send_response(503 if busy else 200)
        if busy:
            self.send_header("Retry-After", "soon")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        return


def test_an_unreadable_retry_after_falls_back_to_the_backoff() -> None:
    handler = type("Handler", (_BusyWithBadRetryAfter,), {"answered": 0})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        s = SplunkSink(SplunkSettings(hec_url=f"http://127.0.0.1:{server.server_address[1]}", hec_token=TOKEN,
                                      retry_base_seconds=0.001, retry_cap_seconds=0.01))
        report = s.deliver(batch(aws_findings(2)))
    finally:
        server.shutdown()
        server.server_close()
    assert (report.delivered, report.undelivered) == (2, [])
    assert handler.answered == 2 and s.requests == 2
