"""The sentinel sink: the real azure-monitor-ingestion client against a local HTTPS Logs Ingestion endpoint
(bearer token checked, gzip bodies decoded) with throttling, size limits, failures and refusals injected."""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from aispm.cli import main
from aispm.normalizer.audit import from_cloudtrail
from aispm.replay import replay
from aispm.rules.detections.engine import Evaluator, finding_of
from aispm.rules.detections.finding import DetectionFinding
from aispm.sinks.base import Batch, Undelivered
from aispm.sinks.delivery.deadletter import FileDeadLetter
from aispm.sinks.errors import SinkConfigError
from aispm.sinks.formats.ocsf import from_ocsf
from aispm.sinks.formats.ocsf_detection import to_ocsf_detection
from aispm.sinks.formats.sentinel import COLUMNS, STREAM, to_row
from aispm.sinks.registry import build_sink
from aispm.sinks.transports.sentinel import SentinelSettings, SentinelSink
from aispm.testing.logs_ingestion import FakeLogsIngestion
from tests.support.audit import T0, record
from tests.support.azure import StaticTokenCredential, az_calls, fake_az
from tests.support.findings import aws_asset, aws_findings, azure_asset, finding, gcp_asset, uids

TOKEN = "sentinel-test-token"
DCR = "dcr-0123456789abcdef0123456789abcdef"


@pytest.fixture
def dce(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeLogsIngestion]:
    with FakeLogsIngestion(TOKEN, {DCR: {STREAM}}) as fake:
        monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(fake.ca_cert_path))
        yield fake


def detections() -> list[DetectionFinding]:
    """Real Detection Findings of the engine: a deleted guardrail and a lifecycle configuration."""
    ev = Evaluator()
    ev.feed(from_cloudtrail(record("DeleteGuardrail", T0, params={"guardrailIdentifier": "gr-1"})))
    ev.feed(from_cloudtrail(record("CreateStudioLifecycleConfig", T0, params={"studioLifecycleConfigName": "s"})))
    return [finding_of(h, scan_id="scan-1", product_version="0.1.0") for h in ev.finish()]


def sink(fake: FakeLogsIngestion, **overrides: Any) -> SentinelSink:
    values: dict[str, Any] = {"dce_url": fake.url, "dcr_id": DCR, "retry_base_seconds": 0.001,
                              "retry_cap_seconds": 0.01}
    values.update(overrides)
    return SentinelSink(SentinelSettings(**values), credential=StaticTokenCredential(TOKEN))


def batch(findings: list[dict[str, Any]]) -> Batch:
    return Batch(scan_id="s", findings=[from_ocsf(f) for f in findings], assets=[], summary={})


def stored_once(fake: FakeLogsIngestion, findings: list[dict[str, Any]]) -> None:
    counts = fake.count_by(DCR, STREAM, "FindingUid")
    assert sorted(counts) == sorted(uids(findings))
    assert set(counts.values()) == {1}


def uploads(fake: FakeLogsIngestion) -> list[Any]:
    return [r for r in fake.requests if r.path.startswith("/dataCollectionRules/")]


def test_rows_are_the_table_columns_sent_gzipped_with_the_bearer_token(dce: FakeLogsIngestion) -> None:
    findings = [finding(aws_asset(1)), finding(azure_asset(2), status="pass"), finding(gcp_asset(3))]
    found = detections()
    b = batch(findings)
    b.detections = found
    report = sink(dce).deliver(b)
    assert (report.delivered, report.undelivered) == (5, [])
    rows = dce.rows(DCR, STREAM)
    assert [set(r) for r in rows] == [set(COLUMNS)] * 5
    assert rows[0]["Ocsf"] == findings[0]
    assert [r["FindingClass"] for r in rows] == ["posture"] * 3 + ["detection"] * 2
    assert [r["Cloud"] for r in rows[:3]] == ["AWS", "Azure", "GCP"]
    assert rows[0]["RuleId"] == "AISPM-NET-002" and rows[0]["ComplianceStatus"] == "Fail"
    assert rows[1]["Status"] == "Resolved"
    assert rows[0]["TimeGenerated"] == "2026-01-01T00:00:00.000Z"
    detection = to_ocsf_detection(found[0])
    assert rows[3]["RuleId"] == detection["finding_info"]["types"][0]
    assert rows[3]["Actor"] == detection["actor"]["user"]["uid"]
    [post] = uploads(dce)
    assert post.compressed and post.headers["authorization"] == f"Bearer {TOKEN}"
    assert post.query == {"api-version": "2023-01-01"} and post.stream == STREAM


