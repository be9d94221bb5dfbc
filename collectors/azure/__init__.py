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
    from aispm.collectors.azure.arm import current_settings
    from aispm.collectors.azure.collector import AzureCollector

    return AzureCollector(subscriptions=tuple(options.subscriptions), settings=current_settings().using(credentials))


__all__ = ["build"]
