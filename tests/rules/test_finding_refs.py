"""A unit's findings share one rule reference and one asset reference wherever they are equal: a large scan's
findings otherwise hold a copy of each per finding."""

from __future__ import annotations

from aispm.rules.catalog import rules_by_id
from aispm.rules.finding import finding_of, findings_of
from aispm.rules.model import Evaluation
from tests.support.findings import TIME_MS, aws_asset

RULES = ("AISPM-NET-002", "AISPM-ENC-001", "AISPM-NET-002")


def _evaluations() -> list[Evaluation]:
    assets = [aws_asset(0), aws_asset(1)]
    return [Evaluation(rule=rules_by_id()[r], asset=a, status="fail", detail=f"{r} on {a.name}",
                       severity=rules_by_id()[r].severity) for a in assets for r in RULES]


def test_findings_of_are_the_findings_one_by_one() -> None:
    evaluations = _evaluations()
    assert findings_of(evaluations, TIME_MS, "0.1.0", "scan-1") == [
        finding_of(ev, TIME_MS, "0.1.0", "scan-1") for ev in evaluations]


def test_equal_references_are_one_object() -> None:
    found = findings_of(_evaluations(), TIME_MS, "0.1.0", "scan-1")
    first, second = found[:3], found[3:]
    assert len({id(f.asset) for f in first}) == 1 and len({id(f.asset) for f in second}) == 1
    assert first[0].asset is not second[0].asset
    assert first[0].rule is first[2].rule and first[0].rule is not first[1].rule
    assert {id(f.rule) for f in first} == {id(f.rule) for f in second}   # same rules, same mappings
