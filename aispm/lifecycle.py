"""Pipeline glue around delivery: reconcile findings against the lifecycle state, and keep what
the sinks could not deliver in the dead-letter store."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sinks.base import DeliveryReport
from sinks.deadletter import DEAD_LETTER_FILE, DeadLetterError, DeadLetterStore, FileDeadLetter
from sinks.ocsf import finding_uid
from sinks.reconcile import ScopeRun, reconcile
from sinks.state import ScopeState, StateError, StateStore

if TYPE_CHECKING:
    from aispm.pipeline import UnitResult


@dataclass
class Lifecycle:
    closed: list[dict[str, Any]] = field(default_factory=list)
    states: dict[str, ScopeState] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)


def scope_runs(results: Sequence[UnitResult]) -> list[ScopeRun]:
    return [
        ScopeRun(
            scope=r.unit.scope,
            ok=r.ok,
            findings=r.findings,
            resource_uids=frozenset(a.uid for a in r.assets),
            unevaluated_uids=frozenset(finding_uid(e["rule"], e["resource"]) for e in r.evaluation_errors),
        )
        for r in results
    ]


def close_vanished(store: StateStore | None, results: Sequence[UnitResult], time_ms: int) -> Lifecycle:
    """Closed findings of the scopes that succeeded, and their new state (saved after delivery)."""
    if store is None:
        return Lifecycle()
    ok_scopes = [r.unit.scope for r in results if r.ok]
    try:
        previous = store.load(ok_scopes)
    except StateError as exc:
        return Lifecycle(warnings=[f"findings of vanished resources not closed: {exc}"])
    done = reconcile(previous, scope_runs(results), time_ms)
    return Lifecycle(closed=done.closed, states=done.states)


def save_state(store: StateStore | None, lifecycle: Lifecycle) -> list[str]:
    if store is None or not lifecycle.states:
        return []
    try:
        store.save(lifecycle.states)
    except StateError as exc:
        return [f"lifecycle state not saved: {exc}"]
    return []


def keep_undelivered(deliveries: Sequence[DeliveryReport], store: DeadLetterStore | None,
                     out_dir: Path) -> list[str]:
    """Put every undelivered item in the dead-letter store; fall back to the local file if it fails."""
    items = [u for d in deliveries for u in d.undelivered]
    if not items:
        return []
    local = FileDeadLetter(out_dir / DEAD_LETTER_FILE)
    target = store or local
    try:
        target.put(items)
        return []
    except DeadLetterError as exc:
        if target is local:
            return [f"{len(items)} undelivered items could not be kept: {exc}"]
        try:
            local.put(items)
        except DeadLetterError as exc2:
            return [f"{len(items)} undelivered items could not be kept: {exc}; {exc2}"]
        return [f"dead-letter queue unavailable ({exc}); {len(items)} items kept in {local.location}"]
