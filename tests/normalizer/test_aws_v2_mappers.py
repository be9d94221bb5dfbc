"""The AWS lines of rules-v2.md at the mapper: each wire field, its default when absent, and the skip cases."""

from __future__ import annotations

import base64
from typing import Any

import pytest

from aispm.normalizer import normalize
from aispm.normalizer.schema import Asset, Fact
from aispm.normalizer.secrets import REDACTED
from tests.support.aws import ACCT, BASE, record

KEY = "arn:aws:kms:us-east-1:1:key/k"
BEDROCK = f"arn:aws:bedrock:us-east-1:{ACCT}"


def asset(kind: str, data: dict[str, Any]) -> Asset:
    [a] = normalize("aws", [record(kind, data)])
    return a


def value(f: Fact | None) -> bool | None:
    return None if f is None else f.value


# --- SageMaker feature groups -------------------------------------------------------------------------------


def fg(**extra: Any) -> dict[str, Any]:
    return {"FeatureGroupName": "fg", "FeatureGroupArn": f"{BASE}:feature-group/fg", **extra}


OFFLINE = {"S3StorageConfig": {"S3Uri": "s3://b/p"}}


@pytest.mark.parametrize(("data", "expected"), [
    (fg(OfflineStoreConfig={"S3StorageConfig": {"S3Uri": "s3://b", "KmsKeyId": KEY}}), [True]),
    (fg(OfflineStoreConfig=OFFLINE), [False]),
    (fg(OnlineStoreConfig={"EnableOnlineStore": True}), [False]),                      # absent StorageType = Standard
    (fg(OnlineStoreConfig={"EnableOnlineStore": True, "SecurityConfig": {"KmsKeyId": KEY}}), [True]),
    (fg(OnlineStoreConfig={"EnableOnlineStore": True, "StorageType": "InMemory"}), []),   # no key possible
    (fg(OnlineStoreConfig={"EnableOnlineStore": False}), []),
    (fg(OfflineStoreConfig=OFFLINE, OnlineStoreConfig={"EnableOnlineStore": True, "StorageType": "Standard",
                                                       "SecurityConfig": {"KmsKeyId": KEY}}), [False, True]),
])
def test_feature_group_store_keys(data: dict[str, Any], expected: list[bool]) -> None:
    a = asset("feature_group", data)
    assert (a.service, a.kind, a.uid) == ("sagemaker", "feature_group", f"{BASE}:feature-group/fg")
    assert [f.value for f in a.encryption.customer_managed_key] == expected


def test_feature_group_role_only_when_set() -> None:
    assert asset("feature_group", fg()).identities is None   # IAM-001 emits nothing
    assert asset("feature_group", fg(RoleArn="arn:aws:iam::1:role/r")).identities == ("arn:aws:iam::1:role/r",)


# --- SageMaker monitoring job definitions ---------------------------------------------------------------------


def mjd(output: str = "DataQuality", **extra: Any) -> dict[str, Any]:
    return {"JobDefinitionName": "jd", "JobDefinitionArn": f"{BASE}:data-quality-job-definition/jd",
            "RoleArn": "arn:aws:iam::1:role/m", f"{output}JobOutputConfig": {"MonitoringOutputs": []},
            f"{output}JobInput": {"EndpointInput": {"EndpointName": "ep", "LocalPath": "/x"}}, **extra}


def test_monitoring_job_definition_defaults_are_failures() -> None:
    a = asset("monitoring_job_definition", mjd())
    assert value(a.network.egress_isolated) is False
    assert value(a.network.private_network) is False
    assert value(a.encryption.inter_node) is False
    assert [f.source for f in a.encryption.customer_managed_key] == ["DataQualityJobOutputConfig.KmsKeyId"]
    assert [f.value for f in a.encryption.customer_managed_key] == [False]
    assert a.identities == ("arn:aws:iam::1:role/m",)
    assert a.details == {"job_definition_type": "DataQuality", "endpoint": "ep"}


@pytest.mark.parametrize("output", ["DataQuality", "ModelQuality", "ModelBias", "ModelExplainability"])
def test_monitoring_job_definition_locked_down(output: str) -> None:
    data = mjd(output, NetworkConfig={"EnableNetworkIsolation": True, "EnableInterContainerTrafficEncryption": True,
                                      "VpcConfig": {"SecurityGroupIds": ["sg"], "Subnets": ["s"]}})
    data[f"{output}JobOutputConfig"]["KmsKeyId"] = KEY
    a = asset("monitoring_job_definition", data)
    assert (value(a.network.egress_isolated), value(a.network.private_network), value(a.encryption.inter_node)) == (
        True, True, True)
    assert [f.value for f in a.encryption.customer_managed_key] == [True]
    assert a.details["job_definition_type"] == output


