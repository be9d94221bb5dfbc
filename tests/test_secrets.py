"""Literal-secret detection (AISPM-SEC-001) exactly as the rule catalog defines it."""

from __future__ import annotations

import pytest

from normalizer.secrets import REDACTED, env_vars, secret_reason


@pytest.mark.parametrize(("name", "value"), [
    ("ANYTHING", "AKIAIOSFODNN7EXAMPLE"),
    ("ANYTHING", "xAKIAIOSFODNN7EXAMPLEx"),          # the format applies unanchored, as specified
    ("CERT", "-----BEGIN RSA PRIVATE KEY-----\nMIIB"),
    ("X", "ghp_0123456789abcdefghijABCDEFGHIJ012345"),
    ("X", "xoxb-1234567890-abcdefghij"),
    ("X", "AIzaSyA1234567890abcdefghijklmnopqrstuv"),
    ("X", "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U"),
    ("X", "DefaultEndpointsProtocol=https;AccountName=a;AccountKey=abcdefghijklmnop1234==;"),
    ("DB_PASSWORD", "hunter2"),
    ("api-key", "abc"),
    ("SLACK_CONNECTION_STRING", "Server=x;Password=y"),
])
def test_secrets(name: str, value: str) -> None:
    assert secret_reason(name, value) is not None


@pytest.mark.parametrize(("name", "value"), [
    ("DB_PASSWORD", ""),
    ("DB_PASSWORD", "arn:aws:secretsmanager:us-east-1:123456789012:secret:db-AbCdEf"),
    ("API_TOKEN", "arn:aws:ssm:us-east-1:123456789012:parameter/api-token"),
    ("CLIENT_SECRET", "https://contoso-kv.vault.azure.net/secrets/client-secret"),
    ("API_KEY", "${API_KEY}"),
    ("PASSWORD", "{{resolve:secretsmanager:db:SecretString:password}}"),
    ("MODEL_SERVER_WORKERS", "2"),
])
def test_not_secrets(name: str, value: str) -> None:
    assert secret_reason(name, value) is None


def test_values_are_redacted_but_names_kept() -> None:
    [var] = env_vars([("DB_PASSWORD", "hunter2")], container="main")
    assert (var.name, var.value, var.container) == ("DB_PASSWORD", REDACTED, "main")
    assert "hunter2" not in var.model_dump_json()
