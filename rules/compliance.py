"""The compliance view: findings rolled up per requirement of a framework, for auditors.

A pure function of the findings and the catalog, so the same numbers come out
of a live scan, a replayed findings file or a test.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from normalizer.schema import PROVIDER_DISPLAY
from rules.catalog import all_rules
from rules.frameworks import FRAMEWORKS, Framework
from rules.model import Rule

_PROVIDER_OF_DISPLAY = {display: key for key, display in PROVIDER_DISPLAY.items()}
_ACTIVITY_CLOSE = 3


class UnknownFramework(ValueError):
    """A framework id the catalog does not have."""


def check_framework_ids(ids: Iterable[str]) -> list[str]:
    """The ids, deduplicated in order; UnknownFramework names the first unknown one and the choices."""
    out = list(dict.fromkeys(ids))
    for fid in out:
        if fid not in FRAMEWORKS:
            choices = ", ".join(FRAMEWORKS)
            raise UnknownFramework(f"unknown framework {fid!r} (choose from {choices})")
    return out


def _mapped_rules(fw: Framework, rules: Sequence[Rule]) -> dict[str, list[str]]:
    """Requirement id -> rule ids mapped to it, in the framework's own requirement order."""
    by_req: dict[str, list[str]] = {}
    for rule in rules:
        for req in rule.compliance.get(fw.id, ()):
            by_req.setdefault(req, []).append(rule.id)
    return {r.id: by_req[r.id] for r in fw.requirements if r.id in by_req}


def framework_summary(findings: Iterable[Mapping[str, Any]], framework_ids: Sequence[str],
                      rules: Sequence[Rule] | None = None) -> dict[str, Any]:
    """``{framework_id: {"name", "version", "requirements": [...]}}`` over OCSF findings.

    Each requirement that at least one rule maps to is listed with the rules
    mapped to it and the Pass/Fail findings of those rules (``fail`` counts
    every Fail, like summary.json's totals; ``suppressed`` says how many of
    them a suppression accepted). Native control sets count only findings of
    their own cloud. Close events of vanished resources are not evaluations
    and are not counted.
    """
    rules = all_rules() if rules is None else rules
    counts: dict[str, dict[tuple[str, str], int]] = {}   # rule id -> (provider, status) -> n
    suppressed: dict[str, dict[str, int]] = {}            # rule id -> provider -> n
    for f in findings:
        if f.get("activity_id") == _ACTIVITY_CLOSE:
            continue
        rule_id = f["compliance"]["control"]
        status = str(f["compliance"]["status"]).lower()
        provider = _PROVIDER_OF_DISPLAY.get(f["cloud"]["provider"], f["cloud"]["provider"])
        per_rule = counts.setdefault(rule_id, {})
        per_rule[(provider, status)] = per_rule.get((provider, status), 0) + 1
        if status == "fail" and f.get("status_id") == 3:
            sup = suppressed.setdefault(rule_id, {})
            sup[provider] = sup.get(provider, 0) + 1

    def tally(rule_id: str, status: str, only: str | None) -> int:
        return sum(n for (p, s), n in counts.get(rule_id, {}).items() if s == status and only in (None, p))

    out: dict[str, Any] = {}
    for fid in check_framework_ids(framework_ids):
        fw = FRAMEWORKS[fid]
        only = fw.provider
        requirements: list[dict[str, Any]] = []
        for req_id, rule_ids in _mapped_rules(fw, rules).items():
            fails = {rid: tally(rid, "fail", only) for rid in rule_ids}
            requirements.append({
                "id": req_id,
                "title": fw.title_of(req_id),
                "rules": rule_ids,
                "pass": sum(tally(rid, "pass", only) for rid in rule_ids),
                "fail": sum(fails.values()),
                "suppressed": sum(n for rid in rule_ids for p, n in suppressed.get(rid, {}).items()
                                  if only in (None, p)),
                "failing_rules": [rid for rid in rule_ids if fails[rid]],
            })
        out[fid] = {"name": fw.name, "version": fw.version, "requirements": requirements}
    return out
