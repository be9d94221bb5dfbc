"""The AWS kind table: every asset kind aispm reads in AWS, one row per list call.

A row says which client lists the kind, where the list page keeps its items, which item field the describe
call takes, which record fields hold the asset's ARN, its name and the role it runs as. The raw record's
type is the asset kind; the normalizer reads uid, name, service and identity from the row, so a new kind is
one row here plus its mapper. Two kinds come from more than one list call (Bedrock custom and imported
models; SageMaker's four monitoring job-definition types): one row each, same kind.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, kw_only=True)
class AwsKind:
    kind: str                         # the asset kind, and the type of its raw records
    service: str                      # assets' service: "sagemaker" or "bedrock"
    client: str                       # the boto3 client that lists it
    list_op: str
    list_key: str                     # where a list page holds the items
    list_id: str                      # the item field that names it (passed to the describe call)
    uid_key: str                      # record field holding the asset's ARN
    name_key: str                     # record field holding the asset's name
    describe_op: str | None = None    # None: the list summary holds everything the rules read
    describe_arg: str = ""
    describe_key: str | None = None   # member of the describe answer that holds the resource (bedrock-agent)
    identity: str | None = None       # dotted path of the role the workload runs as (IAM-001)
    jobs: bool = False                # listed within the job window only
    search: str | None = None         # sagemaker:Search resource that serves the describe by pages
    search_path: str | None = None    # dotted path to the resource in a Search result (default: ``search``)
    fresh_key: str = "LastModifiedTime"   # list and Search must agree on it for a Search record to count
    needs: str | None = None          # listed only when this kind exists in the region
    arn_format: str | None = None     # ARN built from list fields when the summary lacks one

    def identity_of(self, data: Mapping[str, Any]) -> str | None:
        """The role ARN the record names, if any."""
        if not self.identity:
            return None
        cur: Any = data
        for part in self.identity.split("."):
            cur = cur.get(part) if isinstance(cur, Mapping) else None
        return cur if isinstance(cur, str) and cur.startswith("arn:") else None


def _sm(kind: str, list_op: str, list_key: str, name: str, arn: str, describe: bool = True,
        **extra: Any) -> AwsKind:
    """A SageMaker row: the list item's name is what Describe* takes, and the record keeps the list's keys."""
    if describe:
        extra.setdefault("describe_op", "describe_" + list_op.removeprefix("list_").removesuffix("s"))
        extra.setdefault("describe_arg", name)
    return AwsKind(kind=kind, service="sagemaker", client="sagemaker", list_op=list_op, list_key=list_key,
                   list_id=name, uid_key=arn, name_key=name, **extra)


def _monitoring_definitions(kind_type: str) -> AwsKind:
    snake = "".join("_" + c.lower() if c.isupper() else c for c in kind_type).lstrip("_")
    return AwsKind(kind="monitoring_job_definition", service="sagemaker", client="sagemaker",
                   list_op=f"list_{snake}_job_definitions", list_key="JobDefinitionSummaries",
                   list_id="MonitoringJobDefinitionName", uid_key="JobDefinitionArn", name_key="JobDefinitionName",
                   describe_op=f"describe_{snake}_job_definition", describe_arg="JobDefinitionName",
                   identity="RoleArn")


KINDS: tuple[AwsKind, ...] = (
    _sm("notebook", "list_notebook_instances", "NotebookInstances", "NotebookInstanceName",
        "NotebookInstanceArn", identity="RoleArn"),
    # Search returns each model's configuration (containers, environment, VPC, isolation, role) 100 a page,
    # under Results[].Model.Model; models are immutable, so CreationTime tells a stale index entry.
    _sm("model", "list_models", "Models", "ModelName", "ModelArn", identity="ExecutionRoleArn",
        search="Model", search_path="Model.Model", fresh_key="CreationTime"),
    _sm("endpoint_config", "list_endpoint_configs", "EndpointConfigs", "EndpointConfigName", "EndpointConfigArn"),
    # Only EndpointConfigName is needed beyond the list (the endpoint -> config -> model chain of the
    # inventory): Search returns it 100 endpoints a page; an endpoint it lacks or shows stale is described.
    _sm("endpoint", "list_endpoints", "Endpoints", "EndpointName", "EndpointArn", search="Endpoint"),
    # Search returns each training job as DescribeTrainingJob does, 100 a page, filtered to the job window.
    _sm("training_job", "list_training_jobs", "TrainingJobSummaries", "TrainingJobName", "TrainingJobArn",
        identity="RoleArn", jobs=True, search="TrainingJob"),
    _sm("processing_job", "list_processing_jobs", "ProcessingJobSummaries", "ProcessingJobName",
        "ProcessingJobArn", identity="RoleArn", jobs=True),
    AwsKind(kind="studio_domain", service="sagemaker", client="sagemaker", list_op="list_domains",
            list_key="Domains", list_id="DomainId", uid_key="DomainArn", name_key="DomainName",
            describe_op="describe_domain", describe_arg="DomainId", identity="DefaultUserSettings.ExecutionRole"),
    _sm("user_profile", "list_user_profiles", "UserProfiles", "UserProfileName", "UserProfileArn", describe=False,
        needs="studio_domain", arn_format="{base}:user-profile/{DomainId}/{UserProfileName}"),
    _sm("space", "list_spaces", "Spaces", "SpaceName", "SpaceArn", describe=False,
        needs="studio_domain", arn_format="{base}:space/{DomainId}/{SpaceName}"),
    _sm("model_package_group", "list_model_package_groups", "ModelPackageGroupSummaryList",
        "ModelPackageGroupName", "ModelPackageGroupArn", describe=False),
    _sm("monitoring_schedule", "list_monitoring_schedules", "MonitoringScheduleSummaries",
        "MonitoringScheduleName", "MonitoringScheduleArn", describe=False, needs="endpoint"),
    _sm("feature_group", "list_feature_groups", "FeatureGroupSummaries", "FeatureGroupName", "FeatureGroupArn",
        identity="RoleArn"),
    _monitoring_definitions("DataQuality"),
    _monitoring_definitions("ModelQuality"),
    _monitoring_definitions("ModelBias"),
    _monitoring_definitions("ModelExplainability"),
    # Bedrock. ListGuardrails without an identifier lists each guardrail's working draft, which GetGuardrail
    # without a version returns.
    AwsKind(kind="guardrail", service="bedrock", client="bedrock", list_op="list_guardrails",
            list_key="guardrails", list_id="id", uid_key="guardrailArn", name_key="name",
            describe_op="get_guardrail", describe_arg="guardrailIdentifier"),
    AwsKind(kind="custom_model", service="bedrock", client="bedrock", list_op="list_custom_models",
            list_key="modelSummaries", list_id="modelArn", uid_key="modelArn", name_key="modelName",
            describe_op="get_custom_model", describe_arg="modelIdentifier"),
    AwsKind(kind="custom_model", service="bedrock", client="bedrock", list_op="list_imported_models",
            list_key="modelSummaries", list_id="modelArn", uid_key="modelArn", name_key="modelName",
            describe_op="get_imported_model", describe_arg="modelIdentifier"),
    AwsKind(kind="agent", service="bedrock", client="bedrock-agent", list_op="list_agents",
            list_key="agentSummaries", list_id="agentId", uid_key="agentArn", name_key="agentName",
            describe_op="get_agent", describe_arg="agentId", describe_key="agent",
            identity="agentResourceRoleArn"),
    # Its data sources (ListDataSources, GetDataSource) are joined into the record as "dataSources".
    AwsKind(kind="knowledge_base", service="bedrock", client="bedrock-agent", list_op="list_knowledge_bases",
            list_key="knowledgeBaseSummaries", list_id="knowledgeBaseId", uid_key="knowledgeBaseArn",
            name_key="name", describe_op="get_knowledge_base", describe_arg="knowledgeBaseId",
            describe_key="knowledgeBase", identity="roleArn"),
)

# Kinds made without a list call: one per region, named here so their type string exists once.
AI_SERVICE_SETTINGS = "ai_service_settings"
# Marks that a region's monitoring schedules were listed, so "no schedule" is a fact, not a gap.
MONITORING_LISTED = "monitoring_schedules_listed"

ROWS: Mapping[str, AwsKind] = {k.kind: k for k in KINDS}
BEDROCK_KINDS = frozenset(k.kind for k in KINDS if k.service == "bedrock")
