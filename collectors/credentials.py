"""Whether each cloud has credentials configured, to choose the default ``--provider`` set.

AWS and Google: cheap, local checks only; nothing here contacts a metadata service.
Azure: the local hints (environment, an Azure CLI profile) are only a first filter, because
``DefaultAzureCredential`` accepts many of them without being able to sign in; when a hint
exists the credential must actually get a Resource Manager token, within
``AZURE_TOKEN_TIMEOUT`` seconds, for Azure to count as configured. Without any hint no
credential is built, so no managed-identity endpoint is ever probed by default.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

_AZURE_ENV = ("AZURE_CLIENT_ID", "AZURE_TOKEN_CREDENTIALS", "AZURE_FEDERATED_TOKEN_FILE", "IDENTITY_ENDPOINT",
              "MSI_ENDPOINT", "AISPM_AZURE_CREDENTIALS_SECRET")


def aws_configured(credentials: Any = None) -> bool:
    """Credentials handed in, or any the default chain would find."""
    if credentials is not None:
        return True
    env = os.environ
    if env.get("AWS_ACCESS_KEY_ID") or env.get("AWS_PROFILE") or env.get("AWS_CONTAINER_CREDENTIALS_FULL_URI"):
        return True
    if env.get("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI") or env.get("AWS_WEB_IDENTITY_TOKEN_FILE"):
        return True
    shared = Path(env.get("AWS_SHARED_CREDENTIALS_FILE", Path.home() / ".aws" / "credentials"))
    config = Path(env.get("AWS_CONFIG_FILE", Path.home() / ".aws" / "config"))
    return shared.is_file() or config.is_file()


AZURE_TOKEN_TIMEOUT = 10.0


def azure_hinted() -> bool:
    """Whether anything local suggests an Azure credential (environment variables or an Azure CLI profile)."""
    if any(os.environ.get(k) for k in _AZURE_ENV):
        return True
    return (Path.home() / ".azure" / "azureProfile.json").is_file()


def azure_configured(credentials: Any = None, timeout: float = AZURE_TOKEN_TIMEOUT) -> bool:
    """A hint exists and the scan's credential gets a Resource Manager token within ``timeout`` seconds.

    ``credentials`` are what the scan would hand the collector (``build(options, credentials)``); None means
    ``DefaultAzureCredential``.
    """
    if not azure_hinted():
        return False
    try:
        from aispm.collectors.azure.arm import current_settings, token_problem
    except ImportError:
        return False   # the Azure SDK is not installed: no Azure credential can work
    try:
        settings = current_settings().using(credentials)
    except ValueError:
        return True    # a malformed AISPM_AZURE_ARM_ENDPOINT: planning names it, rather than Azure silently vanishing
    return token_problem(settings, timeout=timeout) is None


def gcp_configured(credentials: Any = None) -> bool:
    """Credentials handed in, or Application Default Credentials / a workload identity configuration."""
    if credentials is not None:
        return True
    if os.environ.get("GOOGLE_APPLICATION_CREDENTIALS") or os.environ.get("AISPM_GCP_WIF_CONFIG_SECRET"):
        return True
    adc = Path(os.environ.get("CLOUDSDK_CONFIG", Path.home() / ".config" / "gcloud"))
    return (adc / "application_default_credentials.json").is_file()
