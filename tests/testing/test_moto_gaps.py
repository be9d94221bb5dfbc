"""moto's fidelity gaps that the emulator extension closes: what a create request set comes back on read."""

from __future__ import annotations

from typing import Any

import boto3
from moto import mock_aws

ROLE = "arn:aws:iam::123456789012:role/r"
KEY = "arn:aws:kms:us-east-1:123456789012:key/k"


def test_an_agent_keeps_its_guardrail_configuration() -> None:
    guardrail = {"guardrailIdentifier": "gr0000000000", "guardrailVersion": "DRAFT"}
    with mock_aws():
        agents: Any = boto3.client("bedrock-agent", region_name="us-east-1")
        made = agents.create_agent(agentName="guarded", agentResourceRoleArn=ROLE, guardrailConfiguration=guardrail)
        plain = agents.create_agent(agentName="plain", agentResourceRoleArn=ROLE)["agent"]["agentId"]
        assert made["agent"]["guardrailConfiguration"] == guardrail
        assert agents.get_agent(agentId=made["agent"]["agentId"])["agent"]["guardrailConfiguration"] == guardrail
        assert "guardrailConfiguration" not in agents.get_agent(agentId=plain)["agent"]


def test_a_feature_group_keeps_its_online_store() -> None:
    features = [{"FeatureName": "id", "FeatureType": "String"}, {"FeatureName": "at", "FeatureType": "String"}]
    online = {"EnableOnlineStore": True, "StorageType": "Standard", "SecurityConfig": {"KmsKeyId": KEY}}
    with mock_aws():
        sm: Any = boto3.client("sagemaker", region_name="us-east-1")
        for name, extra in (("served", {"OnlineStoreConfig": online}), ("offline-only", {})):
            sm.create_feature_group(FeatureGroupName=name, RecordIdentifierFeatureName="id",
                                    EventTimeFeatureName="at", FeatureDefinitions=features, RoleArn=ROLE,
                                    OfflineStoreConfig={"S3StorageConfig": {"S3Uri": "s3://b/p"}}, **extra)
        assert sm.describe_feature_group(FeatureGroupName="served")["OnlineStoreConfig"] == online
        assert "OnlineStoreConfig" not in sm.describe_feature_group(FeatureGroupName="offline-only")


def test_a_custom_model_has_the_key_its_job_named_and_none_without_one() -> None:
    common: dict[str, Any] = {"roleArn": ROLE, "baseModelIdentifier": "amazon.titan-text-express-v1",
                              "trainingDataConfig": {"s3Uri": "s3://b/train.jsonl"},
                              "outputDataConfig": {"s3Uri": "s3://b/out/"}, "hyperParameters": {}}
    with mock_aws():
        bedrock: Any = boto3.client("bedrock", region_name="us-east-1")
        bedrock.create_model_customization_job(jobName="j1", customModelName="keyed", customModelKmsKeyId=KEY,
                                               **common)
        bedrock.create_model_customization_job(jobName="j2", customModelName="unkeyed", **common)
        assert bedrock.get_custom_model(modelIdentifier="keyed")["modelKmsKeyArn"] == KEY
        assert "modelKmsKeyArn" not in bedrock.get_custom_model(modelIdentifier="unkeyed")
