"""Suite-wide safety: every SDK stays on 127.0.0.1 with dummy credentials."""

from __future__ import annotations

import os

import pytest

for _key in ("AWS_PROFILE", "AWS_ENDPOINT_URL", "GOOGLE_APPLICATION_CREDENTIALS", "AZURE_CLIENT_ID",
             "AWS_SHARED_CREDENTIALS_FILE", "AWS_CONFIG_FILE", "AISPM_AZURE_ARM_ENDPOINT", "AISPM_GCP_ENDPOINT"):
    os.environ.pop(_key, None)
os.environ.update({
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_EC2_METADATA_DISABLED": "true",
    "NO_GCE_CHECK": "true",
    "GCE_METADATA_HOST": "127.0.0.1:9",
    "GCE_METADATA_IP": "127.0.0.1:9",
})


@pytest.fixture(autouse=True)
def _isolated_state(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test gets its own finding lifecycle state (the default lives under XDG_STATE_HOME)."""
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path_factory.mktemp("xdg-state")))
    for key in ("AISPM_STATE_TABLE", "AISPM_DEAD_LETTER_QUEUE_URL"):
        monkeypatch.delenv(key, raising=False)
