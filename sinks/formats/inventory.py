"""The AI inventory a scan exports (inventory-v1.md): its assets and what their findings say of them.

The CSV, the AI-BOM and the report are rendered from one ``Inventory``. Building it folds the findings in a
single pass (they may be a stream read back from a findings file), so no export holds the findings
themselves: per asset, per rule and per cloud counts, and the counts the framework views are made of, are
all it keeps. ``Tallies.add`` takes a finding's few fields rather than a Finding, so ``aispm export`` folds
a findings file without making Finding objects; the framework views (only the report shows them) are
summarized, and the rule catalog loaded, only when asked for.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Any

from aispm.normalizer.schema import Asset
from aispm.rules.compliance import EvidenceKey, detail_keys, said_details, summary_of_evidence
from aispm.rules.frameworks import FRAMEWORKS
from aispm.rules.model import Severity

if TYPE_CHECKING:
    from aispm.rules.finding import Finding, Outcome

INVENTORY_CSV = "inventory.csv"
AIBOM_FILE = "aibom.cdx.json"
REPORT_FILE = "report.html"
INVENTORY_FILES = (INVENTORY_CSV, AIBOM_FILE, REPORT_FILE)
# ``aispm export --format`` name -> file name and media type.
FORMATS: dict[str, tuple[str, str]] = {
    "csv": (INVENTORY_CSV, "text/csv; charset=utf-8"),
    "cyclonedx": (AIBOM_FILE, "application/vnd.cyclonedx+json"),
    "html": (REPORT_FILE, "text/html; charset=utf-8"),
}
FAIL_SEVERITIES = (Severity.critical, Severity.high, Severity.medium, Severity.low)


@dataclass
class AssetTally:
    """An asset's findings: unsuppressed Fails by the rule's severity, Passes, and the rules it fails."""

    fail: Counter[Severity] = field(default_factory=Counter)
    passed: int = 0
    rules_failed: set[str] = field(default_factory=set)

    @property
    def failing(self) -> int:
        return sum(self.fail.values())


@dataclass
class RuleTally:
    """A rule's failing findings per cloud, with the remediation text analysts follow."""

    id: str
    title: str
    severity: Severity
    remediation: str
    fail_by_provider: Counter[str] = field(default_factory=Counter)

    @property
    def failing(self) -> int:
        return sum(self.fail_by_provider.values())


def sort_key(asset: Asset) -> tuple[str, str, str, str, str, str]:
    """The inventory order (inventory-v1.md): provider, account, region, kind, name (uid breaks ties)."""
    return (asset.provider, asset.account, asset.region, asset.kind, asset.name, asset.uid)


# What the exports read of one finding: its asset's uid, cloud and kind, the asset details the framework views
# count it under (``said_details``), its rule's id, title and remediation (else the title), the rule's severity
# after policy overrides, and the outcome. A plain tuple: a findings file of 100,000 is folded into these.
Verdict = tuple[str, str, str, tuple[tuple[str, str], ...], str, str, str, Severity, "Outcome"]
DETAIL_KEYS = detail_keys(list(FRAMEWORKS))   # the asset details any framework view counts findings under


