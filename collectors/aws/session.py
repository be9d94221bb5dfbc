"""boto3 sessions and clients configured the one way aispm uses them.

Clients never get an explicit ``endpoint_url``: ``AWS_ENDPOINT_URL`` and the
per-service variables must keep working. Retries use botocore's adaptive mode,
which backs off on throttling and rate-limits the client itself.
"""

from __future__ import annotations

import gzip
import json
import os
import threading
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import boto3
import orjson
from botocore.config import Config
from botocore.loaders import JSONFileLoader
from botocore.retries.standard import ThrottledRetryableChecker

from aispm.collectors.base import ApiCalls
from aispm.collectors.ratelimit import RateLimits

THROTTLED = frozenset(ThrottledRetryableChecker._THROTTLED_ERROR_CODES)  # type: ignore[attr-defined]
# boto3 sessions are not safe to build clients from in several threads at once; the clients themselves are.
_CLIENT_LOCK = threading.Lock()

# Errors that mean "the resource vanished between List and Describe": not a scope failure.
GONE = frozenset({"ValidationException", "ResourceNotFound", "ResourceNotFoundException"})

RETRY_CONFIG = Config(
    retries={"mode": "adaptive", "max_attempts": 8},
    connect_timeout=10,
    read_timeout=60,
    max_pool_connections=16,   # a connection for each call in flight at the default --scope-workers
    user_agent_extra="aispm",
)


# Behind a custom endpoint (AWS_ENDPOINT_URL: a proxy or an emulator) a per-account host prefix such as
# S3 Control's "<account>." would make a host that does not exist.
_CUSTOM_ENDPOINT = Config(inject_host_prefix=False)


class ModelFileLoader(JSONFileLoader):
    """botocore's service-model file loader, parsing with orjson.

    botocore parses its models with ``json.loads(..., object_pairs_hook=OrderedDict)``: SageMaker's 2.7 MB model
    alone takes 0.1-0.2 s, paid by every scan and Lambda cold start. Plain dicts keep the same order; a file
    orjson refuses is parsed the standard way."""

    def load_file(self, file_path: str) -> Any:
        for ext, opener in ((".json", open), (".json.gz", gzip.open)):   # botocore's order
            path = file_path + ext
            if os.path.isfile(path):
                with opener(path, "rb") as f:
                    payload = f.read()
                try:
                    return orjson.loads(payload)
                except orjson.JSONDecodeError:
                    return json.loads(payload.decode("utf-8"))
        return None


def _fast_models(session: boto3.Session) -> None:
    """Give the session's data loader (shared by the sessions of assumed roles) the faster file loader."""
    loader = session._session.get_component("data_loader")
    if not isinstance(loader.file_loader, ModelFileLoader):
        loader.file_loader = ModelFileLoader()


def client(session: boto3.Session, service: str, region: str | None, calls: ApiCalls,
           limits: RateLimits | None = None, scope: str = "") -> Any:
    """A client that counts every API operation it calls into ``calls`` and, given ``limits``, sends each
    attempt only with a token from the bucket of (``service``, ``scope``) (the account and region)."""
    config = RETRY_CONFIG
    custom = bool(os.environ.get("AWS_ENDPOINT_URL")
                  or os.environ.get(f"AWS_ENDPOINT_URL_{service.upper().replace('-', '_')}"))
    if custom:
        config = RETRY_CONFIG.merge(_CUSTOM_ENDPOINT)
    with _CLIENT_LOCK:
        _fast_models(session)
        c: Any = session.client(service, region_name=region, config=config)  # type: ignore[call-overload]
    service_id = c.meta.service_model.service_id.hyphenize()

    def count(model: Any, **_: Any) -> None:
        calls.add("aws", f"{service}:{model.name}")

    # before-parameter-build fires once per operation call, whoever answers it (the service or a Stubber).
    c.meta.events.register(f"before-parameter-build.{service_id}.*", count)
    if custom and service == "s3control":
        c.meta.events.register(f"before-sign.{service_id}.*", _account_host_off)
    if limits is not None:
        bucket = limits.bucket(service, scope or f"{region}")

        def take(**_: Any) -> None:
            bucket.acquire()

        def outcome(response: Any = None, **_: Any) -> None:
            # needs-retry fires after every attempt: (http response, parsed answer), or None on a connection error.
            if not response:
                return
            http, parsed = response
            code = parsed.get("Error", {}).get("Code") if isinstance(parsed, dict) else None
            if code in THROTTLED or getattr(http, "status_code", 0) == 429:
                bucket.throttled()
            else:
                bucket.answered()

        c.meta.events.register(f"before-send.{service_id}.*", take)
        c.meta.events.register(f"needs-retry.{service_id}.*", outcome)
    return c


def _account_host_off(request: Any, **_: Any) -> None:
    """S3 Control's endpoint rules put the account id in front of the host even of a custom endpoint
    (``123456789012.127.0.0.1``), a name that does not resolve: send it to the endpoint as configured."""
    account = request.headers.get("x-amz-account-id")
    parts = urlsplit(request.url)
    if account and parts.hostname and parts.hostname.startswith(f"{account}."):
        request.url = urlunsplit(parts._replace(netloc=parts.netloc.removeprefix(f"{account}.")))


def error_code(exc: BaseException) -> str:
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        return str(response.get("Error", {}).get("Code", ""))
    return ""


def strip_metadata(resp: dict[str, Any]) -> dict[str, Any]:
    """An API answer without botocore's ``ResponseMetadata``."""
    return {k: v for k, v in resp.items() if k != "ResponseMetadata"}
