"""Small helpers every provider mapper shares."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Any

from aispm.collectors.base import RawRecord
from aispm.normalizer.providers import PROVIDERS
from aispm.normalizer.schema import Fact, LineageEdge, LineageRel

ABSENT = "absent"


def dig(data: Mapping[str, Any] | None, path: str) -> Any:
    """Value at a dotted path, or None when any step is missing."""
    cur: Any = data
    for part in path.split("."):
        if not isinstance(cur, Mapping):
            return None
        cur = cur.get(part)
    return cur


def shown(value: Any, default: str | None = None) -> str:
    """How an observed wire value is shown to analysts."""
    if value is None or value == {}:
        return f"{ABSENT} (default {default})" if default else ABSENT
    if isinstance(value, bool):
        return str(value).lower()
    return str(value)


def fact(value: bool, source: str, observed: Any, default: str | None = None) -> Fact:
    return Fact(value=value, source=source, observed=shown(observed, default))


def not_equal_fact(raw: Any, bad_unless: str, source: str, default: str, *, casefold: bool = False) -> Fact:
    """Fact that is True when ``raw`` (absent means ``default``) differs from ``bad_unless``."""
    effective = default if raw is None else str(raw)
    differs = effective.casefold() != bad_unless.casefold() if casefold else effective != bad_unless
    return fact(differs, source, raw, default)


def parse_time(value: Any) -> dt.datetime | None:
    if isinstance(value, dt.datetime):
        return value if value.tzinfo else value.replace(tzinfo=dt.UTC)
    if isinstance(value, str) and value:
        try:
            parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return None
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)
    return None


def present(value: Any) -> bool:
    """A configuration block counts only when non-empty (``{}`` and ``[]`` mean absent)."""
    return value not in (None, "", {}, [])


def identity_fields(rec: RawRecord, kind: str, uid: str, name: str, tags: Mapping[str, str],
                    created: Any, *, service: str | None = None, **extra: Any) -> dict[str, Any]:
    """The identity part of an Asset that every provider fills the same way from a raw record
    (``service`` defaults to the provider's first)."""
    return {
        "uid": uid,
        "provider": rec.provider,
        "service": service or PROVIDERS[rec.provider].services[0],
        "kind": kind,
        "name": name,
        "account": rec.account,
        "region": rec.region,
        "tags": dict(tags),
        "created": parse_time(created),
        **extra,
    }


def edges(*pairs: tuple[LineageRel, Any]) -> tuple[LineageEdge, ...]:
    """Lineage edges from (relation, uid or location) pairs: empty targets dropped, each edge once, in order."""
    out: list[LineageEdge] = []
    for rel, uid in pairs:
        if isinstance(uid, str) and uid and not any(e.rel == rel and e.uid == uid for e in out):
            out.append(LineageEdge(rel=rel, uid=uid))
    return tuple(out)


def location_exposure(verdicts: Sequence[tuple[str, str, Any]]) -> Fact | None:
    """AISPM-PRV-003 over (location, bucket, verdict) triples, a verdict being ``{"public": bool, "why": str}``
    or ``{"error": str}`` (None: not read). Fail when any readable location is public; else an evaluation error
    when any could not be read; else Pass. No location: nothing to judge."""
    if not verdicts:
        return None
    public = [(uri, b, v) for uri, b, v in verdicts if isinstance(v, Mapping) and v.get("public") is True]
    if public:
        return Fact(value=True, source="storage location",
                    observed="; ".join(f"{uri}: bucket {b} is public ({v['why']})" for uri, b, v in public))
    unread = [(uri, v) for uri, _, v in verdicts if not isinstance(v, Mapping) or "error" in v]
    if unread:
        why = "; ".join(f"{uri}: {v.get('error') if isinstance(v, Mapping) else 'not read'}" for uri, v in unread)
        return Fact(value=False, source="storage location", observed="unreadable", error=f"Location not read: {why}")
    return Fact(value=False, source="storage location",
                observed="; ".join(f"{b}: {v.get('why')}" for _, b, v in verdicts))
