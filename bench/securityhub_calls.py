"""BatchImportFindings calls (and wall time) to import N findings into moto's Security Hub.

    python bench/securityhub_calls.py [--findings 10000]

The target is N/100 calls: full batches of 100, no call wasted. Wall time is bounded below by
the sink's own limit of 10 calls a second.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

for key, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_SESSION_TOKEN": "testing",
                   "AWS_DEFAULT_REGION": "us-east-1", "AWS_EC2_METADATA_DISABLED": "true"}.items():
    os.environ[key] = value
os.environ.pop("AWS_ENDPOINT_URL", None)

import boto3  # noqa: E402
from moto import mock_aws  # noqa: E402

from aispm.sinks.base import Batch  # noqa: E402
from aispm.sinks.formats.ocsf import from_ocsf  # noqa: E402
from aispm.sinks.transports.securityhub import SecurityHubSink  # noqa: E402
from tests.support.findings import aws_asset, finding  # noqa: E402


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--findings", type=int, default=10_000)
    args = p.parse_args()
    findings = [finding(aws_asset(i)) for i in range(args.findings)]
    with mock_aws():
        boto3.client("securityhub").enable_security_hub()
        calls: list[int] = []
        session = boto3.Session()
        sink = SecurityHubSink(session=session)
        client = sink._client("us-east-1")
        client.meta.events.register("provide-client-params.securityhub.BatchImportFindings",
                                    lambda params, **_: calls.append(len(params["Findings"])))
        started = time.perf_counter()
        report = sink.deliver(Batch(scan_id="bench", findings=[from_ocsf(f) for f in findings], assets=[], summary={}))
        elapsed = time.perf_counter() - started
    print(f"{report.delivered} findings imported ({len(report.undelivered)} undelivered) in {len(calls)} "
          f"BatchImportFindings calls (largest {max(calls)}, smallest {min(calls)} findings) in {elapsed:.1f}s "
          f"({report.delivered / elapsed:,.0f} findings/s at the 10 calls/s limit)")


if __name__ == "__main__":
    main()
