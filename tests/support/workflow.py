"""Run the deployed workflow in-process: Plan, every unit's Collect, the Distributed Map's
ResultWriter files (written the way Step Functions writes them), then Deliver."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from typing import Any

import boto3

BUCKET = "aispm-results-test"
TABLE = "aispm-state-test"
REGION = "us-east-1"


@dataclass
class Context:
    """The attributes Powertools reads from the Lambda context object."""

    function_name: str = "aispm-test"
    memory_limit_in_mb: int = 1024
    invoked_function_arn: str = "arn:aws:lambda:us-east-1:123456789012:function:aispm-test"
    aws_request_id: str = "00000000-0000-0000-0000-000000000001"
    remaining_ms: int = 900_000

    def get_remaining_time_in_millis(self) -> int:
        return self.remaining_ms


def create_resources() -> dict[str, str]:
    """The stack's bucket, state table and dead-letter queue in moto; the AISPM_* variables naming them."""
    boto3.client("s3", region_name=REGION).create_bucket(Bucket=BUCKET)
    boto3.client("dynamodb", region_name=REGION).create_table(
        TableName=TABLE, AttributeDefinitions=[{"AttributeName": "scope", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "scope", "KeyType": "HASH"}], BillingMode="PAY_PER_REQUEST")
    queue = boto3.client("sqs", region_name=REGION).create_queue(QueueName="aispm-dlq")["QueueUrl"]
    return {"AISPM_RESULTS_BUCKET": BUCKET, "AISPM_STATE_TABLE": TABLE, "AISPM_DEAD_LETTER_QUEUE_URL": queue}


def template_env(**values: str) -> dict[str, str]:
    """Every variable the template sets, empty when not configured (as CloudFormation passes them)."""
    env = dict.fromkeys((
        "AISPM_SINKS", "AISPM_SPLUNK_HEC_URL", "AISPM_SPLUNK_HEC_TOKEN_SECRET", "AISPM_SPLUNK_INDEX",
        "AISPM_EXTERNAL_ID_SECRET", "AISPM_REGIONS", "AISPM_AZURE_CREDENTIALS_SECRET", "AISPM_AZURE_SUBSCRIPTIONS",
        "AISPM_GCP_WIF_CONFIG_SECRET", "AISPM_GCP_PROJECTS"), "")
    env.update({"AISPM_SPLUNK_ACK": "false", "AISPM_ORG": "false", "AISPM_MEMBER_ROLE_NAME": "aispm-member-read",
                "POWERTOOLS_SERVICE_NAME": "aispm", "POWERTOOLS_METRICS_NAMESPACE": "aispm"})
    env.update(values)
    return env


def s3_json(key: str) -> Any:
    return json.loads(boto3.client("s3", region_name=REGION).get_object(Bucket=BUCKET, Key=key)["Body"].read())


def s3_jsonl(key: str) -> list[dict[str, Any]]:
    body = boto3.client("s3", region_name=REGION).get_object(Bucket=BUCKET, Key=key)["Body"].read()
    return [json.loads(line) for line in body.decode().splitlines() if line.strip()]


def plan(run_id: str, providers: list[str] | None = None) -> dict[str, Any]:
    from aispm.lambdas import plan as fn

    execution_input: dict[str, Any] = {"trigger": "manual",
                                       "settings": {"max_concurrency": 10, "tolerated_failure_percentage": 10}}
    if providers:
        execution_input["providers"] = providers
    return fn.handler({"run_id": run_id, "execution_arn": f"arn:aws:states:us-east-1:123456789012:execution:"
                       f"aispm-scan:{run_id}", "started_at": "2026-11-27T03:00:00.123Z",
                       "input": execution_input}, Context())


def collect(planned: dict[str, Any], index: int, unit: dict[str, Any], monkeypatch: Any) -> dict[str, Any]:
    from aispm.lambdas import collect as fn

    monkeypatch.setenv("AISPM_PROVIDER", unit["provider"])   # each provider has its own function
    event = {"provider": unit["provider"], "index": index, "unit": unit, "run_id": planned["run_id"],
             "run_prefix": planned["run_prefix"], "bucket": BUCKET}
    try:
        return fn.handler(event, Context())
    finally:
        monkeypatch.delenv("AISPM_PROVIDER")


