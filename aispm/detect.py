"""``aispm detect``: audit-log sources -> one audit-event model -> detections -> the same delivery as a scan.

Scope planning, credentials, sinks, dead letters and exit codes are those of ``aispm scan``. Each scope (AWS
account x region, Azure subscription, GCP project) reads its own half-open window ``[start, end)``; with a
state store the window starts where the scope's last completed window ended, and a scope that failed (or whose
findings could not be kept) is not advanced.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from aispm import __version__, exitcodes
from aispm.collectors.audit import AuditSourceError
from aispm.collectors.base import ApiCalls, CollectOptions, Collector, ScopeError, ScopeUnit, one_line
from aispm.normalizer.audit import AuditEvent, from_activity_log, from_cloud_audit, from_cloudtrail
from aispm.normalizer.providers import PROVIDERS
from aispm.pipeline import plan_scan
from aispm.rules.detections.catalog import DET_LLMJACKING, all_detections
from aispm.rules.detections.engine import DAY_MS, Evaluator, Hit, finding_of
from aispm.rules.detections.finding import DetectionFinding
from aispm.rules.model import Severity
from aispm.rules.policy import Policy
from aispm.sinks.base import Batch, DeliveryReport, Sink, deliver_safely
from aispm.sinks.delivery.deadletter import DeadLetterStore
from aispm.sinks.delivery.lifecycle import Kept, keep_undelivered
from aispm.sinks.delivery.state import StateError, StateStore
from aispm.sinks.delivery.windows import WindowStore
from aispm.sinks.transports.files import FileSink, rewrite_summary

# Azure logs an operation's request body on its Started record, which may precede the window: read this much
# earlier to find it (the operation still fires only in the window of its Succeeded record).
AZURE_BODY_LOOKBACK = dt.timedelta(hours=1)

CloudTrailClient = Callable[[Any, str, ApiCalls], Any]   # (boto3 session, region, calls) -> cloudtrail client


def _default_cloudtrail(session: Any, region: str, calls: ApiCalls) -> Any:
    from aispm.collectors.aws.session import client

    return client(session, "cloudtrail", region, calls)


@dataclass
class DetectRequest:
    providers: Sequence[str]
    options: CollectOptions = field(default_factory=CollectOptions)
    policy: Policy = field(default_factory=Policy)
    out_dir: Any = None
    sinks: Sequence[Sink] = ()
    fail_on: Severity | None = None
    since: dt.timedelta = dt.timedelta(hours=1)
    start: dt.datetime | None = None
    end: dt.datetime | None = None
    state: StateStore | None = None          # None: no remembered windows
    dead_letter: DeadLetterStore | None = None
    local_is_durable: bool = True
    credentials: Mapping[str, Any] = field(default_factory=dict)
    scan_id: str = ""
    cloudtrail_client: CloudTrailClient = _default_cloudtrail   # tests hand in a client with a Stubber
    lookup_interval: float = 0.6                                # LookupEvents: under 2 requests/s per region
    sleep: Callable[[float], None] | None = None


class ScopeResult(BaseModel):
    """What one scope's window produced; serializable, so a deployed Collect function hands it to Deliver."""

    model_config = ConfigDict(extra="forbid")

    unit: ScopeUnit
    start: dt.datetime
    end: dt.datetime
    error: str | None = None
    state_error: str | None = None       # the remembered window could not be read: not advanced
    events: int = 0
    findings: list[DetectionFinding] = Field(default_factory=list)      # the per-event detections
    llmjacking: list[dict[str, Any]] = Field(default_factory=list)      # DET-003 state, merged per account
    api_calls: dict[str, dict[str, int]] = Field(default_factory=dict)
    event_times: list[int] = Field(default_factory=list)   # a deployed unit's, for Deliver's trimmed window

    @property
    def ok(self) -> bool:
        return self.error is None


@dataclass
class DetectOutcome:
    summary: dict[str, Any]
    detections: list[DetectionFinding]
    deliveries: list[DeliveryReport]
    exit_code: int
    warnings: list[str] = field(default_factory=list)
    kept: Kept = field(default_factory=Kept)


