"""boto3 sessions and clients configured the one way aispm uses them.

Clients never get an explicit ``endpoint_url``: ``AWS_ENDPOINT_URL`` and the
per-service variables must keep working. Retries use botocore's adaptive mode,
which backs off on throttling and rate-limits the client itself.
"""

from __future__ import annotations

import os
from typing import Any

import boto3
from botocore.config import Config

from aispm.collectors.base import ApiCalls

# Errors that mean "the resource vanished between List and Describe": not a scope failure.
GONE = frozenset({"ValidationException", "ResourceNotFound", "ResourceNotFoundException"})

RETRY_CONFIG = Config(
    retries={"mode": "adaptive", "max_attempts": 8},
    connect_timeout=10,
    read_timeout=60,
    max_pool_connections=16,
    user_agent_extra="aispm",
)


# Behind a custom endpoint (AWS_ENDPOINT_URL: a proxy or an emulator) a per-account host prefix such as
# S3 Control's "<account>." would make a host that does not exist.
_CUSTOM_ENDPOINT = Config(inject_host_prefix=False)


def client(session: boto3.Session, service: str, region: str | None, calls: ApiCalls) -> Any:
    """A client that counts every API operation it calls into ``calls``."""
    config = RETRY_CONFIG
    if os.environ.get("AWS_ENDPOINT_URL") or os.environ.get(f"AWS_ENDPOINT_URL_{service.upper().replace('-', '_')}"):
        config = RETRY_CONFIG.merge(_CUSTOM_ENDPOINT)
    c: Any = session.client(service, region_name=region, config=config)  # type: ignore[call-overload]

    def count(model: Any, **_: Any) -> None:
        calls.add("aws", f"{service}:{model.name}")

    # before-parameter-build fires once per operation call, whoever answers it (the service or a Stubber).
    c.meta.events.register(f"before-parameter-build.{c.meta.service_model.service_id.hyphenize()}.*", count)
    return c


def error_code(exc: BaseException) -> str:
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        return str(response.get("Error", {}).get("Code", ""))
    return ""


def strip_metadata(resp: dict[str, Any]) -> dict[str, Any]:
    """An API answer without botocore's ``ResponseMetadata``."""
    return {k: v for k, v in resp.items() if k != "ResponseMetadata"}
