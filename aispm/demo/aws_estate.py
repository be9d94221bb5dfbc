"""The demo's simulated AWS estate: SageMaker resources created in moto, read by the real collector."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import boto3

ACCOUNT = "123456789012"
REGIONS = ("us-east-1", "eu-west-1")
IMAGE = f"{ACCOUNT}.dkr.ecr.us-east-1.amazonaws.com/inference:1.4"
KMS_KEY = f"arn:aws:kms:us-east-1:{ACCOUNT}:key/3f1e2c5a-7d4b-4e8f-9a0b-1c2d3e4f5a6b"

_ADMIN_POLICY = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}
_SCOPED_POLICY = {
    "Version": "2012-10-17",
    "Statement": [
        {"Effect": "Allow", "Action": ["s3:GetObject", "s3:PutObject"], "Resource": "arn:aws:s3:::ml-artifacts/*"},
        {"Effect": "Allow", "Action": "iam:PassRole", "Resource": "*",
         "Condition": {"StringEquals": {"iam:PassedToService": "sagemaker.amazonaws.com"}}},
    ],
}
_TRUST = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Principal": {"Service": "sagemaker.amazonaws.com"}, "Action": "sts:AssumeRole"}],
}


def _roles(iam: Any) -> tuple[str, str]:
    arns = []
    for name, doc in (("ml-admin-execution", _ADMIN_POLICY), ("ml-scoped-execution", _SCOPED_POLICY)):
        arn = iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(_TRUST))["Role"]["Arn"]
        iam.put_role_policy(RoleName=name, PolicyName=f"{name}-inline", PolicyDocument=json.dumps(doc))
        arns.append(arn)
    return arns[0], arns[1]


def seed(region: str, admin_role: str, scoped_role: str) -> None:
    """Create one region's resources: each AWS rule has a passing and a failing asset."""
    sm = boto3.client("sagemaker", region_name=region)
    key = KMS_KEY.replace("us-east-1", region)
    vpc: Any = {"SecurityGroupIds": ["sg-0a1b2c3d4e5f60718"], "Subnets": ["subnet-0a1b2c3d4e5f60718"]}
    sm.create_notebook_instance(
        NotebookInstanceName="research-sandbox", InstanceType="ml.t3.medium", RoleArn=admin_role,
        DirectInternetAccess="Enabled", RootAccess="Enabled", Tags=[{"Key": "team", "Value": "research"}],
    )
    sm.create_notebook_instance(
        NotebookInstanceName="fraud-analytics", InstanceType="ml.t3.large", RoleArn=scoped_role,
        SubnetId=vpc["Subnets"][0], SecurityGroupIds=vpc["SecurityGroupIds"], KmsKeyId=key,
        DirectInternetAccess="Disabled", RootAccess="Disabled",
        Tags=[{"Key": "owner", "Value": "fraud-team"}, {"Key": "cost-center", "Value": "cc-4410"}],
    )
    sm.create_model(
        ModelName="churn-xgboost", ExecutionRoleArn=scoped_role, VpcConfig=vpc,
        PrimaryContainer={"Image": IMAGE, "Environment": {"MODEL_SERVER_WORKERS": "2",
                                                         "DB_SECRET_ARN": f"arn:aws:secretsmanager:{region}:"
                                                         f"{ACCOUNT}:secret:churn-db-AbCdEf"}},
    )
    sm.create_model(
        ModelName="llm-summarizer", ExecutionRoleArn=admin_role,
        PrimaryContainer={"Image": IMAGE, "Environment": {"HF_TOKEN": "hf_live_9c1d7e2b4a",
                                                         "AWS_ACCESS_KEY_ID": "AKIAIOSFODNN7EXAMPLE"}},
    )
    sm.create_endpoint_config(
        EndpointConfigName="churn-prod-config", KmsKeyId=key,
        ProductionVariants=[{"VariantName": "primary", "ModelName": "churn-xgboost", "InitialInstanceCount": 2,
                             "InstanceType": "ml.m5.xlarge"}],
        DataCaptureConfig={"EnableCapture": True, "InitialSamplingPercentage": 20,
                           "DestinationS3Uri": "s3://ml-capture/churn", "CaptureOptions": [{"CaptureMode": "Input"}]},
    )
    sm.create_endpoint_config(
        EndpointConfigName="summarizer-config",
        ProductionVariants=[{"VariantName": "primary", "ModelName": "llm-summarizer", "InitialInstanceCount": 1,
                             "InstanceType": "ml.g4dn.2xlarge"}],
    )
    sm.create_endpoint(EndpointName="churn-prod", EndpointConfigName="churn-prod-config")
    sm.create_endpoint(EndpointName="summarizer", EndpointConfigName="summarizer-config")
    common: dict[str, Any] = {
        "AlgorithmSpecification": {"TrainingImage": IMAGE, "TrainingInputMode": "File"},
        "StoppingCondition": {"MaxRuntimeInSeconds": 3600},
    }
    sm.create_training_job(
        TrainingJobName="churn-train-2026-11", RoleArn=scoped_role, VpcConfig=vpc,
        OutputDataConfig={"S3OutputPath": "s3://ml-artifacts/churn", "KmsKeyId": key},
        ResourceConfig={"InstanceType": "ml.m5.2xlarge", "InstanceCount": 2, "VolumeSizeInGB": 50,
                        "VolumeKmsKeyId": key},
        EnableNetworkIsolation=True, EnableInterContainerTrafficEncryption=True, **common,
    )
    sm.create_training_job(
        TrainingJobName="summarizer-finetune", RoleArn=admin_role,
        OutputDataConfig={"S3OutputPath": "s3://ml-artifacts/summarizer"},
        ResourceConfig={"InstanceType": "ml.m5.4xlarge", "InstanceCount": 1, "VolumeSizeInGB": 200},
        **common,
    )


