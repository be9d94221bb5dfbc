"""What AWS records get joined to them beyond their own describe call.

- A notebook instance's lifecycle configuration (SEC-001 reads its scripts): read once per configuration
  name per region however many notebooks share it. The scripts stay base64 in the record; only the
  normalizer decodes them, in memory, and keeps no script text.
- A knowledge base's data sources (ENC-001 reads their encryption): ListDataSources, then GetDataSource each.
- An agent's knowledge bases (its lineage, inventory-v1.md): ListAgentKnowledgeBases of the version GetAgent
  described, one call per agent.
- The region's Bedrock invocation logging (LOG-003): one call per region, kept as an ``ai_service_settings``
  record only where the region has a Bedrock asset or a logging configuration (rules-v2.md).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from aispm.collectors.aws.kinds import AI_SERVICE_SETTINGS, BEDROCK_KINDS
from aispm.collectors.aws.session import GONE, error_code, strip_metadata
from aispm.collectors.base import CollectResult, RawRecord, ScopeError, ScopeUnit, one_line

ErrorOf = Callable[[ScopeUnit, str], ScopeError]
# Runs a function over items on the scope's pool, results in order (``TaskGraph.map``).
Mapper = Callable[[Callable[[Any], Any], list[Any]], list[Any]]


def lifecycle_configs(sm: Any, result: CollectResult, error: ErrorOf, pool: Mapper) -> None:
    """Join each notebook's lifecycle configuration (``LifecycleConfig``) or why it is unreadable."""
    notebooks = [r for r in result.records
                 if r.type == "notebook" and r.data.get("NotebookInstanceLifecycleConfigName")]
    names = sorted({str(r.data["NotebookInstanceLifecycleConfigName"]) for r in notebooks})
    if not names:
        return

    def one(name: str) -> dict[str, Any] | str:
        try:
            answer = sm.describe_notebook_instance_lifecycle_config(NotebookInstanceLifecycleConfigName=name)
        except (ClientError, BotoCoreError) as exc:
            return one_line(exc)
        return {k: answer.get(k) or [] for k in ("OnCreate", "OnStart")}

    configs = dict(zip(names, pool(one, names), strict=True))
    for name, config in configs.items():
        if isinstance(config, str):
            result.errors.append(error(result.unit, f"describe_notebook_instance_lifecycle_config {name}: {config}"))
    for r in notebooks:
        config = configs[str(r.data["NotebookInstanceLifecycleConfigName"])]
        r.data["LifecycleConfigError" if isinstance(config, str) else "LifecycleConfig"] = config


# What a per-record join returns for a record whose resource was deleted after the list.
GONE_RECORD = "gone"


def _join_each(records: list[RawRecord], one: Callable[[RawRecord], str | None], result: CollectResult,
               error: ErrorOf, pool: Mapper) -> None:
    """Run ``one`` per record on a small pool: a string is a scope error, ``GONE_RECORD`` drops the record."""
    if not records:
        return
    outcomes = pool(one, records)
    gone = {id(r) for r, o in zip(records, outcomes, strict=True) if o == GONE_RECORD}
    result.errors.extend(error(result.unit, o) for o in outcomes if o and o != GONE_RECORD)
    result.records[:] = [r for r in result.records if id(r) not in gone]


def data_sources(agents: Any, result: CollectResult, error: ErrorOf, pool: Mapper, page_size: int) -> None:
    """Join each knowledge base's data sources (``dataSources``) or why they are unreadable
    (``DataSourcesError``); a knowledge base deleted meanwhile is dropped."""

    def one(rec: RawRecord) -> str | None:
        kb = str(rec.data["knowledgeBaseId"])
        try:
            ids = [str(s["dataSourceId"])
                   for page in agents.get_paginator("list_data_sources").paginate(
                       knowledgeBaseId=kb, PaginationConfig={"PageSize": page_size})
                   for s in page.get("dataSourceSummaries", [])]
            sources = []
            for source_id in ids:
                try:
                    got = agents.get_data_source(knowledgeBaseId=kb, dataSourceId=source_id)
                except ClientError as exc:
                    if error_code(exc) in GONE:
                        continue
                    raise
                sources.append(strip_metadata(got)["dataSource"])
        except ClientError as exc:
            if error_code(exc) in GONE:   # the knowledge base itself vanished after the list
                return GONE_RECORD
            rec.data["DataSourcesError"] = one_line(exc)
            return f"data sources of knowledge base {kb}: {one_line(exc)}"
        except BotoCoreError as exc:
            rec.data["DataSourcesError"] = one_line(exc)
            return f"data sources of knowledge base {kb}: {one_line(exc)}"
        rec.data["dataSources"] = sources
        return None

    _join_each([r for r in result.records if r.type == "knowledge_base"], one, result, error, pool)


def agent_knowledge_bases(agents: Any, result: CollectResult, error: ErrorOf, pool: Mapper, page_size: int) -> None:
    """Join each agent's knowledge bases (``knowledgeBases``, the ListAgentKnowledgeBases summaries) or why they
    are unreadable (``KnowledgeBasesError``); an agent deleted meanwhile is dropped.

    One paged call per agent, unavoidable: GetAgent's answer does not name the agent's knowledge bases, and the
    associations are listed only per agent and version. The version is the one GetAgent described (for a listed
    agent its DRAFT working version), so the edges belong to the settings the record holds."""

    def one(rec: RawRecord) -> str | None:
        agent_id = str(rec.data["agentId"])
        try:
            bases = [dict(s)
                     for page in agents.get_paginator("list_agent_knowledge_bases").paginate(
                         agentId=agent_id, agentVersion=str(rec.data.get("agentVersion") or "DRAFT"),
                         PaginationConfig={"PageSize": page_size})
                     for s in page.get("agentKnowledgeBaseSummaries", [])]
        except ClientError as exc:
            if error_code(exc) in GONE:   # the agent vanished after the list
                return GONE_RECORD
            rec.data["KnowledgeBasesError"] = one_line(exc)
            return f"knowledge bases of agent {agent_id}: {one_line(exc)}"
        except BotoCoreError as exc:
            rec.data["KnowledgeBasesError"] = one_line(exc)
            return f"knowledge bases of agent {agent_id}: {one_line(exc)}"
        rec.data["knowledgeBases"] = bases
        return None

    _join_each([r for r in result.records if r.type == "agent"], one, result, error, pool)


def invocation_logging(answer: dict[str, Any] | Exception, result: CollectResult, error: ErrorOf,
                       partition: str) -> None:
    """Add the region's ``ai_service_settings`` record where rules-v2.md says LOG-003 is emitted, from the
    answer of GetModelInvocationLoggingConfiguration (or the error it raised)."""
    unit = result.unit
    if isinstance(answer, Exception):
        result.errors.append(error(unit, f"get_model_invocation_logging_configuration: {one_line(answer)}"))
        return
    config = answer.get("loggingConfig")
    if config or any(r.type in BEDROCK_KINDS for r in result.records):
        arn = f"arn:{partition}:bedrock:{unit.region}:{unit.account}:model-invocation-logging"
        result.records.append(RawRecord(provider="aws", type=AI_SERVICE_SETTINGS, account=unit.account,
                                        region=unit.region, data={"settingsArn": arn, "loggingConfig": config}))
