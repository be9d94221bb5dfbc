"""AWS SageMaker collection."""

from __future__ import annotations

from collectors.aws.sagemaker import AwsCollector, AwsOptions
from collectors.base import CollectOptions


def build(options: CollectOptions) -> AwsCollector:
    return AwsCollector(
        options=AwsOptions(
            regions=tuple(options.regions),
            job_window_days=options.job_window_days,
            collect_tags=options.collect_tags,
        ),
        page_size=options.page_size,
    )


__all__ = ["AwsCollector", "AwsOptions", "build"]
