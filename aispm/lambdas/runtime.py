"""What every function shares: Powertools logging/metrics/tracing, settings, secrets and the results bucket.

Cloud SDKs are imported where they are used, never here, so each function's init phase stays short.
"""

from __future__ import annotations

import json
import os
from functools import cache
from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from pydantic_settings import BaseSettings, SettingsConfigDict

from aispm.collectors.base import CollectOptions
from aispm.settings import Settings

SERVICE = "aispm"

logger = Logger(service=os.environ.get("POWERTOOLS_SERVICE_NAME") or SERVICE)
metrics = Metrics(namespace=os.environ.get("POWERTOOLS_METRICS_NAMESPACE") or SERVICE,
                  service=os.environ.get("POWERTOOLS_SERVICE_NAME") or SERVICE)
# X-Ray (the functions deploy with Tracing: Active); Powertools disables it outside Lambda.
tracer = Tracer(service=os.environ.get("POWERTOOLS_SERVICE_NAME") or SERVICE)


class FunctionSettings(BaseSettings):
    """The deployment-only variables; an empty value means "not configured"."""

    model_config = SettingsConfigDict(env_prefix="AISPM_", extra="ignore", env_ignore_empty=True)

    results_bucket: str = ""
    provider: str = ""
    external_id_secret: str | None = None
    azure_credentials_secret: str | None = None
    gcp_wif_config_secret: str | None = None


def function_settings() -> FunctionSettings:
    return FunctionSettings()


def secret(arn: str) -> str:
    """A Secrets Manager secret string, cached for five minutes across warm invocations. Never log it."""
    from aws_lambda_powertools.utilities import parameters

    value: Any = parameters.get_secret(arn, max_age=300)
    if isinstance(value, bytes):
        value = value.decode("utf-8")
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"secret {arn} is empty")
    return value.strip()


def collect_options(env: Settings, fn: FunctionSettings, provider: str) -> CollectOptions:
    """The CLI's scan options from the function's environment (the same defaults as ``aispm scan``)."""
    regions = [r for r in env.regions if r.lower() != "all"]
    external_id = secret(fn.external_id_secret) if provider == "aws" and fn.external_id_secret else env.external_id
    return CollectOptions(
        regions=regions,
        all_regions=not regions and any(r.lower() == "all" for r in env.regions),
        org=env.org,
        external_id=external_id,
        member_role_name=env.member_role_name,
        subscriptions=env.azure_subscriptions,
        projects=env.gcp_projects,
        locations=env.gcp_locations,
        job_window_days=env.job_window_days,
        workers=env.workers,
    )


@cache
def s3() -> Any:
    import boto3

    from aispm.sinks.aws import client_config

    return boto3.client("s3", config=client_config())


def put_bytes(bucket: str, key: str, body: bytes, content_type: str = "application/json") -> None:
    s3().put_object(Bucket=bucket, Key=key, Body=body, ContentType=content_type)


def put_json(bucket: str, key: str, value: Any) -> None:
    put_bytes(bucket, key, json.dumps(value, separators=(",", ":"), default=str).encode("utf-8"))


def get_bytes(bucket: str, key: str) -> bytes:
    body: bytes = s3().get_object(Bucket=bucket, Key=key)["Body"].read()
    return body


def get_json(bucket: str, key: str) -> Any:
    return json.loads(get_bytes(bucket, key))


def list_keys(bucket: str, prefix: str) -> list[str]:
    keys: list[str] = []
    for page in s3().get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        keys.extend(str(o["Key"]) for o in page.get("Contents", []))
    return keys
