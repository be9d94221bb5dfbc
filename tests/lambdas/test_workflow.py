"""The deployed workflow (Plan -> Collect per unit -> Deliver) on the three-cloud demo estate gives the
same findings as the CLI; failed units are reported and keep their state; secrets stay out of logs."""

from __future__ import annotations

import io
import json
import os
import socket
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import boto3
import pytest

from aispm.collectors.base import CollectOptions
from aispm.demo import aws_estate, azure_estate, gcp_estate
from aispm.demo.run import safe_env
from aispm.pipeline import run_scan
from aispm.pipeline_types import ScanRequest
from aispm.sinks.formats.ocsf import from_ocsf, to_ocsf
from aispm.sinks.transports.files import FileSink
from tests.support import workflow
from tests.support.azure import fake_az
from tests.support.workflow import BUCKET, REGION, TABLE, s3_json, s3_jsonl

EXTERNAL_ID = "ext-id-5f1c9a2e7b3d4c6a8e0f"
AZURE_CLIENT_SECRET = "azure-client-secret-Q9v2Lk7pXz"

pytestmark = pytest.mark.slow


def _secret(name: str, value: str) -> str:
    return str(boto3.client("secretsmanager", region_name=REGION).create_secret(
        Name=name, SecretString=value)["ARN"])


@pytest.fixture
def estate(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, Any]]:
    """The demo estate of all three clouds (moto, fake ARM, fake Google) plus the stack's resources."""
    with safe_env(), ExitStack() as stack:
        options: dict[str, Any] = {"workers": 4}
        for module in (aws_estate, azure_estate, gcp_estate):
            served, credential = stack.enter_context(module.serve())
            options.update(served)
            if credential is not None:   # the Lambda collectors build their own: the real chain gets the
                # demo's token from an ``az`` (the exported client secret would send EnvironmentCredential out)
                token = credential.get_token(f"{os.environ['AISPM_AZURE_ARM_ENDPOINT']}/.default").token
                fake_az(tmp_path / "bin", token)
                os.environ["AZURE_TOKEN_CREDENTIALS"] = "AzureCliCredential"
                os.environ["PATH"] = f"{tmp_path / 'bin'}:{os.environ.get('PATH', '')}"
        env = workflow.create_resources()
        sa_file = os.environ["GOOGLE_APPLICATION_CREDENTIALS"]
        env |= {
            "AISPM_EXTERNAL_ID_SECRET": _secret("aispm/external-id", EXTERNAL_ID),
            "AISPM_AZURE_CREDENTIALS_SECRET": _secret("aispm/azure", json.dumps({
                "AZURE_TENANT_ID": "00000000-0000-0000-0000-0000000000aa", "AZURE_CLIENT_ID": "aispm-reader",
                "AZURE_CLIENT_SECRET": AZURE_CLIENT_SECRET})),
            "AISPM_GCP_WIF_CONFIG_SECRET": _secret("aispm/gcp", Path(sa_file).read_text()),
        }
        yield {"options": options, "env": env, "sa_file": sa_file}


def _finding_keys(findings: list[Any]) -> set[tuple[str, str]]:
    ocsf = [f if isinstance(f, dict) else to_ocsf(f) for f in findings]
    return {(f["finding_info"]["uid"], f["compliance"]["status"]) for f in ocsf}


def _lambda_env(estate: dict[str, Any], monkeypatch: pytest.MonkeyPatch, **extra: str) -> None:
    opts = estate["options"]
    values = workflow.template_env(**{
        "AISPM_SINKS": "securityhub", "AISPM_REGIONS": ",".join(opts["regions"]),
        "AISPM_GCP_PROJECTS": ",".join(opts["projects"]), **estate["env"], **extra})
    for key, value in values.items():
        monkeypatch.setenv(key, value)
    # Not part of the template: the fake's locations and the estate's job age, as the CLI gets them.
    monkeypatch.setenv("AISPM_GCP_LOCATIONS", ",".join(opts["locations"]))
    monkeypatch.setenv("AISPM_JOB_WINDOW_DAYS", str(opts["job_window_days"]))
    monkeypatch.setenv("AISPM_WORKERS", "4")
    # The Google function has only the secret's credential configuration, no ADC file.
    monkeypatch.delenv("GOOGLE_APPLICATION_CREDENTIALS", raising=False)


