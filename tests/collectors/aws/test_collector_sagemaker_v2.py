"""SageMaker kinds of rules-v2.md: notebook lifecycle configurations, monitoring job definitions, feature groups.

moto implements lifecycle configurations and data-quality job definitions; ListFeatureGroups and the other
job-definition kinds' wire handling is pinned with botocore's Stubber (validated against the service model).
"""

from __future__ import annotations

import base64
import datetime as dt
import json
from typing import Any

import boto3
from botocore.stub import Stubber

from aispm.collectors.aws import AwsCollector, AwsOptions
from aispm.collectors.aws.session import client
from aispm.collectors.base import ApiCalls, CollectResult, ScopeUnit
from aispm.normalizer import normalize
from aispm.normalizer.schema import Asset
from aispm.pipeline import scan_unit
from aispm.rules.policy import Policy
from aispm.sinks.formats.ocsf import to_ocsf

ACCT = "123456789012"
REGION = "us-east-1"
BASE = f"arn:aws:sagemaker:{REGION}:{ACCT}"
UNIT = ScopeUnit(provider="aws", scope=f"aws:{ACCT}:{REGION}", account=ACCT, region=REGION)
NOW = dt.datetime(2026, 11, 1, tzinfo=dt.UTC)
KEY = f"arn:aws:kms:{REGION}:{ACCT}:key/k"
SECRET = "hf_liveSecretValue0123456789"


def _role(name: str) -> str:
    return str(boto3.client("iam", region_name=REGION).create_role(
        RoleName=name, AssumeRolePolicyDocument="{}")["Role"]["Arn"])


def _script(text: str) -> list[dict[str, str]]:
    return [{"Content": base64.b64encode(text.encode()).decode()}]


def _collector() -> AwsCollector:
    return AwsCollector(options=AwsOptions(regions=(REGION,)))


def test_lifecycle_configurations_read_once_per_name_and_never_leave_the_process(sm: Any) -> None:
    role = _role("nb")
    sm.create_notebook_instance_lifecycle_config(NotebookInstanceLifecycleConfigName="shared", OnStart=_script(
        f"#!/bin/bash\nexport HF_TOKEN={SECRET}\nMAX_TOKENS=4096\n"))
    sm.create_notebook_instance_lifecycle_config(NotebookInstanceLifecycleConfigName="clean", OnCreate=_script(
        "pip install -r requirements.txt\nTOKEN_FILE=$(mktemp)\n"))
    for name, config in (("a", "shared"), ("b", "shared"), ("c", "shared"), ("d", "clean"), ("e", None)):
        sm.create_notebook_instance(NotebookInstanceName=name, InstanceType="ml.t3.medium", RoleArn=role,
                                    **({"LifecycleConfigName": config} if config else {}))
    collector = _collector()
    units, _ = collector.plan()
    result = scan_unit(collector, units[0], Policy(), known_accounts={ACCT})
    assert result.errors == []
    assert result.api_calls["aws"]["sagemaker:DescribeNotebookInstanceLifecycleConfig"] == 2   # one per name
    sec = {f["resources"][0]["name"]: f for f in map(to_ocsf, result.findings)
           if f["compliance"]["control"] == "AISPM-SEC-001"}
    assert {n: f["compliance"]["status"] for n, f in sec.items()} == {
        "a": "Fail", "b": "Fail", "c": "Fail", "d": "Pass", "e": "Pass"}
    assert "lifecycle configuration shared OnStart:HF_TOKEN" in sec["a"]["status_detail"]
    written = json.dumps([to_ocsf(f) for f in result.findings]) + json.dumps(
        [a.model_dump(mode="json") for a in result.assets])
    assert SECRET not in written
    assert base64.b64encode(SECRET.encode()).decode()[:16] not in written


