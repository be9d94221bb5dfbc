"""Azure Machine Learning and Azure AI Services collector: one subscription per scope unit.

Per subscription, as the kind table (``collectors.azure.kinds``) lists them:
workspaces of every kind, registries and Cognitive Services accounts of every kind
(subscription-wide lists), then per workspace its computes, online endpoints with
their deployments, batch endpoints and datastores, and per account its Foundry
projects and model deployments, on a small thread pool. Each account's diagnostic
settings, the content filter policies its deployments name and the storage account
behind each blob datastore (once per scan) are joined to the records
(``collectors.azure.attached``). The subscription's role assignments are
listed once (they include those inherited from management groups and the root)
and handed to each managed identity.
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from typing import Any

from aispm.collectors.azure import attached
from aispm.collectors.azure.arm import (
    AUTHORIZATION_API,
    SUBSCRIPTIONS_API,
    Arm,
    ArmCallError,
    ArmSettings,
    credential_error_line,
    current_settings,
    default_credential,
    make_client,
    token_problem,
)
from aispm.collectors.azure.kinds import CHILDREN, TOP_LEVEL, AzureKind
from aispm.collectors.azure.principals import principals
from aispm.collectors.base import ApiCalls, CollectResult, ProviderName, RawRecord, ScopeError, ScopeUnit


def _scope(subscription_id: str) -> str:
    return f"azure:{subscription_id}"


@dataclass
class AzureCollector:
    """Collects Azure ML records with the management client's pipeline."""

    subscriptions: tuple[str, ...] = ()
    settings: ArmSettings = field(default_factory=current_settings)
    provider: ProviderName = "azure"

    _credential: Any = field(default=None, init=False, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)
    _storage: attached.StorageReader = field(default_factory=attached.StorageReader, init=False, repr=False)

    def _shared_credential(self) -> Any:
        with self._lock:
            if self._credential is None:
                self._credential = self.settings.credential or default_credential()
            return self._credential

    def _client(self, subscription_id: str = "") -> Any:
        """A client per subscription unit; one credential (and its token cache) for the whole scan."""
        return make_client(self.settings, self._shared_credential(), subscription_id)

    def credential_problem(self) -> str | None:
        """None when the scan's credential gets a Resource Manager token; otherwise one line why not."""
        try:
            credential = self._shared_credential()
        except Exception as exc:  # noqa: BLE001 - e.g. a credential environment azure-identity refuses
            return credential_error_line(exc)
        return token_problem(replace(self.settings, credential=credential))

    # ------------------------------------------------------------------ plan

    def plan(self) -> tuple[list[ScopeUnit], list[ScopeError]]:
        """The requested subscriptions, or every Enabled one the credential can list.

        The credential is tried first: without a token no subscription can be read, and the
        failure is one plan error for the provider instead of one per call and subscription.
        """
        problem = self.credential_problem()
        if problem:
            return [], [ScopeError(provider="azure", scope="azure", error=f"cannot get an Azure token: {problem}")]
        if self.subscriptions:
            ids = list(dict.fromkeys(s.strip() for s in self.subscriptions if s.strip()))
            return [self._unit(s) for s in ids], []
        client = self._client()
        try:
            subs = Arm(client, self.settings.endpoint).list_all("/subscriptions", SUBSCRIPTIONS_API,
                                                                "subscriptions.list")
        except ArmCallError as exc:
            return [], [ScopeError(provider="azure", scope="azure", error=f"cannot list subscriptions: {exc}")]
        finally:
            client.close()
        units = [
            self._unit(str(s["subscriptionId"]), str(s.get("displayName") or ""))
            for s in subs
            if s.get("subscriptionId") and str(s.get("state", "")).casefold() == "enabled"
        ]
        return units, []

    @staticmethod
    def _unit(subscription_id: str, display_name: str = "") -> ScopeUnit:
        params = {"displayName": display_name} if display_name else {}
        return ScopeUnit(provider="azure", scope=_scope(subscription_id), account=subscription_id, params=params)

    # ------------------------------------------------------------------ collect

    def collect(self, unit: ScopeUnit) -> CollectResult:
        calls = ApiCalls()
        result = CollectResult(unit=unit)
        client = self._client(unit.account)
        arm = Arm(client, self.settings.endpoint, calls)
        try:
            self._collect(arm, unit, result)
        finally:
            client.close()
        result.api_calls = calls.as_dict()
        return result

    def _collect(self, arm: Arm, unit: ScopeUnit, result: CollectResult) -> None:
        """The subscription-wide lists of the kind table, then the child lists of each resource found
        (a workspace's computes, endpoints and their deployments, an account's projects and deployments, ...)
        on the thread pool, then what is joined to the accounts and deployments."""
        for kind in TOP_LEVEL:
            try:
                result.records.extend(self._records(arm, unit, kind))
            except ArmCallError as exc:
                result.errors.append(self._error(unit, str(exc)))
        parents = [r for r in result.records if CHILDREN[r.type]]
        if parents:
            workers = max(1, min(self.settings.workspace_workers, len(parents)))
            with ThreadPoolExecutor(max_workers=workers) as pool:
                for parent, (children, error) in zip(parents, pool.map(lambda p: self._children(arm, unit, p),
                                                                       parents), strict=True):
                    result.records.extend(children)
                    if error:
                        result.errors.append(self._error(unit, f"{parent.type} {parent.data['id']}: {error}"))
        attached.join(arm, result, self._error, self.settings.workspace_workers)
        attached.join_storage(arm, result, self._storage, self.settings.workspace_workers)
        result.identities = self._identities(arm, unit, result)

    def _children(self, arm: Arm, unit: ScopeUnit, parent: RawRecord) -> tuple[list[RawRecord], str | None]:
        """Every resource under one parent, depth first in table order; stops at its first failing call
        (the rest would fail alike)."""
        out: list[RawRecord] = []

        def walk(record: RawRecord) -> None:
            for kind in CHILDREN[record.type]:
                found = self._records(arm, unit, kind, str(record.data["id"]), record.region)
                out.extend(found)
                for child in found:
                    walk(child)

        try:
            walk(parent)
        except ArmCallError as exc:
            return out, str(exc)
        return out, None

    def _records(self, arm: Arm, unit: ScopeUnit, kind: AzureKind, parent_id: str | None = None,
                 parent_region: str = "") -> list[RawRecord]:
        items = arm.list_all(kind.list_path(unit.account, parent_id), kind.api_version, kind.operation)
        out = []
        for item in items:
            if not isinstance(item.get("id"), str) or not item["id"].startswith("/"):
                raise ArmCallError(f"{kind.operation}: malformed response: an item has no resource id")
            out.append(RawRecord(provider="azure", type=kind.kind, account=unit.account,
                                 region=str(item.get("location") or parent_region), data=_without_secrets(item)))
        return out

    # ------------------------------------------------------------------ identities

    def _identities(self, arm: Arm, unit: ScopeUnit, result: CollectResult) -> list[RawRecord]:
        """One record per managed identity principal, with every role assignment that applies to it."""
        wanted: dict[str, str] = {}
        for record in result.records:
            for pid, label in principals(record.type, record.data):
                name = (f"system-assigned identity of {record.data.get('name', '')}"
                        if label == "system-assigned" else f"{label} (user-assigned)")
                wanted.setdefault(pid, name)
        if not wanted:
            return []
        path = f"/subscriptions/{unit.account}/providers/Microsoft.Authorization/roleAssignments"
        error: str | None = None
        assignments: list[dict[str, Any]] = []
        try:
            assignments = arm.list_all(path, AUTHORIZATION_API, "roleAssignments.list")
        except ArmCallError as exc:
            error = str(exc)
            result.errors.append(self._error(unit, f"role assignments: {error}"))
        by_principal: dict[str, list[dict[str, Any]]] = {}
        for a in assignments:
            raw = a.get("properties")
            props: dict[str, Any] = raw if isinstance(raw, dict) else {}
            pid = str(props.get("principalId") or "").lower()
            if pid:
                by_principal.setdefault(pid, []).append(
                    {"id": a.get("id"), "roleDefinitionId": props.get("roleDefinitionId"),
                     "scope": props.get("scope")})
        return [
            RawRecord(provider="azure", type="principal", account=unit.account, region="",
                      data={"principalId": pid, "name": name, "roleAssignments": by_principal.get(pid.lower(), []),
                            **({"error": error} if error else {})})
            for pid, name in wanted.items()
        ]

    @staticmethod
    def _error(unit: ScopeUnit, text: str) -> ScopeError:
        return ScopeError(provider="azure", scope=unit.scope, error=text)


# Write-only secrets ARM should never return; dropped defensively so they can never reach a record.
_SECRET_PATHS: tuple[tuple[str, ...], ...] = (
    ("properties", "credentials", "secrets"),
    ("properties", "keys"),
    ("properties", "properties", "userAccountCredentials"),
)


def _without_secrets(item: dict[str, Any]) -> dict[str, Any]:
    """``item`` (freshly parsed, so edited in place) without write-only secret blocks."""
    for *parents, leaf in _SECRET_PATHS:
        cur: Any = item
        for key in parents:
            cur = cur.get(key) if isinstance(cur, dict) else None
        if isinstance(cur, dict):
            cur.pop(leaf, None)
    return item
