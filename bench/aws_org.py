"""Benchmark: ``aispm scan --provider aws --org`` of an AWS Organization on moto, latency-bound.

Creates an Organization of 50 accounts (the management account and 49 members) in a ThreadedMotoServer on
127.0.0.1 and, in each account and each of 3 regions, 20 SageMaker resources (5 models, 5 endpoint configs,
5 endpoints, 5 notebook instances; each account has its execution role). moto keeps its state per account: a
member's resources are created with credentials from STS AssumeRole of the member role, whose access key moto
ties to that account (as the scan's own AssumeRole does). The estate is filled straight into moto; then the scan
runs through the latency proxy (bench/latency_proxy.py, 50 ms per call by default) with ``--org`` and the three
regions, and the bench prints wall time, calls, AssumeRole calls (once per member account per scan), peak RSS,
achieved concurrency and the bound calls x latency / configured concurrency. Not a test: numbers depend on the
machine.

    python bench/aws_org.py [--accounts 50] [--regions 3] [--per-region 20] [--latency-ms 50] [--workers N]
                            [--baseline | --replay] [--checkout DIR]
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import boto3
from moto.server import ThreadedMotoServer

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from aispm.testing import moto_gaps
from bench.latency_proxy import Answers, LatencyProxy
from bench.scan_bench import ENV, configured, latency_lines, run_scan

MGMT = "123456789012"   # moto's default account: the caller, and the Organization's management account
REGIONS = ("us-east-1", "us-west-2", "eu-west-1", "eu-central-1", "ap-northeast-1")
MEMBER_ROLE = "aispm-member-read"   # the scan's default --org member role (Settings.member_role_name)


def _client(url: str, service: str, region: str, creds: dict[str, str] | None) -> Any:
    extra = {} if creds is None else {"aws_access_key_id": creds["AccessKeyId"],
                                      "aws_secret_access_key": creds["SecretAccessKey"],
                                      "aws_session_token": creds["SessionToken"]}
    return boto3.client(service, region_name=region, endpoint_url=url, **extra)  # type: ignore[call-overload]


def organization(url: str, accounts: int) -> dict[str, dict[str, str] | None]:
    """Account id -> credentials in it (None: the management account's own), for ``accounts`` accounts."""
    org = _client(url, "organizations", "us-east-1", None)
    org.create_organization(FeatureSet="ALL")
    for i in range(accounts - 1):
        org.create_account(Email=f"member-{i}@example.com", AccountName=f"member-{i}")
    sts = _client(url, "sts", "us-east-1", None)
    out: dict[str, dict[str, str] | None] = {MGMT: None}
    for page in org.get_paginator("list_accounts").paginate():
        for acct in page["Accounts"]:
            if acct["Id"] != MGMT:
                out[acct["Id"]] = sts.assume_role(RoleArn=f"arn:aws:iam::{acct['Id']}:role/{MEMBER_ROLE}",
                                                  RoleSessionName="bench-fill")["Credentials"]
    return out


def fill(url: str, creds: dict[str, dict[str, str] | None], regions: list[str], per_region: int) -> int:
    """Each account's role and, per region, ``per_region`` resources (a quarter each: models, endpoint configs,
    endpoints, notebooks); returns how many resources were made."""
    quarter = max(1, per_region // 4)
    roles: dict[str, str] = {}
    for acct, c in creds.items():
        roles[acct] = _client(url, "iam", "us-east-1", c).create_role(
            RoleName="exec", AssumeRolePolicyDocument="{}")["Role"]["Arn"]

    def region(job: tuple[str, str]) -> int:
        acct, name = job
        sm = _client(url, "sagemaker", name, creds[acct])
        for i in range(quarter):
            sm.create_model(ModelName=f"model-{i}", ExecutionRoleArn=roles[acct],
                            PrimaryContainer={"Image": "img", "Environment": {"WORKERS": "2"}})
            sm.create_endpoint_config(EndpointConfigName=f"config-{i}", ProductionVariants=[
                {"VariantName": "v", "ModelName": f"model-{i}", "InitialInstanceCount": 1 + i % 2,
                 "InstanceType": "ml.m5.large"}])
            sm.create_endpoint(EndpointName=f"endpoint-{i}", EndpointConfigName=f"config-{i}")
            sm.create_notebook_instance(NotebookInstanceName=f"notebook-{i}", InstanceType="ml.t3.medium",
                                        RoleArn=roles[acct])
        return 4 * quarter

    with ThreadPoolExecutor(max_workers=8) as pool:
        return sum(pool.map(region, [(a, r) for a in creds for r in regions]))


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--accounts", type=int, default=50, help="accounts of the Organization, management included")
    p.add_argument("--regions", type=int, default=3, choices=range(1, len(REGIONS) + 1), metavar="1-5")
    p.add_argument("--per-region", type=int, default=20, help="resources per account and region")
    p.add_argument("--latency-ms", type=float, default=50.0)
    p.add_argument("--workers", type=int, default=None, help="the scan's --workers (default: the scan's own)")
    p.add_argument("--baseline", action="store_true", help="first scan once without added latency (the emulator's "
                   "and the scan's own CPU time: what no concurrency can hide)")
    p.add_argument("--replay", action="store_true", help="scan once without added latency (as --baseline), keeping "
                   "moto's answers, and serve the measured scan from them: the emulator's CPU out of the measured "
                   "run (bench/latency_proxy.py)")
    p.add_argument("--fixed-cost", type=float, default=None,
                   help="seconds of fixed cost (bench/fixed_cost.py) to add to the target 1.5 x bound")
    p.add_argument("--checkout", type=Path, default=None,
                   help="scan with the aispm of this source tree (default: this one), to compare revisions")
    args = p.parse_args()
    regions = list(REGIONS[:args.regions])
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    moto_gaps.install()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        url = f"http://{host}:{port}"
        os.environ.update(ENV)
        t0 = time.monotonic()
        creds = organization(url, args.accounts)
        made = fill(url, creds, regions, args.per_region)
        print(f"filled {len(creds)} accounts x {len(regions)} regions, {made:,} resources in "
              f"{time.monotonic() - t0:.1f}s")
        scan_args = ["--org", *(a for r in regions for a in ("--region", r)),
                     *(["--workers", str(args.workers)] if args.workers else [])]
        zero = None
        answers: Answers | None = {} if args.replay else None
        for latency in ([0.0] if args.baseline or args.replay else []) + [args.latency_ms]:
            proxy = LatencyProxy(url, latency, answers=answers).start()
            try:
                with tempfile.TemporaryDirectory() as out:
                    run = run_scan(proxy.url, Path(out), scan_args, args.checkout)
            finally:
                proxy.stop()
            stats = proxy.stats()
            if run.returncode not in (0, 3):
                print(run.stderr, file=sys.stderr)
                return 1
            failed = [s for s in run.summary["scopes"] if s["status"] != "ok"]
            assume = run.calls.get("sts:AssumeRole", 0)
            print(f"--- {latency:g} ms: {len(run.summary['scopes'])} scopes ({len(failed)} failed"
                  f"{': ' + failed[0]['scope'] + ' ' + failed[0].get('error', '')[:200] if failed else ''})")
            print(f"AssumeRole: {assume} in summary.json, {stats.operations.get('sts:AssumeRole', 0)} through the "
                  f"proxy (member accounts: {len(creds) - 1})")
            if latency:
                conc = configured(args.workers, len(creds) * len(regions), args.checkout)
                for line in latency_lines(run, stats, latency, conc, made, args.fixed_cost, zero):
                    print(line + (f" assume_role={assume}" if line.startswith("RESULT") else ""))
            else:
                zero = run
                print(f"wall {run.wall:.1f}s  scan CPU {run.cpu:.1f}s  peak RSS {run.peak_mb:.0f} MB  calls "
                      f"{stats.calls} (summary.json {run.total_calls})  max in flight {stats.max_in_flight}")
    finally:
        server.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
