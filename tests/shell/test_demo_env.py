"""The demo's environment switch: loopback-only settings for the run, the caller's environment back after."""

from __future__ import annotations

import os

import pytest

from aispm.demo.run import safe_env


def test_safe_env_sets_unsets_and_restores_everything(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_PROFILE", "prod")
    monkeypatch.setenv("AWS_REGION", "eu-west-3")
    monkeypatch.delenv("AWS_SESSION_TOKEN", raising=False)
    before = dict(os.environ)
    with safe_env({"AISPM_GCP_ENDPOINT": "http://127.0.0.1:1"}):
        assert "AWS_PROFILE" not in os.environ
        assert os.environ["AWS_REGION"] == "us-east-1"
        assert os.environ["AWS_SESSION_TOKEN"] == "testing"
        assert os.environ["AISPM_GCP_ENDPOINT"] == "http://127.0.0.1:1"   # what the caller asks for wins
        os.environ["SET_DURING_THE_DEMO"] = "1"
    assert dict(os.environ) == before
