"""The compliance view: findings rolled up per requirement of a framework, for auditors.

A pure function of the findings and the catalog, so the same numbers come out
of a live scan, a replayed findings file or a test.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from aispm.rules.catalog import all_rules
from aispm.rules.finding import Finding
from aispm.rules.frameworks import FRAMEWORKS, Framework, gives_evidence
from aispm.rules.model import Rule

# (rule id, provider, asset kind, the asset details some control filters on, outcome)
EvidenceKey = tuple[str, str, str, tuple[tuple[str, str], ...], str]


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


def framework_summary(findings: Iterable[Finding], framework_ids: Sequence[str],
                      rules: Sequence[Rule] | None = None) -> dict[str, Any]:
    """``{framework_id: {"name", "version", "requirements": [...]}}`` over findings.

    Each requirement that at least one rule maps to is listed with the rules mapped to it and
    the findings of those rules: ``pass``, ``fail`` (unsuppressed failing findings only) and
    ``suppressed`` (failing findings a suppression accepted, counted apart); ``failing_rules``
    are the rules with unsuppressed Fails. A native control counts only findings of its own
    cloud on the asset kinds it covers, so SageMaker.2 sees notebook
    instances but never training jobs. Close events of vanished resources are not evaluations
    and are not counted. A native control that names asset details (SageMaker.9: data-quality job
    definitions) and a mapping restricted to some kinds (LLM06: IAM-001 on agents) count only
    those findings.
    """
    ids = check_framework_ids(framework_ids)
    keys = detail_keys(ids)
    counts: Counter[EvidenceKey] = Counter()
    for f in findings:
        if f.outcome != "closed":
            counts[(f.rule.id, f.asset.provider, f.asset.kind, said_details(f.asset.details, keys), f.outcome)] += 1
    return summary_of_evidence(counts, ids, rules)


def detail_keys(framework_ids: Sequence[str]) -> list[str]:
    """The asset details some control of these frameworks filters on: all the evidence keeps of details, so
    findings group into few keys."""
    return sorted(frozenset().union(*(FRAMEWORKS[fid].detail_keys for fid in framework_ids)))


def said_details(details: Mapping[str, Any], keys: Sequence[str]) -> tuple[tuple[str, str], ...]:
    """The asset details a finding is counted under (``keys``: ``detail_keys`` of the frameworks)."""
    return tuple([(k, str(details[k])) for k in keys if k in details]) if details else ()


def summary_of_evidence(counts: Mapping[EvidenceKey, int], framework_ids: Sequence[str],
                        rules: Sequence[Rule] | None = None) -> dict[str, Any]:
    """``framework_summary`` from findings already counted by ``evidence_key`` (closed ones left out), for a
    caller that folds a findings file without making Finding objects."""
    rules = all_rules() if rules is None else rules
    by_id = {r.id: r for r in rules}
    ids = check_framework_ids(framework_ids)
    out: dict[str, Any] = {}
    for fid in ids:
        fw = FRAMEWORKS[fid]

        def tally(rule_id: str, req_id: str, outcome: str, fw: Framework = fw) -> int:
            rule = by_id[rule_id]
            return sum(n for (rid, p, kind, said, o), n in counts.items()
                       if rid == rule_id and o == outcome
                       and gives_evidence(rule, fw, req_id, p, kind, dict(said)))

        requirements: list[dict[str, Any]] = []
        for req_id, rule_ids in _mapped_rules(fw, rules).items():
            fails = {rid: tally(rid, req_id, "fail") for rid in rule_ids}
            requirements.append({
                "id": req_id,
                "title": fw.title_of(req_id),
                "rules": rule_ids,
                "pass": sum(tally(rid, req_id, "pass") for rid in rule_ids),
                "fail": sum(fails.values()),
                "suppressed": sum(tally(rid, req_id, "suppressed") for rid in rule_ids),
                "failing_rules": [rid for rid in rule_ids if fails[rid]],
            })
        out[fid] = {"name": fw.name, "version": fw.version, "requirements": requirements}
    return out