@dataclass
class Tallies:
    """The findings folded one at a time: what every export reads of them."""

    per_asset: dict[str, AssetTally] = field(default_factory=dict)
    rules: dict[str, RuleTally] = field(default_factory=dict)
    fail_by: Counter[tuple[str, Severity]] = field(default_factory=Counter)   # (provider, rule severity) -> Fails
    outcomes: Counter[str] = field(default_factory=Counter)                   # pass / fail / suppressed / closed
    by_provider: Counter[tuple[str, str]] = field(default_factory=Counter)    # (provider, outcome) -> findings
    evidence: Counter[EvidenceKey] = field(default_factory=Counter)           # what the framework views count

    def add(self, v: Verdict) -> None:
        """One finding."""
        uid, provider, kind, said, rule_id, title, remediation, severity, outcome = v
        self.outcomes[outcome] += 1
        self.by_provider[(provider, outcome)] += 1
        if outcome == "closed":
            return
        self.evidence[(rule_id, provider, kind, said, outcome)] += 1
        if outcome == "suppressed":
            return
        tally = self.per_asset.get(uid)
        if tally is None:
            tally = self.per_asset[uid] = AssetTally()
        if outcome == "pass":
            tally.passed += 1
        else:
            tally.fail[severity] += 1
            tally.rules_failed.add(rule_id)
            self.fail_by[(provider, severity)] += 1
            rule = self.rules.get(rule_id)
            if rule is None:
                rule = self.rules[rule_id] = RuleTally(rule_id, title, severity, remediation)
            elif severity > rule.severity:
                rule.severity = severity
            rule.fail_by_provider[provider] += 1

    def add_finding(self, f: Finding) -> None:
        self.add((f.asset.uid, f.asset.provider, f.asset.kind, said_details(f.asset.details, DETAIL_KEYS), f.rule.id,
                  f.rule.title, f.rule.remediation or f.rule.title, f.severity, f.outcome))


@dataclass
class Inventory:
    assets: list[Asset]
    tallies: Tallies
    summary: dict[str, Any]
    product_version: str

    @classmethod
    def build(cls, assets: Iterable[Asset], findings: Iterable[Finding], summary: Mapping[str, Any],
              product_version: str) -> Inventory:
        """Sort the assets and fold the findings (consumed once)."""
        tallies = Tallies()
        for f in findings:
            tallies.add_finding(f)
        return cls.of(assets, tallies, summary, product_version)

    @classmethod
    def of(cls, assets: Iterable[Asset], tallies: Tallies, summary: Mapping[str, Any],
           product_version: str) -> Inventory:
        """Sort the assets; the findings are folded already."""
        return cls(assets=sorted(assets, key=sort_key), tallies=tallies, summary=dict(summary),
                   product_version=product_version)

    @property
    def per_asset(self) -> dict[str, AssetTally]:
        return self.tallies.per_asset

    @property
    def rules(self) -> dict[str, RuleTally]:
        return self.tallies.rules

    @property
    def fail_by(self) -> Counter[tuple[str, Severity]]:
        return self.tallies.fail_by

    @property
    def outcomes(self) -> Counter[str]:
        return self.tallies.outcomes

    @property
    def by_provider(self) -> Counter[tuple[str, str]]:
        return self.tallies.by_provider

    @cached_property
    def frameworks(self) -> dict[str, Any]:
        """framework_summary over every framework of the catalog (the report's framework views)."""
        return summary_of_evidence(self.tallies.evidence, list(FRAMEWORKS))

    def tally(self, uid: str) -> AssetTally:
        return self.per_asset.get(uid) or AssetTally()

    @property
    def scan_id(self) -> str:
        return str(self.summary.get("scan_id") or "")

    @property
    def timestamp(self) -> dt.datetime:
        """When the scan finished (else started, else now): the AI-BOM's and the report's time."""
        for key in ("finished", "started"):
            value = self.summary.get(key)
            if isinstance(value, str):
                try:
                    when = dt.datetime.fromisoformat(value)
                except ValueError:
                    continue
                return when if when.tzinfo else when.replace(tzinfo=dt.UTC)
        return dt.datetime.now(dt.UTC)

    def scope_errors(self) -> list[dict[str, str]]:
        """Scopes that failed, then rules that could not be decided, as the summary recorded them."""
        out = [{"provider": str(s.get("provider", "")), "scope": str(s.get("scope", "")),
                "error": str(s.get("error", ""))}
               for s in self.summary.get("scopes") or [] if isinstance(s, Mapping) and s.get("status") == "error"]
        out += [{"provider": "", "scope": str(e.get("scope", "")),
                 "error": f"{e.get('rule', '')} on {e.get('resource', '')}: {e.get('error', '')}"}
                for e in self.summary.get("evaluation_errors") or [] if isinstance(e, Mapping)]
        return out
