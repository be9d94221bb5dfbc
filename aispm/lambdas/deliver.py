"""Deliver: merge every unit's results, then the CLI's delivery step (summary, lifecycle, sinks,
dead letters) and ``runs/<run_id>/out/``.

Unit results are found through the Distributed Map's ResultWriter manifest; when the Map failed
(``map_error``) through every manifest under ``map_prefix``. A unit without a succeeded result is a
failed scope: it is reported in summary.json and its finding state is left as it was.
"""

from __future__ import annotations

import datetime as dt
import gzip
import json
import shutil
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from aispm import startup_done
from aispm.collectors.base import ScopeError, ScopeUnit, one_line
from aispm.lambdas.runtime import function_settings, get_bytes, get_json, list_keys, logger, metrics, put_bytes, tracer
from aispm.pipeline import finish_scan, now_ms
from aispm.pipeline_types import ScanOutcome, ScanRequest, UnitResult
from aispm.rules.finding import Status
from aispm.settings import Settings
from aispm.sinks.base import Sink, UnavailableSink
from aispm.sinks.delivery.deadletter import SqsDeadLetter
from aispm.sinks.delivery.state import DynamoStateStore
from aispm.sinks.registry import build_sinks
from aispm.sinks.transports.files import ASSETS_FILE, DETECTIONS_FILE, FINDINGS_FILE, SUMMARY_FILE

DELIVERY_RESERVE_SECONDS = 90.0   # dead letters, the state save and the output upload after the sinks

# What the run's output files are, for whoever opens them from the bucket (the report in a browser).
CONTENT_TYPES = {".json": "application/json", ".jsonl": "application/x-ndjson", ".csv": "text/csv; charset=utf-8",
                 ".html": "text/html; charset=utf-8"}


def upload_outputs(out_dir: Path, bucket: str, run_prefix: str) -> None:
    """The run's output files to ``<run_prefix>out/`` with their content types."""
    for path in sorted(out_dir.iterdir()):
        content_type = CONTENT_TYPES.get(path.suffix, "application/x-ndjson")
        put_bytes(bucket, f"{run_prefix}out/{path.name}", path.read_bytes(), content_type)


def manifest_keys(event: dict[str, Any], bucket: str, map_prefix: str) -> list[str]:
    details = (event.get("map") or {}).get("ResultWriterDetails") or {}
    if details.get("Key"):
        return [str(details["Key"])]
    return sorted(k for k in list_keys(bucket, map_prefix.rstrip("/") + "/") if k.endswith("/manifest.json"))


def map_outcomes(bucket: str, manifests: list[str]) -> tuple[dict[int, dict[str, Any]], dict[int, str]]:
    """(Collect result by unit index, failure by unit index) from the ResultWriter files."""
    succeeded: dict[int, dict[str, Any]] = {}
    failed: dict[int, str] = {}
    for manifest_key in manifests:
        files = get_json(bucket, manifest_key).get("ResultFiles", {})
        for entry in files.get("SUCCEEDED", []):
            for execution in get_json(bucket, entry["Key"]):
                output = json.loads(execution["Output"])
                succeeded[int(output["index"])] = output
        for entry in files.get("FAILED", []):
            for execution in get_json(bucket, entry["Key"]):
                index = int(json.loads(execution["Input"])["index"])
                failed[index] = f"{execution.get('Error') or 'failed'}: {one_line(Exception(execution.get('Cause')))}"
    return succeeded, failed


def unit_results(bucket: str, units: list[dict[str, Any]], succeeded: dict[int, dict[str, Any]],
                 failed: dict[int, str]) -> tuple[list[UnitResult], list[ScopeError]]:
    results: list[UnitResult] = []
    plan_errors: list[ScopeError] = []
    for index, item in enumerate(units):
        output = succeeded.get(index)
        if output is not None:
            stored = json.loads(gzip.decompress(get_bytes(bucket, output["results_key"])))
            results += [UnitResult.model_validate(r) for r in stored["results"]]
            plan_errors += [ScopeError.model_validate(e) for e in stored["plan_errors"]]
            continue
        reason = failed.get(index, "the unit was not collected (no result from the Map run)")
        unit = ScopeUnit(provider=item["provider"], scope=item["scope"], account=item.get("account") or "",
                         region=item.get("region") or "")
        results.append(UnitResult(unit=unit, errors=[
            ScopeError(provider=unit.provider, scope=unit.scope, error=f"collect failed: {reason}")]))
    return results, plan_errors


