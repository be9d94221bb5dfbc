"""Benchmark: a full ``aispm scan --provider aws`` of a large region served by a local moto server.

Fills a ThreadedMotoServer on 127.0.0.1 with 500 models, 500 endpoint configs,
500 endpoints and 200 notebook instances, scans it in a subprocess through
``AWS_ENDPOINT_URL``, and prints wall time, the scan process's peak RSS and API
calls per asset (from summary.json). Not a test: numbers depend on the machine.

    python bench/aws_scan.py [--models 500] [--notebooks 200]
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import subprocess
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

ROOT = Path(__file__).resolve().parents[1]
# Runs the scan as its own child and reports that child's peak RSS: measured from the bench process itself,
# the fork would count the bench's (and the emulator's) pages before exec.
MEASURE = ("import resource, subprocess, sys; rc = subprocess.run(sys.argv[1:], check=False).returncode; "
           "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, file=sys.stderr); sys.exit(rc)")
ENV = {
    "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": "us-east-1", "AWS_EC2_METADATA_DISABLED": "true",
}


def fill(url: str, models: int, notebooks: int) -> None:
    kw: Any = {"region_name": "us-east-1", "endpoint_url": url}
    iam = boto3.client("iam", **kw)
    role = iam.create_role(RoleName="exec", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
    iam.put_role_policy(RoleName="exec", PolicyName="p", PolicyDocument=json.dumps(
        {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}]}))
    sm = boto3.client("sagemaker", **kw)

    def chain(i: int) -> None:
        sm.create_model(ModelName=f"model-{i}", ExecutionRoleArn=role,
                        PrimaryContainer={"Image": "img", "Environment": {"WORKERS": "2"}})
        sm.create_endpoint_config(EndpointConfigName=f"config-{i}", ProductionVariants=[
            {"VariantName": "v", "ModelName": f"model-{i}", "InitialInstanceCount": 1 + i % 2,
             "InstanceType": "ml.m5.large"}])
        sm.create_endpoint(EndpointName=f"endpoint-{i}", EndpointConfigName=f"config-{i}")

    def notebook(i: int) -> None:
        sm.create_notebook_instance(NotebookInstanceName=f"notebook-{i}", InstanceType="ml.t3.medium", RoleArn=role)

    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(chain, range(models)))
        list(pool.map(notebook, range(notebooks)))


def emulator_floor(url: str, models: int, notebooks: int) -> float:
    """Seconds the emulator needs to answer the describes the scan makes, 8 at a time, with bare boto3.

    Endpoints are not among them: the scan reads their config names from Search pages.
    """
    sm: Any = boto3.client("sagemaker", region_name="us-east-1", endpoint_url=url)
    work: list[tuple[Any, dict[str, str]]] = [(sm.describe_model, {"ModelName": f"model-{i}"}) for i in range(models)]
    work += [(sm.describe_endpoint_config, {"EndpointConfigName": f"config-{i}"}) for i in range(models)]
    work += [(sm.describe_notebook_instance, {"NotebookInstanceName": f"notebook-{i}"}) for i in range(notebooks)]
    t0 = time.monotonic()
    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(lambda w: w[0](**w[1]), work))
    return time.monotonic() - t0


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--models", type=int, default=500, help="models, endpoint configs and endpoints each")
    p.add_argument("--notebooks", type=int, default=200)
    args = p.parse_args()
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    moto_gaps.install()   # ListMonitoringSchedules etc. answer in the server, as on AWS
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        url = f"http://{host}:{port}"
        os.environ.update(ENV)
        t0 = time.monotonic()
        fill(url, args.models, args.notebooks)
        print(f"filled in {time.monotonic() - t0:.1f}s")
        with tempfile.TemporaryDirectory() as out:
            env = {**os.environ, **ENV, "AWS_ENDPOINT_URL": url}
            t0 = time.monotonic()
            proc = subprocess.run([sys.executable, "-c", MEASURE, sys.executable, "-m", "aispm", "scan", "--provider",
                                   "aws", "--region", "us-east-1", "--out", out], cwd=ROOT, env=env,
                                  capture_output=True, text=True, check=False)
            wall = time.monotonic() - t0
            peak_mb = int(proc.stderr.strip().splitlines()[-1]) / 1024
            if proc.returncode not in (0, 3):
                print(proc.stderr, file=sys.stderr)
                return 1
            summary = json.loads((Path(out) / "summary.json").read_text())
        floor = emulator_floor(url, args.models, args.notebooks)
    finally:
        server.stop()
    calls = summary["api_calls"]["aws"]
    print(f"assets: {summary['assets']}  findings: {summary['findings']}")
    print(f"wall time: {wall:.1f}s  peak RSS: {peak_mb:.0f} MB  "
          f"API calls: {sum(calls.values())} ({summary['api_calls_per_asset']} per asset)")
    print(f"the emulator alone answers the scan's {2 * args.models + args.notebooks} describes in {floor:.1f}s "
          "(bare boto3, 8 threads)")
    print(json.dumps(calls, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
