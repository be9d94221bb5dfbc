"""Collect: one Map item (a scan unit) through the CLI's per-unit pipeline, results to S3.

Writes ``<run_prefix>units/<index>/`` ``assets.jsonl`` and ``findings.ocsf.jsonl`` (the CLI's formats)
and ``results.json.gz``, the serialized unit results Deliver reconciles from (per-scope findings,
errors, evaluation errors, API calls). Cloud errors are returned as scope errors, never raised.
A unit of a detect run reads its audit log instead (``results.json.gz`` then holds each scope's window,
per-event detections and DET-003 state).
"""

from __future__ import annotations

import datetime as dt
import gzip
import json
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from aispm import startup_done
from aispm.collectors.base import CollectOptions, Collector, ScopeError, ScopeUnit
from aispm.lambdas.credentials import provider_credentials
from aispm.lambdas.runtime import (
    FunctionSettings,
    collect_options,
    function_settings,
    logger,
    metrics,
    put_bytes,
    tracer,
)
from aispm.normalizer.providers import PROVIDERS
from aispm.pipeline import now_ms, scan_unit, summarize
from aispm.pipeline_types import UnitResult
from aispm.rules.finding import Status
from aispm.rules.policy import Policy
from aispm.settings import Settings
from aispm.sinks.formats.jsonbytes import json_lines
from aispm.sinks.formats.ocsf import to_ocsf

RESULTS_FILE = "results.json.gz"


def _collector(provider: str, options: CollectOptions, fn: FunctionSettings) -> Collector:
    return PROVIDERS[provider].build(options, provider_credentials(provider, fn))


def run_unit(item: dict[str, Any], fn: FunctionSettings, scan_id: str) -> tuple[list[UnitResult], list[ScopeError]]:
    """AWS units arrive fully planned; an Azure or Google unit is planned here (a discovery unit
    becomes every subscription or project the credential lists)."""
    provider = str(item["provider"])
    options = collect_options(Settings(), fn, provider)
    if provider == "azure":
        options.subscriptions = [item["subscription"]] if item.get("subscription") else []
    elif provider == "gcp":
        options.projects = [item["project"]] if item.get("project") else []
    collector = _collector(provider, options, fn)
    time_ms = now_ms()
    if provider == "aws":
        unit = ScopeUnit(provider="aws", scope=item["scope"], account=item.get("account") or "",
                         region=item.get("region") or "", params=item.get("params") or {})
        known = item.get("known_accounts") or [unit.account]
        return [scan_unit(collector, unit, Policy(), known, time_ms, scan_id)], []
    units, plan_errors = collector.plan()
    with ThreadPoolExecutor(max_workers=max(1, min(options.workers, len(units) or 1))) as pool:
        results = list(pool.map(lambda u: scan_unit(collector, u, Policy(), (), time_ms, scan_id), units))
    return results, plan_errors


def detect_unit(item: dict[str, Any], fn: FunctionSettings, scan_id: str) -> tuple[list[Any], list[ScopeError]]:
    """A detect run's unit: its scopes' audit logs over the lookback up to the run's start (Deliver trims each
    scope to its remembered window: the collectors never read the state table)."""
    from aispm.detect import DetectRequest, detect_units, parse_duration, parse_time

    provider = str(item["provider"])
    env = Settings()
    options = collect_options(env, fn, provider)
    if provider == "azure":
        options.subscriptions = [item["subscription"]] if item.get("subscription") else []
    elif provider == "gcp":
        options.projects = [item["project"]] if item.get("project") else []
    request = DetectRequest(providers=[provider], options=options,
                            credentials={provider: provider_credentials(provider, fn)})
    units = None
    if provider == "aws":
        units = [ScopeUnit(provider="aws", scope=item["scope"], account=item.get("account") or "",
                           region=item.get("region") or "", params=item.get("params") or {})]
    end = parse_time(str(item["window_end"]))
    return detect_units(request, end - parse_duration(env.detect_lookback), end, scan_id=scan_id, units=units)


