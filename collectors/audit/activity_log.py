"""The Azure Activity Log of one subscription, through the posture collector's azure-core pipeline.

``GET /subscriptions/{id}/providers/Microsoft.Insights/eventtypes/management/values`` with a ``$filter`` on
``eventTimestamp``, paged by ``nextLink``; kept: records of the AI resource providers and the
``Microsoft.Insights`` operations on a Cognitive Services account (its diagnostic settings).
"""

from __future__ import annotations

import datetime as dt
from typing import Any
from urllib.parse import quote

from aispm.collectors.audit import AuditSourceError
from aispm.collectors.azure.arm import Arm, ArmCallError

API_VERSION = "2015-04-01"
AI_PROVIDERS = frozenset({"microsoft.cognitiveservices", "microsoft.machinelearningservices"})
_COGNITIVE_ACCOUNT = "/providers/microsoft.cognitiveservices/accounts/"


def _iso(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _provider(record: dict[str, Any]) -> str:
    value = record.get("resourceProviderName")
    return str((value.get("value") if isinstance(value, dict) else value) or "").casefold()


def wanted(record: dict[str, Any]) -> bool:
    """A record of an AI resource provider, or a Microsoft.Insights operation on a Cognitive Services account."""
    provider = _provider(record)
    if provider in AI_PROVIDERS:
        return True
    return provider == "microsoft.insights" and _COGNITIVE_ACCOUNT in str(record.get("resourceId") or "").casefold()


def activity_records(arm: Arm, subscription: str, start: dt.datetime, end: dt.datetime) -> list[dict[str, Any]]:
    """Every wanted Activity Log record of ``subscription`` from ``start`` to ``end`` (both inclusive in the
    API's filter: the caller keeps the half-open window). AuditSourceError when a page cannot be read."""
    flt = f"eventTimestamp ge '{_iso(start)}' and eventTimestamp le '{_iso(end)}'"
    url = (f"/subscriptions/{quote(subscription, safe='')}/providers/Microsoft.Insights/eventtypes/management/values"
           f"?$filter={quote(flt, safe='')}")
    try:
        records = arm.list_all(url, API_VERSION, "activityLogs.list")
    except ArmCallError as exc:
        raise AuditSourceError(f"Activity Log: {exc}") from exc
    return [r for r in records if wanted(r)]
