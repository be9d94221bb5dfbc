"""The scan pipeline: plan scopes -> collect -> normalize -> evaluate -> reconcile -> deliver.

``scan_unit`` is the whole per-unit stage (what one Lambda invocation runs);
``run_scan`` plans, runs every unit on a bounded worker pool and delivers.
"""

from __future__ import annotations

import datetime as dt
import gc
import time
import uuid
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from aispm import __version__, exitcodes, startup_done
from aispm.collectors.base import ApiCalls, CollectOptions, Collector, ScopeError, ScopeUnit, one_line
from aispm.normalizer import MappingError, normalize, normalize_identities
from aispm.normalizer.providers import PROVIDERS
from aispm.pipeline_types import ScanOutcome, ScanRequest, UnitResult
from aispm.rules.catalog import all_rules
from aispm.rules.compliance import framework_summary
from aispm.rules.engine import evaluate
from aispm.rules.finding import Finding, finding_uid, findings_of
from aispm.rules.model import Severity
from aispm.rules.policy import Policy
from aispm.sinks.base import Batch, DeliveryReport, deliver_safely
from aispm.sinks.delivery.lifecycle import close_vanished, hold_back, keep_undelivered, save_ahead, save_state
from aispm.sinks.delivery.reconcile import ScopeRun
from aispm.sinks.formats.inventory import INVENTORY_FILES
from aispm.sinks.transports.files import ASSETS_FILE, FINDINGS_FILE, SUMMARY_FILE, FileSink, rewrite_summary

SCAN_FILES = (FINDINGS_FILE, ASSETS_FILE, SUMMARY_FILE, *INVENTORY_FILES)


def now_ms() -> int:
    return int(time.time() * 1000)


def scan_unit(
    collector: Collector,
    unit: ScopeUnit,
    policy: Policy,
    known_accounts: Iterable[str] = (),
    time_ms: int | None = None,
    scan_id: str = "",
) -> UnitResult:
    """Collect, normalize and evaluate one unit; cloud and data errors become scope errors."""
    time_ms = time_ms or now_ms()
    try:
        collected = collector.collect(unit)
    except Exception as exc:  # noqa: BLE001 - one unit's failure must never stop the others
        return UnitResult(unit=unit, errors=[ScopeError(provider=unit.provider, scope=unit.scope,
                                                       error=f"collector failed: {one_line(exc)}")])
    result = UnitResult(unit=unit, errors=list(collected.errors), api_calls=collected.api_calls,
                        partial_kinds=collected.partial_kinds)
    problems: list[str] = []
    try:
        assets = normalize(unit.provider, collected.records, problems)
        identities = {i.uid: i for i in normalize_identities(unit.provider, collected.identities)}
    except MappingError as exc:
        result.errors.append(ScopeError(provider=unit.provider, scope=unit.scope, error=one_line(exc)))
        return result
    del collected   # the raw records are normalized: not held while the findings are made
    # A skipped record makes the scope incomplete: reported, and never reconciled.
    result.errors.extend(ScopeError(provider=unit.provider, scope=unit.scope, error=p[:500]) for p in problems)
    engine = evaluate(assets, identities, policy, known_accounts=known_accounts)
    result.assets = assets
    result.findings = findings_of(engine.findings, time_ms, __version__, scan_id)
    result.evaluation_errors = [
        {"rule": ev.rule.id, "resource": ev.asset.uid, "scope": unit.scope, "error": ev.detail}
        for ev in engine.errors
    ]
    result.expired_suppressions = [s.label() for s in engine.expired_suppressions]
    return result


def _counts(c: Counter[str]) -> dict[str, int]:
    return {"pass": c["pass"], "fail": c["fail"], "suppressed": c["suppressed"]}


