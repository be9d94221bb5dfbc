"""Where Vertex AI models and data come from: lineage edges (inventory-v1.md) and the provenance facts of
AISPM-PRV-001 and PRV-003 (rules-v2.md), from fields the collector already read. PRV-002 does not apply on
GCP: every Vertex AI model is a Model Registry version."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from aispm.collectors.base import RawRecord
from aispm.collectors.gcp.buckets import bucket_of, gcs_locations
from aispm.collectors.gcp.kinds import CUSTOM_JOB
from aispm.normalizer.common import dig, edges, location_exposure
from aispm.normalizer.schema import Fact, LineageEdge

# Google's private registries (rules-v2.md): Artifact Registry (<location>-docker.pkg.dev) and Container
# Registry (gcr.io and its regional hosts).
_PRIVATE_HOST = re.compile(r"^([a-z0-9-]+-docker\.pkg\.dev|gcr\.io|[a-z0-9.-]+\.gcr\.io)$")


def image_host(image: str) -> str:
    """The registry host of an image reference; a reference without one is Docker Hub's."""
    first = image.split("/", 1)[0]
    return first.lower() if "/" in image and ("." in first or ":" in first or first == "localhost") \
        else "docker.io"


def private_image(d: Mapping[str, Any]) -> Fact | None:
    """PRV-001: the model's serving image comes from Artifact Registry or Container Registry; a model the API
    returns without ``containerSpec`` (AutoML, BigQuery ML) has nothing to judge."""
    image = dig(d, "containerSpec.imageUri")
    if not isinstance(d.get("containerSpec"), Mapping) or not isinstance(image, str) or not image.strip():
        return None
    host = image_host(image.strip())
    private = bool(_PRIVATE_HOST.match(host))
    return Fact(value=private, source="containerSpec.imageUri",
                observed=f"{image.strip()} from {host}" + ("" if private else " (not Artifact Registry or "
                                                                            "Container Registry)"))


def public_storage(rec: RawRecord) -> Fact | None:
    """PRV-003 over the record's Cloud Storage locations and the bucket verdicts the collector joined."""
    access = rec.data.get("bucketAccess")
    access = access if isinstance(access, Mapping) else {}
    return location_exposure([(uri, bucket_of(uri), access.get(bucket_of(uri)))
                              for uri in gcs_locations(rec.type, rec.data)])


def _under(uri: str, prefix: str) -> bool:
    return uri == prefix or uri.startswith(prefix.rstrip("/") + "/")


class Lineage:
    """What spans a scope's records: the output directories of the custom jobs the scan saw."""

    def __init__(self, records: Sequence[RawRecord]) -> None:
        self.job_outputs: list[tuple[str, str]] = [
            (loc, str(r.data["name"]))
            for r in records if r.type == CUSTOM_JOB.kind
            for loc in gcs_locations(CUSTOM_JOB.kind, r.data)
        ]

    @staticmethod
    def endpoint(d: Mapping[str, Any]) -> tuple[LineageEdge, ...]:
        return edges(*(("serves", m.get("model")) for m in d.get("deployedModels") or []
                        if isinstance(m, Mapping)))

    def model(self, d: Mapping[str, Any]) -> tuple[LineageEdge, ...]:
        """Model -> its training pipeline, the custom job whose output directory holds its artifacts (when the
        scan saw it), its artifacts and its image."""
        artifacts = d.get("artifactUri") if isinstance(d.get("artifactUri"), str) else ""
        jobs = [job for prefix, job in self.job_outputs if artifacts and _under(artifacts, prefix)]
        return edges(("trained_by", d.get("trainingPipeline")), *(("trained_by", j) for j in jobs),
                      ("artifacts_in", artifacts), ("image", dig(d, "containerSpec.imageUri")))

    @staticmethod
    def custom_job(d: Mapping[str, Any]) -> tuple[LineageEdge, ...]:
        return edges(*(("artifacts_in", uri) for uri in gcs_locations(CUSTOM_JOB.kind, d)))

    @staticmethod
    def dataset(d: Mapping[str, Any]) -> tuple[LineageEdge, ...]:
        return edges(*(("uses", uri) for uri in gcs_locations("dataset", d)))

