"""The pipeline's data types: what a scope unit produces, what a scan is asked to do and what it did.

In one module of their own so that the pipeline, the lifecycle glue and the Lambda handlers share them
without importing each other.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from aispm.collectors.base import CollectOptions, ScopeError, ScopeUnit
from aispm.normalizer.schema import Asset
from aispm.rules.finding import Finding
from aispm.rules.model import Severity
from aispm.rules.policy import Policy
from aispm.sinks.base import Batch, DeliveryReport, Sink
from aispm.sinks.delivery.deadletter import DeadLetterStore
from aispm.sinks.delivery.lifecycle import Kept
from aispm.sinks.delivery.state import StateStore


class UnitResult(BaseModel):
    """Everything one scope unit produced; serializable so fan-out workers can hand it on."""

    model_config = ConfigDict(extra="forbid")

    unit: ScopeUnit
    errors: list[ScopeError] = Field(default_factory=list)
    assets: list[Asset] = Field(default_factory=list)
    findings: list[Finding] = Field(default_factory=list)
    evaluation_errors: list[dict[str, str]] = Field(default_factory=list)
    expired_suppressions: list[str] = Field(default_factory=list)
    api_calls: dict[str, dict[str, int]] = Field(default_factory=dict)
    partial_kinds: dict[str, str] = Field(default_factory=dict)   # see CollectResult.partial_kinds

    @property
    def ok(self) -> bool:
        return not self.errors


@dataclass
class ScanRequest:
    providers: Sequence[str]
    options: CollectOptions = field(default_factory=CollectOptions)
    policy: Policy = field(default_factory=Policy)
    out_dir: Path = Path("aispm-out")
    sinks: Sequence[Sink] = ()
    fail_on: Severity | None = None
    scan_id: str = ""
    frameworks: Sequence[str] = ()   # compliance views to add to summary.json (--framework)
    state: StateStore | None = None  # None: no lifecycle (nothing is closed)
    dead_letter: DeadLetterStore | None = None  # None: <out>/dead-letter.jsonl
    local_is_durable: bool = True   # False where <out> does not outlive the run (a Lambda's /tmp)
    credentials: Mapping[str, Any] = field(default_factory=dict)   # provider -> credentials replacing its chain


@dataclass
class ScanOutcome:
    batch: Batch
    unit_results: list[UnitResult]
    deliveries: list[DeliveryReport]
    exit_code: int
    warnings: list[str] = field(default_factory=list)
    kept: Kept = field(default_factory=Kept)
