"""Building raw AWS records the way the collector produces them, and reading one rule's verdicts on them."""

from __future__ import annotations

from typing import Any

from aispm.collectors.base import RawRecord
from aispm.normalizer import normalize, normalize_identities
from aispm.rules.engine import evaluate


def record(type_: str, data: dict[str, Any], account: str = "123456789012", region: str = "us-east-1") -> RawRecord:
    return RawRecord(provider="aws", type=type_, account=account, region=region, data=data)


ACCT = "123456789012"
BASE = f"arn:aws:sagemaker:us-east-1:{ACCT}"


def verdicts(records: list[RawRecord], rule: str, identities: list[RawRecord] | None = None,
             known: tuple[str, ...] = (ACCT,), tags: tuple[str, ...] = ()) -> list[tuple[str, str]]:
    from aispm.rules.policy import Policy

    assets = normalize("aws", records)
    ids = {i.uid: i for i in normalize_identities("aws", identities or [])}
    policy = Policy.model_validate({"required_tags": list(tags)}) if tags else None
    return [(e.status, e.detail) for e in evaluate(assets, ids, policy, known_accounts=known).evaluations
            if e.rule.id == rule]


def one(type_: str, data: dict[str, Any], rule: str, **kw: Any) -> tuple[str, str] | None:
    found = verdicts([record(type_, data)], rule, **kw)
    assert len(found) <= 1
    return found[0] if found else None


def pj(**extra: Any) -> dict[str, Any]:
    return {"ProcessingJobArn": f"{BASE}:processing-job/pj", "ProcessingJobName": "pj", **extra}


def tj(**extra: Any) -> dict[str, Any]:
    return {"TrainingJobArn": f"{BASE}:training-job/tj", "TrainingJobName": "tj", **extra}