def test_the_sdk_chunks_large_batches_and_every_finding_arrives_once(dce: FakeLogsIngestion) -> None:
    findings = aws_findings(800)
    report = sink(dce).deliver(batch(findings))
    assert (report.delivered, report.undelivered) == (800, [])
    posts = uploads(dce)
    assert len(posts) >= 3 and all(p.decoded_size <= 1024 * 1024 + 2 * p.records for p in posts)
    assert all(p.compressed for p in posts)
    stored_once(dce, findings)


def test_throttling_and_server_errors_are_retried_and_arrive_once(dce: FakeLogsIngestion) -> None:
    findings = aws_findings(400)
    dce.fail_next(1, 429, retry_after="0")
    dce.fail_next(1, 429)                 # without Retry-After too: the upload's POST is retried on 429
    dce.fail_next(1, 503, retry_after="0")
    dce.fail_next(1, 500)
    dce.fail_next(1, 502)
    report = sink(dce).deliver(batch(findings))
    assert (report.delivered, report.undelivered) == (400, [])
    stored_once(dce, findings)
    assert [p.status for p in uploads(dce)][:5] == [429, 429, 503, 500, 502]


def test_retry_after_is_honoured(dce: FakeLogsIngestion) -> None:
    dce.fail_next(1, 429, retry_after="1")
    report = sink(dce).deliver(batch(aws_findings(2)))
    assert report.delivered == 2
    first, second = uploads(dce)
    assert second.at - first.at >= 0.9


def test_retries_run_out_into_undelivered_with_the_reason(dce: FakeLogsIngestion) -> None:
    findings = aws_findings(3)
    dce.fail_next(100, 503)
    report = sink(dce, max_attempts=3).deliver(batch(findings))
    assert report.delivered == 0
    assert [u.payload for u in report.undelivered] == findings
    assert "HTTP 503 ServiceUnavailable" in report.undelivered[0].reason
    assert "gave up after 3 attempts" in report.undelivered[0].reason
    assert len(uploads(dce)) == 3


def test_too_large_chunks_are_split_until_they_fit() -> None:
    findings = aws_findings(300)
    limit = len(gzip.compress(json.dumps([to_row(f) for f in findings[:8]]).encode()))   # about 8 rows a post
    with FakeLogsIngestion(TOKEN, {DCR: {STREAM}}, max_body_bytes=limit) as fake, pytest.MonkeyPatch.context() as m:
        m.setenv("REQUESTS_CA_BUNDLE", str(fake.ca_cert_path))
        report = sink(fake).deliver(batch(findings))
        assert (report.delivered, report.undelivered) == (300, [])
        statuses = [p.status for p in uploads(fake)]
        assert statuses.count(413) >= 3 and statuses.count(204) >= 300 // 8
        stored_once(fake, findings)


