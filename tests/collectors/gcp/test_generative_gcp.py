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
        ("spec.deploymentSpec.env", "MODEL_NAME"): ("gemini-2.0-flash-001", None),
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


# --------------------------------------------------------------------------- rule lines (rules-v2.md, GCP)

RULE_LINES = {
    "ENC-001": ("reasoning_engine", "tuning_job", "rag_corpus", "feature_online_store", "pipeline_job"),
    "IAM-001": ("reasoning_engine", "tuning_job", "pipeline_job"),
    "NET-005": ("pipeline_job",),
    "SEC-001": ("reasoning_engine",),
}


def evaluated(estate: dict[str, Any] | None, monkeypatch: pytest.MonkeyPatch,
              projects: tuple[str, ...] = (PROJECT_A, PROJECT_B),
              policy: Policy | None = None) -> dict[tuple[str, str], tuple[str, str, str]]:
    """(rule without prefix, asset name) -> (asset kind, status, detail), every unit scanned on its own."""
    out: dict[tuple[str, str], tuple[str, str, str]] = {}
    with FakeGoogle(estate) as fake:
        monkeypatch.setenv(ENDPOINT_ENV, fake.url)
        c = collector(projects=projects)
        for unit in c.plan()[0]:
            result = scan_unit(c, unit, policy or Policy())
            assert result.ok, [e.error for e in result.errors]
            for f in result.findings:
                out[(f.rule.id.removeprefix("AISPM-"), f.asset.name)] = (f.asset.kind, f.status, f.detail)
    return out


def test_every_new_rule_line_passes_on_one_demo_asset_and_fails_on_another(monkeypatch: pytest.MonkeyPatch) -> None:
    got = evaluated(None, monkeypatch)
    for rule, kinds in RULE_LINES.items():
        for kind in kinds:
            statuses = {status for (r, _), (k, status, _) in got.items() if r == rule and k == kind}
            assert statuses == {"pass", "fail"}, (rule, kind)
    new = {k for k, _, _ in got.values()} & set(NEW_KINDS)
    assert {(r, k) for (r, _), (k, _, _) in got.items() if k in new} == {
        (r, k) for r, kinds in RULE_LINES.items() for k in kinds}   # no other rule reads the new kinds
    assert got[("SEC-001", "support-agent")][1] == "pass"          # secretEnv OPENAI_API_KEY: a reference
    assert "HF_TOKEN" in got[("SEC-001", "claims-agent-legacy")][2]
    assert "hf_aispmDemoOnly" not in got[("SEC-001", "claims-agent-legacy")][2]
    assert got[("IAM-001", "churn-feature-pipeline")][2].startswith(
        f"{PROJECT_A}/{NUMBER_A}-compute@developer.gserviceaccount.com holds")
    assert got[("IAM-001", "claims-gemini-tuned")][1:] == ("pass", "The workload runs with no identity of its own.")


def _bare_estate() -> dict[str, Any]:
    """Each new kind as the API returns it with nothing optional set, and the settings each rule line reads."""
    base = f"projects/{NUMBER_A}/locations/{US}"
    key = {"encryptionSpec": {"kmsKeyName": f"projects/{PROJECT_A}/locations/{US}/keyRings/r/cryptoKeys/k"}}
    estate = demo_estate()
    estate["projects"] = estate["projects"][:1]
    estate["projects"][0]["vertex"] = {US: {
        "reasoningEngines": [
            {"name": f"{base}/reasoningEngines/1", "displayName": "bare-agent"},
            {"name": f"{base}/reasoningEngines/2", "displayName": "referencing-agent", **key,
             "spec": {"serviceAccount": f"vertex-serving@{PROJECT_A}.iam.gserviceaccount.com",
                      "deploymentSpec": {"secretEnv": [
                          {"name": "DB_PASSWORD", "secretRef": {"secret": "db-password"}},
                          {"name": "HF_TOKEN", "secretRef": {"secret": "hf-token", "version": "2"}}]}}},
            {"name": f"{base}/reasoningEngines/3", "displayName": "url-password-agent",
             "spec": {"deploymentSpec": {"env": [
                 {"name": "CACHE", "value": "redis://:Sesame-0pen-42@cache.internal:6379/0"},
                 {"name": "MAX_TOKENS", "value": "4096"}]}}},
        ],
        "tuningJobs": [
            {"name": f"{base}/tuningJobs/1", "baseModel": "gemini-2.0-flash-001",
             "tunedModelDisplayName": "bare-tuning", "createTime": "2026-11-20T00:00:00Z"},
            {"name": f"{base}/tuningJobs/2", "baseModel": "gemini-2.0-flash-001", **key,
             "tunedModelDisplayName": "editor-tuning", "createTime": "2026-11-20T00:00:00Z",
             "serviceAccount": f"legacy-trainer@{PROJECT_A}.iam.gserviceaccount.com"},
        ],
        "ragCorpora": [
            {"name": f"{base}/ragCorpora/1", "displayName": "bare-corpus"},
            {"name": f"{base}/ragCorpora/2", "displayName": "cmek-corpus", **key},
        ],
        "featureOnlineStores": [
            {"name": f"{base}/featureOnlineStores/bare_store"},
            {"name": f"{base}/featureOnlineStores/cmek_store", **key,   # only Bigtable serving takes a key
             "bigtable": {"autoScaling": {"minNodeCount": 1, "maxNodeCount": 2}}},
        ],
        "pipelineJobs": [
            {"name": f"{base}/pipelineJobs/1", "displayName": "bare-run", "createTime": "2026-11-20T00:00:00Z"},
            {"name": f"{base}/pipelineJobs/2", "displayName": "empty-psc-run", "createTime": "2026-11-20T00:00:00Z",
             "pscInterfaceConfig": {"dnsPeeringConfigs": [{"domain": "corp.example.", "targetProject": PROJECT_A,
                                                           "targetNetwork": "ml-vpc"}]}},
            {"name": f"{base}/pipelineJobs/3", "displayName": "psc-run", "createTime": "2026-11-20T00:00:00Z",
             "pscInterfaceConfig": {"networkAttachment": "ml-attachment"}, **key},
        ],
    }}
    return estate


