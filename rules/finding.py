"""The one finding model, from the engine through reconcile to the sinks.

A finding is typed and frozen: its outcome is an enum, its suppression and closure are fields, not
status-code literals. The wire formats (OCSF, ASFF, Parquet, HEC events) are made from it only inside
the sinks that need them; rules never import a sink format.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from enum import StrEnum
from functools import lru_cache
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from aispm.normalizer.schema import Asset
from aispm.rules.frameworks import compliance_refs
from aispm.rules.model import Evaluation, Severity

_FINDING_NAMESPACE = uuid.UUID("5d6f3c1e-8a3b-4f5e-9a51-6b1f3f2a9c40")

Outcome = Literal["pass", "fail", "suppressed", "closed"]


@lru_cache(maxsize=16384)   # asked several times per finding as it goes through state, files and sinks
def finding_uid(rule_id: str, resource_uid: str) -> str:
    """Deterministic from (rule id, resource uid) only, so SIEMs update rather than duplicate."""
    return str(uuid.uuid5(_FINDING_NAMESPACE, f"{rule_id}|{resource_uid}"))


class Status(StrEnum):
    """A rule's verdict on an asset (errors never become findings)."""

    PASS = "pass"  # noqa: S105 - an outcome, not a password
    FAIL = "fail"


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class AssetRef(_Frozen):
    """What a finding says of its resource (enough to write it again once the resource is gone)."""

    uid: str
    provider: str
    service: str
    kind: str
    name: str
    account: str
    region: str
    tags: dict[str, str] = Field(default_factory=dict)
    details: dict[str, Any] = Field(default_factory=dict)

    @classmethod
    def of(cls, asset: Asset) -> AssetRef:
        return cls(uid=asset.uid, provider=asset.provider, service=asset.service, kind=asset.kind, name=asset.name,
                   account=asset.account, region=asset.region, tags=dict(asset.tags), details=dict(asset.details))


class RuleRef(_Frozen):
    """What a finding says of its rule, as the catalog had it when the finding was made."""

    id: str
    title: str
    pass_title: str = ""
    description: str = ""
    remediation: str = ""
    references: tuple[str, ...] = ()
    standards: tuple[str, ...] = ()       # frameworks the rule maps to on this asset's cloud and kind
    requirements: tuple[str, ...] = ()    # their requirement ids


class Finding(_Frozen):
    """One (rule, asset) verdict of a scan, or its closure by the lifecycle."""

    rule: RuleRef
    asset: AssetRef
    status: Status
    severity: Severity                 # the rule's severity after policy overrides
    detail: str                        # one sentence naming the setting (secrets redacted)
    suppression: str | None = None     # the justification, when a suppression accepted a Fail
    closed: str | None = None          # why the lifecycle closed it; None while it is open
    time_ms: int                       # the scan (or, closed, the closing scan)
    first_seen_ms: int
    last_seen_ms: int
    scan_id: str = ""
    product_version: str = ""

    @property
    def uid(self) -> str:
        return finding_uid(self.rule.id, self.asset.uid)

    @property
    def suppressed(self) -> bool:
        return self.suppression is not None

    @property
    def outcome(self) -> Outcome:
        """``pass``, ``fail``, ``suppressed`` (an accepted Fail, counted apart everywhere) or ``closed``
        (re-issued by the lifecycle: no longer an outcome of this run)."""
        if self.closed is not None:
            return "closed"
        if self.status is Status.PASS:
            return "pass"
        return "suppressed" if self.suppressed else "fail"

    @property
    def reported_severity(self) -> Severity:
        """A Pass is informational; the rule's own severity stays in ``severity``."""
        return Severity.informational if self.status is Status.PASS else self.severity


class _Refs:
    """One frozen RuleRef per distinct rule reference and one AssetRef per asset, shared by the findings that
    carry them: a scan's findings otherwise hold a copy of each per finding (most of their memory)."""

    def __init__(self) -> None:
        self.rules: dict[tuple[Any, ...], RuleRef] = {}
        self.assets: dict[int, tuple[Asset, AssetRef]] = {}   # id(asset) -> (asset kept alive, its ref)

    def rule(self, ev: Evaluation) -> RuleRef:
        rule, asset = ev.rule, ev.asset
        standards, requirements = compliance_refs(rule, asset.provider, asset.kind, asset.details)
        key = (rule.id, rule.title, rule.pass_title, rule.description, rule.remediation.text, rule.references,
               tuple(standards), tuple(requirements))
        ref = self.rules.get(key)
        if ref is None:
            ref = self.rules[key] = RuleRef(id=key[0], title=key[1], pass_title=key[2], description=key[3],
                                            remediation=key[4], references=key[5], standards=key[6],
                                            requirements=key[7])
        return ref

    def asset(self, asset: Asset) -> AssetRef:
        held = self.assets.get(id(asset))
        if held is None:
            held = self.assets[id(asset)] = (asset, AssetRef.of(asset))
        return held[1]


def finding_of(ev: Evaluation, time_ms: int, product_version: str, scan_id: str = "",
               refs: _Refs | None = None) -> Finding:
    """The finding of one evaluation (Pass or Fail; errors are never findings)."""
    if ev.status == "error":
        raise ValueError("an evaluation error is not a finding")
    refs = refs or _Refs()
    return Finding(
        rule=refs.rule(ev),
        asset=refs.asset(ev.asset),
        status=Status(ev.status),
        severity=ev.severity,
        detail=ev.detail,
        suppression=ev.suppression,
        time_ms=time_ms,
        first_seen_ms=time_ms,
        last_seen_ms=time_ms,
        scan_id=scan_id,
        product_version=product_version,
    )


def findings_of(evaluations: Iterable[Evaluation], time_ms: int, product_version: str,
                scan_id: str = "") -> list[Finding]:
    """The findings of a unit's evaluations, sharing one rule and one asset reference between findings
    wherever they are equal (frozen, so sharing is safe)."""
    refs = _Refs()
    return [finding_of(ev, time_ms, product_version, scan_id, refs) for ev in evaluations]
