"""The AI asset schema: one shape for every cloud, so each rule is written once.

Posture facts are ``Fact`` objects rather than bare values: a rule needs the
normalized meaning (``value``), and an analyst reading the finding needs the
wire setting that produced it (``source`` and ``observed``). A fact that is
``None`` means the check does not apply to the asset (wrong kind, or a field the
spec says to skip when absent), so rules emit nothing for it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, SerializerFunctionWrapHandler, model_serializer

from aispm.collectors.base import ProviderName

Provider = ProviderName
Service = Literal["sagemaker", "azureml", "vertexai", "bedrock", "azureai"]


# Asset kinds of the contract; never rename one, only add.
AssetKind = Literal[
    "notebook",
    "studio_domain",
    "user_profile",
    "space",
    "model",
    "endpoint",
    "endpoint_config",
    "deployment",
    "training_job",
    "processing_job",
    "model_package_group",
    "monitoring_schedule",
    "workspace",
    "compute",
    "registry",
    "datastore",
    "batch_endpoint",
    "dataset",
    "index_endpoint",
    "notebook_runtime_template",
    "notebook_runtime",
    "custom_job",
    # rules-v2.md
    "guardrail",
    "agent",
    "knowledge_base",
    "custom_model",
    "ai_service_settings",
    "feature_group",
    "monitoring_job_definition",
    "ai_services_account",
    "model_deployment",
    "ai_project",
    "reasoning_engine",
    "tuning_job",
    "rag_corpus",
    "feature_online_store",
    "pipeline_job",
]
ASSET_KINDS: tuple[str, ...] = get_args(AssetKind)


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Fact(_Model):
    """A normalized boolean posture fact with its provenance."""

    value: bool
    source: str = Field(description="wire field the fact comes from, e.g. 'DirectInternetAccess'")
    observed: str = Field(description="the observed value as shown to analysts, e.g. 'Enabled' or 'absent'")
    error: str | None = Field(default=None, description="why the fact could not be established: the rule's "
                              "verdict is an evaluation error, never a Pass (``value`` is then meaningless)")

    @model_serializer(mode="wrap")
    def _drop_no_error(self, handler: SerializerFunctionWrapHandler) -> dict[str, object]:
        data: dict[str, object] = handler(self)
        if data.get("error") is None:
            data.pop("error", None)
        return data


class EnvVar(_Model):
    """A container environment variable; ``value`` is already redacted when secret."""

    name: str
    value: str
    secret: str | None = Field(default=None, description="why the value is a literal secret, if it is")
    container: str = ""


class Network(_Model):
    public_endpoint: Fact | None = None          # value True: reachable from the internet (NET-001)
    direct_internet_access: Fact | None = None   # value True: direct internet access (NET-002)
    public_network_access: Fact | None = None    # value True: accepts public network access (NET-003)
    egress_isolated: Fact | None = None          # value True: egress is isolated (NET-004)
    private_network: Fact | None = None          # value True: attached to a private network (NET-005)
    public_remote_access: Fact | None = None     # value True: SSH/web/remote login exposed (NET-006)


class Encryption(_Model):
    customer_managed_key: tuple[Fact, ...] = ()  # each value True: that store uses a CMK (ENC-001)
    inter_node: Fact | None = None               # value True: inter-container traffic encrypted (ENC-002)


class Access(_Model):
    root_access: Fact | None = None              # value True: root enabled (IAM-002)
    local_auth: Fact | None = None               # value True: key/local authentication (IAM-003)
    resource_policy_principals: tuple[str, ...] | None = None  # AWS account ids or '*' allowed (IAM-004)
    imds_v1: Fact | None = None                  # value True: IMDSv1 allowed (IAM-005)


class Logging(_Model):
    request_capture: Fact | None = None          # value True: request/response capture on (LOG-001)
    monitoring: Fact | None = None               # value True: model monitoring configured (LOG-002)
    invocation_logging: Fact | None = None       # value True: generative AI invocations are logged (LOG-003)


class Guardrails(_Model):
    """Generative AI safeguards: guardrails (Bedrock) and content filters (Azure OpenAI)."""

    applied: Fact | None = None                  # value True: a guardrail or content filter applies (GAI-001)
    harmful_content: Fact | None = None          # value True: blocks prompt attacks and harmful content (GAI-002)
    sensitive_information: Fact | None = None    # value True: filters sensitive information (GAI-003)


class Resilience(_Model):
    redundant: Fact | None = None                # value True: every serving unit has >= 2 instances (RES-001)


class Lifecycle(_Model):
    outdated_image: Fact | None = None           # value True: unsupported/outdated image (GOV-001)
    idle_shutdown: Fact | None = None            # value True: idle shutdown configured (GOV-002)


class Provenance(_Model):
    private_image: Fact | None = None            # value True: every image is from a private registry (PRV-001)
    registered: Fact | None = None               # value True: deployed from a registered model version (PRV-002)
    public_storage: Fact | None = None           # value True: a data/artifact location is public (PRV-003)


class Relation(_Model):
    """A link to another asset, e.g. endpoint -> endpoint_config -> model -> training_job."""

    kind: str
    uid: str
    role: str = Field(description="what the link means, e.g. 'endpoint_config', 'model', 'training_job'")


LineageRel = Literal["serves", "trained_by", "trained_on", "artifacts_in", "image", "registered_as", "based_on",
                     "uses"]


class LineageEdge(_Model):
    """One provenance edge (inventory-v1.md §Lineage): to another asset's uid or a storage location URI."""

    rel: LineageRel
    uid: str


