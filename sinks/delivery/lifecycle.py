"""The lifecycle around delivery: reconcile findings against the lifecycle state, and keep what
the sinks could not deliver in the dead-letter store.

The order is what makes "nothing lost, nothing wrongly resolved" hold: the state is read
before delivery, every undelivered item is put in the dead-letter store after it, and the
state is saved last, without advancing past a closure that reached neither a sink nor the
dead-letter store (it is closed again next run).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aispm.rules.finding import Finding
from aispm.sinks.base import DeliveryReport, Undelivered
from aispm.sinks.delivery.deadletter import DEAD_LETTER_FILE, DeadLetterError, DeadLetterStore, FileDeadLetter
from aispm.sinks.delivery.reconcile import ScopeRun, reconcile
from aispm.sinks.delivery.state import ScopeState, StateError, StateStore, Stored


@dataclass
class Kept:
    """What became of the undelivered items."""

    items: int = 0                     # undelivered items in all
    kept_in: str = ""                  # where they were kept (empty: nowhere)
    lost: list[Undelivered] = field(default_factory=list)   # neither delivered nor kept
    warnings: list[str] = field(default_factory=list)


@dataclass
class Lifecycle:
    reconciled: dict[str, Finding] = field(default_factory=dict)   # uid -> this run's finding, first seen carried
    closed: list[Finding] = field(default_factory=list)
    states: dict[str, ScopeState] = field(default_factory=dict)
    previous: dict[str, tuple[str, Stored]] = field(default_factory=dict)
    carried_over: int = 0
    became_suppressed: frozenset[str] | None = None   # None: no state to compare with
    errors: list[str] = field(default_factory=list)   # state that could not be read or written
    final_saved: bool = False   # the save before delivery was already the final state: it closed nothing

    def findings(self, runs: Sequence[ScopeRun]) -> list[Finding]:
        """This run's findings, as reconciled where their scope was (first seen from the state)."""
        return [self.reconciled.get(f.uid, f) for run in runs for f in run.findings]

    def status(self) -> dict[str, Any]:
        """``summary.json`` ``state``."""
        if self.errors:
            return {"status": "error", "error": "; ".join(self.errors)[:1000]}
        return {"status": "ok"}


def close_vanished(store: StateStore | None, runs: Sequence[ScopeRun], time_ms: int,
                   not_applicable: Mapping[str, str] | None = None) -> Lifecycle:
    """Closed findings of the scopes that succeeded, and their new state (saved after delivery).

    A store that cannot be read closes nothing and saves nothing; a scope whose stored state
    is corrupt is neither reconciled nor overwritten. Both are reported as state errors.
    """
    if store is None:
        return Lifecycle()
    ok_scopes = [run.scope for run in runs if run.ok]
    try:
        loaded = store.load(ok_scopes)
    except StateError as exc:
        return Lifecycle(errors=[str(exc)])
    readable = [run for run in runs if run.scope not in loaded.errors]
    done = reconcile(loaded.states, readable, time_ms, not_applicable)
    return Lifecycle(reconciled={f.uid: f for f in done.findings}, closed=done.closed,
                     states=done.states, previous=done.previous,
                     carried_over=done.carried_over, errors=list(loaded.errors.values()),
                     became_suppressed=None if loaded.errors else frozenset(done.became_suppressed))


def hold_back(lifecycle: Lifecycle, lost: Sequence[Undelivered]) -> None:
    """Keep in the state the findings whose closure was lost, so the next run closes them again."""
    for item in lost:
        info = item.payload.get("finding_info") if isinstance(item.payload, dict) else None
        uid = str((info or {}).get("uid", ""))
        if uid in lifecycle.previous:
            scope, stored = lifecycle.previous[uid]
            if scope in lifecycle.states:
                lifecycle.states[scope][uid] = stored
                lifecycle.final_saved = False


def save_ahead(store: StateStore | None, lifecycle: Lifecycle) -> None:
    """Before delivery, save this run's findings together with those it is about to close.

    A run killed after its findings reached a sink but before the final save then still knows them
    next time (a resource seen once and gone before the next run is closed), and a closure it did not
    finish is issued again. Saved again, final, after delivery, unless the run closes nothing: then what
    was saved here is already the final state, and writing it again would only cost time.
    """
    if store is None or not lifecycle.states:
        return
    ahead = {scope: dict(state) for scope, state in lifecycle.states.items()}
    for uid, (scope, stored) in lifecycle.previous.items():
        if scope in ahead:
            ahead[scope].setdefault(uid, stored)
    try:
        store.save(ahead)
    except StateError as exc:
        lifecycle.errors.append(f"lifecycle state not saved before delivery: {exc}")
    else:
        lifecycle.final_saved = not lifecycle.previous   # nothing to close: ahead == the final states


def save_state(store: StateStore | None, lifecycle: Lifecycle) -> None:
    """The final state, after delivery (``save_ahead`` may have saved it already)."""
    if store is None or not lifecycle.states or lifecycle.final_saved:
        return
    try:
        store.save(lifecycle.states)
    except StateError as exc:
        lifecycle.errors.append(f"lifecycle state not saved: {exc}")


def keep_undelivered(deliveries: Sequence[DeliveryReport], store: DeadLetterStore | None,
                     out_dir: Path, local_is_durable: bool = True) -> Kept:
    """Put every undelivered item in the dead-letter store; fall back to the local file if it fails.

    ``local_is_durable`` False (a Lambda's /tmp): the fallback file is written, but its items count as
    lost for the lifecycle, so the state does not move past closures only that file holds."""
    items = [u for d in deliveries for u in d.undelivered]
    if not items:
        return Kept()
    local = FileDeadLetter(out_dir / DEAD_LETTER_FILE)
    target = store or local
    try:
        target.put(items)
        return Kept(items=len(items), kept_in=target.location)
    except DeadLetterError as exc:
        if target is local:
            return Kept(items=len(items), lost=items,
                        warnings=[f"{len(items)} undelivered items could not be kept anywhere: {exc}"])
        try:
            local.put(items)
        except DeadLetterError as exc2:
            return Kept(items=len(items), lost=items,
                        warnings=[f"{len(items)} undelivered items could not be kept anywhere: {exc}; {exc2}"])
        if not local_is_durable:
            return Kept(items=len(items), kept_in=local.location, lost=items,
                        warnings=[f"dead-letter queue unavailable ({exc}); {len(items)} items only in "
                                  f"{local.location}, which does not outlive this run"])
        return Kept(items=len(items), kept_in=local.location,
                    warnings=[f"dead-letter queue unavailable ({exc}); {len(items)} items kept in {local.location}"])