def test_workflow_gives_the_cli_findings(estate: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                         capsys: pytest.CaptureFixture[str], log_stream: io.StringIO) -> None:
    cli = run_scan(ScanRequest(providers=["aws", "azure", "gcp"], options=CollectOptions(**estate["options"]),
                               out_dir=tmp_path / "cli", sinks=[FileSink(tmp_path / "cli")]))
    for region in aws_estate.REGIONS:
        boto3.client("securityhub", region_name=region).enable_security_hub()
    _lambda_env(estate, monkeypatch)
    capsys.readouterr()

    _, delivered, units = workflow.run_all("run-1", monkeypatch)

    assert {u["provider"] for u in units} == {"aws", "azure", "gcp"}
    assert {u["scope"] for u in units if u["provider"] == "azure"} == {"azure:*"}   # discovery unit
    assert {u["scope"] for u in units if u["provider"] == "aws"} == {
        f"aws:{aws_estate.ACCOUNT}:{r}" for r in aws_estate.REGIONS}
    findings = s3_jsonl("runs/run-1/out/findings.ocsf.jsonl")
    assert findings
    assert _finding_keys(findings) == _finding_keys(cli.batch.findings)
    assert len(s3_jsonl("runs/run-1/out/assets.jsonl")) == len(cli.batch.assets)
    s3 = boto3.client("s3", region_name=REGION)
    assert {name: s3.head_object(Bucket=BUCKET, Key=f"runs/run-1/out/{name}")["ContentType"] for name in (
        "report.html", "inventory.csv", "aibom.cdx.json", "findings.ocsf.jsonl")} == {
        "report.html": "text/html; charset=utf-8", "inventory.csv": "text/csv; charset=utf-8",
        "aibom.cdx.json": "application/json", "findings.ocsf.jsonl": "application/x-ndjson"}
    summary = s3_json(delivered["summary_key"])
    assert summary["scan_id"] == "run-1"
    assert summary["findings"] == cli.batch.summary["findings"]
    assert sorted((s["scope"], s["status"]) for s in summary["scopes"]) == \
        sorted((s["scope"], s["status"]) for s in cli.batch.summary["scopes"])
    assert delivered["exit_code"] == cli.exit_code
    # Every unit wrote the contract's per-unit files.
    for index in range(len(units)):
        assert s3_jsonl(f"runs/run-1/units/{index}/findings.ocsf.jsonl") is not None
    # Security Hub got every finding of the run (AWS findings in their own region); the state table holds
    # every scanned scope.
    imported = [f for region in aws_estate.REGIONS
                for page in boto3.client("securityhub", region_name=region).get_paginator("get_findings").paginate()
                for f in page["Findings"]]
    assert len(imported) == len(findings)
    items = boto3.client("dynamodb", region_name=REGION).scan(TableName=TABLE)["Items"]
    assert {i["scope"]["S"] for i in items} >= {s["scope"] for s in summary["scopes"] if s["status"] == "ok"}
    # The Azure secret reached azure-identity's variables; no secret value reached the logs.
    assert os.environ["AZURE_CLIENT_SECRET"] == AZURE_CLIENT_SECRET
    logs = log_stream.getvalue() + capsys.readouterr().out   # Powertools logs, then EMF metrics (print)
    records = [json.loads(line) for line in logs.splitlines() if line.startswith("{")]
    assert any(r.get("message") == "run planned" and r.get("correlation_id") == "run-1" for r in records)
    assert any(r.get("message") == "run delivered" for r in records)
    assert any("_aws" in r and "Assets" in r for r in records)     # EMF metrics
    private_key = json.loads(Path(estate["sa_file"]).read_text())["private_key"]
    for value in (EXTERNAL_ID, AZURE_CLIENT_SECRET, private_key.splitlines()[1]):
        assert value not in logs


