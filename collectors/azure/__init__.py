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
    """The collector for ``options``; ``credentials`` (an azure-core token credential) replaces
    ``DefaultAzureCredential``."""
    from dataclasses import replace

    from aispm.collectors.azure.arm import current_settings
    from aispm.collectors.azure.collector import AzureCollector

    settings = current_settings()
    if credentials is not None:
        settings = replace(settings, credential=credentials)
    return AzureCollector(subscriptions=tuple(options.subscriptions), settings=settings)


__all__ = ["build"]
