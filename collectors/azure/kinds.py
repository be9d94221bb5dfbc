"""The Azure kind table: every asset kind aispm reads in Azure, one row per list call.

A row says where the kind is listed from (subscription-wide under its provider namespace, or as a child
collection of a parent kind's resource), the operation name its calls are counted and reported under, the
api-version it is read with, the service its assets belong to (Machine Learning or Azure AI Services) and
which resource field holds the managed identity it runs as. The raw record's type is the asset kind. The
collector lists from the rows (parents before their children) and the mapper reads kinds, services and identity
fields from them, so a new kind is one row here plus its mapper (and a test).

Pure (no SDK import): the normalizer reads it without the Azure SDK.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

ML_NAMESPACE = "providers/Microsoft.MachineLearningServices"
ML_API = "2025-12-01"   # Microsoft.MachineLearningServices: the newest stable shapes (rules-v1.md)
COGNITIVE_NAMESPACE = "providers/Microsoft.CognitiveServices"
COGNITIVE_API = "2025-12-01"   # Microsoft.CognitiveServices: accounts, deployments, raiPolicies, projects (rules-v2.md)
INSIGHTS_API = "2021-05-01-preview"   # Microsoft.Insights/diagnosticSettings of a resource (rules-v2.md)
# The platform's content filter (RAI) policies, casefolded: a deployment under one of them (or none) is filtered
# by the platform defaults and needs no policy read.
DEFAULT_RAI_POLICIES = frozenset({"microsoft.default", "microsoft.defaultv2"})


@dataclass(frozen=True, kw_only=True)
class AzureKind:
    kind: str                      # the asset kind, and the type of its raw records
    collection: str                # ARM collection segment of the list path
    operation: str                 # name of the list call in api_calls and errors
    parent: str | None = None      # kind whose resources hold this collection; None: subscription-wide
    namespace: str = ML_NAMESPACE  # provider namespace of a subscription-wide list
    api_version: str = ML_API
    service: str = "azureml"       # the assets' service
    identity: str | None = None    # resource field with the managed identity (AISPM-IAM-001)

    def list_path(self, subscription_id: str, parent_id: str | None = None) -> str:
        """The ARM list path: under the parent resource's id, or subscription-wide under the namespace."""
        if self.parent is None:
            return f"/subscriptions/{subscription_id}/{self.namespace}/{self.collection}"
        if not parent_id:
            raise ValueError(f"{self.kind} is listed under a {self.parent}: its resource id is needed")
        return f"{parent_id}/{self.collection}"

    def identity_block(self, data: Mapping[str, Any]) -> Any:
        """The resource's managed identity block (None when the kind runs as no identity aispm analyzes)."""
        return data.get(self.identity) if self.identity else None


WORKSPACE = AzureKind(kind="workspace", collection="workspaces", operation="workspaces.list", identity="identity")
REGISTRY = AzureKind(kind="registry", collection="registries", operation="registries.list")
COMPUTE = AzureKind(kind="compute", collection="computes", operation="computes.list", parent="workspace",
                    identity="identity")
ENDPOINT = AzureKind(kind="endpoint", collection="onlineEndpoints", operation="onlineEndpoints.list",
                     parent="workspace", identity="identity")
DEPLOYMENT = AzureKind(kind="deployment", collection="deployments", operation="onlineDeployments.list",
                       parent="endpoint")
BATCH_ENDPOINT = AzureKind(kind="batch_endpoint", collection="batchEndpoints", operation="batchEndpoints.list",
                           parent="workspace")
DATASTORE = AzureKind(kind="datastore", collection="datastores", operation="datastores.list", parent="workspace")

# Azure AI Services, Azure OpenAI and Azure AI Foundry: Cognitive Services accounts of every kind, their Foundry
# projects and model deployments. Projects are listed before deployments: a parent's child lists stop at the
# first that fails, and a deployment list refused alone must not hide the projects.
AI_SERVICES_ACCOUNT = AzureKind(kind="ai_services_account", collection="accounts", operation="accounts.list",
                                namespace=COGNITIVE_NAMESPACE, api_version=COGNITIVE_API, service="azureai",
                                identity="identity")
AI_PROJECT = AzureKind(kind="ai_project", collection="projects", operation="projects.list",
                       parent="ai_services_account", api_version=COGNITIVE_API, service="azureai", identity="identity")
MODEL_DEPLOYMENT = AzureKind(kind="model_deployment", collection="deployments", operation="accounts.deployments.list",
                             parent="ai_services_account", api_version=COGNITIVE_API, service="azureai")

# In listing order: subscription-wide lists first; a parent's children in this order, each right after its parent.
KINDS: tuple[AzureKind, ...] = (WORKSPACE, REGISTRY, AI_SERVICES_ACCOUNT, COMPUTE, ENDPOINT, DEPLOYMENT,
                                BATCH_ENDPOINT, DATASTORE, AI_PROJECT, MODEL_DEPLOYMENT)
ROWS: Mapping[str, AzureKind] = {k.kind: k for k in KINDS}
TOP_LEVEL: tuple[AzureKind, ...] = tuple(k for k in KINDS if k.parent is None)
CHILDREN: Mapping[str, tuple[AzureKind, ...]] = {
    k.kind: tuple(c for c in KINDS if c.parent == k.kind) for k in KINDS
}