def summarize(results: Sequence[UnitResult], plan_errors: Sequence[ScopeError], scan_id: str,
              started: dt.datetime) -> dict[str, Any]:
    by_rule: dict[str, Counter[str]] = {}
    totals: Counter[str] = Counter()
    for r in results:
        for f in r.findings:
            totals[f.outcome] += 1
            by_rule.setdefault(f.rule.id, Counter())[f.outcome] += 1
    scopes: list[dict[str, Any]] = []
    for r in results:
        entry: dict[str, Any] = {
            "provider": r.unit.provider, "scope": r.unit.scope, "status": "ok" if r.ok else "error"}
        if not r.ok:
            entry["error"] = "; ".join(e.error for e in r.errors)
        scopes.append(entry)
    for e in plan_errors:
        scopes.append({"provider": e.provider, "scope": e.scope, "status": "error", "error": e.error})
    calls = ApiCalls()
    for r in results:
        calls.merge(r.api_calls)
    evaluation_errors = [e for r in results for e in r.evaluation_errors]
    assets = sum(len(r.assets) for r in results)
    return {
        "scan_id": scan_id,
        "version": __version__,
        "started": started.isoformat(),
        "finished": dt.datetime.now(dt.UTC).isoformat(),
        "assets": assets,
        "findings": {**_counts(totals), "closed": 0},
        "by_rule": {k: _counts(v) for k, v in sorted(by_rule.items())},
        "by_provider": _by_provider(results),
        "scopes": scopes,
        "errors": sum(1 for s in scopes if s["status"] == "error") + len(evaluation_errors),
        "evaluation_errors": evaluation_errors,
        "api_calls": calls.as_dict(),
        "api_calls_per_asset": round(calls.total() / assets, 3) if assets else 0.0,
    }


def _by_provider(results: Sequence[UnitResult]) -> dict[str, dict[str, int]]:
    out: dict[str, Counter[str]] = {}
    for r in results:
        c = out.setdefault(r.unit.provider, Counter())
        c["assets"] += len(r.assets)
        c.update(f.outcome for f in r.findings)
    return {p: {"assets": c["assets"], **_counts(c)} for p, c in sorted(out.items())}


def plan_scan(providers: Sequence[str], options: CollectOptions, credentials: Mapping[str, Any] | None = None
              ) -> tuple[list[tuple[Collector, ScopeUnit]], list[ScopeError]]:
    """(collector, unit) pairs to scan and the scopes that could not be planned (the Plan function's job, and
    ``aispm detect``'s); a provider that cannot plan is a scope error, never a crash."""
    work: list[tuple[Collector, ScopeUnit]] = []
    errors: list[ScopeError] = []
    for provider in providers:
        try:
            collector = PROVIDERS[provider].build(options, (credentials or {}).get(provider))
            units, plan_errors = collector.plan()
        except ImportError as exc:
            errors.append(ScopeError(provider=provider, scope=provider,
                                     error=f"the {provider} SDK is not installed (pip install 'aispm[{provider}]'): "
                                     f"{one_line(exc)}"))
            continue
        except Exception as exc:  # noqa: BLE001 - a provider that cannot plan is a scope error, not a crash
            errors.append(ScopeError(provider=provider, scope=provider,
                                     error=f"planning failed: {one_line(exc)}"))
            continue
        errors.extend(plan_errors)
        work.extend((collector, u) for u in units)
    startup_done()   # what the process runs on is imported; the scopes' work begins (aispm/__init__.py)
    return work, errors


def reaching(findings: Sequence[Finding], fail_on: Severity) -> int:
    """How many unsuppressed failing findings are at or above ``fail_on``."""
    return sum(1 for f in findings if f.outcome == "fail" and f.severity >= fail_on)


def exit_code_for(summary: dict[str, Any], findings: Sequence[Finding], deliveries: Sequence[DeliveryReport],
                  fail_on: Severity | None) -> int:
    codes = [exitcodes.OK]
    if fail_on is not None and reaching(findings, fail_on):
        codes.append(exitcodes.FAIL_ON)
    # Evaluation errors are reported (summary.json errors) but do not change the exit code (rules-v2.md).
    scope_failed = any(s["status"] == "error" for s in summary["scopes"])
    if scope_failed or (summary.get("state") or {}).get("status") == "error":
        codes.append(exitcodes.PARTIAL)
    if any(d.undelivered for d in deliveries):
        codes.append(exitcodes.DELIVERY)
    return max(codes)


def scope_runs(results: Sequence[UnitResult]) -> list[ScopeRun]:
    """What reconciliation needs of each unit's result."""
    return [
        ScopeRun(
            scope=r.unit.scope,
            ok=r.ok,
            findings=r.findings,
            resource_uids=frozenset(a.uid for a in r.assets),
            unevaluated_uids=frozenset(finding_uid(e["rule"], e["resource"]) for e in r.evaluation_errors),
            partial_kinds=frozenset(r.partial_kinds),
        )
        for r in results
    ]