def set_deadlines(sinks: list[Sink], context: LambdaContext,
                  reserve_seconds: float = DELIVERY_RESERVE_SECONDS) -> None:
    """Sinks that can stop early (Security Hub) stop ``reserve_seconds`` before the function's timeout,
    leaving time to dead-letter what is left and save the state."""
    remaining = getattr(context, "get_remaining_time_in_millis", None)
    if not callable(remaining):
        return
    at = time.monotonic() + max(0.0, remaining() / 1000 - reserve_seconds)
    for sink in sinks:
        setter = getattr(sink, "set_deadline", None)
        if callable(setter):
            setter(at)


def _emit_metrics(outcome: ScanOutcome) -> None:
    summary = outcome.batch.summary
    metrics.add_metric(name="Assets", unit=MetricUnit.Count, value=summary["assets"])
    metrics.add_metric(name="FindingsPass", unit=MetricUnit.Count, value=summary["findings"]["pass"])
    metrics.add_metric(name="FindingsFail", unit=MetricUnit.Count, value=summary["findings"]["fail"])
    by_severity = Counter(f.severity.label for f in outcome.batch.findings
                          if f.status is Status.FAIL and not f.suppressed)
    for severity, n in sorted(by_severity.items()):
        metrics.add_metric(name=f"FindingsFail{severity}", unit=MetricUnit.Count, value=n)
    metrics.add_metric(name="ScopeErrors", unit=MetricUnit.Count,
                       value=sum(1 for s in summary["scopes"] if s["status"] == "error"))
    for provider, ops in summary["api_calls"].items():
        metrics.add_metric(name=f"ApiCalls{provider.capitalize()}", unit=MetricUnit.Count, value=sum(ops.values()))
    metrics.add_metric(name="Undelivered", unit=MetricUnit.Count,
                       value=sum(len(d.undelivered) for d in outcome.deliveries))


@logger.inject_lambda_context(log_event=False)
@metrics.log_metrics
@tracer.capture_lambda_handler
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    plan = event["plan"]
    run_id = str(plan["run_id"])
    logger.set_correlation_id(run_id)
    fn = function_settings()
    env = Settings()
    bucket = fn.results_bucket
    run_prefix = str(plan["run_prefix"])
    if event.get("map_error"):
        logger.error("the Map run failed", extra={"error": event["map_error"].get("Error")})
    units: list[dict[str, Any]] = get_json(bucket, plan["units_key"])
    meta = get_json(bucket, f"{run_prefix}plan.json")
    succeeded, failed = map_outcomes(bucket, manifest_keys(event, bucket, plan["map_prefix"]))
    if meta.get("mode") == "detect":
        return deliver_detections(context, run_id, run_prefix, units, meta, succeeded, failed)
    results, plan_errors = unit_results(bucket, units, succeeded, failed)
    plan_errors = [ScopeError.model_validate(e) for e in meta.get("errors", [])] + plan_errors
    out_dir = Path(tempfile.gettempdir()) / "aispm" / run_id / "out"
    shutil.rmtree(out_dir, ignore_errors=True)
    sinks = build_sinks(env.sinks, out_dir, keep_going=True)
    for sink in sinks:
        if isinstance(sink, UnavailableSink):
            logger.error("sink not usable; its findings go to the dead-letter queue", extra={"sink": sink.name})
    set_deadlines(sinks, context)
    request = ScanRequest(
        providers=[], out_dir=out_dir, sinks=sinks, scan_id=run_id,
        state=DynamoStateStore(env.state_table) if env.state_table else None,
        dead_letter=SqsDeadLetter(env.dead_letter_queue_url) if env.dead_letter_queue_url else None,
        local_is_durable=False,
    )
    started = dt.datetime.fromisoformat(str(meta.get("started") or dt.datetime.now(dt.UTC).isoformat()))
    outcome = finish_scan(results, plan_errors, request, scan_id=run_id, started=started, time_ms=now_ms())
    upload_outputs(out_dir, bucket, run_prefix)
    for warning in outcome.warnings:
        logger.warning(warning)
    for scope in outcome.batch.summary["scopes"]:
        if scope["status"] == "error":
            logger.warning("scope failed", extra={"scope": scope["scope"], "error": scope["error"]})
    _emit_metrics(outcome)
    summary = outcome.batch.summary
    logger.info("run delivered", extra={"assets": summary["assets"], "findings": summary["findings"],
                                        "errors": summary["errors"], "exit_code": outcome.exit_code})
    return {"summary_key": f"{run_prefix}out/{SUMMARY_FILE}", "exit_code": outcome.exit_code,
            "findings_key": f"{run_prefix}out/{FINDINGS_FILE}", "assets_key": f"{run_prefix}out/{ASSETS_FILE}",
            "units": len(units), "failed_units": len(units) - len(succeeded),
            "undelivered": sum(len(d.undelivered) for d in outcome.deliveries)}


