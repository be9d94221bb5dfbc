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
from dataclasses import dataclass
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


@dataclass(frozen=True)
class _Join:
    """A read joined to every record of one kind: its answer goes to ``key``, why it failed to ``error_key``."""

    kind: str
    key: str
    error_key: str
    what: Callable[[RawRecord], str]   # names the read in a scope error, e.g. "data sources of knowledge base X"


def _join_each(join: _Join, read: Callable[[RawRecord], Any], result: CollectResult, error: ErrorOf,
               pool: Mapper) -> None:
    """``read`` each record of ``join.kind`` on the scope's pool: the answer is joined to the record, a failure is
    an error field and a scope error, and a record whose resource vanished after the list is dropped."""
    records = [r for r in result.records if r.type == join.kind]
    if not records:
        return

    def one(rec: RawRecord) -> str | None:
        try:
            rec.data[join.key] = read(rec)
        except ClientError as exc:
            if error_code(exc) in GONE:   # the resource itself vanished after the list
                return GONE_RECORD
            rec.data[join.error_key] = one_line(exc)
            return f"{join.what(rec)}: {one_line(exc)}"
        except BotoCoreError as exc:
            rec.data[join.error_key] = one_line(exc)
            return f"{join.what(rec)}: {one_line(exc)}"
        return None

    outcomes = pool(one, records)
    gone = {id(r) for r, o in zip(records, outcomes, strict=True) if o == GONE_RECORD}
    result.errors.extend(error(result.unit, o) for o in outcomes if o and o != GONE_RECORD)
    result.records[:] = [r for r in result.records if id(r) not in gone]


def data_sources(agents: Any, result: CollectResult, error: ErrorOf, pool: Mapper, page_size: int) -> None:
    """Join each knowledge base's data sources (``dataSources``) or why they are unreadable
    (``DataSourcesError``); a knowledge base deleted meanwhile is dropped."""

    def read(rec: RawRecord) -> list[dict[str, Any]]:
        kb = str(rec.data["knowledgeBaseId"])
        ids = [str(s["dataSourceId"])
               for page in agents.get_paginator("list_data_sources").paginate(
                   knowledgeBaseId=kb, PaginationConfig={"PageSize": page_size})
               for s in page.get("dataSourceSummaries", [])]
        sources = []
        for source_id in ids:
            try:
                got = agents.get_data_source(knowledgeBaseId=kb, dataSourceId=source_id)
            except ClientError as exc:
                if error_code(exc) in GONE:   # this source vanished after the list; the knowledge base did not
                    continue
                raise
            sources.append(strip_metadata(got)["dataSource"])
        return sources

    join = _Join("knowledge_base", "dataSources", "DataSourcesError",
                 lambda rec: f"data sources of knowledge base {rec.data['knowledgeBaseId']}")
    _join_each(join, read, result, error, pool)


def agent_knowledge_bases(agents: Any, result: CollectResult, error: ErrorOf, pool: Mapper, page_size: int) -> None:
    """Join each agent's knowledge bases (``knowledgeBases``, the ListAgentKnowledgeBases summaries) or why they
    are unreadable (``KnowledgeBasesError``); an agent deleted meanwhile is dropped.

    One paged call per agent, unavoidable: GetAgent's answer does not name the agent's knowledge bases, and the
    associations are listed only per agent and version. The version is the one GetAgent described (for a listed
    agent its DRAFT working version), so the edges belong to the settings the record holds."""

    def read(rec: RawRecord) -> list[dict[str, Any]]:
        return [dict(s)
                for page in agents.get_paginator("list_agent_knowledge_bases").paginate(
                    agentId=str(rec.data["agentId"]), agentVersion=str(rec.data.get("agentVersion") or "DRAFT"),
                    PaginationConfig={"PageSize": page_size})
                for s in page.get("agentKnowledgeBaseSummaries", [])]

    join = _Join("agent", "knowledgeBases", "KnowledgeBasesError",
                 lambda rec: f"knowledge bases of agent {rec.data['agentId']}")
    _join_each(join, read, result, error, pool)


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