def test_failed_unit_is_reported_and_its_state_is_untouched(
        estate: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    _lambda_env(estate, monkeypatch, AISPM_SINKS="", AISPM_AZURE_CREDENTIALS_SECRET="",
                AISPM_GCP_WIF_CONFIG_SECRET="")
    _, first, units = workflow.run_all("run-1", monkeypatch)
    assert first["exit_code"] == 0
    assert [u["provider"] for u in units] == ["aws", "aws"]   # unconfigured clouds are not planned
    dynamo = boto3.client("dynamodb", region_name=REGION)
    crashed_scope = units[1]["scope"]
    before = dynamo.get_item(TableName=TABLE, Key={"scope": {"S": crashed_scope}})["Item"]

    # Every resource of both regions vanishes; the second region's unit then crashes.
    for region in aws_estate.REGIONS:
        sm = boto3.client("sagemaker", region_name=region)
        for nb in sm.list_notebook_instances()["NotebookInstances"]:
            sm.stop_notebook_instance(NotebookInstanceName=nb["NotebookInstanceName"])
            sm.delete_notebook_instance(NotebookInstanceName=nb["NotebookInstanceName"])
    _, second, _ = workflow.run_all("run-2", monkeypatch, crash={1}, with_manifest=False)

    summary = s3_json(second["summary_key"])
    status = {s["scope"]: s for s in summary["scopes"]}
    assert status[crashed_scope]["status"] == "error"
    assert "Task timed out" in status[crashed_scope]["error"]
    assert status[units[0]["scope"]]["status"] == "ok"
    assert second["exit_code"] == 4
    assert dynamo.get_item(TableName=TABLE, Key={"scope": {"S": crashed_scope}})["Item"] == before
    # The scope that succeeded had its vanished notebooks' findings closed; none of the crashed scope's.
    closed = [f for f in s3_jsonl("runs/run-2/out/findings.ocsf.jsonl") if f["status_id"] == 4]
    assert closed
    assert all(units[0]["region"] in f["resources"][0]["uid"] for f in closed)


def test_undelivered_findings_go_to_the_dead_letter_queue(estate: dict[str, Any], monkeypatch: pytest.MonkeyPatch,
                                                          log_stream: io.StringIO) -> None:
    token = "hec-token-7c1d9e0f-5a2b-4c3d"
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))   # bound, never listening: every connection is refused
    port = closed.getsockname()[1]
    try:
        _lambda_env(estate, monkeypatch, AISPM_SINKS="splunk", AISPM_AZURE_CREDENTIALS_SECRET="",
                    AISPM_GCP_WIF_CONFIG_SECRET="", AISPM_SPLUNK_HEC_URL=f"https://127.0.0.1:{port}",
                    AISPM_SPLUNK_HEC_TOKEN_SECRET=_secret("aispm/hec", token))
        monkeypatch.setenv("AISPM_SPLUNK_MAX_ATTEMPTS", "1")
        _, delivered, _ = workflow.run_all("run-1", monkeypatch)
    finally:
        closed.close()

    summary = s3_json(delivered["summary_key"])
    assert delivered["exit_code"] == 5
    total = summary["findings"]["pass"] + summary["findings"]["fail"]
    assert delivered["undelivered"] == total
    sqs = boto3.client("sqs", region_name=REGION)
    url = estate["env"]["AISPM_DEAD_LETTER_QUEUE_URL"]
    bodies = []
    while batch := sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", []):
        bodies += [json.loads(m["Body"]) for m in batch]
    assert len(bodies) == total
    assert {b["sink"] for b in bodies} == {"splunk"}
    assert {b["payload"]["finding_info"]["uid"] for b in bodies} == \
        {f["finding_info"]["uid"] for f in s3_jsonl("runs/run-1/out/findings.ocsf.jsonl")}
    assert token not in log_stream.getvalue()


