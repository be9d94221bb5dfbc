"""``aispm scan``: turn flags, config file and environment into a scan, run it, report it."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from pydantic import ValidationError
from pydantic_settings import BaseSettings

from aispm import exitcodes
from aispm.credentials import configured_providers
from aispm.exitcodes import UsageError
from aispm.pipeline import PROVIDERS, ScanOutcome, ScanRequest, run_scan
from aispm.settings import Settings
from aispm.tables import framework_table, summary_table
from collectors.base import CollectOptions
from rules.compliance import UnknownFramework, check_framework_ids
from rules.model import Severity
from rules.policy import Policy, PolicyError, load_policy
from sinks.base import Sink
from sinks.deadletter import SqsDeadLetter
from sinks.files import FileSink
from sinks.state import open_state


def load_settings() -> Settings:
    try:
        return Settings()
    except ValidationError as exc:
        err = exc.errors()[0]
        key = "AISPM_" + "_".join(str(x) for x in err["loc"]).upper()
        raise UsageError(f"environment variable {key}: {err['msg']}") from None


def build_sinks(names: Sequence[str], out_dir: Path) -> list[Sink]:
    """Sink objects for ``--sink`` names; the file sink is always first so nothing is lost locally."""
    from sinks.errors import SinkConfigError
    from sinks.registry import build_sink

    sinks: list[Sink] = [FileSink(out_dir)]
    for name in names:
        if name == "file":
            continue
        try:
            sinks.append(build_sink(name, out_dir))
        except SinkConfigError as exc:
            raise UsageError(f"--sink {name}: {exc}") from None
    return sinks


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
    )
    out_dir = Path(args.out)
    return ScanRequest(
        providers=[p for p in PROVIDERS if p in providers],
        options=options,
        policy=policy,
        out_dir=out_dir,
        sinks=build_sinks(args.sink or env.sinks, out_dir),
        fail_on=Severity[args.fail_on] if args.fail_on else None,
        frameworks=frameworks,
        state=open_state(args.state, env.state_table),
        dead_letter=SqsDeadLetter(env.dead_letter_queue_url) if env.dead_letter_queue_url else None,
    )


def report(outcome: ScanOutcome, out_dir: Path) -> None:
    """What a person reads after a scan: warnings and errors on stderr, the summary on stdout."""
    summary = outcome.batch.summary
    for w in outcome.warnings:
        print(f"aispm: warning: {w}", file=sys.stderr)
    for scope in summary["scopes"]:
        if scope["status"] == "error":
            print(f"aispm: scope {scope['scope']} failed: {scope['error']}", file=sys.stderr)
    for e in summary.get("evaluation_errors", []):
        print(f"aispm: {e['rule']} on {e['resource']} not evaluated: {e['error']}", file=sys.stderr)
    for d in outcome.deliveries:
        if d.undelivered:
            print(f"aispm: sink {d.sink}: {len(d.undelivered)} items not delivered "
                  f"({d.undelivered[0].reason}); kept in the dead-letter store", file=sys.stderr)
    print(summary_table(summary, outcome.batch.findings))
    f = summary["findings"]
    print(f"\n{summary['assets']} assets, {f['fail']} failing and {f['pass']} passing findings, "
          f"{summary['errors']} errors. Files in {out_dir.resolve()}")
    for fw in summary.get("frameworks", {}).values():
        print(f"\n{fw['name']}\n{framework_table(fw)}")


def run_from_args(args: argparse.Namespace) -> int:
    request = request_from_args(args)
    outcome = run_scan(request)
    report(outcome, request.out_dir)
    return outcome.exit_code


__all__ = ["exitcodes", "request_from_args", "run_from_args"]
