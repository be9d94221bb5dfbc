"""The collector interface: one scope unit in, raw provider records and scope errors out.

A scope unit is the smallest piece of an estate that is scanned, reconciled
and reported on its own (AWS account x region, Azure subscription, GCP
project x location), so one failing unit never hides or resolves another's
findings.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections import Counter
from collections.abc import Callable
from typing import Any, Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field

ProviderName = Literal["aws", "azure", "gcp"]
Clock = Callable[[], dt.datetime]


def utc_now() -> dt.datetime:
    """The wall clock as an aware UTC datetime: the collectors' clock unless one is injected."""
    return dt.datetime.now(dt.UTC)


def window_start(now: Clock, days: int) -> dt.datetime:
    """Start of the recent-jobs window: ``days`` back from ``now()`` (an aware datetime, converted to UTC)."""
    current = now()
    if current.tzinfo is None:
        raise ValueError("the collectors' clock must return an aware datetime")
    return current.astimezone(dt.UTC) - dt.timedelta(days=days)


class ScopeUnit(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    provider: ProviderName
    scope: str = Field(description="stable id of the unit, e.g. 'aws:123456789012:us-east-1'")
    account: str = ""
    region: str = ""
    params: dict[str, Any] = Field(default_factory=dict)


class RawRecord(BaseModel):
    """One provider record exactly as the API returned it (plus what the collector joined to it)."""

    model_config = ConfigDict(extra="forbid")

    provider: ProviderName
    type: str
    account: str
    region: str
    data: dict[str, Any]


class ScopeError(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    provider: ProviderName
    scope: str
    error: str


class ApiCalls:
    """Thread-safe API call counter keyed by (provider, operation)."""

    def __init__(self) -> None:
        self._counts: Counter[tuple[str, str]] = Counter()
        self._lock = threading.Lock()

    def add(self, provider: str, operation: str, n: int = 1) -> None:
        with self._lock:
            self._counts[(provider, operation)] += n

    def merge(self, other: dict[str, dict[str, int]]) -> None:
        for provider, ops in other.items():
            for op, n in ops.items():
                self.add(provider, op, n)

    def as_dict(self) -> dict[str, dict[str, int]]:
        with self._lock:
            out: dict[str, dict[str, int]] = {}
            for (provider, op), n in sorted(self._counts.items()):
                out.setdefault(provider, {})[op] = n
            return out

    def total(self, provider: str | None = None) -> int:
        with self._lock:
            return sum(n for (p, _), n in self._counts.items() if provider in (None, p))


class CollectResult(BaseModel):
    model_config = ConfigDict(extra="forbid")

    unit: ScopeUnit
    records: list[RawRecord] = Field(default_factory=list)
    identities: list[RawRecord] = Field(default_factory=list)
    errors: list[ScopeError] = Field(default_factory=list)
    api_calls: dict[str, dict[str, int]] = Field(default_factory=dict)
    partial_kinds: dict[str, str] = Field(
        default_factory=dict, description="asset kind -> the filter its listing used (e.g. a job window): an "
        "unseen resource of such a kind may still exist, so its findings are never closed")

    @property
    def ok(self) -> bool:
        return not self.errors


class Collector(Protocol):
    """What every cloud collector offers the pipeline."""

    provider: ProviderName

    def plan(self) -> tuple[list[ScopeUnit], list[ScopeError]]:
        """The scope units to scan (and errors met while discovering them)."""
        ...

    def collect(self, unit: ScopeUnit) -> CollectResult:
        """Scan one unit; must not raise for cloud errors, but report them in ``errors``."""
        ...


def one_line(value: BaseException | str, limit: int = 500) -> str:
    """An exception (or a text) as one line of at most ``limit`` characters (an exception with no text: its
    type), for summary.json, dead letters and the terminal. The one helper for this: every stage uses it."""
    text = " ".join(str(value).split())
    if not text and isinstance(value, BaseException):
        text = type(value).__name__
    return text[:limit]


class CollectOptions(BaseModel):
    """What the user asked to scan, for every provider (CLI flags over config over defaults)."""

    model_config = ConfigDict(extra="forbid")

    regions: list[str] = Field(default_factory=list)
    all_regions: bool = False
    role_arns: list[str] = Field(default_factory=list)
    org: bool = False
    external_id: str | None = None
    member_role_name: str = "aispm-member-read"
    subscriptions: list[str] = Field(default_factory=list)
    projects: list[str] = Field(default_factory=list)
    locations: list[str] = Field(default_factory=list)
    job_window_days: int = 30
    collect_tags: bool = False
    page_size: int | None = None
    workers: int = 8   # scope units collected at once
    scope_workers: int = 16   # calls in flight within one scope unit (its lists, describes and joins)
    rate_limits: dict[str, float] = Field(
        default_factory=dict, description="service -> requests per second per throttling scope, over the "
        "defaults of collectors/ratelimit.py (e.g. sagemaker, bedrock, arm, vertex)")
    # The one clock the collectors count the job window back from; tests and replays pin it.
    now: Clock = Field(default=utc_now, exclude=True, repr=False)


def loopback_host(hostname: str | None) -> bool:
    """Whether plain http to ``hostname`` stays on this machine (the only place a token may travel unencrypted)."""
    if not hostname:
        return False
    if hostname.lower() == "localhost":
        return True
    import ipaddress

    try:
        return ipaddress.ip_address(hostname.strip("[]")).is_loopback
    except ValueError:
        return False
