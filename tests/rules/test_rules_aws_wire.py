"""AWS rules from SageMaker wire records through the AWS mapper: Pass, Fail and the documented default when absent.

Complements tests/aws/test_rules_aws.py (NET-002, NET-005 notebook/training job,
ENC-001, IAM-002, LOG-001, RES-001) with the remaining AWS rule/kind pairs the
mapper covers.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from aispm.collectors.base import RawRecord
from aispm.normalizer import normalize, normalize_identities
from aispm.rules.engine import evaluate
from aispm.rules.policy import Policy
from tests.aws.records import record

ACCT = "123456789012"
BASE = f"arn:aws:sagemaker:us-east-1:{ACCT}"
ROLE = f"arn:aws:iam::{ACCT}:role/exec"
Make = Callable[..., dict[str, Any]]


def nb(**extra: Any) -> dict[str, Any]:
    return {"NotebookInstanceArn": f"{BASE}:notebook-instance/nb", "NotebookInstanceName": "nb", **extra}


def model(**extra: Any) -> dict[str, Any]:
    return {"ModelArn": f"{BASE}:model/m", "ModelName": "m", "PrimaryContainer": {"Image": "img"}, **extra}


def tj(**extra: Any) -> dict[str, Any]:
    return {"TrainingJobArn": f"{BASE}:training-job/tj", "TrainingJobName": "tj", **extra}


def endpoint() -> dict[str, Any]:
    return {"EndpointArn": f"{BASE}:endpoint/ep", "EndpointName": "ep", "EndpointConfigName": "ec"}


def results(records: list[RawRecord], rule: str, identities: list[RawRecord] | None = None,
            policy: Policy | None = None) -> list[tuple[str, str]]:
    assets = normalize("aws", records)
    ids = {i.uid: i for i in normalize_identities("aws", identities or [])}
    return [(e.status, e.detail) for e in evaluate(assets, ids, policy).evaluations if e.rule.id == rule]


def status(type_: str, data: dict[str, Any], rule: str) -> str | None:
    found = results([record(type_, data)], rule)
    assert len(found) <= 1
    return found[0][0] if found else None


@pytest.mark.parametrize(("type_", "make"), [("model", model), ("training_job", tj)])
@pytest.mark.parametrize(("value", "expected"), [(True, "pass"), (False, "fail"), (None, "fail")])
def test_net004_network_isolation(type_: str, make: Make, value: bool | None, expected: str) -> None:
    data = make() if value is None else make(EnableNetworkIsolation=value)
    assert status(type_, data, "AISPM-NET-004") == expected


@pytest.mark.parametrize(("vpc", "expected"), [
    ({"Subnets": ["subnet-1"], "SecurityGroupIds": ["sg-1"]}, "pass"), ({}, "fail"), (None, "fail")])
def test_net005_model_vpc(vpc: dict[str, Any] | None, expected: str) -> None:
    data = model() if vpc is None else model(VpcConfig=vpc)
    assert status("model", data, "AISPM-NET-005") == expected


@pytest.mark.parametrize(("value", "expected"), [(True, "pass"), (False, "fail"), (None, "fail")])
def test_enc002_training_job(value: bool | None, expected: str) -> None:
    data = tj() if value is None else tj(EnableInterContainerTrafficEncryption=value)
    found = results([record("training_job", data)], "AISPM-ENC-002")
    assert [s for s, _ in found] == [expected]
    assert "EnableInterContainerTrafficEncryption is " + ("absent (default false)" if value is None
                                                          else str(value).lower()) in found[0][1]


@pytest.mark.parametrize(("value", "expected"), [("2", "pass"), ("1", "fail"), (None, "fail")])
def test_iam005_imds(value: str | None, expected: str) -> None:
    data = nb() if value is None else nb(
        InstanceMetadataServiceConfiguration={"MinimumInstanceMetadataServiceVersion": value})
    assert status("notebook_instance", data, "AISPM-IAM-005") == expected


@pytest.mark.parametrize(("platform", "expected"), [
    ("notebook-al2-v2", "fail"), ("notebook-al1-v1", "fail"), ("notebook-al2023-v1", "pass"), (None, None)])
def test_gov001_platform(platform: str | None, expected: str | None) -> None:
    data = nb() if platform is None else nb(PlatformIdentifier=platform)
    assert status("notebook_instance", data, "AISPM-GOV-001") == expected


def _role(actions: list[str]) -> RawRecord:
    doc = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": actions, "Resource": "*"}]}
    return RawRecord(provider="aws", type="iam_role", account=ACCT, region="",
                     data={"RoleArn": ROLE, "RoleName": "exec", "Policies": [{"PolicyName": "inline",
                                                                               "Document": doc}]})


@pytest.mark.parametrize(("type_", "data"), [
    ("notebook_instance", nb(RoleArn=ROLE)),
    ("model", model(ExecutionRoleArn=ROLE)),
    ("training_job", tj(RoleArn=ROLE)),
])
def test_iam001_execution_role(type_: str, data: dict[str, Any]) -> None:
    [(bad, detail)] = results([record(type_, data)], "AISPM-IAM-001", [_role(["iam:*"])])
    assert bad == "fail"
    assert f"{ROLE} holds iam:* (inline)" in detail
    [(ok, _)] = results([record(type_, data)], "AISPM-IAM-001", [_role(["s3:GetObject"])])
    assert ok == "pass"


def test_iam001_no_role_is_a_pass() -> None:
    assert status("training_job", tj(), "AISPM-IAM-001") == "pass"


@pytest.mark.parametrize(("type_", "make", "key"), [("model", model, None), ("training_job", tj, "Environment")])
def test_sec001_environment(type_: str, make: Make, key: str | None) -> None:
    def with_env(env: dict[str, str]) -> dict[str, Any]:
        if key:
            return make(**{key: env})
        return make(PrimaryContainer={"Image": "img", "Environment": env})

    [(bad, detail)] = results([record(type_, with_env({"KEY": "AKIAIOSFODNN7EXAMPLE"}))], "AISPM-SEC-001")
    assert bad == "fail"
    assert "KEY" in detail
    assert "AKIAIOSFODNN7EXAMPLE" not in detail
    assert status(type_, with_env({"DB_PASSWORD": "hunter2hunter2"}), "AISPM-SEC-001") == "fail"
    assert status(type_, with_env({"DB_PASSWORD": "arn:aws:secretsmanager:us-east-1:1:secret:db"}),
                  "AISPM-SEC-001") == "pass"
    assert status(type_, make(), "AISPM-SEC-001") == "pass"


def _schedules(*schedules: dict[str, Any]) -> list[RawRecord]:
    return [record("monitoring_schedules_listed", {}), *(record("monitoring_schedule", s) for s in schedules)]


@pytest.mark.parametrize(("schedules", "expected"), [
    ([{"MonitoringScheduleName": "s", "MonitoringScheduleStatus": "Scheduled", "EndpointName": "ep"}], "pass"),
    ([{"MonitoringScheduleName": "s", "MonitoringScheduleStatus": "Stopped", "EndpointName": "ep"}], "fail"),
    ([{"MonitoringScheduleName": "s", "MonitoringScheduleStatus": "Scheduled", "EndpointName": "other"}], "fail"),
    ([], "fail"),
])
def test_log002_monitoring_schedule(schedules: list[dict[str, Any]], expected: str) -> None:
    found = results([record("endpoint", endpoint()), *_schedules(*schedules)], "AISPM-LOG-002")
    assert [s for s, _ in found] == [expected]


def test_log002_skipped_when_schedules_were_not_listed() -> None:
    assert results([record("endpoint", endpoint())], "AISPM-LOG-002") == []


def test_gov003_tags_from_the_wire() -> None:
    policy = Policy(required_tags=["owner"])
    tagged = nb(Tags=[{"Key": "owner", "Value": "ml-team"}])
    assert results([record("notebook_instance", tagged)], "AISPM-GOV-003", policy=policy)[0][0] == "pass"
    assert results([record("notebook_instance", nb())], "AISPM-GOV-003", policy=policy) == [
        ("fail", "Required tag keys missing: owner.")]
