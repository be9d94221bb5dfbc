"""Where AWS models come from: lineage edges (inventory-v1.md) and the provenance facts of AISPM-PRV-001,
PRV-002 and PRV-003 (rules-v2.md), from fields the collector already read."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from aispm.collectors.aws.buckets import bucket_of, s3_locations
from aispm.collectors.base import RawRecord
from aispm.normalizer.common import dig, edges, location_exposure
from aispm.normalizer.schema import Fact, LineageEdge, LineageRel

# Any account's private ECR registry, AWS's Deep Learning Container accounts included (rules-v2.md).
_ECR = re.compile(r"^\d{12}\.dkr\.ecr(-fips)?\.[a-z0-9-]+\.amazonaws\.com(\.cn)?$")


def _containers(d: Mapping[str, Any]) -> list[tuple[str, Mapping[str, Any]]]:
    out: list[tuple[str, Mapping[str, Any]]] = []
    if d.get("PrimaryContainer"):
        out.append(("PrimaryContainer", d["PrimaryContainer"]))
    out += [(f"Containers[{i}]", c) for i, c in enumerate(d.get("Containers") or [])]
    return out


def image_host(image: str) -> str:
    return image.split("/", 1)[0] if "/" in image else "docker.io"


def private_image(d: Mapping[str, Any]) -> Fact | None:
    """PRV-001: every container image from a private registry (ECR, or any registry reached inside the VPC);
    a container with only a ModelPackageName is PRV-002's; a model with no image emits nothing."""
    judged = [(where, c) for where, c in _containers(d) if c.get("Image")]
    if not judged:
        return None
    public = [(where, image_host(str(c["Image"]))) for where, c in judged
              if not _ECR.match(image_host(str(c["Image"])))
              and dig(c, "ImageConfig.RepositoryAccessMode") != "Vpc"]
    if public:
        return Fact(value=False, source=f"{public[0][0]}.Image",
                    observed="; ".join(f"{w} from {host}" for w, host in public))
    hosts = sorted({image_host(str(c["Image"])) for _, c in judged})
    return Fact(value=True, source="Image", observed=", ".join(hosts))


def registered(d: Mapping[str, Any]) -> Fact:
    """PRV-002: every container names a registered model version (ModelPackageName)."""
    containers = _containers(d)
    unregistered = [where for where, c in containers if not c.get("ModelPackageName")]
    if unregistered or not containers:
        return Fact(value=False, source=f"{(unregistered or ['PrimaryContainer'])[0]}.ModelPackageName",
                    observed="absent (created from an image and artifacts)")
    return Fact(value=True, source="ModelPackageName",
                observed=", ".join(str(c["ModelPackageName"]) for _, c in containers))


def public_storage(rec: RawRecord) -> Fact | None:
    """PRV-003 over the record's S3 locations and the bucket verdicts the collector joined."""
    access: Mapping[str, Any] = rec.data.get("BucketAccess") or {}
    return location_exposure([(uri, bucket_of(uri), access.get(bucket_of(uri)))
                              for uri in s3_locations(rec.type, rec.data)])


def _arn_base(arn: str) -> str:
    return ":".join(arn.split(":")[:5])


def sagemaker_uid(any_arn: str, resource: str, name: str) -> str:
    """The ARN of a SageMaker resource in the same account and region (SageMaker ARNs carry names in lower case)."""
    return f"{_arn_base(any_arn)}:{resource}/{name.lower()}"


