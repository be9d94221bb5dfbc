"""Azure credentials: a failure is one line from aispm, and Azure is "configured" only when a token comes back.

The real ``DefaultAzureCredential`` is used only with ``AZURE_TOKEN_CREDENTIALS=AzureCliCredential`` and a
PATH without ``az`` (so it fails locally, never probing a managed-identity endpoint); every other test
hands a test credential in as the scan would (``azure_configured(credentials)``, ``configured_providers``),
or runs the real chain against an ``az`` that answers with the fake's token. Sockets stay on loopback (conftest).
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from azure.core.credentials import AccessToken
from azure.core.exceptions import ClientAuthenticationError

from aispm.cli import main
from aispm.collectors.azure.arm import credential_error_line
from aispm.collectors.credentials import azure_configured
from aispm.normalizer.providers import configured_providers
from aispm.testing.fake_arm import FakeArm
from tests.support.azure import TEST_TOKEN, StaticTokenCredential, collector, scan_env

ROOT = Path(__file__).resolve().parents[3]
ARM_SCOPE = "https://management.azure.com/.default"
TROUBLESHOOT = "https://aka.ms/azsdk/python/identity/defaultazurecredential/troubleshoot"
CLI_MISSING = ("cannot get an Azure token: DefaultAzureCredential tried: AzureCliCredential: Azure CLI not found "
               f"on path (see {TROUBLESHOOT})")

# The text DefaultAzureCredential raises (and, by default, logs as a WARNING) when no credential works.
CHAIN_FAILURE = (
    "DefaultAzureCredential failed to retrieve a token from the included credentials.\n"
    "Attempted credentials:\n"
    "\tEnvironmentCredential: EnvironmentCredential authentication unavailable. Environment variables are not "
    "fully configured.\nVisit https://aka.ms/azsdk/python/identity/environmentcredential/troubleshoot to "
    "troubleshoot this issue.\n"
    "\tManagedIdentityCredential: ManagedIdentityCredential authentication unavailable, no response from the "
    "IMDS endpoint.\n"
    "\tAzureCliCredential: Please run 'az login' to set up an account\n"
    "To mitigate this issue, please refer to the troubleshooting guidelines here at " + TROUBLESHOOT + "."
)


class FailingCredential:
    """A TokenCredential that refuses like DefaultAzureCredential does; counts its attempts."""

    def __init__(self, message: str = CHAIN_FAILURE) -> None:
        self.message = message
        self.calls = 0

    def get_token(self, *scopes: str, **kwargs: Any) -> AccessToken:
        self.calls += 1
        logging.getLogger("azure.identity._credentials.chained").warning(self.message)
        raise ClientAuthenticationError(message=self.message)


class HangingCredential:
    """A TokenCredential that never answers until released (a sign-in waiting on a dead endpoint)."""

    def __init__(self) -> None:
        self.release = threading.Event()

    def get_token(self, *scopes: str, **kwargs: Any) -> AccessToken:
        self.release.wait(30)
        raise ClientAuthenticationError(message="gave up")


@pytest.fixture
def no_ambient_credentials(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """No AWS, Azure or Google credential anywhere (HOME is empty); PATH has no Azure CLI. Returns HOME."""
    home = tmp_path / "home"
    home.mkdir()
    empty_bin = tmp_path / "bin"
    empty_bin.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("PATH", str(empty_bin))
    for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE",
                "AWS_CONTAINER_CREDENTIALS_FULL_URI", "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
                "AWS_WEB_IDENTITY_TOKEN_FILE", "GOOGLE_APPLICATION_CREDENTIALS", "AISPM_GCP_WIF_CONFIG_SECRET",
                "AISPM_AZURE_CREDENTIALS_SECRET"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(home / "no-aws-credentials"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(home / "no-aws-config"))
    monkeypatch.setenv("CLOUDSDK_CONFIG", str(home / "no-gcloud"))
    return home


@pytest.fixture
def quiet_logging_restored() -> Iterator[None]:
    logger = logging.getLogger("azure.identity")
    level = logger.level
    logger.setLevel(logging.NOTSET)
    yield
    logger.setLevel(level)


# --------------------------------------------------------------------------- one line


def test_the_chain_failure_folds_into_one_line_naming_every_credential_tried() -> None:
    line = credential_error_line(ClientAuthenticationError(message=CHAIN_FAILURE))
    assert line == ("DefaultAzureCredential tried: EnvironmentCredential: authentication unavailable; "
                    "ManagedIdentityCredential: authentication unavailable, no response from the IMDS endpoint; "
                    "AzureCliCredential: Please run 'az login' to set up an account "
                    f"(see {TROUBLESHOOT})")


@pytest.mark.parametrize(("message", "expected"), [
    ("AzureCliCredential: Azure CLI not found on path", "AzureCliCredential: Azure CLI not found on path"),
    ("Authentication failed:\nAADSTS7000215: Invalid client secret provided.\nTrace ID: 1",
     "Authentication failed: AADSTS7000215: Invalid client secret provided. Trace ID: 1"),
    ("Line one.\n\n   Line   two", "Line one. Line two"),
])
def test_other_credential_errors_become_one_line(message: str, expected: str) -> None:
    assert credential_error_line(ClientAuthenticationError(message=message)) == expected


def test_a_very_long_failure_is_cut_to_the_limit() -> None:
    attempts = "".join(f"\tCredential{i}: {'x' * 300}\n" for i in range(10))
    line = credential_error_line(ClientAuthenticationError(
        message=f"DefaultAzureCredential failed to retrieve a token from the included credentials.\n"
                f"Attempted credentials:\n{attempts}"))
    assert len(line) <= 500 and "\n" not in line and line.endswith("...")
    assert line.startswith("DefaultAzureCredential tried: Credential0: " + "x" * 100)


def test_a_failing_credential_is_one_plan_error_and_no_request(fake_arm: FakeArm) -> None:
    credential = FailingCredential()
    for subscriptions in ((), ("267e4902-d322-50d3-a641-c983590c3b5b", "58bab2f7-9e23-55fb-814a-fbd9f250689d")):
        units, errors = collector(fake_arm, credential=credential, subscriptions=list(subscriptions)).plan()
        assert units == []
        assert [(e.scope, e.error) for e in errors] == [("azure", "cannot get an Azure token: "
                                                         + credential_error_line(ClientAuthenticationError(
                                                             message=CHAIN_FAILURE)))]
    assert credential.calls == 2
    assert fake_arm.requests == []


def test_cli_credential_failure_is_one_line_and_the_sdk_logs_nothing(
        fake_arm: FakeArm, no_ambient_credentials: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
        capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture, quiet_logging_restored: None) -> None:
    """The real DefaultAzureCredential, limited to the Azure CLI credential, with no ``az`` on PATH."""
    monkeypatch.setenv("AZURE_TOKEN_CREDENTIALS", "AzureCliCredential")
    monkeypatch.setenv("AISPM_AZURE_ARM_ENDPOINT", fake_arm.url)
    caplog.set_level(logging.DEBUG, logger="azure.identity")
    caplog.set_level(logging.WARNING)
    code = main(["scan", "--provider", "azure", "--out", str(tmp_path / "out")])
    assert code == 4
    err = capsys.readouterr().err
    assert err == f"aispm: scope azure failed: {CLI_MISSING}\n"
    assert [r for r in caplog.records if r.name.startswith("azure.identity") and r.levelno >= logging.WARNING] == []
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert [(s["scope"], s["status"], s["error"]) for s in summary["scopes"]] == [("azure", "error", CLI_MISSING)]
    assert fake_arm.requests == []


def test_cli_credential_failure_prints_one_line_on_a_real_terminal(fake_arm: FakeArm, tmp_path: Path) -> None:
    """A subprocess, so nothing (pytest's log capture included) hides what Python's last-resort handler prints."""
    home, empty_bin = tmp_path / "home", tmp_path / "bin"
    home.mkdir()
    empty_bin.mkdir()
    env = {"HOME": str(home), "PATH": str(empty_bin), "AZURE_TOKEN_CREDENTIALS": "AzureCliCredential",
           "AISPM_AZURE_ARM_ENDPOINT": fake_arm.url, "AWS_EC2_METADATA_DISABLED": "true", "NO_GCE_CHECK": "true",
           "XDG_STATE_HOME": str(tmp_path / "state"), "SYSTEMROOT": os.environ.get("SYSTEMROOT", "")}
    proc = subprocess.run([sys.executable, "-m", "aispm", "scan", "--provider", "azure", "--out", str(tmp_path / "o")],
                          capture_output=True, text=True, env=env, cwd=ROOT, timeout=120, check=False)
    assert proc.returncode == 4, proc.stderr
    assert proc.stderr == f"aispm: scope azure failed: {CLI_MISSING}\n"
    assert fake_arm.requests == []


# --------------------------------------------------------------------------- configured


def test_without_any_hint_azure_is_not_configured_and_no_credential_is_asked(no_ambient_credentials: Path) -> None:
    credential = StaticTokenCredential()
    assert azure_configured(credential) is False
    assert configured_providers({"azure": credential}) == []
    assert credential.scopes == []


@pytest.mark.parametrize("hint", ["AZURE_TOKEN_CREDENTIALS", "AZURE_CLIENT_ID", "azureProfile.json"])
def test_a_hint_counts_only_when_the_credential_gets_an_arm_token(
        no_ambient_credentials: Path, monkeypatch: pytest.MonkeyPatch, hint: str) -> None:
    if hint == "azureProfile.json":
        (no_ambient_credentials / ".azure").mkdir()
        (no_ambient_credentials / ".azure" / "azureProfile.json").write_text("{}")
    else:
        monkeypatch.setenv(hint, "AzureCliCredential" if hint == "AZURE_TOKEN_CREDENTIALS" else "00000000-0000")
    good = StaticTokenCredential()
    assert azure_configured(good) is True
    assert configured_providers({"azure": good}) == ["azure"]
    assert set(good.scopes) == {(ARM_SCOPE,)}
    bad = FailingCredential()
    assert azure_configured(bad) is False
    assert configured_providers({"azure": bad}) == []
    assert bad.calls == 2


def test_the_token_scope_follows_the_arm_endpoint(no_ambient_credentials: Path, monkeypatch: pytest.MonkeyPatch,
                                                  fake_arm: FakeArm) -> None:
    monkeypatch.setenv("AZURE_TOKEN_CREDENTIALS", "AzureCliCredential")
    monkeypatch.setenv("AISPM_AZURE_ARM_ENDPOINT", fake_arm.url)
    credential = StaticTokenCredential()
    assert azure_configured(credential) is True
    assert credential.scopes == [(f"{fake_arm.url}/.default",)]
    assert fake_arm.requests == []


def test_a_real_default_credential_that_cannot_sign_in_is_not_configured(
        no_ambient_credentials: Path, monkeypatch: pytest.MonkeyPatch, quiet_logging_restored: None) -> None:
    monkeypatch.setenv("AZURE_TOKEN_CREDENTIALS", "AzureCliCredential")
    assert azure_configured() is False


def test_a_credential_that_never_answers_is_not_configured_after_the_timeout(
        no_ambient_credentials: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AZURE_TOKEN_CREDENTIALS", "AzureCliCredential")
    credential = HangingCredential()
    started = time.monotonic()
    try:
        assert azure_configured(credential, timeout=0.3) is False
        assert time.monotonic() - started < 5
    finally:
        credential.release.set()


def test_default_providers_are_none_when_the_azure_hint_cannot_sign_in(
        no_ambient_credentials: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("AZURE_TOKEN_CREDENTIALS", "AzureCliCredential")
    out = tmp_path / "out"
    assert main(["scan", "--out", str(out)]) == 2
    assert capsys.readouterr().err == ("aispm: error: no cloud credentials found; pass --provider aws|azure|gcp "
                                       "(or run 'aispm demo')\n")
    assert not (out / "summary.json").exists()


def test_default_providers_scan_azure_when_its_credential_gets_a_token(
        estate: dict[str, Any], no_ambient_credentials: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """The real chain, limited to the Azure CLI credential, whose ``az`` answers with the fake's token."""
    with FakeArm(estate, token=TEST_TOKEN, page_size=2, tls=True) as fake_arm:
        calls = scan_env(monkeypatch, fake_arm, tmp_path / "bin")   # the PATH's only bin
        out = tmp_path / "out"
        assert main(["scan", "--out", str(out)]) == 0
    assert calls.exists()
    summary = json.loads((out / "summary.json").read_text())
    assert {s["scope"].split(":")[0] for s in summary["scopes"]} == {"azure"}
    assert all(s["status"] == "ok" for s in summary["scopes"]) and summary["assets"] > 0
