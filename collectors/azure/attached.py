"""What Azure AI Services records get joined to them beyond their own list call (rules-v2.md).

Neither is an asset of its own:

- An account's diagnostic settings (LOG-003 reads their log categories): one list per account, kept on the
  account record as ``diagnosticSettings``, or why it could not be read as ``diagnosticSettingsError``.
- The content filter (RAI) policy a model deployment names (GAI-001 and GAI-002 read its filters): the
  account's ``raiPolicies`` are listed once per account, and only for accounts with a deployment that names a
  custom policy (the platform's ``Microsoft.Default`` and ``Microsoft.DefaultV2`` need no read). The policy is
  kept on the deployment as ``raiPolicy``; a list that could not be read as ``raiPoliciesError``; a name the
  list does not hold leaves neither, which the mapper reports as an evaluation error.
- The storage account a blob or Data Lake Gen2 datastore uses (PRV-003 reads ``allowBlobPublicAccess``): one
  GET per account per scan, however many datastores and subscriptions use it (a ``StorageReader`` lives as long
  as the collector), kept on the datastore as ``storageAccount`` (``id``, ``public``, ``allowBlobPublicAccess``),
  or ``id`` and ``error`` when it cannot be read (another subscription, 403, 404): the mapper reports that as an
  evaluation error naming it, never a Pass.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from aispm.collectors.azure.arm import Arm, ArmCallError
from aispm.collectors.azure.kinds import (
    AI_SERVICES_ACCOUNT,
    COGNITIVE_API,
    DATASTORE,
    DEFAULT_RAI_POLICIES,
    INSIGHTS_API,
    MODEL_DEPLOYMENT,
)
from aispm.collectors.azure.storage import STORAGE_API, account_name, storage_account_id
from aispm.collectors.base import CollectResult, RawRecord, ScopeError, ScopeUnit

ErrorOf = Callable[[ScopeUnit, str], ScopeError]
Mapper = Callable[[Callable[[Any], Any], list[Any]], list[Any]]   # the unit's pool: [fn(i) for i in items], in order


def account_of(deployment_id: str) -> str:
    """The lower-cased id of the account a deployment id sits under (``.../accounts/{a}/deployments/{d}``)."""
    return deployment_id.rstrip("/").rsplit("/", 2)[0].lower()


def custom_policy(data: dict[str, Any]) -> str | None:
    """The custom RAI policy a deployment names; None for no policy or a platform default."""
    props = data.get("properties")
    name = props.get("raiPolicyName") if isinstance(props, dict) else None
    if not isinstance(name, str) or not name or name.casefold() in DEFAULT_RAI_POLICIES:
        return None
    return name


def join(arm: Arm, result: CollectResult, error: ErrorOf, pool: Mapper) -> None:
    """Join diagnostic settings to every account and RAI policies to the deployments that name a custom one."""
    accounts = [r for r in result.records if r.type == AI_SERVICES_ACCOUNT.kind]
    if not accounts:
        return
    deployments: dict[str, list[RawRecord]] = {}
    for r in result.records:
        if r.type == MODEL_DEPLOYMENT.kind and custom_policy(r.data):
            deployments.setdefault(account_of(str(r.data["id"])), []).append(r)

    def one(account: RawRecord) -> list[str]:
        rid = str(account.data["id"])
        problems: list[str] = []
        try:
            account.data["diagnosticSettings"] = arm.list_all(
                f"{rid}/providers/Microsoft.Insights/diagnosticSettings", INSIGHTS_API, "diagnosticSettings.list")
        except ArmCallError as exc:
            account.data["diagnosticSettingsError"] = str(exc)
            problems.append(f"{AI_SERVICES_ACCOUNT.kind} {rid}: {exc}")
        mine = deployments.get(rid.lower(), [])
        if not mine:
            return problems
        try:
            policies = arm.list_all(f"{rid}/raiPolicies", COGNITIVE_API, "raiPolicies.list")
        except ArmCallError as exc:
            for d in mine:
                d.data["raiPoliciesError"] = str(exc)
            problems.append(f"{AI_SERVICES_ACCOUNT.kind} {rid}: {exc}")
            return problems
        by_name = {str(p.get("name") or "").casefold(): p for p in policies}
        for d in mine:
            policy = by_name.get(str(custom_policy(d.data)).casefold())
            if policy is not None:
                d.data["raiPolicy"] = policy
        return problems

    for problems in pool(one, accounts):
        result.errors.extend(error(result.unit, p) for p in problems)


class StorageReader:
    """Storage account verdicts for one scan, each account read once (concurrent callers wait for the first)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pending: dict[str, threading.Lock] = {}
        self._verdicts: dict[str, dict[str, Any]] = {}

    def verdict(self, arm: Arm, account_id: str) -> dict[str, Any]:
        key = account_id.lower()
        with self._lock:
            once = self._pending.setdefault(key, threading.Lock())
        with once:
            if key not in self._verdicts:
                self._verdicts[key] = self._read(arm, account_id)
            return self._verdicts[key]

    @staticmethod
    def _read(arm: Arm, account_id: str) -> dict[str, Any]:
        name = account_name(account_id)
        try:
            body = arm.get(account_id, STORAGE_API, "storageAccounts.get")
        except ArmCallError as exc:
            return {"id": account_id, "error": f"storage account {name} ({account_id}) could not be read: {exc}"}
        props = body.get("properties")
        raw = props.get("allowBlobPublicAccess") if isinstance(props, dict) else None
        shown = "true" if raw is True else "false" if raw is False else "absent (default false)"
        return {"id": account_id, "public": raw is True, "allowBlobPublicAccess": shown}


def join_storage(arm: Arm, result: CollectResult, reader: StorageReader, pool: Mapper) -> None:
    """Join its storage account's verdict to every blob or Data Lake Gen2 datastore (``storageAccount``)."""
    located = [(r, storage_account_id(r.data)) for r in result.records if r.type == DATASTORE.kind]
    wanted = sorted({a for _, a in located if a}, key=str.lower)
    if not wanted:
        return
    verdicts = {a.lower(): v for a, v in zip(wanted, pool(lambda a: reader.verdict(arm, a), wanted), strict=True)}
    for record, account in located:
        if account:
            record.data["storageAccount"] = verdicts[account.lower()]
