"""Azure Machine Learning and Azure AI Services collector: one subscription per scope unit.

Per subscription, as the kind table (``collectors.azure.kinds``) lists them:
workspaces of every kind, registries and Cognitive Services accounts of every kind
(subscription-wide lists), then per workspace its computes, online endpoints with
their deployments, batch endpoints and datastores, and per account its Foundry
projects and model deployments, all on one pool of ``scope_workers`` calls in flight, each
request paced by the subscription's Resource Manager rate limit. Each account's diagnostic
settings, the content filter policies its deployments name and the storage account
behind each blob datastore (once per scan) are joined to the records
(``collectors.azure.attached``). The subscription's role assignments are
listed once (they include those inherited from management groups and the root)
and handed to each managed identity.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
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
from aispm.collectors.ratelimit import RateLimits
from aispm.collectors.tasks import TaskGraph


def _scope(subscription_id: str) -> str:
    return f"azure:{subscription_id}"


@dataclass
class AzureCollector:
    """Collects Azure ML records with the management client's pipeline."""

    subscriptions: tuple[str, ...] = ()
    settings: ArmSettings = field(default_factory=current_settings)
    limits: RateLimits = field(default_factory=RateLimits)   # one Resource Manager bucket per subscription
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
        return make_client(self.settings, self._shared_credential(), subscription_id, self.limits)

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
        """Every call of the subscription on one task graph of ``scope_workers`` calls in flight: the
        subscription-wide lists of the kind table together, each parent's child lists as soon as the parent is
        listed (a workspace's computes, endpoints and their deployments, an account's projects and deployments,
        ...), then what is joined to accounts, deployments and datastores next to the role assignments.
        Records and errors come out as the serial walk made them (kind table, list order, depth first)."""
        with TaskGraph(self.settings.scope_workers) as graph:
            tops = [_Listing(kind) for kind in TOP_LEVEL]
            for listing in tops:
                self._start(graph, arm, unit, listing)
            graph.run()
            for listing in tops:
                if listing.error is not None:
                    result.errors.append(self._error(unit, listing.error))
                result.records.extend(r for r, _ in listing.found or [])
            for listing in tops:
                for parent, children in listing.found or []:
                    error = _assemble(children, result.records)
                    if error:
                        result.errors.append(self._error(unit, f"{parent.type} {parent.data['id']}: {error}"))
            wanted = self._wanted_principals(result)
            assignments: list[tuple[list[dict[str, Any]], str | None]] = []
            if wanted:
                path = f"/subscriptions/{unit.account}/providers/Microsoft.Authorization/roleAssignments"
                graph.add(arm.list_all, path, AUTHORIZATION_API, "roleAssignments.list",
                          then=lambda found, exc: assignments.append(_outcome(found, exc)), first=True)
            attached.join(arm, result, self._error, graph.map)
            attached.join_storage(arm, result, self._storage, graph.map)
            graph.run()
        if wanted:
            result.identities = self._identities(unit, result, wanted, *assignments[0])

    def _start(self, graph: TaskGraph, arm: Arm, unit: ScopeUnit, listing: _Listing,
               after: Callable[[], None] | None = None) -> None:
        """List ``listing``'s kind, then start the child lists of what it found and call ``after``."""

        def then(found: list[RawRecord] | None, exc: Exception | None) -> None:
            if isinstance(exc, ArmCallError):
                listing.error = str(exc)
            elif exc is not None:
                raise exc
            else:
                listing.found = [(r, [_Listing(k, r) for k in CHILDREN[r.type]]) for r in found or []]
                for _, children in listing.found:
                    if children:
                        self._start_children(graph, arm, unit, children)
            if after is not None:
                after()

        parent_id = str(listing.parent.data["id"]) if listing.parent else None
        region = listing.parent.region if listing.parent else ""
        graph.add(self._records, arm, unit, listing.kind, parent_id, region, then=then, first=True)

    def _start_children(self, graph: TaskGraph, arm: Arm, unit: ScopeUnit, children: list[_Listing]) -> None:
        """One parent's child lists: the first alone, the others together once it answered, so a parent that
        is denied or gone as a whole costs one call (the serial walk stopped at it too)."""
        first, rest = children[0], children[1:]

        def after() -> None:
            if first.error is None:
                for listing in rest:
                    self._start(graph, arm, unit, listing)

        self._start(graph, arm, unit, first, after)

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

    @staticmethod
    def _wanted_principals(result: CollectResult) -> dict[str, str]:
        """Principal id -> display name of every managed identity the records run as."""
        wanted: dict[str, str] = {}
        for record in result.records:
            for pid, label in principals(record.type, record.data):
                name = (f"system-assigned identity of {record.data.get('name', '')}"
                        if label == "system-assigned" else f"{label} (user-assigned)")
                wanted.setdefault(pid, name)
        return wanted

    def _identities(self, unit: ScopeUnit, result: CollectResult, wanted: dict[str, str],
                    assignments: list[dict[str, Any]], error: str | None) -> list[RawRecord]:
        """One record per managed identity principal, with every role assignment that applies to it (the
        subscription's role assignments are listed once, those inherited from above included)."""
        if error:
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


@dataclass
class _Listing:
    """One list call of the walk: a kind, subscription-wide or under a parent resource; once answered, each
    resource found with the listings of its children, or why the call failed."""

    kind: AzureKind
    parent: RawRecord | None = None
    found: list[tuple[RawRecord, list[_Listing]]] | None = None
    error: str | None = None


def _assemble(listings: list[_Listing], out: list[RawRecord]) -> str | None:
    """Add the records of one parent's child listings to ``out`` as the serial walk read them (each kind's
    resources, then each one's children, depth first in table order); stop at the first failed list and
    return its error (the walk stopped there: the rest would fail alike)."""
    for listing in listings:
        if listing.error is not None:
            return listing.error
        found = listing.found or []
        out.extend(r for r, _ in found)
        for _, children in found:
            error = _assemble(children, out)
            if error:
                return error
    return None


def _outcome(found: Any, exc: Exception | None) -> tuple[list[dict[str, Any]], str | None]:
    """A list task's items, or no items and why the call failed."""
    if isinstance(exc, ArmCallError):
        return [], str(exc)
    if exc is not None:
        raise exc
    return list(found or []), None


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
