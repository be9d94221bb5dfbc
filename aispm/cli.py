"""The ``aispm`` command line: argument parsing, exit codes and what a person reads on the terminal."""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NoReturn

from aispm import __version__, exitcodes, startup_done
from aispm.collectors.base import one_line
from aispm.exitcodes import UsageError
from aispm.rules.frameworks import FRAMEWORKS
from aispm.tables import render_table, summary_table
from aispm.terminal import warn

SEVERITIES = ("informational", "low", "medium", "high", "critical")


class _Parser(argparse.ArgumentParser):
    """argparse that reports a usage error as one line and exit code 2."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(message)


def _parser() -> _Parser:
    p = _Parser(prog="aispm", description="AI Security Posture Management for SageMaker, Azure ML and Vertex AI.")
    p.add_argument("--version", action="version", version=f"aispm {__version__}")
    sub = p.add_subparsers(dest="command", parser_class=_Parser)

    scan = sub.add_parser("scan", help="scan cloud AI/ML resources and deliver findings")
    scan.add_argument("--provider", action="append", choices=("aws", "azure", "gcp"), default=[])
    scan.add_argument("--region", action="append", default=[], help="AWS region (repeatable)")
    scan.add_argument("--all-regions", action="store_true", help="every region where SageMaker is offered")
    scan.add_argument("--role-arn", action="append", default=[], help="AWS role to assume per target account")
    scan.add_argument("--org", action="store_true", help="every active account of the AWS Organization")
    scan.add_argument("--external-id", default=None)
    scan.add_argument("--subscription", action="append", default=[], help="Azure subscription id (repeatable)")
    scan.add_argument("--project", action="append", default=[], help="GCP project id (repeatable)")
    scan.add_argument("--location", action="append", default=[], help="GCP location (repeatable)")
    _common(scan)
    scan.add_argument("--state", default=None, help="finding lifecycle state file")
    scan.add_argument("--fail-on", choices=SEVERITIES, default=None)
    scan.add_argument("--workers", type=_positive, default=None, help="scope units collected at once (default 8)")
    scan.add_argument("--scope-workers", type=_positive, default=None,
                      help="calls in flight within one scope unit (default 16)")
    scan.add_argument("--rate-limit", action="append", default=[], metavar="SERVICE=RPS",
                      help="requests per second per account and region (AWS), subscription (arm) or project and "
                           "region (vertex) for one service, e.g. sagemaker=20 (repeatable)")
    scan.add_argument("--framework", action="append", default=[], help=_framework_help())

    detect = sub.add_parser("detect", help="read the clouds' audit logs for a window and deliver detections")
    detect.add_argument("--provider", action="append", choices=("aws", "azure", "gcp"), default=[])
    detect.add_argument("--since", default="1h", help="window length: 15m, 6h, 2d (default 1h)")
    detect.add_argument("--start", default=None, help="window start (ISO 8601); overrides the remembered one")
    detect.add_argument("--end", default=None, help="window end (ISO 8601, default now; excluded)")
    detect.add_argument("--region", action="append", default=[], help="AWS region (repeatable)")
    detect.add_argument("--all-regions", action="store_true")
    detect.add_argument("--role-arn", action="append", default=[])
    detect.add_argument("--org", action="store_true")
    detect.add_argument("--external-id", default=None)
    detect.add_argument("--subscription", action="append", default=[])
    detect.add_argument("--project", action="append", default=[])
    _common(detect)
    detect.add_argument("--state", default=None, help="remember each scope's window end here")
    detect.add_argument("--fail-on", choices=SEVERITIES, default=None)
    detect.add_argument("--workers", type=_positive, default=None)
    detect.set_defaults(location=[])

    demo = sub.add_parser("demo", help="run the full pipeline on the built-in simulated three-cloud estate")
    demo.add_argument("--out", default="aispm-out")

    rules = sub.add_parser("rules", help="the rule catalog")
    rsub = rules.add_subparsers(dest="rules_command", parser_class=_Parser)
    rl = rsub.add_parser("list", help="list every rule")
    rl.add_argument("--format", choices=("table", "json"), default="table")
    rs = rsub.add_parser("show", help="show one rule with its metadata")
    rs.add_argument("rule_id")
    rs.add_argument("--format", choices=("text", "json"), default="text")

    replay = sub.add_parser("replay", help="re-deliver what is in a dead-letter store")
    replay.add_argument("source", metavar="FILE_OR_QUEUE_URL")
    replay.add_argument("--sink", action="append", default=[])
    replay.add_argument("--out", default="aispm-out")

    export = sub.add_parser("export", help="rebuild inventory.csv, aibom.cdx.json and report.html from a scan's files")
    export.add_argument("--from", dest="source", required=True, metavar="DIR", help="a scan's --out folder")
    export.add_argument("--format", action="append", choices=("csv", "cyclonedx", "html"), default=[],
                        help="csv, cyclonedx or html (repeatable; default: all three)")
    export.add_argument("--out", default=None, help="where to write them (default: the --from folder)")
    return p


def _framework_help() -> str:
    """The --framework choices, read from the compliance catalogs so a new framework is listed without a code change."""
    standards = [fid for fid, fw in FRAMEWORKS.items() if fw.provider is None]
    native = [fid for fid, fw in FRAMEWORKS.items() if fw.provider is not None]
    return (f"add a per-requirement compliance summary ({', '.join(standards)}; "
            f"or a cloud's own controls: {', '.join(native)})")


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", default=None, help="policy file (YAML)")
    p.add_argument("--out", default="aispm-out", help="output folder (default ./aispm-out)")
    p.add_argument("--sink", action="append", default=[], help="file, splunk, securityhub, sentinel or s3://bucket/prefix")


def _positive(value: str) -> int:
    try:
        n = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {value!r}") from None
    if n < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {n}")
    return n


def _cmd_scan(args: argparse.Namespace) -> int:
    from aispm.scan import run_from_args

    return run_from_args(args)


def _cmd_detect(args: argparse.Namespace) -> int:
    from aispm.detect import run_from_args

    return run_from_args(args)


def _cmd_demo(args: argparse.Namespace) -> int:
    from aispm.demo.run import run_demo

    return run_demo(Path(args.out))


def rule_record(rule: Any) -> dict[str, Any]:
    """Everything the catalog knows about a rule, as JSON (see aispm.rules.docs)."""
    from aispm.rules.docs import rule_record as record

    return record(rule)


def _cmd_rules(args: argparse.Namespace) -> int:
    from aispm.rules.catalog import all_rules, rules_by_id
    from aispm.rules.detections.catalog import all_detections, detection_record, detection_text, detections_by_id

    if args.rules_command == "show":
        rule = rules_by_id().get(args.rule_id.upper())
        detection = detections_by_id().get(args.rule_id.upper())
        if detection is not None:
            print(json.dumps(detection_record(detection), indent=2) if args.format == "json"
                  else detection_text(detection))
            return exitcodes.OK
        if rule is None:
            raise UsageError(f"unknown rule id {args.rule_id!r} (see 'aispm rules list')")
        if args.format == "json":
            print(json.dumps(rule_record(rule), indent=2))
        else:
            from aispm.rules.docs import rule_text

            print(rule_text(rule))
        return exitcodes.OK
    if args.rules_command != "list":
        raise UsageError("rules: choose 'list' or 'show RULE_ID'")
    rules = all_rules()
    if args.format == "json":
        print(json.dumps([rule_record(r) for r in rules] + [detection_record(d) for d in all_detections()], indent=2))
    else:
        rows = [[r.id, r.severity.name, ",".join(r.providers), r.title] for r in rules]
        rows += [[d.id, d.severity.name, ",".join(d.providers), f"{d.title} (detection)"] for d in all_detections()]
        print(render_table(["id", "severity", "clouds", "title"], rows))
    return exitcodes.OK


def _cmd_replay(args: argparse.Namespace) -> int:
    from aispm.replay import run_replay

    return run_replay(args)


def _cmd_export(args: argparse.Namespace) -> int:
    from aispm.export import run_export

    return run_export(args)


_PLANNING = frozenset({"scan", "detect", "demo"})


def main(argv: Sequence[str] | None = None) -> int:
    try:
        args = _parser().parse_args(argv)
        if args.command is None:
            raise UsageError("choose a command: scan, detect, demo, rules, replay or export (see 'aispm --help')")
        handler = {"scan": _cmd_scan, "detect": _cmd_detect, "demo": _cmd_demo, "rules": _cmd_rules,
                   "replay": _cmd_replay, "export": _cmd_export}[args.command]
        if args.command not in _PLANNING:
            startup_done()   # scan, detect and demo end their start once their scopes are planned
        return handler(args)
    except UsageError as exc:
        warn(f"error: {exc}")
        return exitcodes.USAGE
    except KeyboardInterrupt:
        print("aispm: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return exitcodes.OK
    except Exception as exc:  # the contract: exit 1, one line; the traceback only on request
        if os.environ.get("AISPM_DEBUG"):
            raise
        warn(f"unexpected error: {type(exc).__name__}: {one_line(exc)} "
             "(set AISPM_DEBUG=1 for details)")
        return exitcodes.UNEXPECTED


__all__ = ["main", "rule_record", "summary_table"]
