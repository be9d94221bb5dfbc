"""boto3 client settings shared by the AWS sinks and stores: the collectors' own (one definition).

No explicit ``endpoint_url`` ever: ``AWS_ENDPOINT_URL`` and the per-service variables must keep working.
"""

from __future__ import annotations

from botocore.config import Config

from aispm.collectors.aws.session import RETRY_CONFIG


def client_config() -> Config:
    """Adaptive retries: botocore backs off on throttling and rate-limits the client itself."""
    return RETRY_CONFIG