def test_a_lifecycle_configuration_that_cannot_be_read_is_an_error_not_a_pass(sm: Any) -> None:
    sm.create_notebook_instance(NotebookInstanceName="orphan", InstanceType="ml.t3.medium", RoleArn=_role("r"),
                                LifecycleConfigName="deleted-meanwhile")
    result = _collector().collect(_collector().plan()[0][0])
    [error] = result.errors
    assert error.error.startswith("describe_notebook_instance_lifecycle_config deleted-meanwhile:")
    [nb] = normalize("aws", result.records)
    assert nb.environment_error is not None and "deleted-meanwhile could not be read" in nb.environment_error


def test_data_quality_job_definitions_against_moto(sm: Any) -> None:
    role = _role("monitor")
    common: dict[str, Any] = {
        "DataQualityAppSpecification": {"ImageUri": "img"},
        "DataQualityJobInput": {"EndpointInput": {"EndpointName": "ep", "LocalPath": "/in"}},
        "JobResources": {"ClusterConfig": {"InstanceCount": 1, "InstanceType": "ml.m5.large", "VolumeSizeInGB": 1}},
        "RoleArn": role}
    out = {"MonitoringOutputs": [{"S3Output": {"S3Uri": "s3://b/o", "LocalPath": "/out"}}]}
    sm.create_data_quality_job_definition(
        JobDefinitionName="locked", DataQualityJobOutputConfig=out | {"KmsKeyId": KEY}, NetworkConfig={
            "EnableNetworkIsolation": True, "EnableInterContainerTrafficEncryption": True,
            "VpcConfig": {"SecurityGroupIds": ["sg-1"], "Subnets": ["subnet-1"]}}, **common)
    sm.create_data_quality_job_definition(JobDefinitionName="open", DataQualityJobOutputConfig=out, **common)
    result = _collector().collect(_collector().plan()[0][0])
    assert result.errors == []
    assets = {a.name: a for a in normalize("aws", result.records)}
    locked, opened = assets["locked"], assets["open"]
    assert (locked.kind, locked.uid) == ("monitoring_job_definition", f"{BASE}:data-quality-job-definition/locked")
    assert [f.value for f in locked.encryption.customer_managed_key] == [True]
    assert [f.value for f in opened.encryption.customer_managed_key] == [False]
    assert locked.network.egress_isolated is not None and locked.network.egress_isolated.value is True
    assert opened.network.private_network is not None and opened.network.private_network.value is False
    assert [i.data["RoleArn"] for i in result.identities] == [role]   # read once for both
    calls = result.api_calls["aws"]
    assert calls["sagemaker:DescribeDataQualityJobDefinition"] == 2
    for kind in ("ModelQuality", "ModelBias", "ModelExplainability"):
        assert calls[f"sagemaker:List{kind}JobDefinitions"] == 1


# --- Stubber: ListFeatureGroups and the other job-definition kinds ------------------------------------------

PAGE = {"MaxResults": 100}
JOBS = {"MaxResults": 100, "CreationTimeAfter": Any}
# SageMaker's list calls of a region in collection order (the kinds table), with empty answers.
LISTS: list[tuple[str, dict[str, Any]]] = [
    ("list_notebook_instances", {"NotebookInstances": []}), ("list_models", {"Models": []}),
    ("list_endpoint_configs", {"EndpointConfigs": []}), ("list_endpoints", {"Endpoints": []}),
    ("list_training_jobs", {"TrainingJobSummaries": []}), ("list_processing_jobs", {"ProcessingJobSummaries": []}),
    ("list_domains", {"Domains": []}), ("list_model_package_groups", {"ModelPackageGroupSummaryList": []}),
    ("list_feature_groups", {"FeatureGroupSummaries": []}),
    ("list_data_quality_job_definitions", {"JobDefinitionSummaries": []}),
    ("list_model_quality_job_definitions", {"JobDefinitionSummaries": []}),
    ("list_model_bias_job_definitions", {"JobDefinitionSummaries": []}),
    ("list_model_explainability_job_definitions", {"JobDefinitionSummaries": []}),
]
Answer = tuple[str, dict[str, Any], dict[str, Any] | None]


