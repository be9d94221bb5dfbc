"""The provider registry: everything aispm knows per cloud, in one place.

Each entry names the cloud (its display name in findings), the services of its assets, how to build its
collector (one signature, ``build(options, credentials=None)``), its mappers and whether credentials for it
are configured. A collector's SDK and a provider's mappers are imported only when they are used.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import ModuleType
from typing import Any

from aispm.collectors import credentials
from aispm.collectors.base import CollectOptions, Collector, ProviderName
from aispm.normalizer.schema import Service


@dataclass(frozen=True)
class Provider:
    name: ProviderName
    display: str                        # cloud.provider in findings
    services: tuple[Service, ...]       # the services of its assets; the first is the default
    _build: Callable[[CollectOptions, Any], Collector]
    _mappers: Callable[[], ModuleType]
    configured: Callable[[Any], bool]   # credentials for it exist, or work when handed in (Azure gets a token)

    def build(self, options: CollectOptions, credentials: Any = None) -> Collector:
        """The collector; ``credentials`` (Lambda secrets, the demo, tests) replaces the cloud's default chain."""
        return self._build(options, credentials)

    def mappers(self) -> ModuleType:
        """The normalizer module of this cloud: ``Context``, ``MAPPERS`` and ``map_identities``."""
        return self._mappers()


def _build_aws(options: CollectOptions, creds: Any = None) -> Collector:
    from aispm.collectors import aws

    return aws.build(options, creds)


def _build_azure(options: CollectOptions, creds: Any = None) -> Collector:
    from aispm.collectors import azure

    return azure.build(options, creds)


def _build_gcp(options: CollectOptions, creds: Any = None) -> Collector:
    from aispm.collectors import gcp

    return gcp.build(options, creds)


def _aws_mappers() -> ModuleType:
    from aispm.normalizer import aws

    return aws


def _azure_mappers() -> ModuleType:
    from aispm.normalizer import azure

    return azure


def _gcp_mappers() -> ModuleType:
    from aispm.normalizer import gcp

    return gcp


# In scan order.
PROVIDERS: Mapping[str, Provider] = {
    "aws": Provider("aws", "AWS", ("sagemaker", "bedrock"), _build_aws, _aws_mappers, credentials.aws_configured),
    "azure": Provider("azure", "Azure", ("azureml", "azureai"), _build_azure, _azure_mappers,
                      credentials.azure_configured),
    "gcp": Provider("gcp", "GCP", ("vertexai",), _build_gcp, _gcp_mappers, credentials.gcp_configured),
}
BY_DISPLAY: Mapping[str, Provider] = {p.display: p for p in PROVIDERS.values()}


def configured_providers(credentials: Mapping[str, Any] | None = None) -> list[str]:
    """The providers whose credentials are configured, in scan order; ``credentials`` (per provider, as
    ``build`` takes them) are judged instead of the cloud's default chain."""
    given = credentials or {}
    return [name for name, p in PROVIDERS.items() if p.configured(given.get(name))]
