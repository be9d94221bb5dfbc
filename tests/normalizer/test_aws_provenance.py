"""AWS lineage edges (inventory-v1.md) and the provenance facts of PRV-001, PRV-002 and PRV-003 (rules-v2.md)."""

from __future__ import annotations

from typing import Any

import pytest

from aispm.normalizer import normalize
from aispm.normalizer.schema import Asset
from tests.support.aws import ACCT, BASE, record

ECR = f"{ACCT}.dkr.ecr.us-east-1.amazonaws.com/churn:1"
DLC = "763104351884.dkr.ecr.us-west-2.amazonaws.com/pytorch-inference:2.1-gpu"


def model(**extra: Any) -> dict[str, Any]:
    return {"ModelName": "m", "ModelArn": f"{BASE}:model/m", **extra}


def one(kind: str, data: dict[str, Any]) -> Asset:
    [a] = [a for a in normalize("aws", [record(kind, data)]) if a.kind == kind]
    return a


def edges(a: Asset) -> list[tuple[str, str]]:
    return [(e.rel, e.uid) for e in a.lineage]


@pytest.mark.parametrize(("containers", "expected"), [
    ({"PrimaryContainer": {"Image": ECR}}, True),
    ({"PrimaryContainer": {"Image": DLC}}, True),                        # AWS's own private ECR accounts
    ({"PrimaryContainer": {"Image": "docker.io/library/nginx:1"}}, False),
    ({"PrimaryContainer": {"Image": "nginx:1"}}, False),                  # Docker Hub by default
    ({"PrimaryContainer": {"Image": "registry.internal:5000/m:1",
                           "ImageConfig": {"RepositoryAccessMode": "Vpc"}}}, True),
    ({"Containers": [{"Image": ECR}, {"Image": "ghcr.io/org/m:1"}]}, False),
    ({"PrimaryContainer": {"ModelPackageName": "pkg"}, "Containers": [{"Image": ECR}]}, True),
])
def test_prv001_private_registry(containers: dict[str, Any], expected: bool) -> None:
    fact = one("model", model(**containers)).provenance.private_image
    assert fact is not None and fact.value is expected
    if not expected:
        assert "ghcr.io" in fact.observed or "docker.io" in fact.observed   # names the registry host


def test_prv001_skips_package_only_models_and_prv002_judges_them() -> None:
    a = one("model", model(PrimaryContainer={"ModelPackageName": f"{BASE}:model-package/pkg/1"}))
    assert a.provenance.private_image is None
    assert a.provenance.registered is not None and a.provenance.registered.value is True


@pytest.mark.parametrize(("containers", "expected"), [
    ({"PrimaryContainer": {"ModelPackageName": "pkg"}}, True),
    ({"PrimaryContainer": {"Image": ECR, "ModelDataUrl": "s3://b/m.tar.gz"}}, False),
    ({"Containers": [{"ModelPackageName": "a"}, {"Image": ECR}]}, False),
])
def test_prv002_registered_model_versions(containers: dict[str, Any], expected: bool) -> None:
    fact = one("model", model(**containers)).provenance.registered
    assert fact is not None and fact.value is expected


def _access(**buckets: dict[str, Any]) -> dict[str, Any]:
    return {"BucketAccess": buckets}


def test_prv003_fail_beats_error_beats_pass() -> None:
    data = {"InputDataConfig": [{"ChannelName": "train", "DataSource": {"S3DataSource": {"S3Uri": "s3://open/d/"}}},
                                {"ChannelName": "val", "DataSource": {"S3DataSource": {"S3Uri": "s3://gone/v/"}}}],
            "OutputDataConfig": {"S3OutputPath": "s3://closed/out/"},
            "TrainingJobName": "tj", "TrainingJobArn": f"{BASE}:training-job/tj"}
    verdicts = {"open": {"public": True, "why": "its ACL grants AllUsers"},
                "gone": {"error": "bucket gone is not in account"},
                "closed": {"public": False, "why": "no public policy or ACL grant"}}
    failing = one("training_job", data | _access(**verdicts)).provenance.public_storage
    assert failing is not None and failing.value is True and failing.error is None
    assert "s3://open/d/: bucket open is public (its ACL grants AllUsers)" in failing.observed
    erring = one("training_job", data | _access(**(verdicts | {"open": verdicts["closed"]}))).provenance.public_storage
    assert erring is not None and erring.error is not None and "s3://gone/v/" in erring.error
    passing = one("training_job", data | _access(open=verdicts["closed"], gone=verdicts["closed"],
                                                  closed=verdicts["closed"])).provenance.public_storage
    assert passing is not None and (passing.value, passing.error) == (False, None)


