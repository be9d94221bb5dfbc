"""The reconcile stage between the rules and the sinks: close findings that disappeared.

A pure function over the previous state and this run's per-scope results. Only a
scope that succeeded in this run is reconciled; a failed scope keeps its state and
none of its findings is closed, since a failed listing proves nothing vanished.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sinks.ocsf import closed
from sinks.state import ScopeState

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


@dataclass
class Reconciled:
    closed: list[dict[str, Any]] = field(default_factory=list)
    states: dict[str, ScopeState] = field(default_factory=dict)  # new state of every reconciled scope


def reconcile(previous: Mapping[str, ScopeState], runs: Sequence[ScopeRun], time_ms: int) -> Reconciled:
    out = Reconciled()
    for run in runs:
        if not run.ok:
            continue
        before = previous.get(run.scope, {})
        now: ScopeState = {f["finding_info"]["uid"]: f for f in run.findings}
        for uid in run.unevaluated_uids:
            if uid not in now and uid in before:
                now[uid] = before[uid]
        for uid, finding in before.items():
            if uid in now:
                continue
            gone = closed(finding, time_ms)
            resources = finding.get("resources") or [{}]
            if resources[0].get("uid") in run.resource_uids:
                gone["status_detail"] = NO_LONGER_APPLIES
            else:
                gone["status_detail"] = VANISHED
            out.closed.append(gone)
        out.states[run.scope] = now
    return out
