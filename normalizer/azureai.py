"""Azure AI Services raw records (ARM JSON, Microsoft.CognitiveServices api-version 2025-12-01) -> AI assets:
accounts of every kind (Azure OpenAI, AI Services, ...), their model deployments and Azure AI Foundry projects.

Defaults for absent fields are rules-v2.md's: public network access Enabled and network ACLs Allow, key source
Microsoft.CognitiveServices, local (key) authentication on, a deployment without a content filter policy under
the platform's default filters, a missing content filter disabled. What the collector could not read (the
diagnostic settings, the account's content filter policies, a custom policy the account does not hold) makes
the fact an evaluation error, never a Pass.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from aispm.collectors.azure.kinds import AI_PROJECT, AI_SERVICES_ACCOUNT, DEFAULT_RAI_POLICIES, MODEL_DEPLOYMENT
from aispm.collectors.base import RawRecord
from aispm.normalizer.azure_base import base, details, fold, identities, obj, parent
from aispm.normalizer.common import dig, fact, present, shown
from aispm.normalizer.schema import Access, Asset, Encryption, Fact, Guardrails, Logging, Network, Relation

# LOG-003: a diagnostic setting logs model invocations when one of its enabled log entries is of these.
LOGGED_CATEGORIES = frozenset({"audit", "requestresponse"})
LOGGED_CATEGORY_GROUPS = frozenset({"audit", "alllogs"})
# GAI-002: each must be enabled and blocking on prompts and on completions; Jailbreak (prompts) as well.
HARMFUL_CONTENT = ("Hate", "Sexual", "Violence", "Selfharm")
SOURCES = ("Prompt", "Completion")


def _public_network_access(p: Mapping[str, Any]) -> Fact:
    """True (public access accepted) unless public network access is Disabled or the ACLs deny by default."""
    access, action = p.get("publicNetworkAccess"), dig(p, "networkAcls.defaultAction")
    if fold(access) == "disabled":
        return fact(False, "properties.publicNetworkAccess", access)
    if fold(action) == "deny":
        return fact(False, "properties.networkAcls.defaultAction", action)
    return Fact(value=True, source="properties.publicNetworkAccess and properties.networkAcls.defaultAction",
                observed=f"{shown(access, 'Enabled')} and {shown(action, 'Allow')}")


def _logged_entries(settings: list[Any]) -> list[str]:
    """'<setting>: <category or group>' for every enabled log entry that records model invocations."""
    out = []
    for setting in settings:
        for entry in dig(setting, "properties.logs") or []:
            if not isinstance(entry, Mapping) or entry.get("enabled") is not True:
                continue
            if fold(entry.get("category")) in LOGGED_CATEGORIES or fold(
                    entry.get("categoryGroup")) in LOGGED_CATEGORY_GROUPS:
                out.append(f"{setting.get('name')}: {entry.get('category') or entry.get('categoryGroup')}")
    return out


def _invocation_logging(d: Mapping[str, Any]) -> Fact:
    source = "diagnosticSettings"
    if d.get("diagnosticSettingsError"):
        return Fact(value=False, source=source, observed="unreadable",
                    error=f"The diagnostic settings could not be read: {d['diagnosticSettingsError']}")
    settings = d.get("diagnosticSettings")
    if not isinstance(settings, list):
        return Fact(value=False, source=source, observed="not read", error="The diagnostic settings were not read.")
    if not settings:
        return fact(False, source, "none")
    logged = _logged_entries(settings)
    if logged:
        return fact(True, f"{source}[].properties.logs", "; ".join(logged))
    names = ", ".join(str(s.get("name")) for s in settings)
    return fact(False, f"{source}[].properties.logs",
                f"no enabled Audit or RequestResponse category or audit or allLogs group ({names})")


def _log_categories(d: Mapping[str, Any]) -> str:
    """Every enabled log category or group of the account's diagnostic settings, for the inventory."""
    found = [str(e.get("category") or e.get("categoryGroup"))
             for s in d.get("diagnosticSettings") or [] for e in dig(s, "properties.logs") or []
             if isinstance(e, Mapping) and e.get("enabled") is True]
    return ",".join(dict.fromkeys(found))


def ai_services_account(rec: RawRecord, _ctx: object) -> Asset:
    d = rec.data
    p = obj(d.get("properties"), "properties")
    key_source = dig(p, "encryption.keySource")
    local = p.get("disableLocalAuth")
    return Asset(
        **base(rec),
        network=Network(public_network_access=_public_network_access(p)),
        encryption=Encryption(customer_managed_key=(
            fact(fold(key_source) == "microsoft.keyvault", "properties.encryption.keySource", key_source,
                 "Microsoft.CognitiveServices"),)),
        access=Access(local_auth=fact(local is not True, "properties.disableLocalAuth", local, "false")),
        identities=identities(rec),
        logging=Logging(invocation_logging=_invocation_logging(d)),
        details=details(account_kind=d.get("kind"), sku=dig(d, "sku.name"), endpoint=p.get("endpoint"),
                        public_network_access=p.get("publicNetworkAccess"),
                        network_default_action=dig(p, "networkAcls.defaultAction"), key_source=key_source,
                        log_categories=_log_categories(d)),
    )