class Lineage:
    """What spans a scope's records: endpoint config -> model names, model artifacts -> the training job."""

    def __init__(self, records: Sequence[RawRecord]) -> None:
        self.config_models: dict[str, list[str]] = {}
        self.artifact_jobs: dict[str, str] = {}
        for r in records:
            if r.type == "endpoint_config":
                self.config_models[str(r.data.get("EndpointConfigName"))] = [
                    str(v["ModelName"]) for v in r.data.get("ProductionVariants") or [] if v.get("ModelName")]
            elif r.type == "training_job" and dig(r.data, "ModelArtifacts.S3ModelArtifacts"):
                self.artifact_jobs[str(dig(r.data, "ModelArtifacts.S3ModelArtifacts"))] = str(r.data["TrainingJobArn"])

    def endpoint(self, d: Mapping[str, Any]) -> tuple[LineageEdge, ...]:
        config = d.get("EndpointConfigName")
        if not config:
            return ()
        arn = str(d["EndpointArn"])
        models = self.config_models.get(str(config), [])
        return edges(("serves", sagemaker_uid(arn, "endpoint-config", str(config))),
                      *(("serves", sagemaker_uid(arn, "model", m)) for m in models))

    @staticmethod
    def endpoint_config(d: Mapping[str, Any]) -> tuple[LineageEdge, ...]:
        arn = str(d["EndpointConfigArn"])
        return edges(*(("serves", sagemaker_uid(arn, "model", str(v["ModelName"])))
                        for v in d.get("ProductionVariants") or [] if v.get("ModelName")))

    def model(self, d: Mapping[str, Any]) -> tuple[LineageEdge, ...]:
        pairs: list[tuple[LineageRel, Any]] = []
        for _, c in _containers(d):
            artifacts = c.get("ModelDataUrl") or dig(c, "ModelDataSource.S3DataSource.S3Uri")
            if artifacts in self.artifact_jobs:
                pairs.append(("trained_by", self.artifact_jobs[artifacts]))
            pairs += [("artifacts_in", artifacts), ("image", c.get("Image")),
                      ("registered_as", _package_uid(str(d["ModelArn"]), c.get("ModelPackageName")))]
        return edges(*pairs)

    @staticmethod
    def training_job(d: Mapping[str, Any]) -> tuple[LineageEdge, ...]:
        return edges(*(("trained_on", dig(c, "DataSource.S3DataSource.S3Uri"))
                        for c in d.get("InputDataConfig") or []))


def _package_uid(model_arn: str, package: Any) -> str | None:
    if not package:
        return None
    name = str(package)
    return name if name.startswith("arn:") else sagemaker_uid(model_arn, "model-package", name)


def _bedrock_model_uid(arn: str, model_id: Any) -> str | None:
    """A foundation model id as its ARN (``arn:aws:bedrock:<region>::foundation-model/<id>``)."""
    if not model_id:
        return None
    name = str(model_id)
    if name.startswith("arn:"):
        return name
    partition, region = arn.split(":")[1], arn.split(":")[3]
    return f"arn:{partition}:bedrock:{region}::foundation-model/{name}"


def custom_model(d: Mapping[str, Any]) -> tuple[LineageEdge, ...]:
    return edges(("based_on", d.get("baseModelArn")), ("trained_by", d.get("jobArn")),
                  ("trained_on", dig(d, "trainingDataConfig.s3Uri")),
                  ("artifacts_in", dig(d, "modelDataSource.s3DataSource.s3Uri")))


def agent(d: Mapping[str, Any]) -> tuple[LineageEdge, ...]:
    """The knowledge bases the collector joined (``knowledgeBases``, from ListAgentKnowledgeBases: GetAgent does
    not name them), then the guardrail and foundation model GetAgent names."""
    arn = str(d["agentArn"])
    guardrail = dig(d, "guardrailConfiguration.guardrailIdentifier")
    if guardrail and not str(guardrail).startswith("arn:"):
        guardrail = f"{_arn_base(arn)}:guardrail/{guardrail}"
    bases = [f"{_arn_base(arn)}:knowledge-base/{kb['knowledgeBaseId']}"
             for kb in d.get("knowledgeBases") or [] if kb.get("knowledgeBaseId")]
    return edges(*(("uses", uid) for uid in bases),
                 ("uses", guardrail), ("uses", _bedrock_model_uid(arn, d.get("foundationModel"))))


def knowledge_base(d: Mapping[str, Any]) -> tuple[LineageEdge, ...]:
    return edges(*(("uses", uri) for uri in s3_locations("knowledge_base", d)))