def write_map_results(planned: dict[str, Any], succeeded: list[tuple[dict[str, Any], dict[str, Any]]],
                      failed: list[tuple[dict[str, Any], str]]) -> dict[str, Any]:
    """ResultWriter output: manifest.json, SUCCEEDED_0.json (Output = the result as a JSON string),
    FAILED_0.json (Input = the event as a JSON string, Error, Cause). Returns the Map state's result."""
    s3 = boto3.client("s3", region_name=REGION)
    map_run = str(uuid.uuid4())
    base = f"{planned['map_prefix']}/{map_run}"
    files: dict[str, list[dict[str, Any]]] = {"SUCCEEDED": [], "FAILED": [], "PENDING": []}
    groups = {
        "SUCCEEDED": [{"ExecutionArn": f"arn:aws:states:::execution:x:{n}", "Status": "SUCCEEDED",
                       "Input": json.dumps(event), "Output": json.dumps(result)}
                      for n, (event, result) in enumerate(succeeded)],
        "FAILED": [{"ExecutionArn": f"arn:aws:states:::execution:y:{n}", "Status": "FAILED",
                    "Input": json.dumps(event), "Error": "Lambda.Unknown", "Cause": cause}
                   for n, (event, cause) in enumerate(failed)],
    }
    for status, executions in groups.items():
        if executions:
            key = f"{base}/{status}_0.json"
            s3.put_object(Bucket=BUCKET, Key=key, Body=json.dumps(executions).encode())
            files[status].append({"Key": key, "Size": 1})
    manifest_key = f"{base}/manifest.json"
    s3.put_object(Bucket=BUCKET, Key=manifest_key, Body=json.dumps(
        {"DestinationBucket": BUCKET, "MapRunArn": f"arn:aws:states:::mapRun:{map_run}",
         "ResultFiles": files}).encode())
    return {"MapRunArn": f"arn:aws:states:::mapRun:{map_run}",
            "ResultWriterDetails": {"Bucket": BUCKET, "Key": manifest_key}}


def collect_event(planned: dict[str, Any], index: int, unit: dict[str, Any]) -> dict[str, Any]:
    return {"provider": unit["provider"], "index": index, "unit": unit, "run_id": planned["run_id"],
            "run_prefix": planned["run_prefix"], "bucket": BUCKET}


def deliver(planned: dict[str, Any], map_result: dict[str, Any] | None = None,
            map_error: dict[str, Any] | None = None) -> dict[str, Any]:
    from aispm.lambdas import deliver as fn

    state: dict[str, Any] = {"trigger": "manual", "settings": {"max_concurrency": 10,
                                                               "tolerated_failure_percentage": 10},
                             "plan": planned}
    if map_result is not None:
        state["map"] = map_result
    if map_error is not None:
        state["map_error"] = map_error
    return fn.handler(state, Context())


def run_all(run_id: str, monkeypatch: Any, crash: set[int] = frozenset(),  # type: ignore[assignment]
            with_manifest: bool = True) -> tuple[dict[str, Any], dict[str, Any], list[dict[str, Any]]]:
    """Plan -> Collect (units in ``crash`` fail as a Lambda error would) -> Deliver."""
    planned = plan(run_id)
    units = s3_json(planned["units_key"])
    assert planned["unit_count"] == len(units)
    succeeded, failed = [], []
    for index, unit in enumerate(units):
        event = collect_event(planned, index, unit)
        if index in crash:
            failed.append((event, "Task timed out after 240.00 seconds"))
            continue
        succeeded.append((event, collect(planned, index, unit, monkeypatch)))
    map_result = write_map_results(planned, succeeded, failed)
    if with_manifest:
        delivered = deliver(planned, map_result=map_result)
    else:
        delivered = deliver(planned, map_error={"Error": "States.ExceedToleratedFailureThreshold",
                                                "Cause": "too many units failed"})
    return planned, delivered, units