def deliver_detections(context: LambdaContext, run_id: str, run_prefix: str, units: list[dict[str, Any]],
                       meta: dict[str, Any], succeeded: dict[int, dict[str, Any]],
                       failed: dict[int, str]) -> dict[str, Any]:
    """A detect run: every scope's window and detections, DET-003 across each account's regions, the CLI's
    delivery; windows of scopes that were read are advanced in the state table."""
    from aispm.detect import DetectRequest, ScopeResult, finish_detect, parse_duration, parse_time, remembered_windows

    fn = function_settings()
    env = Settings()
    bucket = fn.results_bucket
    end = parse_time(str(meta.get("started") or dt.datetime.now(dt.UTC).isoformat()))
    results: list[ScopeResult] = []
    plan_errors = [ScopeError.model_validate(e) for e in meta.get("errors", [])]
    for index, item in enumerate(units):
        output = succeeded.get(index)
        if output is not None:
            stored = json.loads(gzip.decompress(get_bytes(bucket, output["results_key"])))
            results += [ScopeResult.model_validate(r) for r in stored["detect"]]
            plan_errors += [ScopeError.model_validate(e) for e in stored["plan_errors"]]
            continue
        reason = failed.get(index, "the unit was not collected (no result from the Map run)")
        plan_errors.append(ScopeError(provider=item["provider"], scope=item["scope"],
                                      error=f"collect failed: {reason}"))
    state = DynamoStateStore(env.state_table) if env.state_table else None
    gaps: list[str] = []
    if state is not None:
        results, gaps = remembered_windows(results, state, parse_duration(env.detect_since))
    out_dir = Path(tempfile.gettempdir()) / "aispm" / run_id / "out"
    shutil.rmtree(out_dir, ignore_errors=True)
    out_dir.mkdir(parents=True, exist_ok=True)
    sinks = build_sinks(env.sinks, out_dir, keep_going=True)
    set_deadlines(sinks, context)
    request = DetectRequest(
        providers=list(meta.get("providers") or []), out_dir=out_dir, sinks=sinks, scan_id=run_id,
        state=state, dead_letter=SqsDeadLetter(env.dead_letter_queue_url) if env.dead_letter_queue_url else None,
        local_is_durable=False)
    for gap in gaps:
        logger.warning(gap)
    outcome = finish_detect(results, plan_errors, request, scan_id=run_id, started=end, today=end.date(), notes=gaps)
    upload_outputs(out_dir, bucket, run_prefix)
    for warning in outcome.warnings:
        logger.warning(warning)
    summary = outcome.summary
    metrics.add_metric(name="Detections", unit=MetricUnit.Count, value=sum(summary["detections"]["by_id"].values()))
    metrics.add_metric(name="ScopeErrors", unit=MetricUnit.Count,
                       value=sum(1 for s in summary["scopes"] if s["status"] == "error"))
    logger.info("detections delivered", extra={"detections": summary["detections"]["by_id"],
                                               "errors": summary["errors"], "exit_code": outcome.exit_code})
    return {"summary_key": f"{run_prefix}out/{SUMMARY_FILE}", "exit_code": outcome.exit_code,
            "detections_key": f"{run_prefix}out/{DETECTIONS_FILE}", "units": len(units),
            "failed_units": len(units) - len(succeeded),
            "undelivered": sum(len(d.undelivered) for d in outcome.deliveries)}


startup_done()   # the init phase's imports are done (aispm/__init__.py)
