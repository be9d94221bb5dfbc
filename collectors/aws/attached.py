"""What AWS records get joined to them beyond their own describe call.

- A notebook instance's lifecycle configuration (SEC-001 reads its scripts): read once per configuration
  name per region however many notebooks share it. The scripts stay base64 in the record; only the
  normalizer decodes them, in memory, and keeps no script text.
- A knowledge base's data sources (ENC-001 reads their encryption): ListDataSources, then GetDataSource each.
- The region's Bedrock invocation logging (LOG-003): one call per region, kept as an ``ai_service_settings``
  record only where the region has a Bedrock asset or a logging configuration (rules-v2.md).
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from aispm.collectors.aws.kinds import AI_SERVICE_SETTINGS, BEDROCK_KINDS
from aispm.collectors.aws.session import GONE, error_code, strip_metadata
from aispm.collectors.base import CollectResult, RawRecord, ScopeError, ScopeUnit, one_line

ErrorOf = Callable[[ScopeUnit, str], ScopeError]


def fan_out(one: Callable[[str], dict[str, Any] | str | None], names: list[str], workers: int, unit: ScopeUnit,
            result: CollectResult, record: Callable[[dict[str, Any]], RawRecord], error: ErrorOf) -> None:
    """Run ``one`` per name on a small pool: a dict becomes a record, a string a scope error, None nothing."""
    if not names:
        return
    with ThreadPoolExecutor(max_workers=max(1, min(workers, len(names)))) as pool:
        for outcome in pool.map(one, names):
            if isinstance(outcome, str):
                result.errors.append(error(unit, outcome))
            elif outcome is not None:
                result.records.append(record(outcome))


def lifecycle_configs(sm: Any, result: CollectResult, error: ErrorOf, workers: int) -> None:
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

    with ThreadPoolExecutor(max_workers=max(1, min(workers, len(names)))) as pool:
        configs = dict(zip(names, pool.map(one, names), strict=True))
    for name, config in configs.items():
        if isinstance(config, str):
            result.errors.append(error(result.unit, f"describe_notebook_instance_lifecycle_config {name}: {config}"))
    for r in notebooks:
        config = configs[str(r.data["NotebookInstanceLifecycleConfigName"])]
        r.data["LifecycleConfigError" if isinstance(config, str) else "LifecycleConfig"] = config


def data_sources(agents: Any, result: CollectResult, error: ErrorOf, workers: int, page_size: int) -> None:
    """Join each knowledge base's data sources (``dataSources``) or why they are unreadable
    (``DataSourcesError``); a knowledge base deleted meanwhile is dropped."""
    bases = [r for r in result.records if r.type == "knowledge_base"]
    if not bases:
        return

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
                return "gone"
            rec.data["DataSourcesError"] = one_line(exc)
            return f"data sources of knowledge base {kb}: {one_line(exc)}"
        except BotoCoreError as exc:
            rec.data["DataSourcesError"] = one_line(exc)
            return f"data sources of knowledge base {kb}: {one_line(exc)}"
        rec.data["dataSources"] = sources
        return None

    with ThreadPoolExecutor(max_workers=max(1, min(workers, len(bases)))) as pool:
        outcomes = list(pool.map(one, bases))
    gone = {id(r) for r, o in zip(bases, outcomes, strict=True) if o == "gone"}
    result.errors.extend(error(result.unit, o) for o in outcomes if o and o != "gone")
    result.records[:] = [r for r in result.records if id(r) not in gone]


def invocation_logging(bedrock: Any, result: CollectResult, error: ErrorOf, partition: str) -> None:
    """Add the region's ``ai_service_settings`` record where rules-v2.md says LOG-003 is emitted."""
    unit = result.unit
    try:
        config = bedrock.get_model_invocation_logging_configuration().get("loggingConfig")
    except (ClientError, BotoCoreError) as exc:
        result.errors.append(error(unit, f"get_model_invocation_logging_configuration: {one_line(exc)}"))
        return
    if config or any(r.type in BEDROCK_KINDS for r in result.records):
        arn = f"arn:{partition}:bedrock:{unit.region}:{unit.account}:model-invocation-logging"
        result.records.append(RawRecord(provider="aws", type=AI_SERVICE_SETTINGS, account=unit.account,
                                        region=unit.region, data={"settingsArn": arn, "loggingConfig": config}))