# --- notebook lifecycle configurations (SEC-001) ---------------------------------------------------------------


def nb(**extra: Any) -> dict[str, Any]:
    return {"NotebookInstanceName": "nb", "NotebookInstanceArn": f"{BASE}:notebook-instance/nb", **extra}


def script(text: str) -> list[dict[str, str]]:
    return [{"Content": base64.b64encode(text.encode()).decode()}]


def test_notebook_without_lifecycle_configuration_has_nothing_to_hold_a_secret() -> None:
    a = asset("notebook", nb())
    assert a.environment == () and a.environment_error is None


def test_lifecycle_scripts_name_the_variable_or_line_never_the_value() -> None:
    on_start = ("#!/bin/bash\nexport HF_TOKEN='hf_live_value_123'\nMAX_TOKENS=4096\n"
                "DB_PASSWORD=$(aws secretsmanager get-secret-value --secret-id db)\nAPI_KEY=\"${FROM_ENV}\"\n"
                "echo AKIAABCDEFGHIJKLMNOP >> ~/.aws/credentials\n")
    a = asset("notebook", nb(NotebookInstanceLifecycleConfigName="setup", LifecycleConfig={
        "OnCreate": script("pip install x\n"), "OnStart": script(on_start)}))
    secrets = {(v.container, v.name): v.secret for v in a.environment or () if v.secret}
    assert secrets == {
        ("lifecycle configuration setup OnStart", "HF_TOKEN"): "secret-like name with a literal value",
        ("lifecycle configuration setup OnStart", "line 6"): "value matches the AWS access key id format",
    }
    dumped = a.model_dump_json()
    assert "hf_live_value_123" not in dumped and "AKIAABCDEFGHIJKLMNOP" not in dumped
    assert {v.value for v in a.environment or ()} <= {"", REDACTED}   # no script value is kept


def test_unreadable_lifecycle_configuration_is_an_error_not_a_pass() -> None:
    a = asset("notebook", nb(NotebookInstanceLifecycleConfigName="gone", LifecycleConfigError="AccessDenied"))
    assert a.environment_error == "Lifecycle configuration gone could not be read: AccessDenied"


# --- Bedrock ----------------------------------------------------------------------------------------------------


def agent(**extra: Any) -> dict[str, Any]:
    return {"agentId": "A1", "agentName": "bot", "agentArn": f"{BEDROCK}:agent/A1",
            "agentResourceRoleArn": "arn:aws:iam::1:role/a", **extra}


def test_agent_guardrail_key_and_role() -> None:
    bare = asset("agent", agent())
    assert (bare.service, bare.kind) == ("bedrock", "agent")
    assert value(bare.guardrails.applied) is False
    assert [f.value for f in bare.encryption.customer_managed_key] == [False]
    guarded = asset("agent", agent(guardrailConfiguration={"guardrailIdentifier": "gr1", "guardrailVersion": "1"},
                                   customerEncryptionKeyArn=KEY))
    assert value(guarded.guardrails.applied) is True
    assert guarded.guardrails.applied is not None and guarded.guardrails.applied.observed == "gr1"
    assert [f.value for f in guarded.encryption.customer_managed_key] == [True]
    assert guarded.identities == ("arn:aws:iam::1:role/a",)


def guardrail(**extra: Any) -> dict[str, Any]:
    return {"guardrailId": "g", "name": "g", "guardrailArn": f"{BEDROCK}:guardrail/g", "version": "DRAFT", **extra}


def filters(**strengths: tuple[str, str]) -> dict[str, Any]:
    return {"filters": [{"type": t, "inputStrength": i, "outputStrength": o} for t, (i, o) in strengths.items()]}


FULL = {"PROMPT_ATTACK": ("HIGH", "NONE"), "HATE": ("LOW", "LOW"), "INSULTS": ("LOW", "HIGH"),
        "SEXUAL": ("MEDIUM", "MEDIUM"), "VIOLENCE": ("HIGH", "HIGH"), "MISCONDUCT": ("LOW", "LOW")}


