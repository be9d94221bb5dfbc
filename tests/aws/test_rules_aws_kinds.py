"""The remaining AWS rule lines: Pass, Fail and the documented default for every field, per asset kind.

Built from raw records as the collector produces them; fields moto does not
store (notebook PlatformIdentifier and IMDS config, job Environment, model
EnableNetworkIsolation=True) are covered here at the record level.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from aispm.collectors.base import RawRecord
from aispm.normalizer import normalize, normalize_identities
from aispm.rules.engine import evaluate
from tests.aws.records import record

ACCT = "123456789012"
BASE = f"arn:aws:sagemaker:us-east-1:{ACCT}"
ROLE = f"arn:aws:iam::{ACCT}:role/exec"
VPC = {"Subnets": ["subnet-1"], "SecurityGroupIds": ["sg-1"]}


def verdicts(records: list[RawRecord], rule: str, identities: list[RawRecord] | None = None,
             known: tuple[str, ...] = (ACCT,), tags: tuple[str, ...] = ()) -> list[tuple[str, str]]:
    from aispm.rules.policy import Policy

    assets = normalize("aws", records)
    ids = {i.uid: i for i in normalize_identities("aws", identities or [])}
    policy = Policy.model_validate({"required_tags": list(tags)}) if tags else None
    return [(e.status, e.detail) for e in evaluate(assets, ids, policy, known_accounts=known).evaluations
            if e.rule.id == rule]


def one(type_: str, data: dict[str, Any], rule: str, **kw: Any) -> tuple[str, str] | None:
    found = verdicts([record(type_, data)], rule, **kw)
    assert len(found) <= 1
    return found[0] if found else None


def pj(**extra: Any) -> dict[str, Any]:
    return {"ProcessingJobArn": f"{BASE}:processing-job/pj", "ProcessingJobName": "pj", **extra}


def dom(**extra: Any) -> dict[str, Any]:
    return {"DomainArn": f"{BASE}:domain/d-1", "DomainName": "studio", "DomainId": "d-1", **extra}


def nb(**extra: Any) -> dict[str, Any]:
    return {"NotebookInstanceArn": f"{BASE}:notebook-instance/nb", "NotebookInstanceName": "nb", **extra}


def model(**extra: Any) -> dict[str, Any]:
    return {"ModelArn": f"{BASE}:model/m", "ModelName": "m", **extra}


def tj(**extra: Any) -> dict[str, Any]:
    return {"TrainingJobArn": f"{BASE}:training-job/tj", "TrainingJobName": "tj", **extra}


def mpg(policy: Any = None, **extra: Any) -> dict[str, Any]:
    data = {"ModelPackageGroupArn": f"{BASE}:model-package-group/g", "ModelPackageGroupName": "g", **extra}
    if policy is not None:
        data["ResourcePolicy"] = policy if isinstance(policy, str) else json.dumps(policy)
    return data


def role(arn: str, actions: Any, error: str | None = None) -> RawRecord:
    data: dict[str, Any] = {"RoleArn": arn, "RoleName": arn.rsplit("/", 1)[-1], "Policies": [
        {"PolicyName": "inline:p", "Document": {"Statement": [{"Effect": "Allow", "Action": actions, "Resource": "*"}]}}
    ]}
    if error:
        data["Error"] = error
    return record("iam_role", data)


# --- NET-004 -------------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("data", "expected"), [
    (pj(NetworkConfig={"EnableNetworkIsolation": True}), "pass"),
    (pj(NetworkConfig={"EnableNetworkIsolation": False}), "fail"),
    (pj(NetworkConfig={}), "fail"),
    (pj(), "fail"),
])
def test_net004_processing_job(data: dict[str, Any], expected: str) -> None:
    status, detail = one("processing_job", data, "AISPM-NET-004") or ("", "")
    assert status == expected
    assert "NetworkConfig.EnableNetworkIsolation" in detail


# moto gap: CreateModel drops EnableNetworkIsolation=True, so the model Pass case is a record here
# (and a Stubber test in test_collector_gaps.py).
@pytest.mark.parametrize(("value", "expected"), [(True, "pass"), (False, "fail"), (None, "fail")])
def test_net004_model_and_training_job(value: bool | None, expected: str) -> None:
    extra = {} if value is None else {"EnableNetworkIsolation": value}
    assert (one("model", model(**extra), "AISPM-NET-004") or ("",))[0] == expected
    assert (one("training_job", tj(**extra), "AISPM-NET-004") or ("",))[0] == expected


# --- NET-005 -------------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("net", "expected"), [
    ({"VpcConfig": VPC}, "pass"),
    ({"VpcConfig": {}}, "fail"),
    ({}, "fail"),
    (None, "fail"),
])
def test_net005_processing_job(net: dict[str, Any] | None, expected: str) -> None:
    data = pj() if net is None else pj(NetworkConfig=net)
    assert (one("processing_job", data, "AISPM-NET-005") or ("",))[0] == expected


@pytest.mark.parametrize(("vpc", "expected"), [(VPC, "pass"), ({}, "fail"), (None, "fail")])
def test_net005_model(vpc: dict[str, Any] | None, expected: str) -> None:
    data = model() if vpc is None else model(VpcConfig=vpc)
    assert (one("model", data, "AISPM-NET-005") or ("",))[0] == expected


# --- NET-002 Studio domain -------------------------------------------------------------------------------------

@pytest.mark.parametrize(("value", "expected"), [
    ("VpcOnly", "pass"), ("PublicInternetOnly", "fail"), (None, "fail"),
])
def test_net002_studio_domain(value: str | None, expected: str) -> None:
    data = dom() if value is None else dom(AppNetworkAccessType=value)
    status, detail = one("studio_domain", data, "AISPM-NET-002") or ("", "")
    assert status == expected
    assert "AppNetworkAccessType is " + (value or "absent (default PublicInternetOnly)") in detail


# --- ENC-001 / ENC-002 ---------------------------------------------------------------------------------------

@pytest.mark.parametrize(("data", "expected"), [
    (pj(ProcessingOutputConfig={"Outputs": [], "KmsKeyId": "arn:aws:kms:us-east-1:1:key/k"}), "pass"),
    (pj(ProcessingOutputConfig={"Outputs": []}), "fail"),
    (pj(), "fail"),
])
def test_enc001_processing_job(data: dict[str, Any], expected: str) -> None:
    assert (one("processing_job", data, "AISPM-ENC-001") or ("",))[0] == expected


@pytest.mark.parametrize(("data", "expected"), [(dom(KmsKeyId="k"), "pass"), (dom(), "fail")])
def test_enc001_studio_domain(data: dict[str, Any], expected: str) -> None:
    assert (one("studio_domain", data, "AISPM-ENC-001") or ("",))[0] == expected


@pytest.mark.parametrize(("value", "expected"), [(True, "pass"), (False, "fail"), (None, "fail")])
def test_enc002_training_and_processing(value: bool | None, expected: str) -> None:
    t = tj() if value is None else tj(EnableInterContainerTrafficEncryption=value)
    p = pj() if value is None else pj(NetworkConfig={"EnableInterContainerTrafficEncryption": value})
    assert (one("training_job", t, "AISPM-ENC-002") or ("",))[0] == expected
    status, detail = one("processing_job", p, "AISPM-ENC-002") or ("", "")
    assert status == expected
    assert "NetworkConfig.EnableInterContainerTrafficEncryption" in detail


# --- IAM-001 -------------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("type_", "data"), [
    ("processing_job", pj(RoleArn=ROLE)),
    ("studio_domain", dom(DefaultUserSettings={"ExecutionRole": ROLE})),
    ("notebook_instance", nb(RoleArn=ROLE)),
    ("model", model(ExecutionRoleArn=ROLE)),
    ("training_job", tj(RoleArn=ROLE)),
])
def test_iam001_every_kind_reads_its_role(type_: str, data: dict[str, Any]) -> None:
    admin = verdicts([record(type_, data)], "AISPM-IAM-001", identities=[role(ROLE, "*")])
    scoped = verdicts([record(type_, data)], "AISPM-IAM-001", identities=[role(ROLE, "s3:GetObject")])
    unread = verdicts([record(type_, data)], "AISPM-IAM-001", identities=[role(ROLE, [], error="AccessDenied")])
    assert admin[0][0] == "fail"
    assert "*:* on *" in admin[0][1]
    assert scoped[0][0] == "pass"
    assert unread[0][0] == "error"


def test_iam001_domain_without_default_role_runs_with_no_identity() -> None:
    assert one("studio_domain", dom(), "AISPM-IAM-001") == ("pass", "The workload runs with no identity of its own.")


# --- IAM-004 -------------------------------------------------------------------------------------------------

def _allow(principal: Any) -> dict[str, Any]:
    return {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": principal, "Action": "sagemaker:DescribeModelPackage", "Resource": "*"}]}


@pytest.mark.parametrize(("policy", "expected"), [
    (None, "pass"),                                                          # no policy
    (_allow("*"), "fail"),
    (_allow({"AWS": "*"}), "fail"),
    (_allow({"AWS": "arn:aws:iam::999988887777:root"}), "fail"),            # unknown account
    (_allow({"AWS": ["222233334444"]}), "pass"),                             # an Organization account
    (_allow({"AWS": f"arn:aws:iam::{ACCT}:role/ci"}), "pass"),               # its own account
    (_allow({"Service": "sagemaker.amazonaws.com"}), "pass"),                # a service, not an account
    ({"Statement": [{"Effect": "Deny", "Principal": "*", "Action": "*", "Resource": "*"}]}, "pass"),
    ({"Statement": [{"Effect": "Allow", "NotPrincipal": {"AWS": f"arn:aws:iam::{ACCT}:root"}, "Action": "*",
                     "Resource": "*"}]}, "fail"),                                # everyone but its own account
])
def test_iam004_model_package_group(policy: Any, expected: str) -> None:
    found = one("model_package_group", mpg(policy), "AISPM-IAM-004", known=(ACCT, "222233334444"))
    assert found is not None
    assert found[0] == expected


def test_iam004_policy_that_could_not_be_read_gives_no_verdict() -> None:
    assert one("model_package_group", mpg(PolicyError="AccessDenied"), "AISPM-IAM-004") is None


# --- IAM-005 and GOV-001 (moto stores neither field) -------------------------------------------------------

@pytest.mark.parametrize(("imds", "expected"), [("2", "pass"), ("1", "fail"), (None, "fail")])
def test_iam005_notebook_imds(imds: str | None, expected: str) -> None:
    data = nb() if imds is None else nb(InstanceMetadataServiceConfiguration={
        "MinimumInstanceMetadataServiceVersion": imds})
    status, detail = one("notebook_instance", data, "AISPM-IAM-005") or ("", "")
    assert status == expected
    if imds is None:
        assert "absent (default 1)" in detail


@pytest.mark.parametrize(("platform", "expected"), [
    ("notebook-al2023-v1", "pass"), ("notebook-al2-v3", "fail"), ("notebook-al1-v1", "fail"), (None, None),
])
def test_gov001_notebook_platform(platform: str | None, expected: str | None) -> None:
    data = nb() if platform is None else nb(PlatformIdentifier=platform)
    found = one("notebook_instance", data, "AISPM-GOV-001")
    assert (found[0] if found else None) == expected


# --- SEC-001 (moto does not store job Environment) ---------------------------------------------------------

@pytest.mark.parametrize(("env", "expected"), [
    ({"FEATURE_SET": "v7"}, "pass"),
    ({"DB_PASSWORD": "hunter2-prod"}, "fail"),
    ({"ANY": "AKIAIOSFODNN7EXAMPLE"}, "fail"),
    ({"API_KEY": "arn:aws:secretsmanager:us-east-1:1:secret:k"}, "pass"),
    ({}, "pass"),
])
def test_sec001_training_and_processing(env: dict[str, str], expected: str) -> None:
    for type_, data in (("training_job", tj(Environment=env)), ("processing_job", pj(Environment=env))):
        status, detail = one(type_, data, "AISPM-SEC-001") or ("", "")
        assert status == expected
        for value in env.values():
            assert value not in detail or expected == "pass"


def test_sec001_processing_job_redacts_in_inventory() -> None:
    [asset] = normalize("aws", [record("processing_job", pj(Environment={"GITHUB_TOKEN": "ghp_" + "a" * 36}))])
    assert asset.environment is not None
    assert asset.environment[0].value == "***REDACTED***"


def test_sec001_model_containers() -> None:
    data = model(PrimaryContainer={"Environment": {"X": "1"}},
                 Containers=[{"ContainerHostname": "c2", "Environment": {"SLACK": "xoxb-1234-5678-abcdef"}}])
    status, detail = one("model", data, "AISPM-SEC-001") or ("", "")
    assert status == "fail"
    assert "c2:SLACK" in detail


# --- LOG-002 -------------------------------------------------------------------------------------------------

def _ep(name: str) -> RawRecord:
    return record("endpoint", {"EndpointArn": f"{BASE}:endpoint/{name}", "EndpointName": name,
                               "EndpointConfigName": f"{name}-config"})


def _schedule(endpoint: str, status: str) -> RawRecord:
    return record("monitoring_schedule", {"MonitoringScheduleName": f"{endpoint}-{status}", "EndpointName": endpoint,
                                          "MonitoringScheduleStatus": status})


def test_log002_endpoint_needs_a_scheduled_monitor() -> None:
    records = [_ep("watched"), _ep("stopped"), _ep("bare"), _schedule("watched", "Scheduled"),
               _schedule("stopped", "Stopped"), record("monitoring_schedules_listed", {})]
    found = verdicts(records, "AISPM-LOG-002")
    assert [s for s, _ in found] == ["pass", "fail", "fail"]
    assert "watched-Scheduled" in found[0][1]


def test_log002_not_evaluated_when_schedules_were_not_listed() -> None:
    assert verdicts([_ep("e")], "AISPM-LOG-002") == []


# --- GOV-003 on the new kinds ------------------------------------------------------------------------------

def test_gov003_on_new_kinds() -> None:
    tagged = [{"Key": "owner", "Value": "ml"}]
    records = [
        record("processing_job", pj(Tags=tagged)),
        record("studio_domain", dom(Tags=[])),
        record("user_profile", {"UserProfileArn": f"{BASE}:user-profile/d-1/u", "UserProfileName": "u",
                                "DomainId": "d-1", "Tags": tagged}),
        record("space", {"SpaceArn": f"{BASE}:space/d-1/s", "SpaceName": "s", "DomainId": "d-1"}),
        record("model_package_group", mpg(Tags=tagged)),
    ]
    found = verdicts(records, "AISPM-GOV-003", tags=("owner",))
    assert [s for s, _ in found] == ["pass", "fail", "pass", "fail", "pass"]


def test_user_profile_and_space_relate_to_their_domain() -> None:
    assets = normalize("aws", [
        record("user_profile", {"UserProfileArn": f"{BASE}:user-profile/d-1/u", "UserProfileName": "u",
                                "DomainId": "d-1"}),
        record("space", {"SpaceArn": f"{BASE}:space/d-1/s", "SpaceName": "s", "DomainId": "d-1"}),
    ])
    assert [a.kind for a in assets] == ["user_profile", "space"]
    assert all(a.relations[0].uid == f"{BASE}:domain/d-1" for a in assets)
    # No posture rule but GOV-003 covers these kinds.
    assert [e for e in evaluate(assets).evaluations] == []