def test_absent_fields_take_the_documented_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    got = evaluated(_bare_estate(), monkeypatch, projects=(PROJECT_A,))
    assert {key: status for key, (_, status, _) in got.items()} == {
        ("ENC-001", "bare-agent"): "fail",           # no encryptionSpec: Google-managed key
        ("IAM-001", "bare-agent"): "pass",           # no spec.serviceAccount: not a Fail
        ("SEC-001", "bare-agent"): "pass",           # no deploymentSpec.env: nothing holds a secret
        ("ENC-001", "referencing-agent"): "pass",
        ("IAM-001", "referencing-agent"): "pass",    # roles/aiplatform.user only
        ("SEC-001", "referencing-agent"): "pass",    # secretEnv entries are references, whatever their names
        ("ENC-001", "url-password-agent"): "fail",
        ("IAM-001", "url-password-agent"): "pass",
        ("SEC-001", "url-password-agent"): "fail",   # a password inside a URL, whatever the name
        ("ENC-001", "bare-tuning"): "fail",
        ("IAM-001", "bare-tuning"): "pass",          # unset: Vertex AI's service agent
        ("ENC-001", "editor-tuning"): "pass",
        ("IAM-001", "editor-tuning"): "fail",        # roles/editor on the project
        ("ENC-001", "bare-corpus"): "fail",
        ("ENC-001", "cmek-corpus"): "pass",
        ("ENC-001", "bare_store"): "fail",
        ("ENC-001", "cmek_store"): "pass",
        ("NET-005", "bare-run"): "fail",             # neither network nor a PSC interface
        ("ENC-001", "bare-run"): "fail",
        ("IAM-001", "bare-run"): "pass",
        ("NET-005", "empty-psc-run"): "fail",        # a PSC interface config without a network attachment
        ("ENC-001", "empty-psc-run"): "fail",
        ("IAM-001", "empty-psc-run"): "pass",
        ("NET-005", "psc-run"): "pass",
        ("ENC-001", "psc-run"): "pass",
        ("IAM-001", "psc-run"): "pass",
    }
    assert "CACHE (value is a URL with a literal password)" in got[("SEC-001", "url-password-agent")][2]
    assert "MAX_TOKENS" not in got[("SEC-001", "url-password-agent")][2]
    assert got[("ENC-001", "bare-corpus")][2].startswith("encryptionSpec.kmsKeyName is absent")
    assert got[("NET-005", "bare-run")][2].startswith("network, pscInterfaceConfig.networkAttachment is absent")


def test_required_tags_skip_rag_corpora_which_have_no_labels(monkeypatch: pytest.MonkeyPatch) -> None:
    got = evaluated(_bare_estate(), monkeypatch, projects=(PROJECT_A,), policy=Policy(required_tags=["owner"]))
    tagged = {name for (rule, name) in got if rule == "GOV-003"}
    assert "bare-corpus" not in tagged and "cmek-corpus" not in tagged
    assert {"bare-agent", "bare-tuning", "bare_store", "bare-run"} <= tagged