def _stubbed(answers: dict[str, list[Answer]]) -> CollectResult:
    calls = ApiCalls()
    session = boto3.Session(region_name=REGION)
    sm = client(session, "sagemaker", REGION, calls)
    stub = Stubber(sm)
    for op, empty in LISTS:
        for method, answer, expected in answers.get(op, [(op, empty, None)]):
            stub.add_response(method, answer, expected)
    with stub:
        result = AwsCollector(options=AwsOptions(regions=(REGION,), describe_workers=1)).collect_region(
            {"sagemaker": sm}, session, UNIT, calls)
        stub.assert_no_pending_responses()
    return result


def _assets(result: CollectResult) -> dict[str, Asset]:
    return {a.name: a for a in normalize("aws", result.records)}


def test_feature_groups_gap(aws: None) -> None:
    """Gap: ListFeatureGroups (moto: not implemented). The list pages; each group is described once."""
    def summary(name: str) -> dict[str, Any]:
        return {"FeatureGroupName": name, "FeatureGroupArn": f"{BASE}:feature-group/{name}", "CreationTime": NOW,
                "FeatureGroupStatus": "Created"}

    def described(name: str, **stores: Any) -> Answer:
        return ("describe_feature_group", {
            **summary(name), "RecordIdentifierFeatureName": "id", "EventTimeFeatureName": "t",
            "FeatureDefinitions": [{"FeatureName": "id", "FeatureType": "String"}], "NextToken": "", **stores},
            {"FeatureGroupName": name})

    result = _stubbed({"list_feature_groups": [
        ("list_feature_groups", {"FeatureGroupSummaries": [summary("online")], "NextToken": "p2"}, PAGE),
        ("list_feature_groups", {"FeatureGroupSummaries": [summary("offline")]}, PAGE | {"NextToken": "p2"}),
        described("online", OnlineStoreConfig={"EnableOnlineStore": True, "SecurityConfig": {"KmsKeyId": KEY}},
                  RoleArn=f"arn:aws:iam::{ACCT}:role/fs"),
        described("offline", OfflineStoreConfig={"S3StorageConfig": {"S3Uri": "s3://fs/offline"}}),
    ]})
    assert result.errors == []
    assets = _assets(result)
    assert [f.value for f in assets["online"].encryption.customer_managed_key] == [True]
    assert [f.value for f in assets["offline"].encryption.customer_managed_key] == [False]
    assert assets["online"].identities == (f"arn:aws:iam::{ACCT}:role/fs",)
    assert assets["offline"].identities is None
    assert result.api_calls["aws"]["sagemaker:ListFeatureGroups"] == 2
    assert result.api_calls["aws"]["sagemaker:DescribeFeatureGroup"] == 2


