"""Every AWS rule line from raw SageMaker records, as the collector produces them, through the AWS mapper and
the engine: Pass, Fail and the documented default for an absent field, per asset kind.

Fields moto does not store (notebook PlatformIdentifier and IMDS config, job Environment, model
EnableNetworkIsolation=True) are covered here at the record level.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from aispm.collectors.base import RawRecord
from aispm.normalizer import normalize, normalize_identities
from aispm.rules.engine import evaluate
from aispm.rules.policy import Policy
from tests.support.aws import ACCT, BASE, one, pj, record, tj, verdicts

ROLE = f"arn:aws:iam::{ACCT}:role/exec"
VPC = {"Subnets": ["subnet-1"], "SecurityGroupIds": ["sg-1"]}
NB_ARN = f"arn:aws:sagemaker:us-east-1:{ACCT}:notebook-instance/nb"
EC_ARN = f"arn:aws:sagemaker:us-east-1:{ACCT}:endpoint-config/ec"
MODEL_ARN = f"arn:aws:sagemaker:us-east-1:{ACCT}:model/m"
Make = Callable[..., dict[str, Any]]


def nb(**extra: Any) -> dict[str, Any]:
    return {"NotebookInstanceArn": NB_ARN, "NotebookInstanceName": "nb", **extra}


# --- foundation rules: NET-002, NET-005 notebook/training job, ENC-001, IAM-002, LOG-001, RES-001 -------------


def verdict(type_: str, data: dict[str, Any], rule: str) -> tuple[str, str] | None:
    assets = normalize("aws", [record(type_, data)])
    evs = [e for e in evaluate(assets).evaluations if e.rule.id == rule]
    assert len(evs) <= 1
    return (evs[0].status, evs[0].detail) if evs else None


def ec(**extra: Any) -> dict[str, Any]:
    return {"EndpointConfigArn": EC_ARN, "EndpointConfigName": "ec", "ProductionVariants": [], **extra}


@pytest.mark.parametrize(("value", "expected"), [("Disabled", "pass"), ("Enabled", "fail"), (None, "fail")])
def test_net002_notebook_direct_internet(value: str | None, expected: str) -> None:
    data = nb() if value is None else nb(DirectInternetAccess=value)
    status, detail = verdict("notebook", data, "AISPM-NET-002") or ("", "")
    assert status == expected
    assert "DirectInternetAccess is " + (value or "absent (default Enabled)") in detail


@pytest.mark.parametrize(("data", "expected"), [
    (nb(SubnetId="subnet-1"), "pass"),
    (nb(), "fail"),
])
def test_net005_notebook_subnet(data: dict[str, Any], expected: str) -> None:
    assert verdict("notebook", data, "AISPM-NET-005")[0] == expected  # type: ignore[index]


@pytest.mark.parametrize(("vpc", "expected"), [
    ({"Subnets": ["subnet-1"], "SecurityGroupIds": ["sg-1"]}, "pass"),
    ({}, "fail"),   # moto's (and some SDKs') empty map means "no VpcConfig"
    (None, "fail"),
])
def test_net005_training_job_vpc(vpc: dict[str, Any] | None, expected: str) -> None:
    data = tj() if vpc is None else tj(VpcConfig=vpc)
    assert verdict("training_job", data, "AISPM-NET-005")[0] == expected  # type: ignore[index]


@pytest.mark.parametrize(("data", "expected"), [(nb(KmsKeyId="arn:aws:kms:k"), "pass"), (nb(), "fail")])
def test_enc001_notebook(data: dict[str, Any], expected: str) -> None:
    assert verdict("notebook", data, "AISPM-ENC-001")[0] == expected  # type: ignore[index]


@pytest.mark.parametrize(("data", "expected"), [(ec(KmsKeyId="k"), "pass"), (ec(), "fail")])
def test_enc001_endpoint_config(data: dict[str, Any], expected: str) -> None:
    assert verdict("endpoint_config", data, "AISPM-ENC-001")[0] == expected  # type: ignore[index]


def test_enc001_training_job_needs_both_keys() -> None:
    both = tj(OutputDataConfig={"KmsKeyId": "k"},
              ResourceConfig={"InstanceType": "ml.m5.xlarge", "VolumeKmsKeyId": "k"})
    assert verdict("training_job", both, "AISPM-ENC-001")[0] == "pass"  # type: ignore[index]
    no_volume = tj(OutputDataConfig={"KmsKeyId": "k"}, ResourceConfig={"InstanceType": "ml.m5.xlarge"})
    status, detail = verdict("training_job", no_volume, "AISPM-ENC-001")  # type: ignore[misc]
    assert status == "fail"
    assert "ResourceConfig.VolumeKmsKeyId is absent" in detail
    assert "OutputDataConfig" not in detail


def test_enc001_training_job_nvme_instance_needs_no_volume_key() -> None:
    data = tj(OutputDataConfig={"KmsKeyId": "k"}, ResourceConfig={"InstanceType": "ml.p4d.24xlarge"})
    assert verdict("training_job", data, "AISPM-ENC-001")[0] == "pass"  # type: ignore[index]
    data = tj(ResourceConfig={"InstanceType": "ml.p4d.24xlarge"})
    assert verdict("training_job", data, "AISPM-ENC-001")[0] == "fail"  # type: ignore[index]


@pytest.mark.parametrize(("value", "expected"), [("Disabled", "pass"), ("Enabled", "fail"), (None, "fail")])
def test_iam002_root_access(value: str | None, expected: str) -> None:
    data = nb() if value is None else nb(RootAccess=value)
    assert verdict("notebook", data, "AISPM-IAM-002")[0] == expected  # type: ignore[index]


@pytest.mark.parametrize(("capture", "expected"), [
    ({"EnableCapture": True, "InitialSamplingPercentage": 10}, "pass"),
    ({"InitialSamplingPercentage": 10}, "pass"),      # absent EnableCapture inside a config = enabled
    ({"EnableCapture": False, "InitialSamplingPercentage": 10}, "fail"),
    ({}, "fail"),
    (None, "fail"),
])
def test_log001_data_capture(capture: dict[str, Any] | None, expected: str) -> None:
    data = ec() if capture is None else ec(DataCaptureConfig=capture)
    assert verdict("endpoint_config", data, "AISPM-LOG-001")[0] == expected  # type: ignore[index]


def _variant(name: str, count: int | None, **extra: Any) -> dict[str, Any]:
    v: dict[str, Any] = {"VariantName": name, "ModelName": "m", **extra}
    if count is not None:
        v["InitialInstanceCount"] = count
    return v


@pytest.mark.parametrize(("variants", "expected"), [
    ([_variant("a", 2, InstanceType="ml.m5.large")], "pass"),
    ([_variant("a", 2, InstanceType="ml.m5.large"), _variant("b", 1, InstanceType="ml.m5.large")], "fail"),
    ([_variant("a", None, InstanceType="ml.m5.large")], "fail"),
    ([_variant("s", None, ServerlessConfig={"MemorySizeInMB": 2048, "MaxConcurrency": 5})], "pass"),
])
def test_res001_instance_count(variants: list[dict[str, Any]], expected: str) -> None:
    status, detail = verdict("endpoint_config", ec(ProductionVariants=variants), "AISPM-RES-001")  # type: ignore[misc]
    assert status == expected
    if expected == "fail":
        assert "InitialInstanceCount is 1" in detail


def test_endpoint_config_relates_to_its_models() -> None:
    [asset] = normalize("aws", [record("endpoint_config", ec(ProductionVariants=[_variant("a", 2, InstanceType="x")]))])
    assert [r.uid for r in asset.relations] == [MODEL_ARN]


def test_rules_emit_nothing_for_kinds_they_do_not_cover() -> None:
    assets = normalize("aws", [record("endpoint_config", ec())])
    rules = {e.rule.id for e in evaluate(assets).evaluations}
    assert "AISPM-NET-002" not in rules
    assert "AISPM-IAM-002" not in rules
    assert {"AISPM-ENC-001", "AISPM-LOG-001", "AISPM-RES-001"} <= rules


def test_gov003_is_an_error_not_a_fail_when_tags_could_not_be_read() -> None:
    from aispm.rules.policy import Policy

    data = nb(TagsError="AccessDenied: tag:GetResources")
    assets = normalize("aws", [record("notebook", data)])
    [ev] = [e for e in evaluate(assets, policy=Policy(required_tags=["owner"])).evaluations
            if e.rule.id == "AISPM-GOV-003"]
    assert ev.status == "error"
    assert "tags could not be read" in ev.detail


def test_res001_names_a_zero_instance_count() -> None:
    variants = [_variant("a", 0, InstanceType="ml.m5.large")]
    status, detail = verdict("endpoint_config", ec(ProductionVariants=variants), "AISPM-RES-001")  # type: ignore[misc]
    assert status == "fail"
    assert "InitialInstanceCount is 0" in detail


# --- the remaining rule lines, per asset kind ---------------------------------------------------------------


def dom(**extra: Any) -> dict[str, Any]:
    return {"DomainArn": f"{BASE}:domain/d-1", "DomainName": "studio", "DomainId": "d-1", **extra}


def model(**extra: Any) -> dict[str, Any]:
    return {"ModelArn": f"{BASE}:model/m", "ModelName": "m", **extra}


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
    ("notebook", nb(RoleArn=ROLE)),
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
    status, detail = one("notebook", data, "AISPM-IAM-005") or ("", "")
    assert status == expected
    if imds is None:
        assert "absent (default 1)" in detail


@pytest.mark.parametrize(("platform", "expected"), [
    ("notebook-al2023-v1", "pass"), ("notebook-al2-v3", "fail"), ("notebook-al1-v1", "fail"), (None, None),
])
def test_gov001_notebook_platform(platform: str | None, expected: str | None) -> None:
    data = nb() if platform is None else nb(PlatformIdentifier=platform)
    found = one("notebook", data, "AISPM-GOV-001")
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


# --- wire records through the mapper: NET-004, NET-005 model, ENC-002, IAM-005, GOV-001, IAM-001, SEC-001, LOG-002,
# GOV-003 ------------------------------------------------------------------------------------------------------


def wire_model(**extra: Any) -> dict[str, Any]:
    return {"ModelArn": f"{BASE}:model/m", "ModelName": "m", "PrimaryContainer": {"Image": "img"}, **extra}


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


@pytest.mark.parametrize(("type_", "make"), [("model", wire_model), ("training_job", tj)])
@pytest.mark.parametrize(("value", "expected"), [(True, "pass"), (False, "fail"), (None, "fail")])
def test_net004_network_isolation(type_: str, make: Make, value: bool | None, expected: str) -> None:
    data = make() if value is None else make(EnableNetworkIsolation=value)
    assert status(type_, data, "AISPM-NET-004") == expected


@pytest.mark.parametrize(("vpc", "expected"), [
    ({"Subnets": ["subnet-1"], "SecurityGroupIds": ["sg-1"]}, "pass"), ({}, "fail"), (None, "fail")])
def test_net005_model_vpc(vpc: dict[str, Any] | None, expected: str) -> None:
    data = wire_model() if vpc is None else wire_model(VpcConfig=vpc)
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
    assert status("notebook", data, "AISPM-IAM-005") == expected


@pytest.mark.parametrize(("platform", "expected"), [
    ("notebook-al2-v2", "fail"), ("notebook-al1-v1", "fail"), ("notebook-al2023-v1", "pass"), (None, None)])
def test_gov001_platform(platform: str | None, expected: str | None) -> None:
    data = nb() if platform is None else nb(PlatformIdentifier=platform)
    assert status("notebook", data, "AISPM-GOV-001") == expected


def _role(actions: list[str]) -> RawRecord:
    doc = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": actions, "Resource": "*"}]}
    return RawRecord(provider="aws", type="iam_role", account=ACCT, region="",
                     data={"RoleArn": ROLE, "RoleName": "exec", "Policies": [{"PolicyName": "inline",
                                                                               "Document": doc}]})


@pytest.mark.parametrize(("type_", "data"), [
    ("notebook", nb(RoleArn=ROLE)),
    ("model", wire_model(ExecutionRoleArn=ROLE)),
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


@pytest.mark.parametrize(("type_", "make", "key"), [("model", wire_model, None), ("training_job", tj, "Environment")])
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
    assert results([record("notebook", tagged)], "AISPM-GOV-003", policy=policy)[0][0] == "pass"
    assert results([record("notebook", nb())], "AISPM-GOV-003", policy=policy) == [
        ("fail", "Required tag keys missing: owner.")]
