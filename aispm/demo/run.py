"""``aispm demo``: the whole pipeline on the built-in simulated estate, with no account and no network.

Each provider's estate (``ESTATES``) is a module whose ``serve()`` context manager
stands up the local fake (moto in-process for AWS, local HTTP fakes for Azure and
GCP) and yields the scan options that point the real collector at it, and the
credentials the collector uses instead of the cloud's default chain (or None).
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from importlib import resources
from pathlib import Path
from types import ModuleType
from typing import Any
from unittest import mock

from aispm.collectors.base import CollectOptions
from aispm.demo import aws_estate, azure_estate, gcp_estate
from aispm.detect import DetectOutcome, DetectRequest, run_detect
from aispm.detect import report as detect_report
from aispm.normalizer.providers import PROVIDERS
from aispm.normalizer.schema import Asset
from aispm.outdir import check_out_dir
from aispm.pipeline import run_scan
from aispm.pipeline_types import ScanRequest
from aispm.rules.policy import load_policy
from aispm.scan import report
from aispm.sinks.transports.files import FileSink

# Credentials and switches that keep every SDK on loopback: no metadata servers, no real accounts.
SAFE_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_REGION": "us-east-1",
    "AWS_EC2_METADATA_DISABLED": "true",
    "NO_GCE_CHECK": "true",
    "GCE_METADATA_HOST": "127.0.0.1:9",
    "GCE_METADATA_IP": "127.0.0.1:9",
}
UNSET_ENV = ("AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_SAGEMAKER", "AWS_ENDPOINT_URL_IAM",
             "AWS_ENDPOINT_URL_STS", "AWS_CONTAINER_CREDENTIALS_FULL_URI", "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
             "AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_SHARED_CREDENTIALS_FILE", "AWS_CONFIG_FILE",
             "GOOGLE_APPLICATION_CREDENTIALS", "AZURE_CLIENT_ID", "AZURE_TENANT_ID", "AZURE_CLIENT_SECRET",
             "AISPM_AZURE_ARM_ENDPOINT", "AISPM_GCP_ENDPOINT")


@contextmanager
def safe_env(extra: dict[str, str] | None = None) -> Iterator[None]:
    """SAFE_ENV (and ``extra``) set, UNSET_ENV removed; the whole environment is restored afterwards."""
    values = {**SAFE_ENV, **(extra or {})}
    with mock.patch.dict(os.environ, values):
        for key in UNSET_ENV:
            if key not in values:
                os.environ.pop(key, None)  # patch.dict puts it back on exit
        yield


ESTATES: dict[str, ModuleType] = {"aws": aws_estate, "azure": azure_estate, "gcp": gcp_estate}


def demo_providers() -> list[str]:
    return list(ESTATES)


def run_demo(out_dir: Path) -> int:
    policy_file = resources.files("aispm.demo") / "policy.yaml"
    with resources.as_file(policy_file) as path:
        policy = load_policy(path)
    providers = demo_providers()
    check_out_dir(out_dir)
    with safe_env(), ExitStack() as stack:
        scan_options: dict[str, Any] = {"collect_tags": True, "workers": 4}
        credentials: dict[str, Any] = {}
        for provider in providers:
            options, creds = stack.enter_context(ESTATES[provider].serve())
            scan_options.update(options)
            if creds is not None:
                credentials[provider] = creds
        request = ScanRequest(
            providers=providers,
            options=CollectOptions(**scan_options),
            policy=policy,
            out_dir=out_dir,
            sinks=[FileSink(out_dir)],
            credentials=credentials,
        )
        outcome = run_scan(request)
        detected = _detect(out_dir / "detect", CollectOptions(**scan_options), policy, credentials) \
            if "aws" in providers else None
    print(f"aispm demo: simulated estate of {', '.join(PROVIDERS[p].display for p in providers)} "
          "(local emulators, no cloud account, no network)\n")
    report(outcome, out_dir)
    chain = example_chain([a for r in outcome.unit_results for a in r.assets])
    if chain:
        print("\nExample lineage (assets.jsonl `lineage`): " + " -> ".join(chain))
    if detected is None:
        return outcome.exit_code
    print("\naispm detect over the demo's CloudTrail events (the last hour):\n")
    detect_report(detected, out_dir / "detect", None)
    return max(outcome.exit_code, detected.exit_code)


def example_chain(assets: Sequence[Asset]) -> list[str]:
    """The longest data -> job -> model -> endpoint chain the assets' lineage edges form, as names or locations."""
    by_uid = {a.uid: a for a in assets}
    served_by: dict[str, str] = {}
    for a in assets:
        for e in a.lineage:
            serving = e.rel == "serves" and a.kind in ("endpoint", "endpoint_config", "deployment")
            if serving and (a.kind != "endpoint_config" or e.uid not in served_by):   # an endpoint over its config
                served_by[e.uid] = a.uid
    best: list[str] = []
    for model in (a for a in assets if a.kind in ("model", "custom_model")):
        jobs = [e.uid for e in model.lineage if e.rel == "trained_by"]
        data = [e.uid for e in model.lineage if e.rel == "trained_on"]
        for job in jobs:
            data += [e.uid for e in (by_uid[job].lineage if job in by_uid else ()) if e.rel == "trained_on"]
        chain = [*data[:1], *jobs[:1], model.uid, *([served_by[model.uid]] if model.uid in served_by else [])]
        if len(chain) > len(best):
            best = chain
    return [by_uid[u].name if u in by_uid else u for u in best] if len(best) > 1 else []


def _detect(out: Path, options: CollectOptions, policy: Any, credentials: dict[str, Any]) -> DetectOutcome:
    """``aispm detect`` on the AWS estate: the built-in events through the emulator's CloudTrail."""
    import datetime as dt

    from aispm.demo import audit_events

    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    audit_events.seed(now)
    out.mkdir(parents=True, exist_ok=True)
    request = DetectRequest(providers=["aws"], options=options, policy=policy, out_dir=out, sinks=[FileSink(out)],
                            end=now, since=dt.timedelta(hours=1), credentials=credentials, lookup_interval=0.0)
    return run_detect(request, now=now)