def _enabled_and_blocking(filters: list[Mapping[str, Any]], name: str, source: str | None = None) -> bool:
    return any(fold(f.get("name")) == name.casefold() and (source is None or fold(f.get("source")) == source.casefold())
               and f.get("enabled") is True and f.get("blocking") is True for f in filters)


def _filter_facts(name: str, policy: Mapping[str, Any]) -> tuple[Fact, Fact]:
    """GAI-001 and GAI-002 from a custom policy's content filters (a missing filter counts as disabled)."""
    filters = [f for f in dig(policy, "properties.contentFilters") or [] if isinstance(f, Mapping)]
    source = f"raiPolicies[{name}].properties.contentFilters"
    enabled = sum(f.get("enabled") is True for f in filters)
    applied = fact(enabled > 0, source, f"{enabled} of {len(filters)} content filters enabled")
    weak = [] if _enabled_and_blocking(filters, "Jailbreak") else ["Jailbreak"]
    weak += [f"{kind} on {side}" for kind in HARMFUL_CONTENT for side in SOURCES
             if not _enabled_and_blocking(filters, kind, side)]
    if weak:
        return applied, fact(False, source, f"not enabled and blocking: {', '.join(weak)}")
    return applied, fact(True, source, f"Jailbreak and {', '.join(HARMFUL_CONTENT)} on prompts and completions "
                                       "enabled and blocking")


def _guardrails(d: Mapping[str, Any], p: Mapping[str, Any]) -> Guardrails:
    name = p.get("raiPolicyName")
    source = "properties.raiPolicyName"
    if not present(name) or fold(name) in DEFAULT_RAI_POLICIES:
        default = fact(True, source, name, "the platform's default content filters")
        return Guardrails(applied=default, harmful_content=default)
    if d.get("raiPoliciesError"):
        unreadable = Fact(value=False, source=source, observed=str(name),
                          error=f"The account's content filter policies could not be read, so policy {name} is "
                                f"unknown: {d['raiPoliciesError']}")
        return Guardrails(applied=unreadable, harmful_content=unreadable)
    policy = d.get("raiPolicy")
    if not isinstance(policy, Mapping):
        # rules-v2.md, Clarifications: no policy details -> GAI-001 is an evaluation error, GAI-002 emits nothing.
        return Guardrails(applied=Fact(value=False, source=source, observed=str(name),
                                       error=f"Content filter policy {name} is not among the account's raiPolicies, "
                                             "so the filters that apply are unknown."))
    applied, harmful = _filter_facts(str(name), policy)
    return Guardrails(applied=applied, harmful_content=harmful)


def _filters_shown(policy: Any) -> str:
    """The verdict's inputs for the inventory: each filter's name, source, enabled and blocking."""
    return "; ".join(
        f"{f.get('name')}/{f.get('source') or '-'}: {'enabled' if f.get('enabled') is True else 'disabled'}"
        f"{', blocking' if f.get('blocking') is True else ''}"
        for f in dig(policy, "properties.contentFilters") or [] if isinstance(f, Mapping))


def model_deployment(rec: RawRecord, _ctx: object) -> Asset:
    d = rec.data
    uid = str(d["id"])
    p = obj(d.get("properties"), "properties")
    model = obj(p.get("model"), "properties.model")
    policy = d.get("raiPolicy")
    return Asset(
        **base(rec),
        guardrails=_guardrails(d, p),
        relations=(Relation(kind=AI_SERVICES_ACCOUNT.kind, uid=parent(uid), role=AI_SERVICES_ACCOUNT.kind),),
        details=details(model_format=model.get("format"), model_name=model.get("name"),
                        model_version=model.get("version"), rai_policy=p.get("raiPolicyName"),
                        rai_policy_mode=dig(policy, "properties.mode"), content_filters=_filters_shown(policy),
                        sku=dig(d, "sku.name"), capacity=dig(d, "sku.capacity")),
    )


def ai_project(rec: RawRecord, _ctx: object) -> Asset:
    d = rec.data
    p = obj(d.get("properties"), "properties")
    return Asset(
        **base(rec),
        identities=identities(rec),
        relations=(Relation(kind=AI_SERVICES_ACCOUNT.kind, uid=parent(str(d["id"])), role=AI_SERVICES_ACCOUNT.kind),),
        details=details(display_name=p.get("displayName"), default_project=p.get("isDefault")),
    )


MAPPERS: dict[str, Callable[[RawRecord, Any], Asset]] = {
    AI_SERVICES_ACCOUNT.kind: ai_services_account,
    MODEL_DEPLOYMENT.kind: model_deployment,
    AI_PROJECT.kind: ai_project,
}
