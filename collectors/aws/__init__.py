"""AWS SageMaker collection."""

from __future__ import annotations

from typing import Any

import boto3

from aispm.collectors.aws.sagemaker import AwsCollector, AwsOptions
from aispm.collectors.base import CollectOptions
from aispm.collectors.ratelimit import RateLimits


def build(options: CollectOptions, credentials: Any = None) -> AwsCollector:
    """The collector for ``options``; ``credentials`` (a ``boto3.Session``) replaces the default chain."""
    return AwsCollector(
        session=credentials if credentials is not None else boto3.Session(),
        options=AwsOptions(
            regions=tuple(options.regions),
            all_regions=options.all_regions,
            role_arns=tuple(options.role_arns),
            org=options.org,
            external_id=options.external_id,
            member_role_name=options.member_role_name,
            workers=options.workers,
            describe_workers=options.scope_workers,
            job_window_days=options.job_window_days,
            collect_tags=options.collect_tags,
            now=options.now,
        ),
        page_size=options.page_size,
        limits=RateLimits(options.rate_limits),
    )


__all__ = ["AwsCollector", "AwsOptions", "build"]
