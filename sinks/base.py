"""What every sink receives and reports back."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from aispm.normalizer.schema import Asset
from aispm.rules.detections.finding import DetectionFinding
from aispm.rules.finding import Finding
from aispm.sinks.formats.ocsf import to_ocsf
from aispm.sinks.formats.ocsf_detection import to_ocsf_detection


def wire(item: Finding | DetectionFinding) -> dict[str, Any]:
    """The OCSF object of a posture finding (class 2003) or a detection finding (class 2004)."""
    return to_ocsf_detection(item) if isinstance(item, DetectionFinding) else to_ocsf(item)


@dataclass
class Batch:
    """Everything one scan delivers: its findings, the AI inventory and the summary."""

    scan_id: str
    findings: list[Finding]
    assets: list[Asset]   # typed: each is dumped only as a sink writes it
    summary: dict[str, Any]
    replay: bool = False   # dead letters sent again: a newer record of the same finding may already be there
    # Uids of findings suppressed in this run that were not suppressed in the last one (from the lifecycle
    # state); None when there is no state to tell.
    became_suppressed: frozenset[str] | None = None
    # A detect run (``aispm detect``) delivers Detection Findings: detections.ocsf.jsonl, not the scan's files.
    detections: list[DetectionFinding] = field(default_factory=list)
    kind: Literal["scan", "detect"] = "scan"

    @property
    def items(self) -> list[Finding | DetectionFinding]:
        """Everything to deliver: posture findings and detection findings."""
        return [*self.findings, *self.detections]


@dataclass
class Undelivered:
    """One item a sink could not deliver after its retries; goes to the dead-letter store.

    ``payload`` is the finding's OCSF object (what the dead-letter store keeps and replay reads back)."""

    sink: str
    reason: str
    payload: dict[str, Any]

    @classmethod
    def of(cls, sink: str, reason: str, finding: Finding | DetectionFinding) -> Undelivered:
        return cls(sink, reason, wire(finding))


@dataclass
class DeliveryReport:
    sink: str
    delivered: int = 0
    undelivered: list[Undelivered] = field(default_factory=list)


class Sink(Protocol):
    name: str

    def deliver(self, batch: Batch) -> DeliveryReport:
        """Deliver the batch; never raise for delivery failures, return them as undelivered."""
        ...


def deliver_safely(sink: Sink, batch: Batch) -> DeliveryReport:
    """The sink's report; an exception it lets escape makes the whole batch undelivered for it
    (so it reaches the dead-letter store), never a traceback or a lost finding."""
    try:
        return sink.deliver(batch)
    except Exception as exc:  # noqa: BLE001
        # The exception's text may hold what the sink was configured with (a token): only its type is kept.
        reason = f"sink {sink.name} failed unexpectedly ({type(exc).__name__})"
        return DeliveryReport(sink=sink.name,
                              undelivered=[Undelivered.of(sink.name, reason, f) for f in batch.items])


@dataclass
class UnavailableSink:
    """A sink whose settings cannot work, in a run that must go on (a deployed Deliver function): every
    finding it should have delivered goes to the dead-letter store, to be replayed once it is fixed."""

    name: str
    reason: str

    def deliver(self, batch: Batch) -> DeliveryReport:
        return DeliveryReport(sink=self.name, undelivered=[Undelivered.of(self.name, self.reason, f)
                                                           for f in batch.items])