def _detect_handler(event: dict[str, Any], fn: FunctionSettings, item: dict[str, Any], provider: str,
                    run_id: str) -> dict[str, Any]:
    index = int(event["index"])
    bucket = str(event.get("bucket") or fn.results_bucket)
    prefix = f"{event['run_prefix']}units/{index}/"
    results, plan_errors = detect_unit(item, fn, run_id)
    payload = {"detect": [r.model_dump(mode="json") for r in results],
               "plan_errors": [e.model_dump() for e in plan_errors]}
    put_bytes(bucket, f"{prefix}{RESULTS_FILE}",
              gzip.compress(json.dumps(payload, separators=(",", ":"), default=str).encode("utf-8"), mtime=0),
              "application/gzip")
    scopes = [{"provider": r.unit.provider, "scope": r.unit.scope, "status": "ok" if r.ok else "error",
               **({"error": r.error} if r.error else {})} for r in results]
    scopes += [{"provider": e.provider, "scope": e.scope, "status": "error", "error": e.error} for e in plan_errors]
    for s in scopes:
        if s["status"] == "error":
            logger.warning("scope failed", extra={"scope": s["scope"], "error": s["error"]})
    logger.info("unit read", extra={"scope": item.get("scope"), "events": sum(r.events for r in results),
                                    "detections": sum(len(r.findings) for r in results)})
    return {"provider": provider, "index": index, "scopes": scopes, "mode": "detect",
            "results_key": f"{prefix}{RESULTS_FILE}", "events": sum(r.events for r in results)}


@logger.inject_lambda_context(log_event=False)
@tracer.capture_lambda_handler
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    run_id = str(event["run_id"])
    logger.set_correlation_id(run_id)
    fn = function_settings()
    item = dict(event["unit"])
    provider = str(event.get("provider") or item["provider"])
    if fn.provider and provider != fn.provider:
        raise ValueError(f"this function collects {fn.provider}, not {provider}")
    if item.get("mode") == "detect":
        return _detect_handler(event, fn, item, provider, run_id)
    index = int(event["index"])
    bucket = str(event.get("bucket") or fn.results_bucket)
    prefix = f"{event['run_prefix']}units/{index}/"
    results, plan_errors = run_unit(item, fn, run_id)
    assets = [a.model_dump(mode="json") for r in results for a in r.assets]
    findings = [f for r in results for f in r.findings]
    put_bytes(bucket, f"{prefix}assets.jsonl", b"".join(json_lines(assets)), "application/x-ndjson")
    put_bytes(bucket, f"{prefix}findings.ocsf.jsonl", b"".join(json_lines(to_ocsf(f) for f in findings)),
              "application/x-ndjson")
    payload = {"results": [r.model_dump(mode="json") for r in results],
               "plan_errors": [e.model_dump() for e in plan_errors]}
    put_bytes(bucket, f"{prefix}{RESULTS_FILE}",
              gzip.compress(json.dumps(payload, separators=(",", ":"), default=str).encode("utf-8"), mtime=0),
              "application/gzip")
    scopes = summarize(results, plan_errors, run_id, dt.datetime.now(dt.UTC))["scopes"]
    for s in scopes:
        if s["status"] == "error":
            logger.warning("scope failed", extra={"scope": s["scope"], "error": s["error"]})
    passed = sum(1 for f in findings if f.status is Status.PASS)
    logger.info("unit collected", extra={"scope": item.get("scope"), "assets": len(assets),
                                         "findings": len(findings), "scopes": len(scopes)})
    return {"provider": provider, "index": index, "scopes": scopes,
            "assets_key": f"{prefix}assets.jsonl", "findings_key": f"{prefix}findings.ocsf.jsonl",
            "results_key": f"{prefix}{RESULTS_FILE}",
            "assets": len(assets), "findings": {"pass": passed, "fail": len(findings) - passed}}


__all__ = ["handler", "metrics"]


startup_done()   # the init phase's imports are done (aispm/__init__.py)
