"""The rule predicates: each reads normalized facts, so one predicate serves all three clouds.

The per-cloud wire semantics (which field, what an absent field means) live in
the normalizer's mappers; a predicate returns None when its fact is absent,
which means the rule does not apply to that asset.
"""

from __future__ import annotations

from collections.abc import Callable

from aispm.normalizer.schema import Asset, Fact
from aispm.rules.model import Context, Outcome


def _said(fact: Fact) -> str:
    return f"{fact.source} is {fact.observed}"


def fact_check(get: Callable[[Asset], Fact | None], fail_if: bool, consequence: str) -> Callable[
    [Asset, Context], Outcome | None
]:
    """A check that fails when the fact's value equals ``fail_if``."""

    def check(asset: Asset, _ctx: Context) -> Outcome | None:
        fact = get(asset)
        if fact is None:
            return None
        if fact.error:
            return Outcome("error", fact.error)
        if fact.value == fail_if:
            return Outcome("fail", f"{_said(fact)}: {consequence}.")
        return Outcome("pass", f"{_said(fact)}.")

    return check


def customer_managed_key(asset: Asset, _ctx: Context) -> Outcome | None:
    facts = asset.encryption.customer_managed_key
    if not facts:
        return None
    if unknown := [f.error for f in facts if f.error]:
        return Outcome("error", "; ".join(unknown))
    missing = [f for f in facts if not f.value]
    if missing:
        said = "; ".join(_said(f) for f in missing)
        return Outcome("fail", f"{said}: data at rest is encrypted with a provider-managed key only.")
    return Outcome("pass", "; ".join(_said(f) for f in facts) + ".")


def over_privileged(asset: Asset, ctx: Context) -> Outcome | None:
    if asset.identities is None:
        return None
    if not asset.identities:
        return Outcome("pass", "The workload runs with no identity of its own.")
    findings: list[str] = []
    for uid in asset.identities:
        identity = ctx.identities.get(uid)
        if identity is None:
            return Outcome("error", f"Identity {uid} was not collected, so its permissions are unknown.")
        if identity.error:
            return Outcome("error", f"Identity {uid} could not be read: {identity.error}")
        grants = ctx.identities.grants(identity)
        if grants:
            findings.append(f"{uid} holds {', '.join(grants)}")
    if findings:
        return Outcome("fail", "; ".join(findings) + ".")
    return Outcome("pass", f"{', '.join(asset.identities)} holds no administrator-level grant.")


def shared_publicly(asset: Asset, ctx: Context) -> Outcome | None:
    principals = asset.access.resource_policy_principals
    if principals is None:
        return None
    if not principals:
        return Outcome("pass", "The resource policy grants no principal outside the account, or there is none.")
    if "*" in principals:
        return Outcome("fail", "The resource policy allows the principal '*' (anyone).")
    unknown = sorted(p for p in principals if p not in ctx.known_accounts)
    if unknown:
        return Outcome("fail", f"The resource policy allows accounts outside the scanned set: {', '.join(unknown)}.")
    return Outcome("pass", f"The resource policy allows only known accounts: {', '.join(sorted(principals))}.")


def plaintext_secret(asset: Asset, _ctx: Context) -> Outcome | None:
    if asset.environment is None and not asset.environment_error:
        return None
    hits = [v for v in asset.environment or () if v.secret]
    if hits:   # a secret that was seen fails whatever could not be read besides
        names = ", ".join(f"{v.container + ':' if v.container else ''}{v.name} ({v.secret})" for v in hits)
        return Outcome("fail", f"Environment variable holds a literal secret: {names}.")
    if asset.environment_error:
        return Outcome("error", asset.environment_error)
    return Outcome("pass", f"None of the {len(asset.environment or ())} environment variables holds a literal secret.")


def required_tags(asset: Asset, ctx: Context) -> Outcome | None:
    if not ctx.required_tags or not asset.taggable:
        return None
    if not asset.tags_known:
        return Outcome("error", "The resource's tags could not be read, so required tags cannot be checked.")
    missing = [t for t in ctx.required_tags if t not in asset.tags]
    if missing:
        return Outcome("fail", f"Required tag keys missing: {', '.join(missing)}.")
    return Outcome("pass", f"All required tag keys are present: {', '.join(ctx.required_tags)}.")
