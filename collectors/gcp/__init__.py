"""Google Vertex AI collection.

The SDK (``google-api-core``, ``aiplatform_v1``) is imported only when a GCP
collector is built, so ``check_configuration`` stays usable, and cheap, without it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from aispm.collectors.base import CollectOptions
from aispm.collectors.gcp.endpoint import EndpointError, check_configuration

if TYPE_CHECKING:
    from aispm.collectors.gcp.vertex import GcpCollector, GcpOptions


def build(options: CollectOptions, credentials: Any = None) -> GcpCollector:
    """The collector for ``options``; ``credentials`` (tests, demo) replaces Application Default Credentials."""
    from aispm.collectors.gcp.vertex import GcpCollector, GcpOptions
    from aispm.collectors.ratelimit import RateLimits

    return GcpCollector(
        options=GcpOptions(
            projects=tuple(options.projects),
            locations=tuple(options.locations),
            job_window_days=options.job_window_days,
            page_size=options.page_size,
            workers=options.workers,
            scope_workers=options.scope_workers,
            now=options.now,
        ),
        credentials=credentials,
        limits=RateLimits(options.rate_limits),
    )


def __getattr__(name: str) -> Any:
    if name in ("GcpCollector", "GcpOptions"):
        from aispm.collectors.gcp import vertex

        return getattr(vertex, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["EndpointError", "GcpCollector", "GcpOptions", "build", "check_configuration"]
