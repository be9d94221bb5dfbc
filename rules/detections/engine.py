"""Evaluating the detection catalog over a stream of normalized audit events.

``Evaluator.feed`` takes one event at a time (memory does not grow with the window beyond DET-003's
per-principal state: the events of its 14 actions); ``finish`` returns every hit. Each event goes only to the
detections whose operations it names.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import math
from collections import deque
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from typing import TYPE_CHECKING, Any

from aispm.normalizer.audit import AuditEvent
from aispm.rules.detections.catalog import (
    DET_LLMJACKING,
    LLMJACKING_ACTIONS,
    LLMJACKING_SOURCES,
    Detection,
    Settings,
    all_detections,
    operation_matches,
)
from aispm.rules.detections.finding import AttackRef, DetectionFinding, DetectionRef, ResourceRef
from aispm.rules.model import Severity

if TYPE_CHECKING:
    from aispm.rules.policy import Policy

DAY_MS = 24 * 3600 * 1000


@dataclass(frozen=True, slots=True)
class _Seen:
    time_ms: int
    action: str
    region: str
    event_id: str


@dataclass(frozen=True)
class Hit:
    """A detection that matched: one event, or (DET-003) the events of one principal's 24 h."""

    detection: Detection
    event: AuditEvent
    detail: str
    event_key: str
    evidence: dict[str, object]


@dataclass
class Evaluator:
    settings: Settings = field(default_factory=Settings)
    disabled: frozenset[str] = frozenset()
    events: int = 0
    _by_op: dict[str, list[Detection]] = field(default_factory=dict, init=False)
    _per_event: list[Detection] = field(default_factory=list, init=False)
    _llmjacking: Detection | None = field(default=None, init=False)
    _principals: dict[tuple[str, str], list[_Seen]] = field(default_factory=dict, init=False)
    _last: dict[tuple[str, str], AuditEvent] = field(default_factory=dict, init=False)
    hits: list[Hit] = field(default_factory=list, init=False)

    def __post_init__(self) -> None:
        for d in all_detections():
            if d.id in self.disabled:
                continue
            if d.predicate is None:
                self._llmjacking = d
            else:
                self._per_event.append(d)

    def _candidates(self, op: str) -> list[Detection]:
        found = self._by_op.get(op)
        if found is None:
            found = self._by_op[op] = [d for d in self._per_event if operation_matches(d, op)]
        return found

    def feed(self, event: AuditEvent) -> None:
        self.events += 1
        op = event.operation.casefold()
        found = self._by_op.get(op)
        for d in found if found is not None else self._candidates(op):
            if event.provider not in d.providers or d.predicate is None:
                continue
            detail = d.predicate(event, self.settings)
            if detail:
                self.hits.append(Hit(d, event, detail, event.event_id, event.evidence()))
        if (self._llmjacking is not None and event.provider == "aws" and event.operation in LLMJACKING_ACTIONS
                and event.service in LLMJACKING_SOURCES and event.principal):
            key = (event.account, event.principal)
            self._principals.setdefault(key, []).append(
                _Seen(event.time_ms, event.operation, event.region, event.event_id))
            self._last[key] = event

    def feed_all(self, events: Iterable[AuditEvent]) -> None:
        for e in events:
            self.feed(e)

    def absorb(self, other: Evaluator) -> None:
        """Take over another evaluator's DET-003 state (another region of the same accounts)."""
        self.absorb_state(other.llmjacking_state())

    def llmjacking_state(self) -> list[dict[str, Any]]:
        """DET-003's per-principal state as JSON (a deployed run hands it from each unit to Deliver)."""
        out: list[dict[str, Any]] = []
        for (account, principal), seen in sorted(self._principals.items()):
            last = self._last[(account, principal)]
            out.append({"account": account, "principal": principal,
                        "seen": [[s.time_ms, s.action, s.region, s.event_id] for s in seen],
                        "last": {"time_ms": last.time_ms, "service": last.service, "source_ip": last.source_ip,
                                 "user_agent": last.user_agent, "region": last.region}})
        return out

    def absorb_state(self, state: Iterable[Mapping[str, Any]]) -> None:
        for item in state:
            key = (str(item["account"]), str(item["principal"]))
            self._principals.setdefault(key, []).extend(
                _Seen(int(t), str(a), str(r), str(i)) for t, a, r, i in item["seen"])
            last = item["last"]
            mine = self._last.get(key)
            if mine is None or int(last["time_ms"]) >= mine.time_ms:
                self._last[key] = AuditEvent(
                    provider="aws", account=key[0], region=str(last.get("region", "")), time_ms=int(last["time_ms"]),
                    event_id="", service=str(last.get("service", "")), operation="", principal=key[1],
                    source_ip=str(last.get("source_ip", "")), user_agent=str(last.get("user_agent", "")))

    def aggregate(self) -> list[Hit]:
        """One DET-003 hit per (account, principal) that reached the threshold within 24 h."""
        out: list[Hit] = []
        if self._llmjacking is not None:
            for key, seen in sorted(self._principals.items()):
                hit = self._llmjacking_hit(self._llmjacking, key, seen)
                if hit is not None:
                    out.append(hit)
        return out

    def finish(self) -> list[Hit]:
        """Every hit: the per-event ones in feeding order, then one DET-003 hit per principal."""
        return [*self.hits, *self.aggregate()]

    def _llmjacking_hit(self, d: Detection, key: tuple[str, str], seen: list[_Seen]) -> Hit | None:
        """The first closed 24 h window ``[t, t + 24 h]`` in which the principal touched at least
        ``threshold`` of the 14 actions (sliding over the events in time order); the finding lists every
        action of that 24 h."""
        needed = max(1, math.ceil(self.settings.llmjacking_threshold * len(LLMJACKING_ACTIONS) - 1e-9))
        seen.sort(key=lambda s: (s.time_ms, s.event_id))
        window: deque[_Seen] = deque()
        counts: dict[str, int] = {}
        for s in seen:
            window.append(s)
            counts[s.action] = counts.get(s.action, 0) + 1
            while window[0].time_ms < s.time_ms - DAY_MS:
                old = window.popleft()
                counts[old.action] -= 1
                if not counts[old.action]:
                    del counts[old.action]
            if len(counts) >= needed:
                # The whole 24 h from the qualifying window's first event: every action seen in it is listed.
                first = window[0]
                return self._aggregate(d, key, [x for x in seen if first.time_ms <= x.time_ms <= first.time_ms
                                                + DAY_MS and (x.time_ms, x.event_id) >= (first.time_ms,
                                                                                          first.event_id)])
        return None

    def _aggregate(self, d: Detection, key: tuple[str, str], window: Sequence[_Seen]) -> Hit:
        account, principal = key
        actions = sorted({s.action for s in window})
        regions = sorted({s.region for s in window if s.region})
        ids = sorted(s.event_id for s in window)
        digest = hashlib.sha256("\n".join(ids).encode()).hexdigest()[:32]
        last = window[-1]
        share = len(actions) / len(LLMJACKING_ACTIONS)
        anchor = self._last[key]
        event = AuditEvent(provider="aws", account=account, region=last.region, time_ms=last.time_ms,
                           event_id=last.event_id, service=anchor.service, operation=last.action,
                           principal=principal, source_ip=anchor.source_ip, user_agent=anchor.user_agent)
        start = dt.datetime.fromtimestamp(window[0].time_ms / 1000, dt.UTC).isoformat()
        detail = (f"{principal} called {len(actions)} of the {len(LLMJACKING_ACTIONS)} model-access actions "
                  f"({share:.0%}) within 24 h from {start} in {', '.join(regions) or 'an unknown region'}: "
                  f"{', '.join(actions)}.")
        evidence: dict[str, object] = {"principal": principal, "account": account, "actions": actions,
                                       "regions": regions, "event_ids": ids, "share": round(share, 3),
                                       "threshold": self.settings.llmjacking_threshold}
        return Hit(d, event, detail, f"{account}|{principal}|{digest}", evidence)


