"""The reconcile stage between the rules and the sinks: close findings that disappeared.

A pure function over the previous state and this run's per-scope results. The stored state holds each
finding's OCSF object (what was delivered); this stage reads it back into Findings. The new state holds this
run's Findings themselves: the store makes each OCSF object only as it writes it. Only a
scope that succeeded in this run is reconciled; a failed scope keeps its state and
none of its findings is closed, since a failed listing proves nothing vanished.
Likewise a resource of a kind that this run listed only in part (jobs outside the
job window, kinds not collected) is not closed: its findings are carried over in
the state until a complete listing proves the resource gone.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from aispm.rules.finding import Finding
from aispm.sinks.delivery.state import ScopeState, Stored
from aispm.sinks.formats.ocsf import close, from_ocsf

VANISHED = "The resource no longer exists."
NO_LONGER_APPLIES = "The rule no longer applies to the resource."


@dataclass(frozen=True)
class ScopeRun:
    """What one scope produced in this run, as far as reconciliation needs it."""

    scope: str
    ok: bool
    findings: Sequence[Finding]
    resource_uids: frozenset[str] = frozenset()
    unevaluated_uids: frozenset[str] = frozenset()  # findings whose rule errored this run: neither new nor gone
    partial_kinds: frozenset[str] = frozenset()     # asset kinds listed only in part (e.g. a job window)


@dataclass
class Reconciled:
    findings: list[Finding] = field(default_factory=list)   # this run's findings, first seen carried over
    closed: list[Finding] = field(default_factory=list)
    states: dict[str, ScopeState] = field(default_factory=dict)  # new state of every reconciled scope
    previous: dict[str, tuple[str, Stored]] = field(default_factory=dict)  # closed uid -> (scope, stored)
    carried_over: int = 0   # unseen findings kept open: their resource was outside this run's listing
    became_suppressed: set[str] = field(default_factory=set)   # suppressed now, not in the stored finding


def first_seen(finding: Finding, before: Finding | None) -> Finding:
    """Carry ``first_seen`` over from the stored finding while its outcome (Pass/Fail) is unchanged."""
    if before is None or before.status is not finding.status:
        return finding
    return finding.model_copy(update={"first_seen_ms": before.first_seen_ms})


def _stored(entry: Stored) -> Finding | None:
    if isinstance(entry, Finding):
        return entry   # saved by this process (a state not read back from the store)
    try:
        return from_ocsf(entry)
    except (KeyError, TypeError, ValueError, IndexError, AttributeError):
        return None   # not a finding aispm wrote: it proves nothing and is never re-issued


def reconcile(previous: Mapping[str, ScopeState], runs: Sequence[ScopeRun], time_ms: int,
              not_applicable: Mapping[str, str] | None = None) -> Reconciled:
    """``not_applicable``: rule id -> why policy no longer evaluates it (disabled, not configured)."""
    not_applicable = not_applicable or {}
    out = Reconciled()
    for run in runs:
        if not run.ok:
            out.findings.extend(run.findings)
            continue
        before = {uid: f for uid, entry in previous.get(run.scope, {}).items() if (f := _stored(entry)) is not None}
        raw_before = previous.get(run.scope, {})
        now: ScopeState = {}
        for f in run.findings:
            stored = before.get(f.uid)
            f = first_seen(f, stored)
            if f.suppressed and not (stored is not None and stored.suppressed):
                out.became_suppressed.add(f.uid)
            out.findings.append(f)
            now[f.uid] = f
        for uid in run.unevaluated_uids:
            if uid not in now and uid in raw_before:
                now[uid] = raw_before[uid]
        for uid, finding in before.items():
            if uid in now:
                continue
            if finding.asset.uid in run.resource_uids:
                detail = not_applicable.get(finding.rule.id, NO_LONGER_APPLIES)
            elif finding.asset.kind in run.partial_kinds:
                now[uid] = raw_before[uid]   # outside this run's listing: proves nothing, stays open
                out.carried_over += 1
                continue
            else:
                detail = VANISHED
            out.closed.append(close(finding, time_ms, detail))
            out.previous[uid] = (run.scope, raw_before[uid])
        out.states[run.scope] = now
    return out
