"""The demo's simulated AWS estate: SageMaker and Bedrock resources created in moto, read by the real collector.

Every AWS rule line the emulator can show has a passing and a failing asset in each region; Bedrock
invocation logging is configured in the first region only, so LOG-003 passes there and fails in the other.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import boto3

ACCOUNT = "123456789012"
REGIONS = ("us-east-1", "eu-west-1")
IMAGE = f"{ACCOUNT}.dkr.ecr.us-east-1.amazonaws.com/inference:1.4"
PUBLIC_IMAGE = "ghcr.io/huggingface/text-generation-inference:2.4"   # a public registry (AISPM-PRV-001)
# Buckets AI assets train from or serve from (AISPM-PRV-003): private ones, and two readable by anyone.
PRIVATE_BUCKETS = ("ml-artifacts", "policy-docs-corpus-1", "policy-docs-corpus-2", "wiki-crawl-corpus-1")
PUBLIC_BUCKETS = ("ml-public-share", "wiki-crawl-corpus-2")
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
    "Statement": [{"Effect": "Allow", "Principal": {"Service": ["sagemaker.amazonaws.com", "bedrock.amazonaws.com"]},
                   "Action": "sts:AssumeRole"}],
}
# Notebook lifecycle scripts (SEC-001): one holds a literal token, the other only counts and references.
_LEAKY_SCRIPT = "#!/bin/bash\nset -e\nexport HF_TOKEN=hf_live_5e8a3c1f7d2b\npip install -q transformers\n"
_CLEAN_SCRIPT = ("#!/bin/bash\nset -e\nMAX_TOKENS=4096\nexport TOKEN_FILE=$(mktemp)\n"
                 "export HF_TOKEN=$(aws secretsmanager get-secret-value --secret-id hf --query SecretString)\n")


def _script(text: str) -> Any:
    return [{"Content": base64.b64encode(text.encode()).decode()}]


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
    sm.create_notebook_instance_lifecycle_config(NotebookInstanceLifecycleConfigName="sandbox-setup",
                                                 OnStart=_script(_LEAKY_SCRIPT))
    sm.create_notebook_instance_lifecycle_config(NotebookInstanceLifecycleConfigName="fraud-setup",
                                                 OnCreate=_script(_CLEAN_SCRIPT))
    sm.create_notebook_instance(
        NotebookInstanceName="research-sandbox", InstanceType="ml.t3.medium", RoleArn=admin_role,
        DirectInternetAccess="Enabled", RootAccess="Enabled", Tags=[{"Key": "team", "Value": "research"}],
        LifecycleConfigName="sandbox-setup",
    )
    sm.create_notebook_instance(
        NotebookInstanceName="fraud-analytics", InstanceType="ml.t3.large", RoleArn=scoped_role,
        SubnetId=vpc["Subnets"][0], SecurityGroupIds=vpc["SecurityGroupIds"], KmsKeyId=key,
        LifecycleConfigName="fraud-setup",
        DirectInternetAccess="Disabled", RootAccess="Disabled",
        Tags=[{"Key": "owner", "Value": "fraud-team"}, {"Key": "cost-center", "Value": "cc-4410"}],
    )
    sm.create_model(
        ModelName="churn-xgboost", ExecutionRoleArn=scoped_role, VpcConfig=vpc,
        # The artifacts churn-train-2026-11 wrote: the model's lineage reaches the job and its training data.
        PrimaryContainer={"Image": IMAGE,
                          "ModelDataUrl": "s3://ml-artifacts/churn/churn-train-2026-11/output/model.tar.gz",
                          "Environment": {"MODEL_SERVER_WORKERS": "2",
                                                         "DB_SECRET_ARN": f"arn:aws:secretsmanager:{region}:"
                                                         f"{ACCOUNT}:secret:churn-db-AbCdEf"}},
    )
    sm.create_model(
        ModelName="llm-summarizer", ExecutionRoleArn=admin_role,
        PrimaryContainer={"Image": PUBLIC_IMAGE, "ModelDataUrl": "s3://ml-public-share/summarizer/model.tar.gz",
                          "Environment": {"HF_TOKEN": "hf_live_9c1d7e2b4a",
                                                         "AWS_ACCESS_KEY_ID": "AKIAIOSFODNN7EXAMPLE"}},
    )
    sm.create_model(   # from a registered model version (AISPM-PRV-002 passes)
        ModelName="churn-registered", ExecutionRoleArn=scoped_role, VpcConfig=vpc,
        PrimaryContainer={"ModelPackageName": f"arn:aws:sagemaker:{region}:{ACCOUNT}:model-package/churn/3"})
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
        InputDataConfig=[{"ChannelName": "train", "DataSource": {"S3DataSource": {
            "S3DataType": "S3Prefix", "S3Uri": "s3://ml-artifacts/churn/train/"}}}],
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


_OWNED: Any = [{"Key": "owner", "Value": "fraud-team"}, {"Key": "cost-center", "Value": "cc-4410"}]
# GAI-002 passes with PROMPT_ATTACK on HIGH (input only: AWS takes no output strength for it) and every
# harmful-content category filtered both ways.
_STRONG_FILTERS = [{"type": "PROMPT_ATTACK", "inputStrength": "HIGH", "outputStrength": "NONE"}] + [
    {"type": t, "inputStrength": "HIGH", "outputStrength": "MEDIUM"}
    for t in ("HATE", "INSULTS", "SEXUAL", "VIOLENCE", "MISCONDUCT")]
_WEAK_FILTERS = [{"type": "PROMPT_ATTACK", "inputStrength": "LOW", "outputStrength": "NONE"},
                 {"type": "HATE", "inputStrength": "MEDIUM", "outputStrength": "NONE"}]


def seed_monitoring_and_features(region: str, admin_role: str, scoped_role: str) -> None:
    """Monitoring job definitions (two of the four types per region, one locked down, one open) and
    feature groups (one encrypted with a scoped role, one unencrypted with the admin role)."""
    sm = boto3.client("sagemaker", region_name=region)
    key = KMS_KEY.replace("us-east-1", region)
    vpc: Any = {"SecurityGroupIds": ["sg-0a1b2c3d4e5f60718"], "Subnets": ["subnet-0a1b2c3d4e5f60718"]}
    locked, opened = (("DataQuality", "ModelQuality") if region == REGIONS[0]
                      else ("ModelBias", "ModelExplainability"))
    for kind, name, role, safe in ((locked, "churn-prod", scoped_role, True),
                                   (opened, "summarizer", admin_role, False)):
        app: dict[str, Any] = {"ImageUri": IMAGE}
        if kind in ("ModelBias", "ModelExplainability"):
            app["ConfigUri"] = f"s3://ml-monitoring/{name}/analysis_config.json"
        job_input: dict[str, Any] = {"EndpointInput": {"EndpointName": name, "LocalPath": "/opt/ml/processing/input"}}
        if kind in ("ModelQuality", "ModelBias"):
            job_input["GroundTruthS3Input"] = {"S3Uri": f"s3://ml-monitoring/{name}/ground-truth"}
        output: dict[str, Any] = {"MonitoringOutputs": [{"S3Output": {
            "S3Uri": f"s3://ml-monitoring/{name}/reports", "LocalPath": "/opt/ml/processing/output"}}]}
        extra: dict[str, Any] = {}
        if safe:
            output["KmsKeyId"] = key
            extra["NetworkConfig"] = {"EnableNetworkIsolation": True,
                                      "EnableInterContainerTrafficEncryption": True, "VpcConfig": vpc}
        snake = "".join("_" + c.lower() if c.isupper() else c for c in kind).lstrip("_")
        getattr(sm, f"create_{snake}_job_definition")(
            JobDefinitionName=f"{name}-{snake.replace('_', '-')}", RoleArn=role,
            JobResources={"ClusterConfig": {"InstanceCount": 1, "InstanceType": "ml.m5.large",
                                            "VolumeSizeInGB": 20}},
            **{f"{kind}AppSpecification": app, f"{kind}JobInput": job_input, f"{kind}JobOutputConfig": output},
            **extra,
        )
    features: Any = [{"FeatureName": "customer_id", "FeatureType": "String"},
                     {"FeatureName": "event_time", "FeatureType": "String"}]
    for name, role, kms in (("churn-features", scoped_role, key), ("clickstream-features", admin_role, None)):
        offline: Any = {"S3Uri": f"s3://ml-features/{name}"}
        online: Any = {"EnableOnlineStore": True}   # StorageType absent: Standard, which takes a KMS key
        if kms:
            offline["KmsKeyId"] = kms
            online["SecurityConfig"] = {"KmsKeyId": kms}
        sm.create_feature_group(
            FeatureGroupName=name, RecordIdentifierFeatureName="customer_id", EventTimeFeatureName="event_time",
            FeatureDefinitions=features, RoleArn=role, Tags=_OWNED if kms else [],
            OfflineStoreConfig={"S3StorageConfig": offline}, OnlineStoreConfig=online,
        )

def seed_bedrock(region: str, admin_role: str, scoped_role: str) -> None:
    """Guardrails, agents, knowledge bases with their data sources (the support assistant answers from the
    policy documents), custom and imported models, and the region's invocation logging (on, with text, in the
    first region only)."""
    from aispm.testing import moto_gaps

    key = KMS_KEY.replace("us-east-1", region)
    strong = moto_gaps.add_guardrail(
        ACCOUNT, region, "support-guardrail", contentPolicy={"filters": _STRONG_FILTERS},
        sensitiveInformationPolicy={"piiEntities": [{"type": "EMAIL", "action": "ANONYMIZE"},
                                                    {"type": "US_SOCIAL_SECURITY_NUMBER", "action": "BLOCK"}],
                                    "regexes": []},
        kmsKeyArn=key)
    moto_gaps.add_guardrail(ACCOUNT, region, "prototype-guardrail", contentPolicy={"filters": _WEAK_FILTERS})
    agents = boto3.client("bedrock-agent", region_name=region)
    model = "anthropic.claude-3-5-sonnet-20240620-v1:0"
    support = agents.create_agent(
        agentName="support-assistant", agentResourceRoleArn=scoped_role, foundationModel=model,
        customerEncryptionKeyArn=key, instruction="Answer customer support questions from the policy documents.",
        guardrailConfiguration={"guardrailIdentifier": strong, "guardrailVersion": "DRAFT"})["agent"]["agentId"]
    agents.create_agent(agentName="sales-copilot", agentResourceRoleArn=admin_role, foundationModel=model,
                        instruction="Draft follow-up sales emails for the account managers.")
    embedding = f"arn:aws:bedrock:{region}::foundation-model/amazon.titan-embed-text-v2:0"
    for name, role, keys in (("policy-docs", scoped_role, (key, key)), ("wiki-crawl", admin_role, (key, None))):
        kb = agents.create_knowledge_base(
            name=name, roleArn=role,
            knowledgeBaseConfiguration={"type": "VECTOR", "vectorKnowledgeBaseConfiguration": {
                "embeddingModelArn": embedding}},
            storageConfiguration={"type": "OPENSEARCH_SERVERLESS", "opensearchServerlessConfiguration": {
                "collectionArn": f"arn:aws:aoss:{region}:{ACCOUNT}:collection/{name}", "vectorIndexName": name,
                "fieldMapping": {"vectorField": "vector", "textField": "text", "metadataField": "metadata"}}},
        )["knowledgeBase"]["knowledgeBaseId"]
        for i, kms in enumerate(keys):
            moto_gaps.add_data_source(ACCOUNT, region, kb, f"{name}-source-{i + 1}",
                                      f"arn:aws:s3:::{name}-corpus-{i + 1}", kms_key=kms)
        if name == "policy-docs":
            moto_gaps.add_agent_knowledge_base(ACCOUNT, region, support, kb, description="Refund and warranty policies")
    bedrock = boto3.client("bedrock", region_name=region)
    bedrock.create_model_customization_job(
        jobName="support-claims-ft-job", customModelName="support-claims-ft", roleArn=scoped_role,
        baseModelIdentifier="amazon.titan-text-express-v1", customizationType="FINE_TUNING",
        trainingDataConfig={"s3Uri": "s3://ml-artifacts/claims/train.jsonl"},
        outputDataConfig={"s3Uri": "s3://ml-artifacts/claims/output/"}, hyperParameters={"epochCount": "2"},
        customModelKmsKeyId=key)
    moto_gaps.add_imported_model(ACCOUNT, region, "legacy-llama-import", "s3://ml-public-share/llama3-8b/")
    if region == REGIONS[0]:
        bedrock.put_model_invocation_logging_configuration(loggingConfig={
            "cloudWatchConfig": {"logGroupName": "/aws/bedrock/invocations", "roleArn": scoped_role},
            "textDataDeliveryEnabled": True, "imageDataDeliveryEnabled": False,
            "embeddingDataDeliveryEnabled": False})


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
        s3 = boto3.client("s3", region_name="us-east-1")
        for bucket in PRIVATE_BUCKETS:
            s3.create_bucket(Bucket=bucket)
        for bucket in PUBLIC_BUCKETS:
            s3.create_bucket(Bucket=bucket, ACL="public-read")
        for region in REGIONS:
            seed(region, admin, scoped)
            seed_more(region, admin, scoped)
            seed_monitoring_and_features(region, admin, scoped)
            seed_bedrock(region, admin, scoped)
        yield {"regions": list(REGIONS)}, None