def seed_more(region: str, admin_role: str, scoped_role: str) -> None:
    """Processing jobs, a Studio domain with a user and a space, model registries and monitoring."""
    from aispm.testing import moto_gaps

    sm = boto3.client("sagemaker", region_name=region)
    key = KMS_KEY.replace("us-east-1", region)
    vpc: Any = {"SecurityGroupIds": ["sg-0a1b2c3d4e5f60718"], "Subnets": ["subnet-0a1b2c3d4e5f60718"]}
    cluster: Any = {"ClusterConfig": {"InstanceCount": 2, "InstanceType": "ml.m5.xlarge", "VolumeSizeInGB": 30}}
    app: Any = {"ImageUri": IMAGE}
    sm.create_processing_job(
        ProcessingJobName="churn-features-2026-11", RoleArn=scoped_role, AppSpecification=app,
        ProcessingResources=cluster, Environment={"FEATURE_SET": "v7"},
        NetworkConfig={"EnableNetworkIsolation": True, "EnableInterContainerTrafficEncryption": True,
                       "VpcConfig": vpc},
        ProcessingOutputConfig={"Outputs": [], "KmsKeyId": key},
        Tags=[{"Key": "owner", "Value": "fraud-team"}, {"Key": "cost-center", "Value": "cc-4410"}],
    )
    sm.create_processing_job(
        ProcessingJobName="adhoc-eval", RoleArn=admin_role, AppSpecification=app, ProcessingResources=cluster,
        ProcessingOutputConfig={"Outputs": []},
    )
    domain = sm.create_domain(
        DomainName="research-studio", AuthMode="IAM", DefaultUserSettings={"ExecutionRole": admin_role},
        SubnetIds=vpc["Subnets"], VpcId="vpc-0a1b2c3d4e5f60718",
    )["DomainArn"].rsplit("/", 1)[-1]
    moto_gaps.add_user_profile(ACCOUNT, region, domain, "data-scientist-1")
    moto_gaps.add_space(ACCOUNT, region, domain, "shared-exploration", sharing="Shared")
    sm.create_model_package_group(ModelPackageGroupName="churn-models",
                                  Tags=[{"Key": "owner", "Value": "fraud-team"}])
    sm.create_model_package_group(ModelPackageGroupName="partner-shared-models")
    sm.put_model_package_group_policy(ModelPackageGroupName="partner-shared-models", ResourcePolicy=json.dumps({
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::210987654321:root"},
                       "Action": ["sagemaker:DescribeModelPackage", "sagemaker:ListModelPackages"],
                       "Resource": f"arn:aws:sagemaker:{region}:{ACCOUNT}:model-package/partner-shared-models/*"}],
    }))
    moto_gaps.add_monitoring_schedule(ACCOUNT, region, "churn-prod-data-quality", "churn-prod")


@contextmanager
def serve() -> Iterator[tuple[dict[str, Any], Any]]:
    """Start moto in-process with the estate; yields the scan options for this provider (and no credentials:
    moto answers the default chain's test keys)."""
    from moto import mock_aws

    from aispm.testing import moto_gaps

    moto_gaps.install()
    moto_gaps.reset()
    with mock_aws(config={"iam": {"load_aws_managed_policies": False}}):
        admin, scoped = _roles(boto3.client("iam", region_name="us-east-1"))
        for region in REGIONS:
            seed(region, admin, scoped)
            seed_more(region, admin, scoped)
        yield {"regions": list(REGIONS)}, None
