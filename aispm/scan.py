"""``aispm scan``: turn flags, config file and environment into a scan, run it, report it."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

from pydantic import ValidationError
from pydantic_settings import BaseSettings

from aispm import exitcodes
from aispm.collectors.base import CollectOptions
from aispm.collectors.ratelimit import RateLimitError, parse_rates
from aispm.exitcodes import UsageError
from aispm.normalizer.providers import PROVIDERS, configured_providers
from aispm.outdir import check_out_dir
from aispm.pipeline import reaching, run_scan
from aispm.pipeline_types import ScanOutcome, ScanRequest
from aispm.rules.compliance import UnknownFramework, check_framework_ids
from aispm.rules.model import Severity
from aispm.rules.policy import Policy, PolicyError, load_policy
from aispm.settings import Settings
from aispm.sinks.base import Sink
from aispm.sinks.delivery.deadletter import SqsDeadLetter
from aispm.sinks.delivery.state import open_state
from aispm.sinks.errors import SinkConfigError, setting_line
from aispm.sinks.registry import build_sinks
from aispm.tables import framework_table, summary_table
from aispm.terminal import say, warn


def load_settings() -> Settings:
    try:
        return Settings()
    except ValidationError as exc:
        raise UsageError(setting_line("AISPM_", exc)) from None


def _sinks(names: Sequence[str], out_dir: Path) -> list[Sink]:
    try:
        return build_sinks(names, out_dir)
    except SinkConfigError as exc:
        raise UsageError(str(exc)) from None


def request_from_args(args: argparse.Namespace, settings: BaseSettings | None = None) -> ScanRequest:
    env = settings if isinstance(settings, Settings) else load_settings()
    try:
        policy = load_policy(args.config) if args.config else Policy()
    except PolicyError as exc:
        raise UsageError(str(exc)) from None
    try:
        frameworks = check_framework_ids(getattr(args, "framework", None) or [])
    except UnknownFramework as exc:
        raise UsageError(f"--framework: {exc}") from None
    out_dir = Path(args.out)
    check_out_dir(out_dir)   # before any cloud call (a credential probe, a Secrets Manager token)
    if "gcp" in args.provider or not args.provider:   # reads only the environment
        from aispm.collectors.gcp.endpoint import EndpointError, check_configuration

        try:
            check_configuration()
        except EndpointError as exc:
            raise UsageError(str(exc)) from None
    providers = list(dict.fromkeys(args.provider)) or configured_providers()
    if not providers:
        raise UsageError("no cloud credentials found; pass --provider aws|azure|gcp (or run 'aispm demo')")
    options = CollectOptions(
        regions=args.region or env.regions,
        all_regions=args.all_regions,
        role_arns=args.role_arn,
        org=args.org or env.org,
        external_id=args.external_id or env.external_id,
        member_role_name=env.member_role_name,
        subscriptions=args.subscription or env.azure_subscriptions,
        projects=args.project or env.gcp_projects,
        locations=args.location or env.gcp_locations,
        job_window_days=env.job_window_days,
        collect_tags=policy.needs_tags,
        workers=args.workers or env.workers,
        scope_workers=getattr(args, "scope_workers", None) or env.scope_workers,
        rate_limits=_rates(getattr(args, "rate_limit", None) or env.rate_limits),
    )
    return ScanRequest(
        providers=[p for p in PROVIDERS if p in providers],
        options=options,
        policy=policy,
        out_dir=out_dir,
        sinks=_sinks(args.sink or env.sinks, out_dir),
        fail_on=Severity[args.fail_on] if args.fail_on else None,
        frameworks=frameworks,
        state=open_state(args.state, env.state_table),
        dead_letter=SqsDeadLetter(env.dead_letter_queue_url) if env.dead_letter_queue_url else None,
    )


def _kept_line(outcome: ScanOutcome) -> str:
    kept = outcome.kept
    if kept.lost:
        return f"{len(kept.lost)} undelivered items could NOT be kept (the dead-letter store cannot be written)"
    return f"kept in the dead-letter store {kept.kept_in}"


def report(outcome: ScanOutcome, out_dir: Path, fail_on: Severity | None = None) -> None:
    """What a person reads after a scan: warnings and errors on stderr, the summary on stdout."""
    summary = outcome.batch.summary
    for w in outcome.warnings:
        warn(f"warning: {w}")
    for scope in summary["scopes"]:
        if scope["status"] == "error":
            warn(f"scope {scope['scope']} failed: {scope['error']}")
    for e in summary.get("evaluation_errors", []):
        warn(f"{e['rule']} on {e['resource']} not evaluated: {e['error']}")
    state = summary.get("state") or {}
    if state.get("status") == "error":
        warn(f"lifecycle state error, nothing was closed for the scopes concerned: {state.get('error')}")
    for d in outcome.deliveries:
        if d.undelivered:
            warn(f"sink {d.sink}: {len(d.undelivered)} items not delivered ({d.undelivered[0].reason}); "
                 f"{_kept_line(outcome)}")
    say(summary_table(summary, outcome.batch.findings))
    f = summary["findings"]
    files_ok = all(not d.undelivered for d in outcome.deliveries if d.sink == "file")
    where = f"Files in {out_dir.resolve()}" if files_ok else f"The files in {out_dir.resolve()} are incomplete"
    say(f"\n{summary['assets']} assets, {f['fail']} failing, {f['suppressed']} suppressed, {f['pass']} passing and "
        f"{f['closed']} closed findings, {summary['errors']} errors. {where}")
    for fw in summary.get("frameworks", {}).values():
        say(f"\n{fw['name']}\n{framework_table(fw)}")
    if fail_on is not None and (n := reaching(outcome.batch.findings, fail_on)):
        warn(f"--fail-on {fail_on.name} reached: {n} failing findings at {fail_on.name} or above")


def run_from_args(args: argparse.Namespace) -> int:
    request = request_from_args(args)
    outcome = run_scan(request)
    report(outcome, request.out_dir, request.fail_on)
    return outcome.exit_code


__all__ = ["exitcodes", "request_from_args", "run_from_args"]


def _rates(items: Sequence[str]) -> dict[str, float]:
    try:
        return parse_rates(list(items))
    except RateLimitError as exc:
        raise UsageError(f"--rate-limit: {exc}") from None
