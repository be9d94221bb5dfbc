"""The GCP collector and mapper: the real aiplatform_v1 / resourcemanager_v3 REST clients against the fake."""

from __future__ import annotations

import base64
import copy
import datetime as dt
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from google.auth.credentials import AnonymousCredentials

from aispm.cli import main
from aispm.collectors.base import CollectOptions, CollectResult, ScopeUnit
from aispm.collectors.gcp import GcpCollector, GcpOptions, build
from aispm.collectors.gcp.buckets import storage_base
from aispm.collectors.gcp.clients import ENDPOINT_ENV, RetrySettings
from aispm.demo.gcp_estate import DEMO_SERVICE_ACCOUNT, service_account_file
from aispm.normalizer import normalize, normalize_identities
from aispm.normalizer.schema import Asset
from aispm.pipeline import scan_unit
from aispm.rules.engine import evaluate
from aispm.rules.policy import Policy
from aispm.sinks.formats.ocsf import to_ocsf
from aispm.testing.fake_google import FakeGoogle, demo_estate

PROJECT_A, NUMBER_A = "ml-prod-4821", "418203957711"
PROJECT_B, NUMBER_B = "genai-sandbox-7730", "772045316829"
US, EU = "us-central1", "europe-west4"
FAST = RetrySettings(initial=0.01, maximum=0.05, deadline=2, call_timeout=10)
REQUIRED_TAGS = ["owner", "cost-center"]

Outcomes = dict[tuple[str, str], str]


