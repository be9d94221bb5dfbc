"""Credential secrets of the collector functions: what is exported or loaded, and clear errors that
never quote the secret."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest
from moto import mock_aws

from aispm.lambdas.credentials import CredentialsError, export_azure_credentials, google_credentials


@pytest.fixture
def secrets(monkeypatch: pytest.MonkeyPatch) -> Iterator[object]:
    for key in ("AZURE_TENANT_ID", "AZURE_CLIENT_ID", "AZURE_CLIENT_SECRET", "AZURE_CLIENT_CERTIFICATE_PATH"):
        monkeypatch.delenv(key, raising=False)
    with mock_aws():
        sm = boto3.client("secretsmanager", region_name="us-east-1")
        yield lambda name, value: sm.create_secret(Name=name, SecretString=value)["ARN"]


def test_azure_certificate_goes_to_a_private_file(secrets) -> None:
    pem = "-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\n-----END PRIVATE KEY-----\n"
    arn = secrets("azure-cert", json.dumps({"AZURE_TENANT_ID": "t", "AZURE_CLIENT_ID": "c",
                                            "AZURE_CLIENT_CERTIFICATE": pem}))
    names = export_azure_credentials(arn)
    assert names == ["AZURE_CLIENT_CERTIFICATE_PATH", "AZURE_CLIENT_ID", "AZURE_TENANT_ID"]
    path = Path(os.environ["AZURE_CLIENT_CERTIFICATE_PATH"])
    assert path.read_text() == pem
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert os.environ["AZURE_CLIENT_ID"] == "c"


def test_azure_secret_with_other_keys_is_refused(secrets) -> None:
    arn = secrets("azure-bad", json.dumps({"PATH": "/tmp", "AZURE_CLIENT_SECRET": "s3cr3t-value"}))
    with pytest.raises(CredentialsError, match=r"AZURE_\*.*\['PATH'\]") as err:
        export_azure_credentials(arn)
    assert "s3cr3t-value" not in str(err.value)
    assert "AZURE_CLIENT_SECRET" not in os.environ


def test_google_secret_must_be_a_credential_configuration(secrets) -> None:
    arn = secrets("gcp-bad", json.dumps({"type": "authorized_user", "refresh_token": "rt-0123456789"}))
    with pytest.raises(CredentialsError, match="external_account") as err:
        google_credentials(arn)
    assert "rt-0123456789" not in str(err.value)
    with pytest.raises(CredentialsError, match="not JSON"):
        google_credentials(secrets("gcp-text", "not json at all"))


def test_google_aws_external_account_loads(secrets) -> None:
    config = {
        "type": "external_account",
        "audience": "//iam.googleapis.com/projects/1/locations/global/workloadIdentityPools/aispm/providers/aws",
        "subject_token_type": "urn:ietf:params:aws:token-type:aws4_request",
        "token_url": "https://sts.googleapis.com/v1/token",
        "service_account_impersonation_url": "https://iamcredentials.googleapis.com/v1/projects/-/serviceAccounts/"
                                             "aispm-reader@p.iam.gserviceaccount.com:generateAccessToken",
        "credential_source": {
            # No metadata URLs: on Lambda the AWS credentials and region come from the environment.
            "environment_id": "aws1",
            "regional_cred_verification_url":
                "https://sts.{region}.amazonaws.com?Action=GetCallerIdentity&Version=2011-06-15",
        },
    }
    credentials = google_credentials(secrets("gcp-wif", json.dumps(config)))
    assert type(credentials).__module__ == "google.auth.aws"
    assert not credentials.valid   # nothing was fetched: tokens come on first use


def test_collect_module_does_not_import_cloud_sdks() -> None:
    """The Google function's init phase is capped at 10 s: the Vertex AI SDK loads on first use only."""
    code = ("import sys, aispm.lambdas.collect, aispm.lambdas.plan, aispm.lambdas.deliver; "
            "print(sorted(m for m in ('google.cloud.aiplatform_v1', 'azure.identity', 'azure.mgmt.core') "
            "if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         cwd=Path(__file__).resolve().parents[2])
    assert out.stdout.strip() == "[]"