def test_a_single_record_too_large_is_undelivered_alone() -> None:
    findings = aws_findings(4)
    one = len(gzip.compress(json.dumps([to_row(findings[0])]).encode()))
    with FakeLogsIngestion(TOKEN, {DCR: {STREAM}}, max_body_bytes=one // 2) as fake, pytest.MonkeyPatch.context() as m:
        m.setenv("REQUESTS_CA_BUNDLE", str(fake.ca_cert_path))
        report = sink(fake).deliver(batch(findings))
    assert report.delivered == 0
    assert [u.payload for u in report.undelivered] == findings
    assert "a single record is larger than the Logs Ingestion API accepts" in report.undelivered[0].reason


def test_a_refused_credential_dead_letters_everything_without_retry(dce: FakeLogsIngestion) -> None:
    findings = aws_findings(800)    # several chunks: the first 403 stops them all
    dce.fail_next(100, 403)
    report = sink(dce).deliver(batch(findings))
    assert len(uploads(dce)) == 1
    assert report.delivered == 0
    assert [u.payload for u in report.undelivered] == findings
    assert "HTTP 403 Forbidden" in report.undelivered[0].reason
    assert "Monitoring Metrics Publisher" in report.undelivered[0].reason
    assert dce.rows(DCR, STREAM) == []


def test_a_refusal_after_delivered_chunks_dead_letters_only_the_rest(dce: FakeLogsIngestion) -> None:
    findings = aws_findings(800)
    dce.fail_next(100, 403, after=1)
    report = sink(dce).deliver(batch(findings))
    first = len(dce.rows(DCR, STREAM))
    assert 0 < first < 800
    assert len(uploads(dce)) == 2
    assert report.delivered == first
    assert [u.payload for u in report.undelivered] == findings[first:]
    stored_once(dce, findings[:first])


def test_a_wrong_token_is_refused_and_never_retried(dce: FakeLogsIngestion) -> None:
    s = SentinelSink(SentinelSettings(dce_url=dce.url, dcr_id=DCR, retry_base_seconds=0.001),
                     credential=StaticTokenCredential("not-the-token"))
    report = s.deliver(batch(aws_findings(2)))
    assert report.delivered == 0 and len(uploads(dce)) == 1
    assert "refused the credential: HTTP 401" in report.undelivered[0].reason


def test_an_unknown_rule_is_a_clear_reason(dce: FakeLogsIngestion) -> None:
    report = sink(dce, dcr_id="dcr-ffffffffffffffffffffffffffffffff").deliver(batch(aws_findings(2)))
    assert report.delivered == 0 and len(uploads(dce)) == 1
    assert "no data collection rule dcr-ffffffffffffffffffffffffffffffff" in report.undelivered[0].reason


def test_an_untrusted_certificate_is_refused(dce: FakeLogsIngestion, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("REQUESTS_CA_BUNDLE")
    report = sink(dce, max_attempts=1).deliver(batch(aws_findings(2)))
    assert report.delivered == 0
    assert "not trusted" in report.undelivered[0].reason
    assert dce.rows(DCR, STREAM) == []


@pytest.mark.parametrize(("env", "message"), [
    ({}, "AISPM_SENTINEL_DCE_URL"),
    ({"AISPM_SENTINEL_DCE_URL": "http://dce.example"}, "must be an https URL"),
    ({"AISPM_SENTINEL_DCE_URL": "https://dce.example"}, "AISPM_SENTINEL_DCR_ID"),
    ({"AISPM_SENTINEL_DCE_URL": "https://dce.example", "AISPM_SENTINEL_DCR_ID": "/subscriptions/x/dcr"},
     "immutable id"),
    ({"AISPM_SENTINEL_DCE_URL": "https://dce.example", "AISPM_SENTINEL_DCR_ID": DCR,
      "AISPM_SENTINEL_STREAM": "AispmFindings_CL"}, "AISPM_SENTINEL_STREAM"),
    ({"AISPM_SENTINEL_MAX_ATTEMPTS": "many"}, "AISPM_SENTINEL_MAX_ATTEMPTS"),
])
def test_settings_errors_name_the_variable(env: dict[str, str], message: str,
                                           monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    with pytest.raises(SinkConfigError, match=message):
        build_sink("sentinel", tmp_path)


def cli_env(monkeypatch: pytest.MonkeyPatch, fake: FakeLogsIngestion, tmp_path: Path) -> Path:
    """``--sink sentinel`` configured as a user would: the variables, and ``DefaultAzureCredential`` answered by
    an ``az`` that returns the fake's token."""
    monkeypatch.setenv("AISPM_SENTINEL_DCE_URL", fake.url)
    monkeypatch.setenv("AISPM_SENTINEL_DCR_ID", DCR)
    monkeypatch.setenv("AISPM_SENTINEL_RETRY_BASE_SECONDS", "0.001")
    monkeypatch.setenv("AZURE_TOKEN_CREDENTIALS", "AzureCliCredential")
    monkeypatch.setenv("PATH", f"{tmp_path / 'bin'}:/usr/bin:/bin")
    return fake_az(tmp_path / "bin", TOKEN)


def test_replay_re_delivers_the_dead_letters_once(dce: FakeLogsIngestion, monkeypatch: pytest.MonkeyPatch,
                                                  tmp_path: Path) -> None:
    calls = cli_env(monkeypatch, dce, tmp_path)
    findings = aws_findings(5)
    dce.fail_next(1, 403)
    report = build_sink("sentinel", tmp_path).deliver(batch(findings))
    assert report.delivered == 0
    store = FileDeadLetter(tmp_path / "deadletter.jsonl")
    store.put(report.undelivered)
    delivered, remaining = replay(store, [], tmp_path)
    assert (delivered, remaining) == (5, [])
    stored_once(dce, findings)
    assert store.read() == []
    assert az_calls(calls)[0][-2:] == ["--resource", "https://monitor.azure.com"]   # DefaultAzureCredential's token


def test_aispm_replay_sends_dead_letters_to_sentinel(dce: FakeLogsIngestion, monkeypatch: pytest.MonkeyPatch,
                                                     tmp_path: Path) -> None:
    cli_env(monkeypatch, dce, tmp_path)
    findings = aws_findings(3)
    FileDeadLetter(tmp_path / "dl.jsonl").put([Undelivered("sentinel", "earlier outage", f) for f in findings])
    assert main(["replay", str(tmp_path / "dl.jsonl"), "--out", str(tmp_path / "out")]) == 0
    stored_once(dce, findings)
    assert FileDeadLetter(tmp_path / "dl.jsonl").read() == []
