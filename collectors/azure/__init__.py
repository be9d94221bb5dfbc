"""Azure Machine Learning collection: one subscription per scope unit.

The SDK is imported only when an Azure collector is built, so the pure helpers
(``collectors.azure.principals``) stay usable without it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from aispm.collectors.base import CollectOptions

if TYPE_CHECKING:
    from aispm.collectors.azure.collector import AzureCollector


def build(options: CollectOptions, credentials: Any = None) -> AzureCollector:
    """The collector for ``options``; ``credentials`` (an azure-core token credential, or an ``ArmCredentials``
    carrying one with extra pipeline policies) replaces ``DefaultAzureCredential``."""
    from dataclasses import replace

    from aispm.collectors.azure.arm import current_settings
    from aispm.collectors.azure.collector import AzureCollector
    from aispm.collectors.ratelimit import RateLimits

    settings = replace(current_settings().using(credentials), scope_workers=options.scope_workers)
    return AzureCollector(subscriptions=tuple(options.subscriptions), settings=settings,
                          limits=RateLimits(options.rate_limits))


__all__ = ["build"]