def test_model_bias_and_explainability_job_definitions_gap(aws: None) -> None:
    """Gaps: the model-bias and model-explainability job-definition calls, pinned against the service model."""
    def definition(kind: str, snake: str, name: str, **extra: Any) -> list[Answer]:
        arn = f"{BASE}:{snake.replace('_', '-')}-job-definition/{name}"
        return [
            (f"list_{snake}_job_definitions", {"JobDefinitionSummaries": [{
                "MonitoringJobDefinitionName": name, "MonitoringJobDefinitionArn": arn, "CreationTime": NOW,
                "EndpointName": "ep"}]}, PAGE),
            (f"describe_{snake}_job_definition", {
                "JobDefinitionArn": arn, "JobDefinitionName": name, "CreationTime": NOW,
                f"{kind}AppSpecification": {"ImageUri": "img", **({"ConfigUri": "s3://c"} if kind != "ModelQuality"
                                                                  else {"ProblemType": "Regression"})},
                f"{kind}JobInput": {"EndpointInput": {"EndpointName": "ep", "LocalPath": "/in"},
                                    **({"GroundTruthS3Input": {"S3Uri": "s3://truth"}} if kind == "ModelBias" else {})},
                f"{kind}JobOutputConfig": {"MonitoringOutputs": [{"S3Output": {"S3Uri": "s3://o", "LocalPath": "/o"}}],
                                           **extra.pop("output", {})},
                "JobResources": {"ClusterConfig": {"InstanceCount": 1, "InstanceType": "ml.m5.large",
                                                   "VolumeSizeInGB": 1}},
                "RoleArn": f"arn:aws:iam::{ACCT}:role/m", **extra}, {"JobDefinitionName": name}),
        ]

    result = _stubbed({
        "list_model_bias_job_definitions": definition("ModelBias", "model_bias", "bias", NetworkConfig={
            "EnableInterContainerTrafficEncryption": True, "EnableNetworkIsolation": True}, output={"KmsKeyId": KEY}),
        "list_model_explainability_job_definitions": definition("ModelExplainability", "model_explainability",
                                                                "shap"),
    })
    assert result.errors == []
    assets = _assets(result)
    bias, shap = assets["bias"], assets["shap"]
    assert (bias.details["job_definition_type"], shap.details["job_definition_type"]) == (
        "ModelBias", "ModelExplainability")
    assert bias.encryption.inter_node is not None and bias.encryption.inter_node.value is True
    assert shap.encryption.inter_node is not None and shap.encryption.inter_node.value is False
    assert [f.source for f in shap.encryption.customer_managed_key] == ["ModelExplainabilityJobOutputConfig.KmsKeyId"]


# --- PRV-003: the buckets models serve from, read once per scan -----------------------------------------------


def test_model_artifact_buckets_read_once_each(sm: Any) -> None:
    s3 = boto3.client("s3", region_name=REGION)
    s3.create_bucket(Bucket="open-artifacts", ACL="public-read")
    s3.create_bucket(Bucket="blocked-artifacts", ACL="public-read")
    s3.put_public_access_block(Bucket="blocked-artifacts", PublicAccessBlockConfiguration={
        "BlockPublicAcls": True, "IgnorePublicAcls": True, "BlockPublicPolicy": True, "RestrictPublicBuckets": True})
    s3.create_bucket(Bucket="private-artifacts")
    role = _role("exec")
    for name, bucket in (("open-a", "open-artifacts"), ("open-b", "open-artifacts"), ("blocked", "blocked-artifacts"),
                         ("private", "private-artifacts"), ("elsewhere", "not-this-accounts-bucket")):
        sm.create_model(ModelName=name, ExecutionRoleArn=role, PrimaryContainer={
            "Image": f"{ACCT}.dkr.ecr.{REGION}.amazonaws.com/m:1", "ModelDataUrl": f"s3://{bucket}/{name}.tar.gz"})
    collector = _collector()
    result = scan_unit(collector, collector.plan()[0][0], Policy(), known_accounts={ACCT})
    prv = {f["resources"][0]["name"]: f for f in map(to_ocsf, result.findings)
           if f["compliance"]["control"] == "AISPM-PRV-003"}
    assert {n: f["compliance"]["status"] for n, f in prv.items()} == {
        "open-a": "Fail", "open-b": "Fail", "blocked": "Pass", "private": "Pass"}
    assert "bucket open-artifacts is public (its ACL grants AllUsers)" in prv["open-a"]["status_detail"]
    [error] = [e for e in result.evaluation_errors if e["rule"] == "AISPM-PRV-003"]
    assert "s3://not-this-accounts-bucket/elsewhere.tar.gz" in error["error"]   # never a Pass
    calls = result.api_calls["aws"]
    assert calls["s3:GetBucketAcl"] == 3          # once per bucket of this account, however many models use it
    assert calls["s3:ListBuckets"] == 1
    assert calls["s3control:GetPublicAccessBlock"] == 1