def test_a_sink_that_cannot_work_dead_letters_its_findings_instead_of_failing_the_run(
        estate: dict[str, Any], monkeypatch: pytest.MonkeyPatch, log_stream: io.StringIO) -> None:
    token = "hec-token-7c1d9e0f-5a2b-4c3d"
    _lambda_env(estate, monkeypatch, AISPM_SINKS="splunk", AISPM_AZURE_CREDENTIALS_SECRET="",
                AISPM_GCP_WIF_CONFIG_SECRET="", AISPM_SPLUNK_HEC_URL="https://127.0.0.1:9",
                AISPM_SPLUNK_HEC_TOKEN_SECRET=_secret("aispm/hec-torn",
                                                      json.dumps({"token": token[:9] + "\r\n" + token[9:]})))
    _, delivered, _ = workflow.run_all("run-1", monkeypatch)
    assert delivered["exit_code"] == 5
    findings = s3_jsonl("runs/run-1/out/findings.ocsf.jsonl")
    sqs = boto3.client("sqs", region_name=REGION)
    url = estate["env"]["AISPM_DEAD_LETTER_QUEUE_URL"]
    bodies = []
    while batch := sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", []):
        bodies += [json.loads(m["Body"]) for m in batch]
    assert findings and {b["payload"]["finding_info"]["uid"] for b in bodies} == {
        f["finding_info"]["uid"] for f in findings}
    assert all("not usable" in b["reason"] and token[9:] not in b["reason"] for b in bodies)
    assert token[9:] not in log_stream.getvalue()


def test_the_security_hub_sink_stops_before_the_function_times_out(estate: dict[str, Any]) -> None:
    from aispm.lambdas.deliver import set_deadlines
    from aispm.sinks.base import Batch
    from aispm.sinks.transports.securityhub import SecurityHubSink
    from tests.support.findings import aws_findings

    findings = aws_findings(3)
    sink = SecurityHubSink()
    set_deadlines([sink], workflow.Context(remaining_ms=60_000), reserve_seconds=90)   # no time left for it
    report = sink.deliver(Batch(scan_id="s", findings=[from_ocsf(f) for f in findings], assets=[], summary={}))
    assert sink.calls == 0
    assert [u.payload for u in report.undelivered] == findings
    roomy = SecurityHubSink()
    set_deadlines([roomy], workflow.Context(remaining_ms=900_000), reserve_seconds=90)
    boto3.client("securityhub", region_name=REGION).enable_security_hub()
    batch = Batch(scan_id="s", findings=[from_ocsf(f) for f in findings], assets=[], summary={})
    assert roomy.deliver(batch).delivered == 3


def test_unreadable_project_is_a_scope_error_not_a_crash(estate: dict[str, Any],
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """A cloud error inside a unit comes back in the unit's ``scopes`` (status error), as in the CLI."""
    projects = [*estate["options"]["projects"][:1], "no-such-project-000"]
    _lambda_env(estate, monkeypatch, AISPM_SINKS="", AISPM_AZURE_CREDENTIALS_SECRET="",
                AISPM_GCP_PROJECTS=",".join(projects))
    planned = workflow.plan("run-1", providers=["gcp"])
    units = s3_json(planned["units_key"])
    assert [u["scope"] for u in units] == [f"gcp:{p}" for p in projects]
    results = [workflow.collect(planned, i, u, monkeypatch) for i, u in enumerate(units)]
    bad = results[1]["scopes"]
    assert bad
    assert all(s["scope"].startswith("gcp:no-such-project-000") and s["status"] == "error" for s in bad)
    assert all(s["status"] == "ok" for s in results[0]["scopes"])
    delivered = workflow.deliver(planned, map_result=workflow.write_map_results(
        planned, [(workflow.collect_event(planned, i, u), r)
                  for i, (u, r) in enumerate(zip(units, results, strict=True))], []))
    summary = s3_json(delivered["summary_key"])
    assert delivered["exit_code"] == 4
    status = {s["scope"]: s["status"] for s in summary["scopes"]}
    assert all(status[s["scope"]] == "error" for s in bad)
    assert summary["findings"]["fail"] == sum(r["findings"]["fail"] for r in results)