class Asset(_Model):
    """One AI/ML resource, normalized."""

    uid: str
    provider: Provider
    service: Service
    kind: AssetKind
    name: str
    account: str
    region: str
    tags: dict[str, str] = Field(default_factory=dict)
    taggable: bool = True
    tags_known: bool = Field(default=True, description="False when tags could not be read (GOV-003: an error)")
    created: datetime | None = None
    network: Network = Field(default_factory=Network)
    encryption: Encryption = Field(default_factory=Encryption)
    access: Access = Field(default_factory=Access)
    identities: tuple[str, ...] | None = None    # identity uids the workload runs as (IAM-001); None: n/a
    environment: tuple[EnvVar, ...] | None = None  # container env (SEC-001); None: n/a or not returned
    environment_error: str | None = None         # why (part of) the environment could not be read (SEC-001)
    guardrails: Guardrails = Field(default_factory=Guardrails)
    logging: Logging = Field(default_factory=Logging)
    resilience: Resilience = Field(default_factory=Resilience)
    lifecycle: Lifecycle = Field(default_factory=Lifecycle)
    relations: tuple[Relation, ...] = ()
    lineage: tuple[LineageEdge, ...] = ()        # where it came from: data -> job -> model -> endpoint
    provenance: Provenance = Field(default_factory=Provenance)
    details: dict[str, str] = Field(default_factory=dict, description="inventory facts for the AI BOM")


class PolicyStatement(_Model):
    """One statement of an AWS IAM policy, as far as over-privilege analysis needs it."""

    policy: str
    effect: Literal["Allow", "Deny"]
    actions: tuple[str, ...] = ()
    not_actions: tuple[str, ...] = ()
    resources: tuple[str, ...] = ()
    not_resources: tuple[str, ...] = ()
    conditional: bool = False


class RoleAssignment(_Model):
    """An Azure RBAC role assignment of a principal."""

    role_definition_id: str
    scope: str


class Identity(_Model):
    """A workload identity and the grants it holds; analyzed once per scan."""

    uid: str
    provider: Provider
    kind: Literal["aws_role", "azure_principal", "gcp_service_account"]
    account: str
    name: str = ""
    statements: tuple[PolicyStatement, ...] = ()        # AWS
    role_assignments: tuple[RoleAssignment, ...] = ()   # Azure
    project_roles: tuple[str, ...] = ()                 # GCP: unconditional roles in the project policy
    default_compute_account: bool = False               # GCP Compute Engine default service account
    error: str | None = Field(default=None, description="why the identity could not be read")
