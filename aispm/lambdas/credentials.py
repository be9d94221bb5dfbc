"""Azure and Google credentials from Secrets Manager for the collector functions.

Azure: a JSON object keyed by azure-identity environment variable names, exported so that
``DefaultAzureCredential`` (EnvironmentCredential / WorkloadIdentityCredential) picks it up; a PEM in
``AZURE_CLIENT_CERTIFICATE`` is written to a private file named by ``AZURE_CLIENT_CERTIFICATE_PATH``.
Google: a credential configuration (``external_account`` with an AWS source, so the function's own
role is the identity) loaded with google-auth. Secret values are never logged.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

from aispm.lambdas.runtime import FunctionSettings, secret


class CredentialsError(Exception):
    """A credential secret that cannot be used (its value is never part of the message)."""


def _json_object(arn: str, what: str) -> dict[str, Any]:
    try:
        value = json.loads(secret(arn))
    except ValueError:
        raise CredentialsError(f"secret {arn} is not JSON ({what})") from None
    if not isinstance(value, dict):
        raise CredentialsError(f"secret {arn} is not a JSON object ({what})")
    return value


def _private_file(name: str, text: str) -> str:
    path = Path(tempfile.gettempdir()) / "aispm" / name
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(text)
    os.chmod(path, 0o600)
    return str(path)


def export_azure_credentials(arn: str) -> list[str]:
    """Export the secret's AZURE_* values into the environment; the names set (never the values)."""
    values = _json_object(arn, 'e.g. {"AZURE_TENANT_ID": ..., "AZURE_CLIENT_ID": ..., "AZURE_CLIENT_SECRET": ...}')
    wrong = sorted(k for k in values if not k.startswith("AZURE_"))
    if wrong:
        raise CredentialsError(f"secret {arn}: keys must be azure-identity variable names (AZURE_*), not {wrong}")
    names = []
    for key, value in values.items():
        if not isinstance(value, str) or not value:
            continue
        if key == "AZURE_CLIENT_CERTIFICATE":
            os.environ["AZURE_CLIENT_CERTIFICATE_PATH"] = _private_file("azure-client.pem", value)
            names.append("AZURE_CLIENT_CERTIFICATE_PATH")
            continue
        os.environ[key] = value
        names.append(key)
    return sorted(names)


def google_credentials(arn: str) -> Any:
    """google-auth credentials from the configuration kept in the secret, loaded by its declared type:
    ``external_account`` with an AWS credential source (the deployed setup) or a ``service_account`` key."""
    from google.auth import aws, exceptions
    from google.oauth2 import service_account

    from aispm.collectors.gcp.clients import SCOPES

    info = _json_object(arn, "a google-auth credential configuration")
    kind = info.get("type")
    source = info.get("credential_source") or {}
    try:
        if kind == "external_account" and str(source.get("environment_id", "")).startswith("aws"):
            return aws.Credentials.from_info(info, scopes=list(SCOPES))  # type: ignore[no-untyped-call]
        if kind == "service_account":
            return service_account.Credentials.from_service_account_info(  # type: ignore[no-untyped-call]
                info, scopes=list(SCOPES))
    except (exceptions.GoogleAuthError, ValueError, KeyError) as exc:
        raise CredentialsError(f"secret {arn}: not a usable credential configuration ({type(exc).__name__})") from None
    raise CredentialsError(f"secret {arn}: expected an external_account configuration with an AWS credential "
                           f"source (gcloud iam workload-identity-pools create-cred-config --aws), got type {kind!r}")


def provider_credentials(provider: str, fn: FunctionSettings) -> Any:
    """Prepare the provider's credentials; Google's are returned, Azure's go to the environment."""
    if provider == "azure" and fn.azure_credentials_secret:
        export_azure_credentials(fn.azure_credentials_secret)
    if provider == "gcp" and fn.gcp_wif_config_secret:
        return google_credentials(fn.gcp_wif_config_secret)
    return None
