"""The AI inventory a scan exports (inventory-v1.md): its assets and what their findings say of them.

The CSV, the AI-BOM and the report are rendered from one ``Inventory``. Building it folds the findings in a
single pass (they may be a stream read back from a findings file), so no export holds the findings
themselves: per asset, per rule and per cloud counts, and the framework views, are all it keeps.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from aispm.normalizer.schema import Asset
from aispm.rules.compliance import framework_summary
from aispm.rules.finding import Finding
from aispm.rules.frameworks import FRAMEWORKS
from aispm.rules.model import Severity

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


@dataclass
class Inventory:
    assets: list[Asset]
    per_asset: dict[str, AssetTally]
    rules: dict[str, RuleTally]
    fail_by: Counter[tuple[str, Severity]]      # (provider, rule severity) -> unsuppressed failing findings
    outcomes: Counter[str]                      # pass / fail / suppressed / closed
    by_provider: Counter[tuple[str, str]]       # (provider, outcome) -> findings
    frameworks: dict[str, Any]                  # framework_summary over every framework of the catalog
    summary: dict[str, Any]
    product_version: str

    @classmethod
    def build(cls, assets: Iterable[Asset], findings: Iterable[Finding], summary: Mapping[str, Any],
              product_version: str) -> Inventory:
        """Sort the assets and fold the findings (consumed once)."""
        per_asset: dict[str, AssetTally] = {}
        rules: dict[str, RuleTally] = {}
        fail_by: Counter[tuple[str, Severity]] = Counter()
        outcomes: Counter[str] = Counter()
        by_provider: Counter[tuple[str, str]] = Counter()

        def tapped(stream: Iterable[Finding]) -> Iterator[Finding]:
            for f in stream:
                outcome = f.outcome
                outcomes[outcome] += 1
                by_provider[(f.asset.provider, outcome)] += 1
                if outcome == "pass":
                    per_asset.setdefault(f.asset.uid, AssetTally()).passed += 1
                elif outcome == "fail":
                    tally = per_asset.setdefault(f.asset.uid, AssetTally())
                    tally.fail[f.severity] += 1
                    tally.rules_failed.add(f.rule.id)
                    fail_by[(f.asset.provider, f.severity)] += 1
                    rule = rules.get(f.rule.id)
                    if rule is None:
                        rule = rules[f.rule.id] = RuleTally(f.rule.id, f.rule.title, f.severity,
                                                            f.rule.remediation or f.rule.title)
                    rule.severity = max(rule.severity, f.severity)
                    rule.fail_by_provider[f.asset.provider] += 1
                yield f

        # framework_summary reads the findings in one pass; the tallies are taken on the way.
        frameworks = framework_summary(tapped(findings), list(FRAMEWORKS))
        return cls(assets=sorted(assets, key=sort_key), per_asset=per_asset, rules=rules, fail_by=fail_by,
                   outcomes=outcomes, by_provider=by_provider, frameworks=frameworks, summary=dict(summary),
                   product_version=product_version)

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