def _iso(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")


def _ms(moment: dt.datetime) -> int:
    return int(moment.timestamp() * 1000)


# ------------------------------------------------------------------------------------------------ planning

def plan_detect(providers: Sequence[str], options: CollectOptions, credentials: Mapping[str, Any] | None = None
                ) -> tuple[list[tuple[Collector, ScopeUnit]], list[ScopeError]]:
    """The scan's scope planning; a GCP project is one detect scope (its audit log is per project)."""
    planned, errors = plan_scan(providers, options, credentials)
    work = [(c, u) for c, u in planned if c.provider != "gcp"]
    projects = {u.account: c for c, u in planned if c.provider == "gcp"}
    work += [(c, ScopeUnit(provider="gcp", scope=f"gcp:{p}", account=p, params={"project": p}))
             for p, c in projects.items()]
    return work, errors


# ------------------------------------------------------------------------------------------------- reading

def _aws_events(request: DetectRequest, collector: Any, unit: ScopeUnit, start: dt.datetime, end: dt.datetime,
                calls: ApiCalls) -> Iterator[AuditEvent]:
    from aispm.collectors.aws.cloudtrail import LookupPacer, lookup_events

    session = collector.sessions.session(unit.account, unit.params.get("role_arn"))
    ct = request.cloudtrail_client(session, unit.region, calls)
    pacer = LookupPacer(min_interval=request.lookup_interval)
    if request.sleep is not None:
        pacer.sleep = request.sleep
    for record in lookup_events(ct, start, end, pacer):
        yield from_cloudtrail(record, unit.account, unit.region)


def _azure_events(collector: Any, unit: ScopeUnit, start: dt.datetime, end: dt.datetime,
                  calls: ApiCalls) -> Iterator[AuditEvent]:
    from aispm.collectors.audit.activity_log import activity_records
    from aispm.collectors.azure.arm import Arm

    client = collector._client(unit.account)
    try:
        records = activity_records(Arm(client, collector.settings.endpoint, calls), unit.account,
                                   start - AZURE_BODY_LOOKBACK, end)
    finally:
        client.close()
    yield from from_activity_log(records, unit.account)


def _gcp_events(collector: Any, unit: ScopeUnit, start: dt.datetime, end: dt.datetime,
                calls: ApiCalls) -> Iterator[AuditEvent]:
    from google.auth.transport.requests import AuthorizedSession

    from aispm.collectors.audit.cloud_logging import log_entries

    session = AuthorizedSession(collector.clients.credentials)  # type: ignore[no-untyped-call]
    try:
        for entry in log_entries(session, unit.account, start, end, calls=calls):
            yield from_cloud_audit(entry, unit.account)
    finally:
        session.close()  # type: ignore[no-untyped-call]


def read_scope(request: DetectRequest, collector: Any, unit: ScopeUnit, start: dt.datetime, end: dt.datetime,
               *, scan_id: str = "", today: dt.date | None = None, keep_times: bool = False) -> ScopeResult:
    """Read one scope's window and evaluate every event in it as it is read; any failure fails the scope
    (its partial findings are dropped: the window is read again next time)."""
    result = ScopeResult(unit=unit, start=start, end=end)
    if start >= end:
        return result
    calls = ApiCalls()
    evaluator = Evaluator(settings=request.policy.detections.config(),
                          disabled=frozenset(request.policy.rules.disabled))
    lo, hi = _ms(start), _ms(end)
    readers = {"aws": lambda: _aws_events(request, collector, unit, start, end, calls),
               "azure": lambda: _azure_events(collector, unit, start, end, calls),
               "gcp": lambda: _gcp_events(collector, unit, start, end, calls)}
    times: list[int] = []
    try:
        for event in readers[unit.provider]():
            if lo <= event.time_ms < hi:   # half-open: an event at ``end`` belongs to the next window
                evaluator.feed(event)
                if keep_times:
                    times.append(event.time_ms)
    except AuditSourceError as exc:
        result.error = str(exc)
    except Exception as exc:  # noqa: BLE001 - one scope's failure must never stop the others
        result.error = f"audit log not read: {type(exc).__name__}: {one_line(exc)}"
    result.api_calls = calls.as_dict()
    if result.error is None:
        result.events = evaluator.events
        result.findings = [finding_of(h, request.policy, scan_id=scan_id, product_version=__version__, today=today)
                           for h in evaluator.hits]
        result.llmjacking = evaluator.llmjacking_state()
        result.event_times = sorted(times)
    return result


# ------------------------------------------------------------------------------------------------- windows

def windows(request: DetectRequest, scopes: Iterable[str], now: dt.datetime
            ) -> tuple[dict[str, tuple[dt.datetime, dt.datetime]], dict[str, str]]:
    """Each scope's window ``[start, end)`` and the scopes whose remembered window could not be read.

    ``end`` is ``--end`` or now; ``start`` is ``--start``, else the scope's remembered end, else
    ``end - --since``."""
    end = (request.end or now).astimezone(dt.UTC)
    remembered: dict[str, dt.datetime] = {}
    errors: dict[str, str] = {}
    scopes = list(scopes)
    if request.state is not None and request.start is None:
        try:
            loaded = WindowStore(request.state).load(scopes)
            remembered, errors = loaded.ends, loaded.errors
        except StateError as exc:
            errors = {s: str(exc) for s in scopes}
    out: dict[str, tuple[dt.datetime, dt.datetime]] = {}
    for scope in scopes:
        start = request.start or remembered.get(scope) or end - request.since
        out[scope] = (start.astimezone(dt.UTC), end)
    return out, errors


def run_detect(request: DetectRequest, now: dt.datetime | None = None) -> DetectOutcome:
    started = dt.datetime.now(dt.UTC)
    now = now or started
    scan_id = request.scan_id or str(uuid.uuid4())
    work, plan_errors = plan_detect(request.providers, request.options, request.credentials)
    spans, state_errors = windows(request, [u.scope for _, u in work], now)

    def one(cu: tuple[Collector, ScopeUnit]) -> ScopeResult:
        collector, unit = cu
        result = read_scope(request, collector, unit, *spans[unit.scope], scan_id=scan_id, today=now.date())
        result.state_error = state_errors.get(unit.scope)
        return result

    with ThreadPoolExecutor(max_workers=max(1, request.options.workers)) as pool:
        results = list(pool.map(one, work))
    return finish_detect(results, plan_errors, request, scan_id=scan_id, started=started, today=now.date())


def finish_detect(results: Sequence[ScopeResult], plan_errors: Sequence[ScopeError], request: DetectRequest, *,
                  scan_id: str, started: dt.datetime, today: dt.date | None = None,
                  notes: Sequence[str] = ()) -> DetectOutcome:
    """Everything after reading, shared by the CLI and the Deliver function: DET-003 over every region of each
    account, summary, delivery, dead letters, windows advanced, exit code."""
    findings = [f for r in results for f in r.findings]
    findings += [finding_of(h, request.policy, scan_id=scan_id, product_version=__version__, today=today)
                 for h in llmjacking(results, request.policy)]
    findings = list({f.uid: f for f in findings}.values())   # one finding per uid, whatever read it twice
    findings.sort(key=lambda f: (f.time_ms, f.detection.id, f.uid))
    disabled = frozenset(request.policy.rules.disabled)
    summary = summarize(results, plan_errors, findings, request, scan_id, started, disabled)
    summary["detections"]["notes"] += list(notes)
    batch = Batch(scan_id=scan_id, findings=[], assets=[], summary=summary, detections=findings, kind="detect")
    sinks = list(request.sinks) or [FileSink(request.out_dir)]
    deliveries = [deliver_safely(sink, batch) for sink in sinks]
    kept = keep_undelivered(deliveries, request.dead_letter, request.out_dir, request.local_is_durable)
    warnings = list(kept.warnings)
    # Advance only scopes that were read completely, whose state could be read, and only when nothing was lost.
    state_errors = sorted({r.state_error for r in results if r.state_error})
    state_status: dict[str, Any] = {"status": "error", "error": one_line("; ".join(state_errors))} \
        if state_errors else {"status": "ok"}
    if request.state is not None and not kept.lost:
        ends = {r.unit.scope: r.end for r in results if r.ok and not r.state_error}
        try:
            WindowStore(request.state).save(ends)
        except StateError as exc:
            state_status = {"status": "error", "error": one_line(exc)}
    elif kept.lost:
        warnings.append("detect windows not advanced: some findings could not be kept")
    summary["state"] = state_status
    summary["delivery"] = {"undelivered": kept.items, "dead_letter": kept.kept_in, "lost": len(kept.lost)}
    summary["finished"] = dt.datetime.now(dt.UTC).isoformat()
    if request.out_dir is not None:
        rewrite_summary(request.out_dir, summary)
    code = exit_code(summary, findings, deliveries, request.fail_on)
    return DetectOutcome(summary=summary, detections=findings, deliveries=deliveries, exit_code=code,
                         warnings=warnings, kept=kept)


def llmjacking(results: Sequence[ScopeResult], policy: Policy) -> list[Hit]:
    """DET-003 over every scanned region of each account: the per-principal state of the scopes read merged
    into one evaluator, then aggregated."""
    merged = Evaluator(settings=policy.detections.config(), disabled=frozenset(policy.rules.disabled))
    for r in results:
        if r.ok:
            merged.absorb_state(r.llmjacking)
    return merged.aggregate()


def reaching(findings: Sequence[DetectionFinding], fail_on: Severity) -> int:
    return sum(1 for f in findings if not f.suppressed and f.severity >= fail_on)


def exit_code(summary: Mapping[str, Any], findings: Sequence[DetectionFinding],
              deliveries: Sequence[DeliveryReport], fail_on: Severity | None) -> int:
    codes = [exitcodes.OK]
    if fail_on is not None and reaching(findings, fail_on):
        codes.append(exitcodes.FAIL_ON)
    if any(s["status"] == "error" for s in summary["scopes"]) or summary["state"].get("status") == "error":
        codes.append(exitcodes.PARTIAL)
    if any(d.undelivered for d in deliveries):
        codes.append(exitcodes.DELIVERY)
    return max(codes)


def summarize(results: Sequence[ScopeResult], plan_errors: Sequence[ScopeError],
              findings: Sequence[DetectionFinding], request: DetectRequest, scan_id: str, started: dt.datetime,
              disabled: frozenset[str]) -> dict[str, Any]:
    by_id: Counter[str] = Counter({d.id: 0 for d in all_detections() if d.id not in disabled})
    suppressed: Counter[str] = Counter()
    for f in findings:
        (suppressed if f.suppressed else by_id)[f.detection.id] += 1
    events: Counter[str] = Counter({p: 0 for p in request.providers})
    scopes: list[dict[str, Any]] = []
    calls = ApiCalls()
    for r in results:
        events[r.unit.provider] += r.events
        calls.merge(r.api_calls)
        entry: dict[str, Any] = {"provider": r.unit.provider, "scope": r.unit.scope,
                                 "status": "ok" if r.ok else "error",
                                 "window": {"start": _iso(r.start), "end": _iso(r.end)}, "events": r.events}
        if r.error:
            entry["error"] = r.error
        scopes.append(entry)
    for e in plan_errors:
        scopes.append({"provider": e.provider, "scope": e.scope, "status": "error", "error": e.error})
    starts = [r.start for r in results]
    ends = [r.end for r in results]
    notes: list[str] = []
    short = [r for r in results if r.unit.provider == "aws" and r.end - r.start < dt.timedelta(milliseconds=DAY_MS)]
    if short and DET_LLMJACKING not in disabled:
        hours = min((r.end - r.start).total_seconds() for r in short) / 3600
        notes.append(f"{DET_LLMJACKING} needs a window of at least 24 h to see the whole pattern; this run's "
                     f"shortest AWS window is {hours:.2f} h, and the detection evaluated what it holds.")
    if "aws" in request.providers and not request.policy.detections.trusted_cidrs:
        notes.append("AISPM-DET-005 (AWS presigned URLs) not evaluated: detections.trusted_cidrs is not configured.")
    return {
        "scan_id": scan_id,
        "kind": "detect",
        "version": __version__,
        "started": started.isoformat(),
        "finished": dt.datetime.now(dt.UTC).isoformat(),
        "detections": {
            "by_id": dict(sorted(by_id.items())),
            "suppressed": dict(sorted((k, v) for k, v in suppressed.items() if v)),
            "window": {"start": _iso(min(starts)) if starts else None, "end": _iso(max(ends)) if ends else None},
            "events_read": dict(sorted(events.items())),
            "notes": notes,
        },
        "scopes": scopes,
        "errors": sum(1 for s in scopes if s["status"] == "error"),
        "api_calls": calls.as_dict(),
    }


# --------------------------------------------------------------------------------------------- the CLI

_UNITS = {"m": "minutes", "h": "hours", "d": "days"}


def parse_duration(text: str) -> dt.timedelta:
    """``15m``, ``6h``, ``2d`` -> a positive timedelta (ValueError otherwise)."""
    value = text.strip().lower()
    if len(value) < 2 or value[-1] not in _UNITS or not value[:-1].isdigit() or int(value[:-1]) < 1:
        raise ValueError(f"expected a duration such as 15m, 6h or 2d, got {text!r}")
    return dt.timedelta(**{_UNITS[value[-1]]: int(value[:-1])})


def parse_time(text: str) -> dt.datetime:
    """An ISO 8601 time (``Z`` or an offset; without one, UTC)."""
    try:
        moment = dt.datetime.fromisoformat(text.strip().replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise ValueError(f"expected an ISO 8601 time such as 2026-01-31T12:00:00Z, got {text!r}") from None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=dt.UTC)


def request_from_args(args: Any) -> DetectRequest:
    from aispm.exitcodes import UsageError
    from aispm.scan import load_settings
    from aispm.scan import request_from_args as scan_request

    try:
        since = parse_duration(args.since)
        start = parse_time(args.start) if args.start else None
        end = parse_time(args.end) if args.end else None
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    if start is not None and end is not None and start >= end:
        raise UsageError("--start must be before --end")
    if start is not None and end is None and start >= dt.datetime.now(dt.UTC):
        raise UsageError("--start must be in the past")
    settings = load_settings()
    base = scan_request(args, settings)   # flags, config file, sinks, dead letters: exactly those of a scan
    remember = bool(args.state or settings.state_table)
    return DetectRequest(
        providers=base.providers, options=base.options, policy=base.policy, out_dir=base.out_dir,
        sinks=base.sinks, fail_on=base.fail_on, since=since, start=start, end=end,
        state=base.state if remember else None, dead_letter=base.dead_letter)


def report(outcome: DetectOutcome, out_dir: Any, fail_on: Severity | None) -> None:
    from pathlib import Path

    from aispm.tables import render_table
    from aispm.terminal import say, warn

    summary = outcome.summary
    for w in outcome.warnings:
        warn(f"warning: {w}")
    for scope in summary["scopes"]:
        if scope["status"] == "error":
            warn(f"scope {scope['scope']} failed: {scope['error']}")
    if summary["state"].get("status") == "error":
        warn(f"detect window state error, the scopes concerned were not advanced: {summary['state'].get('error')}")
    for d in outcome.deliveries:
        if d.undelivered:
            warn(f"sink {d.sink}: {len(d.undelivered)} items not delivered ({d.undelivered[0].reason})")
    det = summary["detections"]
    by_detection = {d.id: d for d in all_detections()}
    rows = [[did, by_detection[did].severity.name, n, det["suppressed"].get(did, ""), by_detection[did].title]
            for did, n in det["by_id"].items()]
    say(render_table(["detection", "severity", "found", "suppressed", "title"], rows))
    for note in det["notes"]:
        say(f"note: {note}")
    for f in outcome.detections[:50]:
        say(f"{f.detection.id} {f.severity.name}: {f.detail}")
    read = ", ".join(f"{p} {n}" for p, n in det["events_read"].items()) or "none"
    say(f"\n{sum(det['by_id'].values())} detections in {det['window']['start']} .. {det['window']['end']} "
        f"(events read: {read}), {summary['errors']} errors. Files in {Path(out_dir).resolve()}")
    if fail_on is not None and (n := reaching(outcome.detections, fail_on)):
        warn(f"--fail-on {fail_on.name} reached: {n} detections at {fail_on.name} or above")


def run_from_args(args: Any) -> int:
    request = request_from_args(args)
    outcome = run_detect(request)
    report(outcome, request.out_dir, request.fail_on)
    return outcome.exit_code


# ------------------------------------------------------------------------------------ the deployed workflow

def detect_units(request: DetectRequest, start: dt.datetime, end: dt.datetime, *, scan_id: str,
                 units: Sequence[ScopeUnit] | None = None) -> tuple[list[ScopeResult], list[ScopeError]]:
    """What a Collect function does for a detect run: plan the provider's scopes (or take ``units``, AWS units
    the Plan function planned) and read each one's log over ``[start, end)``, a lookback long enough to cover
    each scope's remembered window; the collectors never read the state table, Deliver trims each scope to its
    window (``trim``). Each result keeps its events' times, so the trimmed window's events can be counted."""
    provider = request.providers[0]
    plan_errors: list[ScopeError] = []
    if units is None:
        work, plan_errors = plan_detect([provider], request.options, request.credentials)
    else:
        collector = PROVIDERS[provider].build(request.options, request.credentials.get(provider))
        work = [(collector, u) for u in units]
    results = [read_scope(request, collector, unit, start, end, scan_id=scan_id, today=end.date(), keep_times=True)
               for collector, unit in work]
    return results, plan_errors


def trim(result: ScopeResult, start: dt.datetime) -> ScopeResult:
    """``result`` narrowed to ``[start, result.end)``: what it found before ``start`` was another window's."""
    if start <= result.start:
        return result
    lo = _ms(start)
    kept = [{**item, "seen": [s for s in item["seen"] if int(s[0]) >= lo]} for item in result.llmjacking]
    return result.model_copy(update={
        "start": start,
        "findings": [f for f in result.findings if f.time_ms >= lo],
        "llmjacking": [k for k in kept if k["seen"]],
        "events": sum(1 for t in result.event_times if t >= lo),
        "event_times": [t for t in result.event_times if t >= lo],
    })


def remembered_windows(results: Sequence[ScopeResult], state: StateStore, since: dt.timedelta
                       ) -> tuple[list[ScopeResult], list[str]]:
    """Each scope's result trimmed to start at its remembered window end (or ``end - since`` without one), and
    a warning for each scope whose remembered end lies before what was read (a gap, named, never hidden)."""
    warnings: list[str] = []
    try:
        loaded = WindowStore(state).load(r.unit.scope for r in results)
        ends, errors = loaded.ends, loaded.errors
    except StateError as exc:
        ends, errors = {}, {r.unit.scope: str(exc) for r in results}
    out: list[ScopeResult] = []
    for r in results:
        scope = r.unit.scope
        if scope in errors:
            r = r.model_copy(update={"state_error": errors[scope]})
        start = ends.get(scope) or r.end - since
        if start < r.start:
            warnings.append(f"{scope}: the audit log from {_iso(start)} to {_iso(r.start)} was not read "
                            "(longer than AISPM_DETECT_LOOKBACK since the last completed window)")
        out.append(trim(r, start))
    return out, warnings
