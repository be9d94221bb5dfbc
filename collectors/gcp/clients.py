"""Google credentials, endpoints, retries and REST clients configured the one way aispm uses them.

Only the ``aiplatform_v1`` GAPIC service clients are used (never the high-level
``google.cloud.aiplatform`` SDK), with ``transport="rest"``: one client per
service and location at ``{location}-aiplatform.googleapis.com``.
``AISPM_GCP_ENDPOINT`` (e.g. ``https://host:port``) replaces that host in every
call, Resource Manager included.

Vertex AI list and get calls retry nothing by default and Resource Manager only
503, so every call gets ``retry_policy()``; the pagers reuse it for later pages.

Vertex AI quotas are per project and region, so every attempt a Vertex client sends first takes a token from
the ``("vertex", "{project}:{location}")`` bucket (``collectors/ratelimit.py``), read from the request path
(``/v1/projects/{p}/locations/{l}/...``) by a requests adapter mounted on the client's ``AuthorizedSession``:
one shared client serves every unit of its location, each paced under its own project. A 429
(RESOURCE_EXHAUSTED) halves that bucket's rate; the retry policy above still retries the call.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote, urlsplit

import requests
from google.api_core import exceptions as gexc
from google.api_core import retry as gretry
from google.api_core.client_options import ClientOptions

from aispm.collectors.gcp.endpoint import ENDPOINT_ENV, EndpointError, endpoint_override
from aispm.collectors.ratelimit import RateLimits

SCOPES = ("https://www.googleapis.com/auth/cloud-platform",)
RESOURCE_MANAGER_HOST = "cloudresourcemanager.googleapis.com"
VERTEX_GLOBAL_HOST = "aiplatform.googleapis.com"

# Transient answers worth another try; everything else (403, 404, 400) is final.
RETRYABLE: tuple[type[Exception], ...] = (
    gexc.TooManyRequests,
    gexc.ServiceUnavailable,
    gexc.InternalServerError,
    gexc.GatewayTimeout,
    gexc.DeadlineExceeded,
    gexc.ResourceExhausted,
)


@dataclass(frozen=True)
class RetrySettings:
    """Exponential backoff with jitter for transient errors; ``deadline`` bounds one call with its retries."""

    initial: float = 1.0
    maximum: float = 30.0
    multiplier: float = 2.0
    deadline: float = 120.0
    call_timeout: float = 60.0

    def policy(self) -> gretry.Retry:
        return gretry.Retry(
            predicate=gretry.if_exception_type(*RETRYABLE),
            initial=self.initial,
            maximum=self.maximum,
            multiplier=self.multiplier,
            timeout=self.deadline,
        )


_VERTEX_PATH = re.compile(r"^/(?:v1|ui)/projects/([^/]+)(?:/locations/([^/:]+))?")
GLOBAL = "global"   # the bucket of a project's location-less calls (the locations list)


def vertex_scope(url: str) -> str | None:
    """``"{project}:{location}"`` of a Vertex AI request (``global`` for location-less ones); None for a path
    that names no project."""
    match = _VERTEX_PATH.match(unquote(urlsplit(url).path))
    return f"{match.group(1)}:{match.group(2) or GLOBAL}" if match else None


class PacedAdapter(requests.adapters.BaseAdapter):
    """Wraps a session's transport adapter: each request waits for a token of ``(service, scope_of(url))``
    and reports its answer to the bucket (429 = throttled)."""

    def __init__(self, inner: requests.adapters.BaseAdapter, limits: RateLimits, service: str,
                 scope_of: Callable[[str], str | None]) -> None:
        super().__init__()
        self._inner = inner
        self._limits = limits
        self._service = service
        self._scope_of = scope_of

    def send(self, request: requests.PreparedRequest, *args: Any, **kwargs: Any) -> requests.Response:
        scope = self._scope_of(str(request.url))
        if scope is None:
            return self._inner.send(request, *args, **kwargs)
        bucket = self._limits.bucket(self._service, scope)
        bucket.acquire()
        response = self._inner.send(request, *args, **kwargs)
        if response.status_code == 429:
            bucket.throttled()
        else:
            bucket.answered()
        return response

    def close(self) -> None:
        self._inner.close()


POOL_SIZE = 32   # connections kept per host: requests keeps 10, fewer than the calls in flight of a scope


def pooled(session: requests.Session) -> requests.Session:
    """Keep ``POOL_SIZE`` connections per host on ``session``'s plain adapters: past requests' 10 each call's
    connection is dropped after use (urllib3 warns "Connection pool is full") and made again for the next."""
    for prefix in ("https://", "http://"):
        adapter = session.get_adapter(prefix)
        if type(adapter) is requests.adapters.HTTPAdapter:   # an mTLS adapter is left as it was configured
            session.mount(prefix, requests.adapters.HTTPAdapter(pool_maxsize=POOL_SIZE,
                                                                max_retries=adapter.max_retries))
    return session


def pace(session: requests.Session, limits: RateLimits, service: str, scope_of: Callable[[str], str | None]) -> None:
    """Send every http and https request of ``session`` through a :class:`PacedAdapter` around the adapter it
    had (an mTLS one included), pooled as ``pooled`` does."""
    pooled(session)
    for prefix in ("https://", "http://"):
        session.mount(prefix, PacedAdapter(session.get_adapter(prefix), limits, service, scope_of))


def vertex_host(location: str | None) -> str:
    """The regional Vertex AI host (the global one for location-less calls), unless overridden."""
    return endpoint_override() or (f"{location}-{VERTEX_GLOBAL_HOST}" if location else VERTEX_GLOBAL_HOST)


def resource_manager_host() -> str:
    return endpoint_override() or RESOURCE_MANAGER_HOST


def default_credentials() -> Any:
    """The shipped credential source: Application Default Credentials, nothing else."""
    import google.auth

    credentials, _project = google.auth.default(scopes=list(SCOPES))
    return credentials


def _service_classes() -> dict[str, Callable[..., Any]]:
    # Imported here so that importing collectors.gcp stays cheap until a scan needs the SDK.
    from google.cloud.aiplatform_v1.services.dataset_service import DatasetServiceClient
    from google.cloud.aiplatform_v1.services.endpoint_service import EndpointServiceClient
    from google.cloud.aiplatform_v1.services.feature_online_store_admin_service import (
        FeatureOnlineStoreAdminServiceClient,
    )
    from google.cloud.aiplatform_v1.services.gen_ai_tuning_service import GenAiTuningServiceClient
    from google.cloud.aiplatform_v1.services.index_endpoint_service import IndexEndpointServiceClient
    from google.cloud.aiplatform_v1.services.job_service import JobServiceClient
    from google.cloud.aiplatform_v1.services.model_service import ModelServiceClient
    from google.cloud.aiplatform_v1.services.notebook_service import NotebookServiceClient
    from google.cloud.aiplatform_v1.services.pipeline_service import PipelineServiceClient
    from google.cloud.aiplatform_v1.services.reasoning_engine_service import ReasoningEngineServiceClient
    from google.cloud.aiplatform_v1.services.vertex_rag_data_service import VertexRagDataServiceClient

    return {
        "dataset": DatasetServiceClient,
        "endpoint": EndpointServiceClient,
        "feature_online_store": FeatureOnlineStoreAdminServiceClient,
        "index_endpoint": IndexEndpointServiceClient,
        "job": JobServiceClient,
        "model": ModelServiceClient,
        "notebook": NotebookServiceClient,
        "pipeline": PipelineServiceClient,
        "rag": VertexRagDataServiceClient,
        "reasoning_engine": ReasoningEngineServiceClient,
        "tuning": GenAiTuningServiceClient,
    }


class Clients:
    """REST clients shared by every scope unit of a scan, created once per (service, host); thread-safe."""

    def __init__(self, credentials_factory: Callable[[], Any], limits: RateLimits | None = None) -> None:
        self._credentials_factory = credentials_factory
        self._limits = limits
        self._credentials: Any = None
        self._clients: dict[tuple[str, str], Any] = {}
        self._lock = threading.Lock()

    @property
    def credentials(self) -> Any:
        with self._lock:
            if self._credentials is None:
                self._credentials = self._credentials_factory()
            return self._credentials

    def vertex(self, service: str, location: str | None) -> Any:
        """The ``service`` client for ``location`` (None: the global endpoint, for the locations API)."""
        host = vertex_host(location)
        return self._client(service, host, lambda: _service_classes()[service], paced=True)

    def projects(self) -> Any:
        def cls() -> Callable[..., Any]:
            from google.cloud.resourcemanager_v3.services.projects import ProjectsClient

            return ProjectsClient

        return self._client("projects", resource_manager_host(), cls)

    def _client(self, service: str, host: str, cls: Callable[[], Callable[..., Any]], paced: bool = False) -> Any:
        credentials = self.credentials
        key = (service, host)
        with self._lock:
            client = self._clients.get(key)
            if client is None:
                client = cls()(transport="rest", credentials=credentials,
                               client_options=ClientOptions(api_endpoint=host))
                if paced and self._limits is not None:
                    # The REST transport offers no session hook: its AuthorizedSession is a requests.Session.
                    pace(client.transport._session, self._limits, "vertex", vertex_scope)
                self._clients[key] = client
            return client


__all__ = ["ENDPOINT_ENV", "SCOPES", "Clients", "EndpointError", "PacedAdapter", "RetrySettings",
           "default_credentials", "endpoint_override", "pace", "pooled", "resource_manager_host", "vertex_host",
           "vertex_scope"]
