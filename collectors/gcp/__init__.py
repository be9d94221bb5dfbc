"""Google Vertex AI collection."""

from __future__ import annotations

from typing import Any

from collectors.base import CollectOptions
from collectors.gcp.vertex import GcpCollector, GcpOptions


def build(options: CollectOptions, credentials: Any = None) -> GcpCollector:
    """The collector for ``options``; ``credentials`` (tests, demo) replaces Application Default Credentials."""
    return GcpCollector(
        options=GcpOptions(
            projects=tuple(options.projects),
            locations=tuple(options.locations),
            job_window_days=options.job_window_days,
            page_size=options.page_size,
            workers=options.workers,
        ),
        credentials=credentials,
    )


__all__ = ["GcpCollector", "GcpOptions", "build"]