def not_applicable(policy: Policy) -> dict[str, str]:
    """Rule id -> why a finding of it closes although its resource still exists (the policy stopped it)."""
    disabled = set(policy.rules.disabled)
    out: dict[str, str] = {}
    for rule in all_rules():
        if rule.id in disabled:
            out[rule.id] = f"The rule no longer applies: {rule.id} is disabled by policy."
        elif rule.requires_config and not policy.required_tags:
            out[rule.id] = f"The rule no longer applies: {rule.id} is not configured (no required_tags)."
    return out


def _known_accounts(work: Sequence[tuple[Collector, ScopeUnit]]) -> set[str]:
    """The accounts of the scan's units and those its collectors know of (e.g. every account of an AWS
    Organization)."""
    known = {u.account for _, u in work if u.account}
    for collector in {id(c): c for c, _ in work}.values():
        known |= set(getattr(collector, "known_accounts", ()))
    return known


_COLLECT_AFTER_FINDINGS = 1000


def run_scan(request: ScanRequest) -> ScanOutcome:
    started = dt.datetime.now(dt.UTC)
    scan_id = request.scan_id or str(uuid.uuid4())
    work, plan_errors = plan_scan(request.providers, request.options, request.credentials)
    known_accounts = _known_accounts(work)
    time_ms = now_ms()
    with ThreadPoolExecutor(max_workers=max(1, request.options.workers)) as pool:
        results = list(pool.map(
            lambda cu: scan_unit(cu[0], cu[1], request.policy, known_accounts, time_ms, scan_id), work))
    # The collectors are done: their SDK sessions cache every service model and endpoint table they loaded
    # (tens of MB for AWS), which delivery would otherwise carry through its own peak. The sessions are
    # reference cycles, freed by a full collection only: worth its fraction of a second where delivery is large.
    # The sessions were built before the process froze its objects (startup_done): they go back to the collector.
    del work
    if sum(len(r.findings) for r in results) >= _COLLECT_AFTER_FINDINGS:
        gc.unfreeze()
        gc.collect()
    return finish_scan(results, plan_errors, request, scan_id=scan_id, started=started, time_ms=time_ms)


def finish_scan(results: Sequence[UnitResult], plan_errors: Sequence[ScopeError], request: ScanRequest, *,
                scan_id: str, started: dt.datetime, time_ms: int) -> ScanOutcome:
    """Everything after collection, shared by the CLI and the Deliver function: summary, lifecycle
    (only scopes that succeeded are reconciled), delivery, dead letters, exit code."""
    results = list(results)
    assets = [a for r in results for a in r.assets]
    summary = summarize(results, plan_errors, scan_id, started)
    # Read the state before delivery (first_seen_time and closures go out with this batch) ...
    runs = scope_runs(results)
    lifecycle = close_vanished(request.state, runs, time_ms, not_applicable(request.policy))
    findings = lifecycle.findings(runs)
    if request.frameworks:
        summary["frameworks"] = framework_summary(findings, request.frameworks)
    summary["findings"]["closed"] = len(lifecycle.closed)
    summary["carried_over"] = lifecycle.carried_over
    save_ahead(request.state, lifecycle)
    summary["state"] = lifecycle.status()
    summary["files"] = list(SCAN_FILES)   # the sinks write these (inventory-v1.md: the exports among them)
    batch = Batch(scan_id=scan_id, findings=findings + lifecycle.closed, assets=assets, summary=summary,
                  became_suppressed=lifecycle.became_suppressed)
    sinks = list(request.sinks) or [FileSink(request.out_dir)]
    deliveries = [deliver_safely(sink, batch) for sink in sinks]
    warnings = sorted({f"suppression expired and no longer applies: {s}" for r in results
                       for s in r.expired_suppressions})
    # ... keep what was not delivered, and save the state last, never past a closure that was lost.
    kept = keep_undelivered(deliveries, request.dead_letter, request.out_dir, request.local_is_durable)
    warnings += kept.warnings
    hold_back(lifecycle, kept.lost)
    save_state(request.state, lifecycle)
    summary["state"] = lifecycle.status()
    summary["delivery"] = {"undelivered": kept.items, "dead_letter": kept.kept_in, "lost": len(kept.lost)}
    rewrite_summary(request.out_dir, summary)
    code = exit_code_for(summary, findings, deliveries, request.fail_on)
    return ScanOutcome(batch=batch, unit_results=results, deliveries=deliveries, exit_code=code, warnings=warnings,
                       kept=kept)