def test_prv003_skips_assets_without_a_location() -> None:
    assert one("model", model(PrimaryContainer={"Image": ECR})).provenance.public_storage is None


def test_sagemaker_lineage_from_data_to_endpoint() -> None:
    artifacts = "s3://models/churn/output/model.tar.gz"
    records = [
        record("training_job", {"TrainingJobName": "train", "TrainingJobArn": f"{BASE}:training-job/train",
                                "InputDataConfig": [{"ChannelName": "c", "DataSource": {"S3DataSource": {
                                    "S3Uri": "s3://data/churn/"}}}],
                                "ModelArtifacts": {"S3ModelArtifacts": artifacts}}),
        record("model", model(ModelName="Churn", ModelArn=f"{BASE}:model/churn", PrimaryContainer={
            "Image": ECR, "ModelDataUrl": artifacts, "ModelPackageName": "churn-pkg/3"})),
        record("endpoint_config", {"EndpointConfigName": "cfg", "EndpointConfigArn": f"{BASE}:endpoint-config/cfg",
                                   "ProductionVariants": [{"VariantName": "v", "ModelName": "Churn"}]}),
        record("endpoint", {"EndpointName": "ep", "EndpointArn": f"{BASE}:endpoint/ep", "EndpointConfigName": "cfg"}),
    ]
    by_kind = {a.kind: a for a in normalize("aws", records)}
    assert edges(by_kind["training_job"]) == [("trained_on", "s3://data/churn/")]
    assert edges(by_kind["model"]) == [
        ("trained_by", f"{BASE}:training-job/train"), ("artifacts_in", artifacts), ("image", ECR),
        ("registered_as", f"{BASE}:model-package/churn-pkg/3")]
    assert edges(by_kind["endpoint_config"]) == [("serves", f"{BASE}:model/churn")]
    assert edges(by_kind["endpoint"]) == [("serves", f"{BASE}:endpoint-config/cfg"), ("serves", f"{BASE}:model/churn")]


def test_bedrock_lineage() -> None:
    br = f"arn:aws:bedrock:us-east-1:{ACCT}"
    custom = one("custom_model", {"modelArn": f"{br}:custom-model/tuned", "modelName": "tuned",
                                  "baseModelArn": "arn:aws:bedrock:us-east-1::foundation-model/amazon.titan-text-v1",
                                  "jobArn": f"{br}:model-customization-job/j1",
                                  "trainingDataConfig": {"s3Uri": "s3://train/set.jsonl"}})
    assert edges(custom) == [("based_on", "arn:aws:bedrock:us-east-1::foundation-model/amazon.titan-text-v1"),
                             ("trained_by", f"{br}:model-customization-job/j1"),
                             ("trained_on", "s3://train/set.jsonl")]
    haiku = "anthropic.claude-3-haiku-20240307-v1:0"
    agent = one("agent", {"agentId": "A", "agentName": "a", "agentArn": f"{br}:agent/A", "foundationModel": haiku,
                          "guardrailConfiguration": {"guardrailIdentifier": "gr1", "guardrailVersion": "1"}})
    assert edges(agent) == [("uses", f"{br}:guardrail/gr1"),
                            ("uses", f"arn:aws:bedrock:us-east-1::foundation-model/{haiku}")]
    # The knowledge bases the collector joined from ListAgentKnowledgeBases, as their uids (ARNs), first.
    summary = {"knowledgeBaseState": "ENABLED", "updatedAt": "2026-11-01T00:00:00Z"}
    with_bases = one("agent", {"agentId": "B", "agentName": "b", "agentArn": f"{br}:agent/B", "foundationModel": haiku,
                               "knowledgeBases": [{"knowledgeBaseId": "K1", **summary},
                                                  {"knowledgeBaseId": "K2", "description": "wiki", **summary}]})
    assert edges(with_bases) == [("uses", f"{br}:knowledge-base/K1"), ("uses", f"{br}:knowledge-base/K2"),
                                 ("uses", f"arn:aws:bedrock:us-east-1::foundation-model/{haiku}")]
    unread = one("agent", {"agentId": "C", "agentName": "c", "agentArn": f"{br}:agent/C",
                           "KnowledgeBasesError": "AccessDeniedException: denied"})
    assert edges(unread) == []
    kb = one("knowledge_base", {"knowledgeBaseId": "K", "name": "kb", "knowledgeBaseArn": f"{br}:knowledge-base/K",
                                "dataSources": [{"dataSourceId": "d", "name": "d", "dataSourceConfiguration": {
                                    "type": "S3", "s3Configuration": {"bucketArn": "arn:aws:s3:::handbook"}}}]})
    assert edges(kb) == [("uses", "s3://handbook")]
