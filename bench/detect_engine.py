"""100,000 CloudTrail records through the detection engine: events per second and peak RSS.

The records are shaped like CloudTrail's (the parsed CloudTrailEvent JSON): a mix of Bedrock invocations and
model-access calls by 2,000 principals (DET-003's per-principal state), SageMaker and Bedrock changes (some
matching a detection), across three regions and 48 hours. The clock covers mapping each record to the
audit-event model and evaluating every detection; generating the records is outside it.

    .venv/bin/python bench/detect_engine.py [--events 100000]
"""

from __future__ import annotations

import argparse
import datetime as dt
import random
import resource
import time

from aispm.normalizer.audit import from_cloudtrail
from aispm.rules.detections.engine import Evaluator

NAMES = ["InvokeModel"] * 40 + ["InvokeModelWithResponseStream"] * 10 + [
    "ListFoundationModels", "GetFoundationModelAvailability", "ListFoundationModelAgreementOffers",
    "GetUseCaseForModelAccess", "ListGuardrails", "GetGuardrail", "DescribeNotebookInstance",
    "ListNotebookInstances", "UpdateGuardrail", "CreateNotebookInstanceLifecycleConfig", "UpdateNotebookInstance",
    "PutModelInvocationLoggingConfiguration", "CreatePresignedNotebookInstanceUrl", "UpdateDomain"]
SAGEMAKER = {"DescribeNotebookInstance", "ListNotebookInstances", "CreateNotebookInstanceLifecycleConfig",
             "UpdateNotebookInstance", "CreatePresignedNotebookInstanceUrl", "UpdateDomain"}


def records(n: int, seed: int = 7) -> list[dict[str, object]]:
    rng = random.Random(seed)
    start = dt.datetime(2026, 12, 1, tzinfo=dt.UTC)
    out = []
    for i in range(n):
        name = rng.choice(NAMES)
        out.append({
            "eventVersion": "1.09", "eventID": f"{i:08d}-0000-4000-8000-000000000000",
            "eventTime": (start + dt.timedelta(seconds=i * 172800 // n)).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "eventSource": "sagemaker.amazonaws.com" if name in SAGEMAKER else "bedrock.amazonaws.com",
            "eventName": name, "awsRegion": rng.choice(("us-east-1", "us-west-2", "eu-west-1")),
            "sourceIPAddress": f"198.51.100.{rng.randrange(256)}", "userAgent": "Boto3/1.34.0",
            "userIdentity": {"type": "IAMUser", "arn": f"arn:aws:iam::123456789012:user/u{rng.randrange(2000)}"},
            "requestParameters": {"modelId": "anthropic.claude-3-haiku", "guardrailIdentifier": "gr-1",
                                  "notebookInstanceName": "nb", "lifecycleConfigName": "lc"},
            "recipientAccountId": "123456789012",
        })
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=100_000)
    args = parser.parse_args()
    data = records(args.events)
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    evaluator = Evaluator()
    started, cpu_started = time.perf_counter(), time.process_time()
    for rec in data:
        evaluator.feed(from_cloudtrail(rec))
    hits = evaluator.finish()
    elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu_started
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    # CPU time is the per-core figure: on a shared machine the wall clock also counts other processes' turns.
    print(f"{args.events} events: {args.events / cpu:,.0f} events/s per core ({cpu:.2f} s CPU; wall {elapsed:.2f} s, "
          f"{args.events / elapsed:,.0f} events/s); {len(hits)} hits; peak RSS {rss / 1024:.0f} MiB "
          f"(before the engine {rss_before / 1024:.0f} MiB)")


if __name__ == "__main__":
    main()