@pytest.fixture
def endpoint_env(fake_google: FakeGoogle, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv(ENDPOINT_ENV, fake_google.url)
    return fake_google.url


@pytest.fixture
def key_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Application Default Credentials from a throwaway service-account key: the shipped credential path.

    Also widens the recent-jobs window for CLI scans: the estate's custom jobs are older than 30 days.
    """
    path = service_account_file(tmp_path)
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(path))
    monkeypatch.setenv("AISPM_JOB_WINDOW_DAYS", "3650")
    return path


def collector(projects: tuple[str, ...] = (PROJECT_A, PROJECT_B), locations: tuple[str, ...] = (US, EU),
              **options: Any) -> GcpCollector:
    opts = GcpOptions(projects=projects, locations=locations, job_window_days=options.pop("job_window_days", 3650),
                      retry=FAST, **options)
    return GcpCollector(opts, credentials=AnonymousCredentials())  # type: ignore[no-untyped-call]


def collect_all(c: GcpCollector) -> list[CollectResult]:
    units, errors = c.plan()
    assert errors == []
    return [c.collect(u) for u in units]


def outcomes(results: list[CollectResult], policy: Policy | None = None) -> tuple[Outcomes, list[Asset]]:
    """(rule without prefix, asset name) -> pass/fail/error over every unit, each evaluated on its own."""
    out: Outcomes = {}
    assets: list[Asset] = []
    for r in results:
        unit_assets = normalize("gcp", r.records)
        identities = {i.uid: i for i in normalize_identities("gcp", r.identities)}
        for ev in evaluate(unit_assets, identities, policy or Policy()).evaluations:
            key = (ev.rule.id.removeprefix("AISPM-"), ev.asset.name)
            assert key not in out, key
            out[key] = ev.status
        assets.extend(unit_assets)
    return out, assets


def expected_from_wire() -> dict[tuple[str, str], bool]:
    """The independent reading of rules-v1.md over the estate's wire JSON (tests/support/gcp_wire.py)."""
    from tests.support.gcp_wire import EXPECTED_FAILS, wire_outcomes

    expected = wire_outcomes()
    for rule, fails in EXPECTED_FAILS.items():
        assert {label for (r, label), ok in expected.items() if r == rule and not ok} == fails
    return expected


# --------------------------------------------------------------------------- every rule, demo estate


def test_every_gcp_rule_passes_and_fails_as_the_spec_reads_the_estate(fake_google: FakeGoogle,
                                                                       endpoint_env: str) -> None:
    results = collect_all(collector())
    assert all(r.ok for r in results), [e.error for r in results for e in r.errors]
    got, _ = outcomes(results)
    expected = {key: "pass" if ok else "fail" for key, ok in expected_from_wire().items()}
    assert got == expected
    rules = {rule for rule, _ in got}
    assert rules == {"NET-001", "NET-002", "NET-005", "NET-006", "ENC-001", "IAM-001", "SEC-001", "LOG-001",
                     "LOG-002", "RES-001", "GOV-002", "PRV-001", "PRV-003"}
    for rule in rules:
        assert {s for (r, _), s in got.items() if r == rule} == {"pass", "fail"}, rule


def test_gov_003_uses_labels_only_when_required_tags_are_configured(fake_google: FakeGoogle,
                                                                     endpoint_env: str) -> None:
    results = collect_all(collector())
    assert not any(r == "GOV-003" for r, _ in outcomes(results)[0])
    got, assets = outcomes(results, Policy(required_tags=REQUIRED_TAGS))
    gov = {name: s for (r, name), s in got.items() if r == "GOV-003"}
    assert len(assets) == 48
    assert len(gov) == len([a for a in assets if a.taggable]) == 46   # RAG corpora carry no labels
    assert gov["credit-risk-psc"] == "pass"      # owner + cost-center labels
    assert gov["recsys-vpc-peered"] == "fail"    # owner only
    assert gov["sandbox-eval"] == "fail"         # no labels at all
    tagged = {a.name for a in assets if {"owner", "cost-center"} <= set(a.tags)}
    assert {n for n, s in gov.items() if s == "pass"} == tagged


def test_assets_keep_vertex_names_labels_and_redact_secrets(fake_google: FakeGoogle, endpoint_env: str) -> None:
    _, assets = outcomes(collect_all(collector()))
    by_name = {a.name: a for a in assets}
    ep = by_name["fraud-scoring-public"]
    assert ep.uid == f"projects/{NUMBER_A}/locations/{US}/endpoints/5204861330011234304"
    assert (ep.kind, ep.account, ep.region, ep.provider, ep.service) == ("endpoint", PROJECT_A, US, "gcp", "vertexai")
    assert ep.tags == {"owner": "fraud-team", "cost-center": "cc-1042", "env": "prod"}
    assert ep.identities == (f"{PROJECT_A}/{NUMBER_A}-compute@developer.gserviceaccount.com",)
    assert ep.created == dt.datetime(2024, 5, 2, 8, 15, 40, 118374, tzinfo=dt.UTC)
    kinds = {a.kind for a in assets}
    assert kinds == {"endpoint", "model", "custom_job", "dataset", "index_endpoint", "notebook_runtime_template",
                     "notebook_runtime", "reasoning_engine", "tuning_job", "rag_corpus", "feature_online_store",
                     "pipeline_job"}
    job = by_name["sandbox-finetune"]
    env = {v.name: v for v in job.environment or ()}
    assert env["AWS_ACCESS_KEY_ID"].value == "***REDACTED***"
    assert env["AWS_ACCESS_KEY_ID"].container == "workerPoolSpecs[0].containerSpec"
    assert env["S3_BUCKET"].value == "partner-datasets"
    dumped = json.dumps([a.model_dump(mode="json") for a in assets])
    assert "AKIAIOSFODNN7EXAMPLE" not in dumped and "ghp_aispmDemoOnly" not in dumped
    assert by_name["recsys-automl-tabular"].environment is None   # no containerSpec: SEC-001 skipped


def test_identities_count_only_unconditional_grants(fake_google: FakeGoogle, endpoint_env: str) -> None:
    results = collect_all(collector())
    identities = {i.uid: i for r in results for i in normalize_identities("gcp", r.identities)}
    breakglass = identities[f"{PROJECT_A}/breakglass-trainer@{PROJECT_A}.iam.gserviceaccount.com"]
    assert breakglass.project_roles == ("roles/aiplatform.user",)   # the owner grant has a condition
    assert breakglass.kind == "gcp_service_account" and not breakglass.default_compute_account
    legacy = identities[f"{PROJECT_A}/legacy-trainer@{PROJECT_A}.iam.gserviceaccount.com"]
    assert legacy.project_roles == ("roles/editor",)
    compute = identities[f"{PROJECT_B}/{NUMBER_B}-compute@developer.gserviceaccount.com"]
    assert compute.default_compute_account and compute.project_roles == ()
    assert compute.account == PROJECT_B


# --------------------------------------------------------------------------- defaults of absent fields


def _minimal_estate() -> dict[str, Any]:
    base = f"projects/{NUMBER_A}/locations/{US}"
    estate = copy.deepcopy(demo_estate())
    estate["projects"] = estate["projects"][:1]
    estate["projects"][0]["vertex"] = {US: {
        "endpoints": [
            {"name": f"{base}/endpoints/1", "displayName": "bare-endpoint"},
            {"name": f"{base}/endpoints/2", "displayName": "legacy-psc-auto", "enablePrivateServiceConnect": True,
             "deployedModels": [{"id": "7", "model": f"{base}/models/1", "automaticResources": {}}]},
            {"name": f"{base}/endpoints/3", "displayName": "logging-off",
             "predictRequestResponseLoggingConfig": {"samplingRate": 1.0},
             "deployedModels": [{"id": "8", "model": f"{base}/models/1",
                                 "dedicatedResources": {"machineSpec": {"machineType": "n1-standard-2"},
                                                        "minReplicaCount": 2}}]},
        ],
        "models": [
            {"name": f"{base}/models/1", "displayName": "no-container"},
            {"name": f"{base}/models/2", "displayName": "container-no-env",
             "containerSpec": {"imageUri": "us-docker.pkg.dev/x/y:1"}},
        ],
        "customJobs": [{"name": f"{base}/customJobs/1", "displayName": "bare-job",
                        "createTime": "2026-11-20T00:00:00Z",
                        "jobSpec": {"workerPoolSpecs": [{"machineSpec": {"machineType": "n1-standard-4"},
                                                         "replicaCount": "1",
                                                         "containerSpec": {"imageUri": "gcr.io/x/y"}}]}}],
        "datasets": [{"name": f"{base}/datasets/1", "displayName": "bare-dataset"}],
        "indexEndpoints": [{"name": f"{base}/indexEndpoints/1", "displayName": "bare-index-endpoint"}],
        "notebookRuntimeTemplates": [
            {"name": f"{base}/notebookRuntimeTemplates/1", "displayName": "bare-template"},
            {"name": f"{base}/notebookRuntimeTemplates/2", "displayName": "idle-default",
             "idleShutdownConfig": {"idleTimeout": "10800s"}, "networkSpec": {"enableInternetAccess": False}},
        ],
    }}
    return estate


def test_absent_fields_take_the_documented_defaults(endpoint_env: str, monkeypatch: pytest.MonkeyPatch) -> None:
    with FakeGoogle(_minimal_estate()) as fake:
        monkeypatch.setenv(ENDPOINT_ENV, fake.url)
        got, _ = outcomes(collect_all(collector(projects=(PROJECT_A,), locations=(US,))))
    assert got == {
        ("NET-001", "bare-endpoint"): "fail",          # no PSC, no network: public
        ("ENC-001", "bare-endpoint"): "fail",
        ("IAM-001", "bare-endpoint"): "pass",          # nothing deployed: no identity
        ("LOG-001", "bare-endpoint"): "fail",
        ("LOG-002", "bare-endpoint"): "fail",
        ("RES-001", "bare-endpoint"): "pass",          # no deployed model to be redundant
        ("NET-001", "legacy-psc-auto"): "pass",        # deprecated top-level enablePrivateServiceConnect
        ("ENC-001", "legacy-psc-auto"): "fail",
        ("IAM-001", "legacy-psc-auto"): "pass",        # unset service account: Vertex's own agent
        ("LOG-001", "legacy-psc-auto"): "fail",
        ("LOG-002", "legacy-psc-auto"): "fail",
        ("RES-001", "legacy-psc-auto"): "fail",        # automaticResources.minReplicaCount absent
        ("NET-001", "logging-off"): "fail",
        ("ENC-001", "logging-off"): "fail",
        ("IAM-001", "logging-off"): "pass",
        ("LOG-001", "logging-off"): "fail",            # config present, enabled absent = false
        ("LOG-002", "logging-off"): "fail",
        ("RES-001", "logging-off"): "pass",
        ("ENC-001", "no-container"): "fail",           # and no SEC-001: containerSpec not returned
        ("ENC-001", "container-no-env"): "fail",
        ("SEC-001", "container-no-env"): "pass",
        ("PRV-001", "container-no-env"): "pass",       # no PRV-001 for no-container: containerSpec not returned
        ("NET-005", "bare-job"): "fail",
        ("NET-006", "bare-job"): "pass",
        ("ENC-001", "bare-job"): "fail",
        ("IAM-001", "bare-job"): "pass",
        ("SEC-001", "bare-job"): "pass",
        ("ENC-001", "bare-dataset"): "fail",
        ("NET-001", "bare-index-endpoint"): "pass",    # publicEndpointEnabled absent = false
        ("NET-002", "bare-template"): "pass",          # enableInternetAccess absent = false
        ("ENC-001", "bare-template"): "fail",
        ("GOV-002", "bare-template"): "fail",          # no idleShutdownConfig
        ("NET-002", "idle-default"): "pass",
        ("ENC-001", "idle-default"): "fail",
        ("GOV-002", "idle-default"): "pass",
    }


def test_malformed_records_are_a_scope_error_with_one_line(endpoint_env: str,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    estate = _minimal_estate()
    job = estate["projects"][0]["vertex"][US]["customJobs"][0]
    job["jobSpec"]["workerPoolSpecs"][0]["containerSpec"]["env"] = [{"value": "no name"}]
    estate["projects"][0]["vertex"][US]["endpoints"][0]["deployedModels"] = "not a list"
    with FakeGoogle(estate) as fake:
        monkeypatch.setenv(ENDPOINT_ENV, fake.url)
        c = collector(projects=(PROJECT_A,), locations=(US,))
        unit = c.plan()[0][0]
        result = scan_unit(c, unit, Policy())
    errors = [e.error for e in result.errors]
    assert len(errors) == 2 and not any("\n" in e for e in errors)
    assert errors[0].startswith("endpoints.list: Failed to parse")   # the payload does not parse as an Endpoint
    assert errors[1] == "malformed gcp custom_job record: KeyError: 'name'"   # an env entry without a name
    assert not result.ok                                   # the scope is incomplete, so never reconciled
    kinds = {a.kind for a in result.assets}
    assert "custom_job" not in kinds and "endpoint" not in kinds   # the two bad records are skipped...
    assert kinds                                           # ...while the location's other records still map


# --------------------------------------------------------------------------- paging, filters, retries


def test_every_collection_pages_through_page_size_two(fake_google: FakeGoogle, endpoint_env: str) -> None:
    results = collect_all(collector(projects=(PROJECT_A,), locations=(US,), page_size=50))
    models = fake_google.requests_to(f"/v1/projects/{PROJECT_A}/locations/{US}/models")
    assert len(models) == 3 and [bool(r.query.get("pageToken")) for r in models] == [False, True, True]
    assert all(r.query["pageSize"] == "50" for r in models)
    records = results[0].records
    assert len([r for r in records if r.type == "model"]) == 5
    assert len([r for r in records if r.type == "endpoint"]) == 4
    assert results[0].api_calls["gcp"]["aiplatform.models.list"] == 3
    listed = {r.path.rsplit("/", 1)[-1] for r in fake_google.requests}
    assert listed >= {"endpoints", "models", "customJobs", "datasets", "indexEndpoints", "notebookRuntimeTemplates",
                      "notebookRuntimes", "modelDeploymentMonitoringJobs", "reasoningEngines", "tuningJobs",
                      "ragCorpora", "featureOnlineStores", "pipelineJobs"}
    assert {r.method for r in fake_google.requests} <= {"GET", "POST"}   # POST only for getIamPolicy


def test_custom_jobs_are_filtered_to_the_recent_window(fake_google: FakeGoogle, endpoint_env: str) -> None:
    estate_jobs = [j for p in demo_estate()["projects"] for v in p["vertex"].values() for j in v.get("customJobs", [])]
    newest = max(dt.datetime.fromisoformat(j["createTime"].replace("Z", "+00:00")) for j in estate_jobs)
    now = newest + dt.timedelta(days=10, hours=3)   # the clock is pinned: the window is a day before the newest
    results = collect_all(collector(projects=(PROJECT_B,), locations=(US,), job_window_days=11, now=lambda: now))
    jobs = [r.data["displayName"] for r in results[0].records if r.type == "custom_job"]
    assert jobs == ["sandbox-eval"]
    call = fake_google.requests_to(f"/v1/projects/{PROJECT_B}/locations/{US}/customJobs")[0]
    assert call.query["filter"].startswith('create_time>"') and call.query["filter"].endswith('Z"')
    since = newest - dt.timedelta(days=1) + dt.timedelta(hours=3)
    assert call.query["filter"] == f'create_time>"{since:%Y-%m-%dT%H:%M:%SZ}"'
    assert "filter" not in fake_google.requests_to(f"/v1/projects/{PROJECT_B}/locations/{US}/models")[0].query


def test_throttling_is_retried_with_backoff(fake_google: FakeGoogle, endpoint_env: str) -> None:
    fault = fake_google.rate_limit(f"/v1/projects/{PROJECT_A}/locations/{US}/endpoints", times=2)
    later = fake_google.unavailable(f"/v1/projects/{PROJECT_A}/locations/{US}/models", times=1)
    results = collect_all(collector(projects=(PROJECT_A,), locations=(US,)))
    assert results[0].ok
    assert fault.hits == 2 and later.hits == 1
    calls = fake_google.requests_to(f"/v1/projects/{PROJECT_A}/locations/{US}/endpoints")
    assert [r.status for r in calls] == [429, 429, 200, 200]
    assert len([r for r in results[0].records if r.type == "endpoint"]) == 4


def test_persistent_5xx_is_a_scope_error_after_retries(fake_google: FakeGoogle, endpoint_env: str) -> None:
    fake_google.unavailable(f"/v1/projects/{PROJECT_A}/locations/{EU}/datasets", times=None)
    results = collect_all(collector(projects=(PROJECT_A,), locations=(US, EU)))
    us, eu = results
    assert us.ok
    assert [e.error.split(":")[0] for e in eu.errors] == ["datasets.list"]
    assert "still failing after retries" in eu.errors[0].error and "503" in eu.errors[0].error
    assert len(fake_google.requests_to(f"/v1/projects/{PROJECT_A}/locations/{EU}/datasets")) > 2
    assert any(r.type == "endpoint" for r in eu.records)   # the other collections of the unit still came back


# --------------------------------------------------------------------------- planning and IAM policy


def test_plan_discovers_active_projects_and_their_locations(fake_google: FakeGoogle, endpoint_env: str) -> None:
    c = collector(projects=(), locations=())
    units, errors = c.plan()
    assert errors == []
    assert [u.scope for u in units] == [f"gcp:{p}:{loc}" for p in (PROJECT_A, PROJECT_B) for loc in (US, EU)]
    assert units[0] == ScopeUnit(provider="gcp", scope=f"gcp:{PROJECT_A}:{US}", account=PROJECT_A, region=US,
                                 params={"project": PROJECT_A, "location": US})
    assert fake_google.requests_to("/v3/projects:search")[0].query["query"] == "state:ACTIVE"
    assert len(fake_google.requests_to("/ui/projects")) == 2


def test_projects_given_by_number_are_scanned_under_their_id(fake_google: FakeGoogle, endpoint_env: str) -> None:
    units, errors = collector(projects=(NUMBER_B, "999999999999"), locations=(US,)).plan()
    assert [(u.scope, u.account) for u in units] == [(f"gcp:{PROJECT_B}:{US}", PROJECT_B)]
    assert [e.scope for e in errors] == ["gcp:999999999999"]
    assert errors[0].error.startswith("projects.get: 403 IAM_PERMISSION_DENIED: ")
    assert [r.path for r in fake_google.requests] == [f"/v3/projects/{NUMBER_B}", "/v3/projects/999999999999"]


def test_iam_policy_is_read_once_per_project_however_many_locations(fake_google: FakeGoogle, endpoint_env: str,
                                                                     key_file: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    code = main(["scan", "--provider", "gcp", "--out", str(out), "--workers", "8"])
    assert code == 0
    policy_calls = fake_google.requests_to("/v3/projects/", method="POST")
    assert sorted(r.path for r in policy_calls) == sorted(
        [f"/v3/projects/{PROJECT_A}:getIamPolicy", f"/v3/projects/{PROJECT_B}:getIamPolicy"])
    assert all(r.body == {"options": {"requestedPolicyVersion": 3}} for r in policy_calls)
    summary = json.loads((out / "summary.json").read_text())
    assert {s["scope"] for s in summary["scopes"]} == {f"gcp:{p}:{loc}" for p in (PROJECT_A, PROJECT_B)
                                                       for loc in (US, EU)}
    # Project A names service accounts in both of its locations; the policy is still read once.
    assert summary["api_calls"]["gcp"]["resourcemanager.projects.getIamPolicy"] == 2
    iam = [ok for (rule, _), ok in expected_from_wire().items() if rule == "IAM-001"]
    by_rule = summary["by_rule"]["AISPM-IAM-001"]   # v1.1: suppressed findings are counted apart
    assert by_rule == {"pass": iam.count(True), "fail": iam.count(False), "suppressed": 0} == {
        "pass": 12, "fail": 11, "suppressed": 0}


def test_unreadable_iam_policy_fails_the_scopes_that_need_it(fake_google: FakeGoogle, endpoint_env: str) -> None:
    fake_google.deny(f"/v3/projects/{PROJECT_B}:getIamPolicy")
    c = collector(projects=(PROJECT_B,), locations=(US, EU))
    units, _ = c.plan()
    us, eu = (scan_unit(c, u, Policy()) for u in units)
    assert eu.ok   # nothing in europe-west4 runs as a service account
    assert [e.error.split(":")[0] for e in us.errors] == ["projects.getIamPolicy"]
    iam = [f for f in map(to_ocsf, us.findings) if f["compliance"]["control"] == "AISPM-IAM-001"]
    # Only what names no service account is judged without the policy.
    assert [(f["resources"][0]["name"], f["compliance"]["status"]) for f in iam] == [
        ("staging-empty", "Pass"), ("sandbox-eval-pipeline", "Pass")]
    assert {e["rule"] for e in us.evaluation_errors} == {"AISPM-IAM-001"}
    assert len(fake_google.requests_to(f"/v3/projects/{PROJECT_B}:getIamPolicy")) == 1


# --------------------------------------------------------------------------- failing scopes via the CLI


def test_denied_location_and_disabled_project_are_partial_scan_exit_4(
        fake_google: FakeGoogle, endpoint_env: str, key_file: Path, tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    fake_google.deny(f"/v1/projects/{PROJECT_A}/locations/{EU}/")
    fake_google.disable_service(f"/v1/projects/{PROJECT_B}/")
    out = tmp_path / "out"
    code = main(["scan", "--provider", "gcp", "--project", PROJECT_A, "--project", PROJECT_B,
                 "--location", US, "--location", EU, "--out", str(out)])
    assert code == 4
    summary = json.loads((out / "summary.json").read_text())
    status = {s["scope"]: s for s in summary["scopes"]}
    assert status[f"gcp:{PROJECT_A}:{US}"]["status"] == "ok"
    assert status[f"gcp:{PROJECT_A}:{EU}"]["status"] == "error"
    assert status[f"gcp:{PROJECT_A}:{EU}"]["error"].startswith(
        "endpoints.list: 403 IAM_PERMISSION_DENIED: Permission 'aiplatform.endpoints.list' denied")
    for loc in (US, EU):
        entry = status[f"gcp:{PROJECT_B}:{loc}"]
        assert entry["status"] == "error" and "SERVICE_DISABLED" in entry["error"]
    # A disabled API answers the same for every collection: one call per unit, not thirteen.
    assert len(fake_google.requests_to(f"/v1/projects/{PROJECT_B}/")) == 2
    assets = [json.loads(x) for x in (out / "assets.jsonl").read_text().splitlines()]
    assert {(a["account"], a["region"]) for a in assets} == {(PROJECT_A, US)}
    assert len(assets) == 31
    err = capsys.readouterr().err
    assert f"scope gcp:{PROJECT_B}:{US} failed" in err


def test_locations_discovery_failure_is_a_project_scope_error(fake_google: FakeGoogle, endpoint_env: str) -> None:
    fake_google.disable_service(f"/ui/projects/{PROJECT_B}")
    units, errors = collector(projects=(), locations=()).plan()
    assert [u.scope for u in units] == [f"gcp:{PROJECT_A}:{US}", f"gcp:{PROJECT_A}:{EU}"]
    assert [e.scope for e in errors] == [f"gcp:{PROJECT_B}"]
    assert "SERVICE_DISABLED" in errors[0].error


def test_empty_location_is_not_an_error(fake_google: FakeGoogle, endpoint_env: str) -> None:
    result = collect_all(collector(projects=(PROJECT_B,), locations=(EU,)))[0]
    assert result.ok and [r.type for r in result.records] == ["monitoring_jobs_listed"]
    assert result.identities == []


# --------------------------------------------------------------------------- endpoints and credentials


def test_gcp_endpoint_variable_redirects_every_client(fake_google: FakeGoogle, monkeypatch: pytest.MonkeyPatch,
                                                      ) -> None:
    c = collector()
    monkeypatch.delenv(ENDPOINT_ENV, raising=False)
    assert c.clients.vertex("endpoint", US).api_endpoint == f"{US}-aiplatform.googleapis.com"
    assert c.clients.vertex("model", EU).api_endpoint == f"{EU}-aiplatform.googleapis.com"
    assert c.clients.vertex("endpoint", None).api_endpoint == "aiplatform.googleapis.com"
    assert c.clients.projects().api_endpoint == "cloudresourcemanager.googleapis.com"
    assert storage_base() == "https://storage.googleapis.com"
    monkeypatch.setenv(ENDPOINT_ENV, fake_google.url + "/")
    assert storage_base() == fake_google.url
    assert c.clients.vertex("notebook", US).api_endpoint == fake_google.url
    assert c.clients.projects().api_endpoint == fake_google.url
    results = collect_all(c)
    assert sum(len(r.records) for r in results) > 30
    paths = {r.path.split("/")[1] for r in fake_google.requests}
    assert paths == {"v1", "v3", "storage"}   # Cloud Storage's bucket IAM reads (AISPM-PRV-003) too


def _jwt_claims(authorization: str) -> dict[str, Any]:
    token = authorization.removeprefix("Bearer ")
    payload = token.split(".")[1]
    decoded: dict[str, Any] = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    return decoded


def test_application_default_credentials_sign_their_own_tokens_on_loopback(
        fake_google: FakeGoogle, endpoint_env: str, key_file: Path) -> None:
    """google.auth.default() with a key file: self-signed JWTs, no token endpoint (the socket guard would refuse)."""
    fake_google.require_auth = True
    c = build(CollectOptions(job_window_days=3650))
    results = collect_all(c)
    assert all(r.ok for r in results)
    auth = {r.headers["authorization"] for r in fake_google.requests}
    claims = [_jwt_claims(a) for a in auth]
    assert {cl["iss"] for cl in claims} == {DEMO_SERVICE_ACCOUNT}
    assert all(r.status == 200 for r in fake_google.requests)


def test_missing_credentials_are_a_plan_error(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(tmp_path / "absent.json"))
    units, errors = build(CollectOptions(projects=[PROJECT_A], locations=[US])).plan()
    assert units == []
    assert errors[0].scope == "gcp" and errors[0].error.startswith("no Google credentials: ")


# --------------------------------------------------------------------------- demo


@pytest.fixture
def restore_env() -> Iterator[None]:
    import os

    saved = dict(os.environ)
    yield
    os.environ.clear()
    os.environ.update(saved)


@pytest.mark.slow
def test_demo_shows_gcp_rows_and_stays_on_loopback(tmp_path: Path, restore_env: None,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    from aispm.demo.run import run_demo

    assert run_demo(tmp_path) == 0
    printed = capsys.readouterr().out
    assert "gcp" in printed
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["by_provider"]["gcp"]["assets"] == 48
    scopes = [s for s in summary["scopes"] if s["provider"] == "gcp"]
    assert len(scopes) == 4 and all(s["status"] == "ok" for s in scopes)
    fails = {(f["compliance"]["control"], f["resources"][0]["name"]) for f in
             (json.loads(x) for x in (tmp_path / "findings.ocsf.jsonl").read_text().splitlines())
             if f["compliance"]["status"] == "Fail"}
    assert ("AISPM-SEC-001", "llama-ft-sandbox") in fails
    assert ("AISPM-IAM-001", "sandbox-eval") in fails



@pytest.mark.parametrize(("value", "expected"), [
    ("http://127.0.0.1:8080/", "http://127.0.0.1:8080"),
    ("http://localhost:8080", "http://localhost:8080"),
    ("http://[::1]:8080", "http://[::1]:8080"),
    ("https://psc.example.internal", "https://psc.example.internal"),
    ("HTTPS://psc.example.internal:8443/", "HTTPS://psc.example.internal:8443"),
    ("psc.example.internal:443", "psc.example.internal:443"),      # bare host: the clients use https
    ("", None),
])
def test_usable_endpoint_overrides(monkeypatch: pytest.MonkeyPatch, value: str, expected: str | None) -> None:
    from aispm.collectors.gcp import check_configuration
    from aispm.collectors.gcp.clients import endpoint_override

    monkeypatch.setenv(ENDPOINT_ENV, value)
    check_configuration()
    assert endpoint_override() == expected


@pytest.mark.parametrize(("value", "message"), [
    ("http://psc.example.internal:8080", "AISPM_GCP_ENDPOINT must use https for psc.example.internal: credentials "
     "would travel in cleartext (plain http is allowed only to a loopback address)"),
    ("HTTP://10.0.0.8", "AISPM_GCP_ENDPOINT must use https for 10.0.0.8: credentials would travel in cleartext"),
    ("http://user:secret@evil.example", "AISPM_GCP_ENDPOINT must use https for evil.example:"),
    ("http://127.0.0.1.evil.example", "AISPM_GCP_ENDPOINT must use https for 127.0.0.1.evil.example:"),
    ("ftp://psc.example.internal", "AISPM_GCP_ENDPOINT must be a URL such as https://HOST:PORT"),
    ("http://", "AISPM_GCP_ENDPOINT must be a URL such as https://HOST:PORT"),
    ("https://host:notaport", "AISPM_GCP_ENDPOINT must be a URL such as https://HOST:PORT"),
    ("https://host\n:443", "AISPM_GCP_ENDPOINT must be a URL such as https://HOST:PORT (it contains whitespace"),
])
def test_unusable_endpoint_is_a_configuration_error_before_any_client(
        monkeypatch: pytest.MonkeyPatch, value: str, message: str) -> None:
    from aispm.collectors.gcp import EndpointError, check_configuration

    monkeypatch.setenv(ENDPOINT_ENV, value)
    with pytest.raises(EndpointError) as info:
        check_configuration()
    assert str(info.value).startswith(message)
    assert "\n" not in str(info.value) and "secret" not in str(info.value)
    c = collector()                                   # the clients refuse it as well: no path sends a token
    with pytest.raises(EndpointError):
        c.clients.projects()


def test_configuration_check_imports_no_google_sdk(tmp_path: Path) -> None:
    code = ("import os, sys\nos.environ['AISPM_GCP_ENDPOINT'] = 'http://psc.example.internal'\n"
            "from collectors.gcp import EndpointError, check_configuration\n"
            "try:\n    check_configuration()\nexcept EndpointError as exc:\n    print(exc)\n"
            "print(sorted(m for m in sys.modules if m.startswith(('google.api_core', 'google.auth', "
            "'google.cloud.aiplatform'))))\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False,
                          cwd=Path(__file__).resolve().parents[3])
    assert proc.returncode == 0, proc.stderr
    first, modules = proc.stdout.splitlines()
    assert first.startswith("AISPM_GCP_ENDPOINT must use https for psc.example.internal")
    assert modules == "[]"


def test_cleartext_endpoint_beyond_loopback_exits_2_before_any_cloud_call(
        key_file: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv(ENDPOINT_ENV, "http://psc.example.internal:8080")
    out = tmp_path / "out"
    code = main(["scan", "--provider", "gcp", "--project", PROJECT_A, "--location", US, "--out", str(out)])
    err = capsys.readouterr().err
    assert (code, err) == (2, "aispm: error: AISPM_GCP_ENDPOINT must use https for psc.example.internal: "
                              "credentials would travel in cleartext (plain http is allowed only to a loopback "
                              "address)\n")
    assert not (out / "findings.ocsf.jsonl").exists()
