"""The reconcile stage between the rules and the sinks: close findings that disappeared.

A pure function over the previous state and this run's per-scope results. Only a
scope that succeeded in this run is reconciled; a failed scope keeps its state and
none of its findings is closed, since a failed listing proves nothing vanished.
Likewise a resource of a kind that this run listed only in part (jobs outside the
job window, kinds not collected) is not closed: its findings are carried over in
the state until a complete listing proves the resource gone.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from aispm.sinks.ocsf import STATUS_SUPPRESSED, closed
from aispm.sinks.state import ScopeState

VANISHED = "The resource no longer exists."
NO_LONGER_APPLIES = "The rule no longer applies to the resource."


@dataclass(frozen=True)
class ScopeRun:
    """What one scope produced in this run, as far as reconciliation needs it."""

    scope: str
    ok: bool
    findings: Sequence[dict[str, Any]]
    resource_uids: frozenset[str] = frozenset()
    unevaluated_uids: frozenset[str] = frozenset()  # findings whose rule errored this run: neither new nor gone
    partial_kinds: frozenset[str] = frozenset()     # asset kinds listed only in part (e.g. a job window)


@dataclass
class Reconciled:
    closed: list[dict[str, Any]] = field(default_factory=list)
    states: dict[str, ScopeState] = field(default_factory=dict)  # new state of every reconciled scope
    previous: dict[str, tuple[str, dict[str, Any]]] = field(default_factory=dict)  # closed uid -> (scope, stored)
    carried_over: int = 0   # unseen findings kept open: their resource was outside this run's listing
    became_suppressed: set[str] = field(default_factory=set)   # suppressed now, not in the stored finding


def _uid(finding: Mapping[str, Any]) -> str:
    return str(finding["finding_info"]["uid"])


def _status(finding: Mapping[str, Any]) -> str:
    return str((finding.get("compliance") or {}).get("status", ""))


def _resource(finding: Mapping[str, Any]) -> dict[str, Any]:
    resources = finding.get("resources") or [{}]
    return dict(resources[0]) if resources else {}


def first_seen(finding: dict[str, Any], before: Mapping[str, Any] | None) -> None:
    """Carry ``first_seen_time`` over from the stored finding while its outcome (Pass/Fail) is unchanged."""
    if before is None or _status(before) != _status(finding):
        return
    since = (before.get("finding_info") or {}).get("first_seen_time") or before.get("time")
    if isinstance(since, int):
        finding["finding_info"]["first_seen_time"] = since


def reconcile(previous: Mapping[str, ScopeState], runs: Sequence[ScopeRun], time_ms: int,
              not_applicable: Mapping[str, str] | None = None) -> Reconciled:
    """``not_applicable``: rule id -> why policy no longer evaluates it (disabled, not configured)."""
    not_applicable = not_applicable or {}
    out = Reconciled()
    for run in runs:
        if not run.ok:
            continue
        before = previous.get(run.scope, {})
        now: ScopeState = {}
        for f in run.findings:
            stored = before.get(_uid(f))
            first_seen(f, stored)
            if f.get("status_id") == STATUS_SUPPRESSED and (stored or {}).get("status_id") != STATUS_SUPPRESSED:
                out.became_suppressed.add(_uid(f))
            now[_uid(f)] = f
        for uid in run.unevaluated_uids:
            if uid not in now and uid in before:
                now[uid] = before[uid]
        for uid, finding in before.items():
            if uid in now:
                continue
            res = _resource(finding)
            rule = str((finding.get("compliance") or {}).get("control", ""))
            if res.get("uid") in run.resource_uids:
                detail = not_applicable.get(rule, NO_LONGER_APPLIES)
            elif res.get("type") in run.partial_kinds:
                now[uid] = finding   # outside this run's listing: proves nothing, stays open
                out.carried_over += 1
                continue
            else:
                detail = VANISHED
            gone = closed(finding, time_ms)
            gone["status_detail"] = detail
            out.closed.append(gone)
            out.previous[uid] = (run.scope, finding)
        out.states[run.scope] = now
    return out
