"""Where Azure Machine Learning models and data come from: lineage edges (inventory-v1.md) and the provenance
facts of AISPM-PRV-002 and PRV-003 (rules-v2.md), from fields the collector already read."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from aispm.collectors.azure.kinds import DEPLOYMENT
from aispm.collectors.azure.storage import account_name, location
from aispm.collectors.base import RawRecord
from aispm.normalizer.azure_base import parent
from aispm.normalizer.schema import Fact, LineageEdge

# A registered model version (rules-v2.md PRV-002): a workspace or registry model version's ARM id, a registry
# asset URI, or the short workspace reference.
_ARM_VERSION = re.compile(r"^/subscriptions/.*/models/[^/]+/versions/[^/]+(/|$)", re.IGNORECASE)
_REGISTRY_VERSION = re.compile(r"^azureml://registries/[^/]+/models/[^/]+/versions/[^/]+$", re.IGNORECASE)
_SHORT_VERSION = re.compile(r"^azureml:([^:/@]+):([^:/@]+)$", re.IGNORECASE)


def _model(d: Mapping[str, Any]) -> str:
    props = d.get("properties")
    raw = props.get("model") if isinstance(props, Mapping) else None
    return raw.strip() if isinstance(raw, str) else ""


def registered(d: Mapping[str, Any]) -> Fact:
    """PRV-002: the managed online deployment serves a registered model version."""
    model = _model(d)
    if not model:
        return Fact(value=False, source="properties.model", observed="absent (the model is not from the registry)")
    ok = any(p.match(model) for p in (_ARM_VERSION, _REGISTRY_VERSION, _SHORT_VERSION))
    return Fact(value=ok, source="properties.model",
                observed=model if ok else f"{model} (not a registered model version)")


def model_uid(deployment: Mapping[str, Any]) -> str | None:
    """The model a deployment serves: ``azureml:<name>:<v>`` becomes the version's id in the deployment's
    workspace; ARM ids and registry URIs are kept as they are."""
    model = _model(deployment)
    short = _SHORT_VERSION.match(model)
    if short:
        workspace = parent(str(deployment["id"]), 2)
        return f"{workspace}/models/{short.group(1)}/versions/{short.group(2)}"
    return model or None


def public_storage(d: Mapping[str, Any]) -> Fact | None:
    """PRV-003: the datastore's storage account allows anonymous blob access; an account that could not be
    read is an evaluation error naming it; a datastore outside blob storage has nothing to judge."""
    uri = location(d)
    verdict = d.get("storageAccount")
    if uri is None:
        return None
    if not isinstance(verdict, Mapping) or "error" in verdict:
        why = verdict.get("error") if isinstance(verdict, Mapping) else "the storage account was not read"
        return Fact(value=False, source="storage location", observed="unreadable",
                    error=f"Location not read: {uri}: {why}")
    name = account_name(str(verdict.get("id") or ""))
    return Fact(value=verdict.get("public") is True,
                source=f"properties.allowBlobPublicAccess of storage account {name} ({uri})",
                observed=str(verdict.get("allowBlobPublicAccess") or "absent (default false)"))


class Lineage:
    """What spans a subscription's records: the deployments of each online endpoint."""

    def __init__(self, records: Sequence[RawRecord]) -> None:
        self.deployments: dict[str, list[str]] = {}
        for r in records:
            if r.type == DEPLOYMENT.kind:
                uid = str(r.data["id"])
                self.deployments.setdefault(parent(uid).lower(), []).append(uid)

    def endpoint(self, d: Mapping[str, Any]) -> tuple[LineageEdge, ...]:
        return tuple(LineageEdge(rel="serves", uid=u) for u in self.deployments.get(str(d["id"]).lower(), []))

    @staticmethod
    def deployment(d: Mapping[str, Any]) -> tuple[LineageEdge, ...]:
        model = model_uid(d)
        return (LineageEdge(rel="serves", uid=model),) if model else ()

    @staticmethod
    def datastore(d: Mapping[str, Any]) -> tuple[LineageEdge, ...]:
        uri = location(d)
        return (LineageEdge(rel="uses", uid=uri),) if uri else ()