def test_an_unreadable_account_block_leaves_only_public_looking_buckets_unknown(sm: Any) -> None:
    from tests.support.aws_faults import Fault, xml_error

    s3 = boto3.client("s3", region_name=REGION)
    s3.create_bucket(Bucket="open-artifacts", ACL="public-read")
    s3.create_bucket(Bucket="private-artifacts")
    role = _role("exec")
    for name, bucket in (("open", "open-artifacts"), ("private", "private-artifacts")):
        sm.create_model(ModelName=name, ExecutionRoleArn=role, PrimaryContainer={
            "Image": f"{ACCT}.dkr.ecr.{REGION}.amazonaws.com/m:1", "ModelDataUrl": f"s3://{bucket}/m.tar.gz"})
    session = boto3.Session(region_name=REGION)
    Fault(session, "s3-control.GetPublicAccessBlock", lambda: xml_error("AccessDenied", "denied"))
    collector = AwsCollector(session=session, options=AwsOptions(regions=(REGION,)))
    result = scan_unit(collector, collector.plan()[0][0], Policy(), known_accounts={ACCT})
    prv = {f["resources"][0]["name"]: f["compliance"]["status"] for f in map(to_ocsf, result.findings)
           if f["compliance"]["control"] == "AISPM-PRV-003"}
    assert prv == {"private": "Pass"}   # a private bucket is private whatever the account's block says
    [error] = [e for e in result.evaluation_errors if e["rule"] == "AISPM-PRV-003"]
    assert "open-artifacts looks public" in error["error"] and "could not be read" in error["error"]


def _public_policy(bucket: str) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": "*",
                                                               "Action": "s3:GetObject",
                                                               "Resource": f"arn:aws:s3:::{bucket}/*"}]})


def _prv003(sm: Any, buckets: dict[str, str]) -> dict[str, tuple[str, str]]:
    role = _role("exec")
    for name, bucket in buckets.items():
        sm.create_model(ModelName=name, ExecutionRoleArn=role, PrimaryContainer={
            "Image": f"{ACCT}.dkr.ecr.{REGION}.amazonaws.com/m:1", "ModelDataUrl": f"s3://{bucket}/m.tar.gz"})
    collector = _collector()
    result = scan_unit(collector, collector.plan()[0][0], Policy(), known_accounts={ACCT})
    return {f["resources"][0]["name"]: (f["compliance"]["status"], f["status_detail"])
            for f in map(to_ocsf, result.findings) if f["compliance"]["control"] == "AISPM-PRV-003"}


def test_a_public_bucket_policy_fails_prv003(sm: Any) -> None:
    s3 = boto3.client("s3", region_name=REGION)
    s3.create_bucket(Bucket="policy-public")
    s3.put_bucket_policy(Bucket="policy-public", Policy=_public_policy("policy-public"))
    [(status, detail)] = _prv003(sm, {"by-policy": "policy-public"}).values()
    assert status == "Fail" and "its bucket policy is public" in detail


def test_the_accounts_public_access_block_neutralises_public_buckets(sm: Any) -> None:
    s3 = boto3.client("s3", region_name=REGION)
    s3.create_bucket(Bucket="acl-public", ACL="public-read")
    s3.create_bucket(Bucket="policy-public")
    s3.put_bucket_policy(Bucket="policy-public", Policy=_public_policy("policy-public"))
    boto3.client("s3control", region_name=REGION).put_public_access_block(
        AccountId=ACCT, PublicAccessBlockConfiguration={k: True for k in (
            "BlockPublicAcls", "IgnorePublicAcls", "BlockPublicPolicy", "RestrictPublicBuckets")})
    verdicts = _prv003(sm, {"by-acl": "acl-public", "by-policy": "policy-public"})
    assert {n: s for n, (s, _) in verdicts.items()} == {"by-acl": "Pass", "by-policy": "Pass"}
    assert "the account's public access block overrides" in verdicts["by-acl"][1]
