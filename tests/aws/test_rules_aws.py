"""Each foundation AWS rule: Pass, Fail and the documented default for an absent field."""

from __future__ import annotations

from typing import Any

import pytest

from aispm.normalizer import normalize
from aispm.rules.engine import evaluate
from tests.aws.records import record

ACCT = "123456789012"
NB_ARN = f"arn:aws:sagemaker:us-east-1:{ACCT}:notebook-instance/nb"
EC_ARN = f"arn:aws:sagemaker:us-east-1:{ACCT}:endpoint-config/ec"
TJ_ARN = f"arn:aws:sagemaker:us-east-1:{ACCT}:training-job/tj"
MODEL_ARN = f"arn:aws:sagemaker:us-east-1:{ACCT}:model/m"


def verdict(type_: str, data: dict[str, Any], rule: str) -> tuple[str, str] | None:
    assets = normalize("aws", [record(type_, data)])
    evs = [e for e in evaluate(assets).evaluations if e.rule.id == rule]
    assert len(evs) <= 1
    return (evs[0].status, evs[0].detail) if evs else None


def nb(**extra: Any) -> dict[str, Any]:
    return {"NotebookInstanceArn": NB_ARN, "NotebookInstanceName": "nb", **extra}


def ec(**extra: Any) -> dict[str, Any]:
    return {"EndpointConfigArn": EC_ARN, "EndpointConfigName": "ec", "ProductionVariants": [], **extra}


def tj(**extra: Any) -> dict[str, Any]:
    return {"TrainingJobArn": TJ_ARN, "TrainingJobName": "tj", **extra}


@pytest.mark.parametrize(("value", "expected"), [("Disabled", "pass"), ("Enabled", "fail"), (None, "fail")])
def test_net002_notebook_direct_internet(value: str | None, expected: str) -> None:
    data = nb() if value is None else nb(DirectInternetAccess=value)
    status, detail = verdict("notebook_instance", data, "AISPM-NET-002") or ("", "")
    assert status == expected
    assert "DirectInternetAccess is " + (value or "absent (default Enabled)") in detail


@pytest.mark.parametrize(("data", "expected"), [
    (nb(SubnetId="subnet-1"), "pass"),
    (nb(), "fail"),
])
def test_net005_notebook_subnet(data: dict[str, Any], expected: str) -> None:
    assert verdict("notebook_instance", data, "AISPM-NET-005")[0] == expected  # type: ignore[index]


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
    assert verdict("notebook_instance", data, "AISPM-ENC-001")[0] == expected  # type: ignore[index]


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
    assert verdict("notebook_instance", data, "AISPM-IAM-002")[0] == expected  # type: ignore[index]


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
    assets = normalize("aws", [record("notebook_instance", data)])
    [ev] = [e for e in evaluate(assets, policy=Policy(required_tags=["owner"])).evaluations
            if e.rule.id == "AISPM-GOV-003"]
    assert ev.status == "error"
    assert "tags could not be read" in ev.detail


def test_res001_names_a_zero_instance_count() -> None:
    variants = [_variant("a", 0, InstanceType="ml.m5.large")]
    status, detail = verdict("endpoint_config", ec(ProductionVariants=variants), "AISPM-RES-001")  # type: ignore[misc]
    assert status == "fail"
    assert "InitialInstanceCount is 0" in detail
