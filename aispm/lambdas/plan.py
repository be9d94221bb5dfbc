"""Plan: the scan units of this run, written to ``runs/<run_id>/units.json`` for the Distributed Map.

The execution input's ``mode`` is ``scan`` (the default) or ``detect`` (the detect schedule's runs): a detect
unit carries the run's start as the end of its audit-log window.

AWS units come from the AWS collector's own planning (Organization accounts, member roles, enabled
regions). Azure and Google Cloud units are named from the settings alone: this function has neither
their credentials nor their SDKs, and a unit without an id is a discovery unit whose collector lists
the subscriptions or projects itself.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from aispm import startup_done
from aispm.collectors.base import ScopeError
from aispm.lambdas.runtime import collect_options, function_settings, logger, metrics, put_json, tracer
from aispm.normalizer.providers import PROVIDERS
from aispm.pipeline import plan_scan
from aispm.settings import Settings

PLAN_FILE = "plan.json"   # the run's start time and planning errors, for Deliver's summary


def aws_units(env: Settings) -> tuple[list[dict[str, Any]], list[ScopeError]]:
    work, errors = plan_scan(["aws"], collect_options(env, function_settings(), "aws"))
    known = {u.account for _, u in work if u.account}
    for collector in {id(c): c for c, _ in work}.values():   # every account of the Organization
        known |= set(getattr(collector, "known_accounts", ()))
    units = [
        {"provider": "aws", "scope": u.scope, "account": u.account, "region": u.region,
         "role_arn": u.params.get("role_arn"), "params": u.params, "known_accounts": sorted(known)}
        for _, u in work
    ]
    return units, errors


def named_units(provider: str, ids: list[str]) -> list[dict[str, Any]]:
    key = "subscription" if provider == "azure" else "project"
    if not ids:
        return [{"provider": provider, "scope": f"{provider}:*", key: None}]
    return [{"provider": provider, "scope": f"{provider}:{i}", key: i} for i in dict.fromkeys(ids)]


def wanted_providers(event_input: dict[str, Any]) -> list[str]:
    fn = function_settings()
    configured = {"aws": True, "azure": bool(fn.azure_credentials_secret), "gcp": bool(fn.gcp_wif_config_secret)}
    asked = event_input.get("providers") or list(PROVIDERS)
    return [p for p in PROVIDERS if p in asked and configured[p]]


@logger.inject_lambda_context(log_event=False)
@metrics.log_metrics
@tracer.capture_lambda_handler
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    run_id = str(event["run_id"])
    logger.set_correlation_id(run_id)
    env = Settings()
    bucket = function_settings().results_bucket
    run_prefix = f"runs/{run_id}/"
    mode = str(dict(event.get("input") or {}).get("mode") or "scan")
    if mode not in ("scan", "detect"):
        raise ValueError(f"unknown run mode {mode!r} (scan or detect)")
    providers = wanted_providers(dict(event.get("input") or {}))
    units: list[dict[str, Any]] = []
    errors: list[ScopeError] = []
    if "aws" in providers:
        aws, errors = aws_units(env)
        units += aws
    if "azure" in providers:
        units += named_units("azure", env.azure_subscriptions)
    if "gcp" in providers:
        units += named_units("gcp", env.gcp_projects)
    started = event.get("started_at") or dt.datetime.now(dt.UTC).isoformat()
    if mode == "detect":   # every unit reads its audit log up to the run's start (windows are [start, end))
        units = [{**u, "mode": mode, "window_end": started} for u in units]
    put_json(bucket, f"{run_prefix}{PLAN_FILE}", {"run_id": run_id, "started": started, "providers": providers,
                                                   "mode": mode, "errors": [e.model_dump() for e in errors]})
    put_json(bucket, f"{run_prefix}units.json", units)
    for e in errors:
        logger.warning("scope not planned", extra={"scope": e.scope, "error": e.error})
    metrics.add_metric(name="Units", unit=MetricUnit.Count, value=len(units))
    metrics.add_metric(name="PlanErrors", unit=MetricUnit.Count, value=len(errors))
    logger.info("run planned", extra={"providers": providers, "units": len(units), "plan_errors": len(errors)})
    return {"run_id": run_id, "run_prefix": run_prefix, "units_key": f"{run_prefix}units.json",
            "map_prefix": f"{run_prefix}map", "unit_count": len(units), **({"mode": mode} if mode != "scan" else {})}


startup_done()   # the init phase's imports are done (aispm/__init__.py)
