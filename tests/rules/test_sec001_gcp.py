"""SEC-001 precision on GCP: ``aispm scan`` with the real aiplatform_v1 REST clients against the fake Google server.

Secrets travel as Vertex AI returns them: a model's ``containerSpec.env[]`` and a
custom job's ``workerPoolSpecs[].containerSpec.env[]`` / ``.pythonPackageSpec.env[]``, an Agent Engine's
``spec.deploymentSpec.env[]`` (its ``secretEnv[]`` holds references);
the output files are read back.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from aispm.cli import main
from aispm.collectors.gcp.clients import ENDPOINT_ENV
from aispm.demo.gcp_estate import service_account_file
from aispm.testing.fake_google import FakeGoogle, demo_estate
from tests.support.sec001 import CLEAN_ENV, PASSWORDS, SECRET_ENV, assert_scan_output, named, sec001

PROJECT, NUMBER, US = "ml-prod-4821", "418203957711", "us-central1"
BASE = f"projects/{NUMBER}/locations/{US}"
IMAGE = "us-docker.pkg.dev/vertex-ai/prediction/pytorch-gpu.2-1:latest"


def _env(env: dict[str, str]) -> list[dict[str, str]]:
    return [{"name": k, "value": v} for k, v in env.items()]


def _model(n: int, name: str, env: dict[str, str]) -> dict[str, Any]:
    return {"name": f"{BASE}/models/{n}", "displayName": name, "containerSpec": {"imageUri": IMAGE, "env": _env(env)}}


def _job(n: int, name: str, pools: list[dict[str, Any]]) -> dict[str, Any]:
    return {"name": f"{BASE}/customJobs/{n}", "displayName": name, "createTime": "2026-01-05T00:00:00Z",
            "state": "JOB_STATE_SUCCEEDED",
            "jobSpec": {"workerPoolSpecs": [{"machineSpec": {"machineType": "n1-standard-4"}, "replicaCount": "1",
                                             **pool} for pool in pools]}}


def _scan(vertex: dict[str, list[dict[str, Any]]], out: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    estate = copy.deepcopy(demo_estate())
    estate["projects"] = estate["projects"][:1]
    estate["projects"][0]["vertex"] = {US: vertex}
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(service_account_file(out.parent)))
    monkeypatch.setenv("AISPM_JOB_WINDOW_DAYS", "3650")
    with FakeGoogle(estate, page_size=2) as fake:
        monkeypatch.setenv(ENDPOINT_ENV, fake.url)
        assert main(["scan", "--provider", "gcp", "--project", PROJECT, "--location", US, "--out", str(out)]) == 0


def test_model_container_spec_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _scan({"models": [_model(1, "leaky", SECRET_ENV), _model(2, "clean", CLEAN_ENV)]}, tmp_path / "out", monkeypatch)
    assert_scan_output(tmp_path / "out", "leaky", "clean")


def test_custom_job_container_and_python_package_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    half = len(SECRET_ENV) // 2
    first, second = dict(list(SECRET_ENV.items())[:half]), dict(list(SECRET_ENV.items())[half:])
    _scan({"customJobs": [
        _job(1, "leaky-job", [
            {"containerSpec": {"imageUri": IMAGE, "env": _env({**first, "MAX_TOKENS": "4096"})}},
            {"pythonPackageSpec": {"executorImageUri": IMAGE, "packageUris": ["gs://b/t.tar.gz"],
                                   "pythonModule": "trainer.task", "env": _env(second)}},
        ]),
        _job(2, "clean-job", [
            {"containerSpec": {"imageUri": IMAGE, "env": _env(CLEAN_ENV)}},
            {"pythonPackageSpec": {"executorImageUri": IMAGE, "packageUris": ["gs://b/t.tar.gz"],
                                   "pythonModule": "trainer.task", "env": _env({"NUM_TOKENS_PER_BATCH": "8"})}},
        ]),
    ]}, tmp_path / "out", monkeypatch)
    out = tmp_path / "out"
    found = sec001(out)
    assert found["clean-job"]["compliance"]["status"] == "Pass", found["clean-job"]["status_detail"]
    bad = found["leaky-job"]
    assert bad["compliance"]["status"] == "Fail"
    detail = bad["status_detail"]
    for variable in first:
        assert f"workerPoolSpecs[0].containerSpec:{variable} (" in detail
    for variable in second:
        assert f"workerPoolSpecs[1].pythonPackageSpec:{variable} (" in detail
    assert not named(detail, "MAX_TOKENS")
    for name in ("findings.ocsf.jsonl", "assets.jsonl", "summary.json"):
        text = (out / name).read_text()
        assert not any(v in text for v in (*SECRET_ENV.values(), *PASSWORDS)), name
    assert '"4096"' in (out / "assets.jsonl").read_text()


def _engine(n: int, name: str, env: dict[str, str], secret_env: dict[str, str] | None = None) -> dict[str, Any]:
    deployment: dict[str, Any] = {"env": _env(env)} if env else {}
    if secret_env:
        deployment["secretEnv"] = [{"name": k, "secretRef": {"secret": v}} for k, v in secret_env.items()]
    return {"name": f"{BASE}/reasoningEngines/{n}", "displayName": name, "spec": {"deploymentSpec": deployment}}


def test_agent_engine_deployment_env_and_secret_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """rules-v2.md: Agent Engine's spec.deploymentSpec.env[] is tested; secretEnv entries are references."""
    references = {name: f"secret-{i}" for i, name in enumerate(SECRET_ENV)}   # secret-like names, all references
    _scan({"reasoningEngines": [_engine(1, "leaky-agent", SECRET_ENV), _engine(2, "clean-agent", CLEAN_ENV),
                                _engine(3, "referencing-agent", {}, references)]}, tmp_path / "out", monkeypatch)
    out = tmp_path / "out"
    assert_scan_output(out, "leaky-agent", "clean-agent")
    found = sec001(out)
    assert found["referencing-agent"]["compliance"]["status"] == "Pass", found["referencing-agent"]["status_detail"]
    assert f"spec.deploymentSpec.env:{next(iter(SECRET_ENV))} (" in found["leaky-agent"]["status_detail"]
    assets = {a["name"]: a for a in map(json.loads, (out / "assets.jsonl").read_text().splitlines())}
    kept = {e["name"]: (e["value"], e["secret"], e["container"]) for e in assets["referencing-agent"]["environment"]}
    assert kept == {n: (f"{ref}@latest", None, "spec.deploymentSpec.secretEnv") for n, ref in references.items()}
