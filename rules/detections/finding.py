"""The Detection Finding model: what a detection found in one audit event (or, for DET-003, in one
principal's events), from the engine to the sinks. The wire formats are made in aispm.sinks.formats."""

from __future__ import annotations

import uuid
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from aispm.rules.model import Severity

_DETECTION_NAMESPACE = uuid.UUID("0b7e5f0c-2d1a-4c1e-8e57-3a9d2f6c4b18")


def detection_uid(detection_id: str, event_key: str) -> str:
    """Deterministic from (detection id, cloud event id) only: re-reading an event never makes a second finding."""
    return str(uuid.uuid5(_DETECTION_NAMESPACE, f"{detection_id}|{event_key}"))


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class AttackRef(_Frozen):
    uid: str
    name: str = ""
    tactic: str = ""


class DetectionRef(_Frozen):
    """What a finding says of its detection, as the catalog had it when the finding was made."""

    id: str
    title: str
    description: str = ""
    response: str = ""
    attacks: tuple[AttackRef, ...] = ()


class ResourceRef(_Frozen):
    uid: str
    type: str = ""
    name: str = ""
    region: str = ""


class DetectionFinding(_Frozen):
    detection: DetectionRef
    severity: Severity                # the detection's severity after policy overrides
    provider: str
    account: str
    region: str
    time_ms: int                      # the event's time (DET-003: the last event counted)
    event_key: str                    # the cloud event id (DET-003: principal and the event ids counted)
    principal: str = ""
    source_ip: str = ""
    service: str = ""
    operation: str = ""
    resource: ResourceRef | None = None
    evidence: dict[str, Any] = Field(default_factory=dict)
    detail: str                       # one sentence: who did what to which resource
    suppression: str | None = None    # the justification, when a suppression covers it
    scan_id: str = ""
    product_version: str = ""

    @property
    def uid(self) -> str:
        return detection_uid(self.detection.id, self.event_key)

    @property
    def suppressed(self) -> bool:
        return self.suppression is not None