@pytest.mark.parametrize(("policy", "expected"), [
    (filters(**FULL), True),
    (filters(**(FULL | {"PROMPT_ATTACK": ("MEDIUM", "NONE")})), False),   # prompt attacks need HIGH
    (filters(**(FULL | {"INSULTS": ("LOW", "NONE")})), False),            # output side off
    (filters(**{k: v for k, v in FULL.items() if k != "MISCONDUCT"}), False),  # a missing filter counts as NONE
    (None, False),                                                         # no content policy at all
])
def test_guardrail_content_filters(policy: dict[str, Any] | None, expected: bool) -> None:
    a = asset("guardrail", guardrail(**({"contentPolicy": policy} if policy else {})))
    assert value(a.guardrails.harmful_content) is expected
    assert a.guardrails.applied is None   # GAI-001 is about what uses a guardrail, not the guardrail


@pytest.mark.parametrize(("policy", "expected"), [
    ({"piiEntities": [{"type": "EMAIL", "action": "BLOCK"}]}, True),
    ({"regexes": [{"name": "acct", "pattern": "\\d{12}", "action": "ANONYMIZE"}]}, True),
    ({"piiEntities": [], "regexes": []}, False),
    (None, False),
])
def test_guardrail_sensitive_information(policy: dict[str, Any] | None, expected: bool) -> None:
    a = asset("guardrail", guardrail(**({"sensitiveInformationPolicy": policy} if policy is not None else {})))
    assert value(a.guardrails.sensitive_information) is expected


def kb(**extra: Any) -> dict[str, Any]:
    return {"knowledgeBaseId": "K", "name": "kb", "knowledgeBaseArn": f"{BEDROCK}:knowledge-base/K",
            "roleArn": "arn:aws:iam::1:role/k", **extra}


def source(name: str, key: str | None) -> dict[str, Any]:
    return {"dataSourceId": name, "name": name,
            **({"serverSideEncryptionConfiguration": {"kmsKeyArn": key}} if key else {})}


@pytest.mark.parametrize(("sources", "expected"), [
    ([], [True]),                                        # no data source -> Pass
    ([source("a", KEY), source("b", KEY)], [True, True]),
    ([source("a", KEY), source("b", None)], [True, False]),
])
def test_knowledge_base_data_source_keys(sources: list[dict[str, Any]], expected: list[bool]) -> None:
    a = asset("knowledge_base", kb(dataSources=sources))
    assert [f.value for f in a.encryption.customer_managed_key] == expected
    assert a.identities == ("arn:aws:iam::1:role/k",)


def test_custom_model_key() -> None:
    data = {"modelArn": f"{BEDROCK}:custom-model/m", "modelName": "m", "customizationType": "DISTILLATION"}
    assert [f.value for f in asset("custom_model", data).encryption.customer_managed_key] == [False]
    keyed = asset("custom_model", data | {"modelKmsKeyArn": KEY})
    assert [f.value for f in keyed.encryption.customer_managed_key] == [True]
    assert keyed.details["customization"] == "DISTILLATION"


def settings(config: dict[str, Any] | None) -> Asset:
    return asset("ai_service_settings", {"settingsArn": f"{BEDROCK}:model-invocation-logging",
                                         "loggingConfig": config})


@pytest.mark.parametrize(("config", "expected", "source"), [
    (None, False, "loggingConfig"),
    ({"textDataDeliveryEnabled": True}, False,
     "loggingConfig.cloudWatchConfig.logGroupName, loggingConfig.s3Config.bucketName"),
    ({"s3Config": {"bucketName": "b"}}, False, "loggingConfig.textDataDeliveryEnabled"),   # absent = false
    ({"s3Config": {"bucketName": "b"}, "textDataDeliveryEnabled": False}, False,
     "loggingConfig.textDataDeliveryEnabled"),
    ({"cloudWatchConfig": {"logGroupName": "g", "roleArn": "r"}, "textDataDeliveryEnabled": True}, True,
     "loggingConfig.textDataDeliveryEnabled"),
])
def test_invocation_logging(config: dict[str, Any] | None, expected: bool, source: str) -> None:
    a = settings(config)
    assert (a.uid, a.kind, a.service, a.taggable) == (f"{BEDROCK}:model-invocation-logging", "ai_service_settings",
                                                      "bedrock", False)
    fact = a.logging.invocation_logging
    assert fact is not None and (fact.value, fact.source) == (expected, source)
