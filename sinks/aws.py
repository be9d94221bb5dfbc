"""boto3 client settings shared by the AWS sinks and stores.

No explicit ``endpoint_url`` ever: ``AWS_ENDPOINT_URL`` and the per-service variables must keep working.
"""

from __future__ import annotations

from botocore.config import Config


def client_config() -> Config:
    """Adaptive retries: botocore backs off on throttling and rate-limits the client itself."""
    return Config(retries={"mode": "adaptive", "max_attempts": 8}, connect_timeout=10, read_timeout=60,
                  user_agent_extra="aispm")
