"""SEC-001 precision on Azure: ``aispm scan`` with the real ARM SDK pipeline against the fake Resource Manager.

The secrets travel in an online deployment's ``properties.environmentVariables``
exactly as ARM returns them, and the output files are read back.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from aispm.cli import main
from aispm.testing.fake_arm import FakeArm
from tests.support.azure import ML, TEST_TOKEN, estate, scan_env
from tests.support.sec001 import CLEAN_ENV, SECRET_ENV, assert_scan_output, named, sec001

WS = f"{ML}/workspaces/mlw-llm"
EP = f"{WS}/onlineEndpoints/ep-chat"


def _deployment(name: str, env: dict[str, Any]) -> dict[str, Any]:
    return {"id": f"{EP}/deployments/{name}", "location": "eastus", "sku": {"name": "Default", "capacity": 2},
            "properties": {"endpointComputeType": "Managed", "model": "azureml:llama:3",
                           "environmentVariables": env}}


def _scan(resources: list[dict[str, Any]], out: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    base = [{"id": WS, "location": "eastus", "properties": {}},
            {"id": EP, "location": "eastus", "properties": {"authMode": "AADToken"}}]
    with FakeArm(estate(base + resources), token=TEST_TOKEN, page_size=2, tls=True) as fake:
        scan_env(monkeypatch, fake, out.with_name(f"{out.name}-bin"))   # the real credential chain, over TLS
        assert main(["scan", "--provider", "azure", "--out", str(out)]) == 0


def test_online_deployment_environment_variables(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _scan([_deployment("leaky", SECRET_ENV), _deployment("clean", CLEAN_ENV)], tmp_path, monkeypatch)
    assert_scan_output(tmp_path, "leaky", "clean")


def test_token_counts_pass_and_a_url_password_fails_alone(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _scan([_deployment("counts", {"MAX_TOKENS": "512", "NUM_TOKENS_PER_BATCH": "16", "TOKENIZER_PATH": "/t"}),
           _deployment("url", {"MAX_TOKENS": "512", "MLFLOW_TRACKING_URI": "https://ml:Tr0ub4dor-and-3@mlflow"}),
           _deployment("pwd", {"AZURE_SQL": "Server=tcp:s.database.windows.net;Uid=svc;PWD=C0rrect-H0rse-B4ttery"})],
          tmp_path, monkeypatch)
    found = sec001(tmp_path)
    assert {n: f["compliance"]["status"] for n, f in found.items()} == {"counts": "Pass", "url": "Fail", "pwd": "Fail"}
    assert "MLFLOW_TRACKING_URI (value is a URL with a literal password)" in found["url"]["status_detail"]
    assert not named(found["url"]["status_detail"], "MAX_TOKENS")
    assert "AZURE_SQL (value is a connection string with a literal password)" in found["pwd"]["status_detail"]
    for name in ("findings.ocsf.jsonl", "assets.jsonl"):
        text = (tmp_path / name).read_text()
        assert "Tr0ub4dor" not in text and "C0rrect-H0rse" not in text