def _suppression(policy: Policy | None, hit: Hit, today: dt.date) -> str | None:
    """The justification of a suppression covering the hit: same rule id (or ``*``), not expired, its
    ``resource`` glob matching the event's resource. A suppression by tags cannot match an audit event."""
    if policy is None:
        return None
    uid = hit.event.resource.uid if hit.event.resource else ""
    for s in policy.suppressions:
        if s.rule not in ("*", hit.detection.id) or s.expired(today) or s.tags:
            continue
        if s.resource is not None and fnmatchcase(uid, s.resource):
            return s.justification
    return None


def finding_of(hit: Hit, policy: Policy | None = None, *, scan_id: str = "", product_version: str = "",
               today: dt.date | None = None) -> DetectionFinding:
    d, e = hit.detection, hit.event
    severity = d.severity
    if policy is not None:
        severity = Severity(policy.rules.severity.get(d.id, severity))
    resource = None
    if e.resource is not None:
        resource = ResourceRef(uid=e.resource.uid, type=e.resource.type, name=e.resource.name, region=e.region)
    elif d.id == DET_LLMJACKING:
        resource = ResourceRef(uid=e.principal, type="principal", name=e.principal.rsplit("/", 1)[-1],
                               region=e.region)
    return DetectionFinding(
        detection=DetectionRef(id=d.id, title=d.title, description=d.description, response=d.response,
                               attacks=tuple(AttackRef(uid=a.uid, name=a.name, tactic=a.tactic) for a in d.attacks)),
        severity=severity, provider=e.provider, account=e.account, region=e.region, time_ms=e.time_ms,
        event_key=hit.event_key, principal=e.principal, source_ip=e.source_ip, service=e.service,
        operation=e.operation, resource=resource, evidence=dict(hit.evidence), detail=hit.detail,
        suppression=_suppression(policy, hit, today or dt.datetime.now(dt.UTC).date()),
        scan_id=scan_id, product_version=product_version,
    )
