"""Evaluate the catalog over normalized assets, applying the team's policy."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from aispm.normalizer.schema import Asset, Identity
from aispm.rules.catalog import all_rules
from aispm.rules.identity import IdentityVerdicts
from aispm.rules.model import Context, Evaluation, Rule
from aispm.rules.policy import Policy, Suppression


@dataclass
class EngineResult:
    evaluations: list[Evaluation] = field(default_factory=list)
    expired_suppressions: list[Suppression] = field(default_factory=list)

    @property
    def errors(self) -> list[Evaluation]:
        return [e for e in self.evaluations if e.status == "error"]

    @property
    def findings(self) -> list[Evaluation]:
        """Evaluations that become findings (errors are reported, never emitted as Pass or Fail)."""
        return [e for e in self.evaluations if e.status != "error"]


def active_rules(policy: Policy) -> list[Rule]:
    disabled = set(policy.rules.disabled)
    out = []
    for rule in all_rules():
        if rule.id in disabled or (rule.requires_config and not policy.required_tags):
            continue
        out.append(rule)
    return out


def _applies(rule: Rule, asset: Asset) -> bool:
    kinds = rule.kinds.get(asset.provider)
    return kinds is not None and (kinds == ("*",) or asset.kind in kinds)


def evaluate(
    assets: Iterable[Asset],
    identities: Mapping[str, Identity] | None = None,
    policy: Policy | None = None,
    known_accounts: Iterable[str] = (),
    today: dt.date | None = None,
) -> EngineResult:
    """Every applicable (rule, asset) pair, in asset order then catalog order."""
    policy = policy or Policy()
    today = today or dt.datetime.now(dt.UTC).date()
    ctx = Context(
        identities=IdentityVerdicts(identities or {}),
        known_accounts=frozenset(known_accounts),
        required_tags=tuple(policy.required_tags),
    )
    rules = active_rules(policy)
    live: Sequence[Suppression] = [s for s in policy.suppressions if not s.expired(today)]
    result = EngineResult(expired_suppressions=[s for s in policy.suppressions if s.expired(today)])
    for asset in assets:
        for rule in rules:
            if not _applies(rule, asset):
                continue
            outcome = rule.check(asset, ctx)
            if outcome is None:
                continue
            severity = policy.rules.severity.get(rule.id, rule.severity)
            suppression = next((s for s in live if s.matches(rule.id, asset)), None)
            result.evaluations.append(
                Evaluation(
                    rule=rule,
                    asset=asset,
                    status=outcome.status,
                    detail=outcome.detail,
                    severity=severity,
                    suppression=suppression.justification if suppression and outcome.status == "fail" else None,
                )
            )
    return result
