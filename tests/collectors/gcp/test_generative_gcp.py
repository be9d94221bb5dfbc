"""Vertex AI generative and pipeline assets (rules-v2.md, GCP lines): Agent Engine, tuning jobs, RAG corpora,
feature online stores and pipeline runs, listed by the real aiplatform_v1 REST clients from the fake Google server."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest
from google.auth.credentials import AnonymousCredentials

from aispm.cli import main
from aispm.collectors.base import CollectResult
from aispm.collectors.gcp import GcpCollector, GcpOptions
from aispm.collectors.gcp.clients import ENDPOINT_ENV, RetrySettings
from aispm.demo.gcp_estate import service_account_file
from aispm.normalizer import normalize
from aispm.pipeline import scan_unit
from aispm.rules.policy import Policy
from aispm.testing.fake_google import FakeGoogle, demo_estate

PROJECT_A, NUMBER_A = "ml-prod-4821", "418203957711"
PROJECT_B, NUMBER_B = "genai-sandbox-7730", "772045316829"
US, EU = "us-central1", "europe-west4"
FAST = RetrySettings(initial=0.01, maximum=0.05, deadline=2, call_timeout=10)
NEW_KINDS = {"reasoning_engine": "reasoningEngines", "tuning_job": "tuningJobs", "rag_corpus": "ragCorpora",
             "feature_online_store": "featureOnlineStores", "pipeline_job": "pipelineJobs"}
JOBS = ("tuningJobs", "pipelineJobs")


@pytest.fixture
def endpoint_env(fake_google: FakeGoogle, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv(ENDPOINT_ENV, fake_google.url)
    return fake_google.url


def collector(projects: tuple[str, ...] = (PROJECT_A,), locations: tuple[str, ...] = (US,),
              **options: Any) -> GcpCollector:
    opts = GcpOptions(projects=projects, locations=locations, job_window_days=options.pop("job_window_days", 3650),
                      retry=FAST, **options)
    return GcpCollector(opts, credentials=AnonymousCredentials())  # type: ignore[no-untyped-call]


def collect_one(c: GcpCollector) -> CollectResult:
    units, errors = c.plan()
    assert errors == [] and len(units) == 1
    return c.collect(units[0])


def of(result: CollectResult, kind: str) -> list[dict[str, Any]]:
    return [r.data for r in result.records if r.type == kind]


def estate_of(number: str, location: str, collection: str) -> list[dict[str, Any]]:
    for entry in demo_estate()["projects"]:
        if entry["project"]["name"] == f"projects/{number}":
            found: list[dict[str, Any]] = entry["vertex"].get(location, {}).get(collection, [])
            return found
    raise KeyError(number)


# --------------------------------------------------------------------------- listing


def test_each_new_kind_is_listed_page_by_page_with_the_rest_json_kept(fake_google: FakeGoogle,
                                                                       endpoint_env: str) -> None:
    fake_google.page_size = 1
    result = collect_one(collector())
    assert result.ok, [e.error for e in result.errors]
    for kind, collection in NEW_KINDS.items():
        assert of(result, kind) == estate_of(NUMBER_A, US, collection), kind   # whole resources, wire JSON
        calls = fake_google.requests_to(f"/v1/projects/{PROJECT_A}/locations/{US}/{collection}")
        assert [bool(r.query.get("pageToken")) for r in calls] == [False, True], collection
        assert result.api_calls["gcp"][f"aiplatform.{collection}.list"] == 2
        assert ("filter" in calls[0].query) == (collection in JOBS), collection
    assert {k for k in NEW_KINDS if k in result.partial_kinds} == {"tuning_job", "pipeline_job"}


def test_tuning_and_pipeline_jobs_are_those_of_the_job_window(fake_google: FakeGoogle, endpoint_env: str) -> None:
    now = dt.datetime(2025, 11, 25, 0, 0, tzinfo=dt.UTC)
    result = collect_one(collector(job_window_days=14, now=lambda: now))
    assert [j["tunedModelDisplayName"] for j in of(result, "tuning_job")] == ["support-gemini-tuned"]
    assert [j["displayName"] for j in of(result, "pipeline_job")] == ["fraud-training-pipeline"]
    for collection in JOBS:
        call = fake_google.requests_to(f"/v1/projects/{PROJECT_A}/locations/{US}/{collection}")[0]
        assert call.query["filter"] == 'create_time>"2025-11-11T00:00:00Z"'
    assert len(of(result, "reasoning_engine")) == 2   # not jobs: no window


def test_new_kinds_map_with_provenance(fake_google: FakeGoogle, endpoint_env: str) -> None:
    assets = {a.name: a for a in normalize("gcp", collect_one(collector()).records)}
    agent = assets["support-agent"]
    assert agent.kind == "reasoning_engine" and agent.service == "vertexai"
    assert agent.uid == f"projects/{NUMBER_A}/locations/{US}/reasoningEngines/2794320551216201728"
    assert agent.identities == (f"{PROJECT_A}/vertex-serving@{PROJECT_A}.iam.gserviceaccount.com",)
    assert agent.encryption.customer_managed_key[0].source == "encryptionSpec.kmsKeyName"
    env = {(v.container, v.name): (v.value, v.secret) for v in agent.environment or ()}
    assert env == {
        ("spec.deploymentSpec.env", "LOG_LEVEL"): ("INFO", None),
        ("spec.deploymentSpec.env", "MAX_TOKENS"): ("2048", None),
        ("spec.deploymentSpec.secretEnv", "OPENAI_API_KEY"): ("openai-api-key@3", None),
        ("spec.deploymentSpec.secretEnv", "CRM_PASSWORD"): (f"projects/{PROJECT_A}/secrets/crm-password@latest", None),
    }
    legacy = assets["claims-agent-legacy"]
    leaked = {v.name: v for v in legacy.environment or ()}
    assert leaked["HF_TOKEN"].value == "***REDACTED***" and leaked["HF_TOKEN"].secret
    assert "hf_aispmDemoOnly" not in json.dumps([a.model_dump(mode="json") for a in assets.values()])

    tuned = assets["support-gemini-tuned"]   # a tuning job is named by its tuned model
    assert tuned.kind == "tuning_job" and tuned.details == {"base_model": "gemini-2.0-flash-001",
                                                            "state": "JOB_STATE_SUCCEEDED"}
    assert [(r.kind, r.role) for r in tuned.relations] == [("model", "tuned_model"), ("endpoint", "endpoint")]
    assert assets["claims-gemini-tuned"].identities == ()   # unset: Vertex AI's own service agent

    corpus = assets["policy-docs-corpus"]
    assert corpus.kind == "rag_corpus" and not corpus.taggable   # RAG corpora have no labels
    assert corpus.details == {"vector_db": "ragManagedDb", "state": "ACTIVE"}

    store = assets["fraud_features_online"]   # no display name: the resource id
    assert store.kind == "feature_online_store" and store.details == {"storage": "bigtable", "state": "STABLE"}
    assert assets["recsys_features_online"].details["storage"] == "optimized"

    run = assets["fraud-training-pipeline"]
    assert run.kind == "pipeline_job" and run.network.private_network is not None
    assert (run.network.private_network.value, run.network.private_network.source) == (True, "network")
    psc = assets["churn-feature-pipeline"].network.private_network
    assert psc is not None and (psc.value, psc.source) == (True, "pscInterfaceConfig.networkAttachment")
    assert assets["churn-feature-pipeline"].identities == (
        f"{PROJECT_A}/{NUMBER_A}-compute@developer.gserviceaccount.com",)


# --------------------------------------------------------------------------- regional services, denied lists


@pytest.mark.parametrize("status", [404, 501])
def test_a_location_without_agent_engine_or_rag_engine_is_empty_not_failed(
        fake_google: FakeGoogle, endpoint_env: str, status: int) -> None:
    for collection in ("reasoningEngines", "ragCorpora"):
        fake_google.not_offered(f"/v1/projects/{PROJECT_A}/locations/{US}/{collection}", status)
    c = collector()
    result = scan_unit(c, c.plan()[0][0], Policy())
    assert result.ok and result.errors == []
    kinds = {a.kind for a in result.assets}
    assert "reasoning_engine" not in kinds and "rag_corpus" not in kinds
    assert {"tuning_job", "feature_online_store", "pipeline_job", "endpoint"} <= kinds
    answered = fake_google.requests_to(f"/v1/projects/{PROJECT_A}/locations/{US}/reasoningEngines")
    assert [r.status for r in answered] == [status]   # final answers: not retried


@pytest.mark.parametrize("status", [404, 501])
def test_not_found_from_a_service_offered_everywhere_is_still_a_scope_error(
        fake_google: FakeGoogle, endpoint_env: str, status: int) -> None:
    fake_google.fail(f"/v1/projects/{PROJECT_A}/locations/{US}/featureOnlineStores", status)
    result = collect_one(collector())
    assert [e.error.split(":")[0] for e in result.errors] == ["featureOnlineStores.list"]
    assert str(status) in result.errors[0].error


def test_denied_agent_engine_is_a_scope_error_not_an_empty_location(fake_google: FakeGoogle,
                                                                    endpoint_env: str) -> None:
    fake_google.deny(f"/v1/projects/{PROJECT_A}/locations/{US}/reasoningEngines")
    result = collect_one(collector())
    assert [e.error.split(":")[0] for e in result.errors] == ["reasoningEngines.list"]
    assert "403 IAM_PERMISSION_DENIED" in result.errors[0].error


def test_a_403_on_tuning_jobs_only_fails_the_scope_and_keeps_its_other_kinds(
        fake_google: FakeGoogle, endpoint_env: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    fake_google.deny(f"/v1/projects/{PROJECT_A}/locations/{US}/tuningJobs")
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(service_account_file(tmp_path)))
    monkeypatch.setenv("AISPM_JOB_WINDOW_DAYS", "3650")
    out = tmp_path / "out"
    code = main(["scan", "--provider", "gcp", "--project", PROJECT_A, "--project", PROJECT_B,
                 "--location", US, "--out", str(out)])
    assert code == 4
    summary = json.loads((out / "summary.json").read_text())
    status = {s["scope"]: s for s in summary["scopes"]}
    denied = status[f"gcp:{PROJECT_A}:{US}"]
    assert denied["status"] == "error"
    assert denied["error"].startswith(
        "tuningJobs.list: 403 IAM_PERMISSION_DENIED: Permission 'aiplatform.tuningJobs.list' denied")
    assert status[f"gcp:{PROJECT_B}:{US}"]["status"] == "ok"
    assets = [json.loads(x) for x in (out / "assets.jsonl").read_text().splitlines()]
    kinds_a = {a["kind"] for a in assets if a["account"] == PROJECT_A}
    assert "tuning_job" not in kinds_a
    assert {"reasoning_engine", "rag_corpus", "feature_online_store", "pipeline_job", "endpoint", "model"} <= kinds_a
    assert len(fake_google.requests_to(f"/v1/projects/{PROJECT_A}/locations/{US}/tuningJobs")) == 1
    assert f"scope gcp:{PROJECT_A}:{US} failed" in capsys.readouterr().err
