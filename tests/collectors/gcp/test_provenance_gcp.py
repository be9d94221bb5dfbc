"""Provenance on GCP through the real collector (aiplatform_v1 REST clients, google-auth's AuthorizedSession for
Cloud Storage) on the fake, the mapper and the engine: AISPM-PRV-001 for each registry host form (Artifact
Registry, gcr.io and its regional hosts, Docker Hub, another registry, a look-alike host; skipped without
containerSpec), AISPM-PRV-003 on datasets, models and custom jobs (public to allUsers or allAuthenticatedUsers,
private, unreadable = an evaluation error naming the location, several locations), each bucket read once per scan,
and the lineage edges endpoint -> model -> custom job / pipeline -> artifacts, image, dataset location."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from google.auth.credentials import AnonymousCredentials

from aispm.collectors.base import CollectResult
from aispm.collectors.gcp import GcpCollector, GcpOptions
from aispm.collectors.gcp.clients import ENDPOINT_ENV, RetrySettings
from aispm.normalizer import normalize, normalize_identities
from aispm.rules.engine import evaluate
from aispm.rules.policy import Policy
from aispm.testing.fake_google import FakeGoogle, demo_estate
from tests.support.gcp import bucket

PROJECT, NUMBER = "ml-prod-4821", "418203957711"
US, EU = "us-central1", "europe-west4"
BASE = f"projects/{NUMBER}/locations/{US}"
EU_BASE = f"projects/{NUMBER}/locations/{EU}"
FAST = RetrySettings(initial=0.01, maximum=0.05, deadline=2, call_timeout=10)
CREATED = "2026-11-20T00:00:00Z"


def _model(id_: str, name: str, image: str | None, artifacts: str | None = None, **extra: Any) -> dict[str, Any]:
    model: dict[str, Any] = {"name": f"{BASE}/models/{id_}", "displayName": name, **extra}
    if image is not None:
        model["containerSpec"] = {"imageUri": image}
    if artifacts is not None:
        model["artifactUri"] = artifacts
    return model


def _dataset(base: str, id_: str, name: str, *uris: str) -> dict[str, Any]:
    return {"name": f"{base}/datasets/{id_}", "displayName": name,
            "metadataSchemaUri": "gs://google-cloud-aiplatform/schema/dataset/metadata/tabular_1.0.0.yaml",
            "metadata": {"inputConfig": {"gcsSource": {"uri": list(uris)}}}}


def _job(id_: str, name: str, output: str | None) -> dict[str, Any]:
    spec: dict[str, Any] = {"workerPoolSpecs": [{"machineSpec": {"machineType": "n1-standard-4"},
                                                 "replicaCount": "1",
                                                 "containerSpec": {"imageUri": "gcr.io/x/trainer:1"}}]}
    if output:
        spec["baseOutputDirectory"] = {"outputUriPrefix": output}
    return {"name": f"{BASE}/customJobs/{id_}", "displayName": name, "createTime": CREATED, "jobSpec": spec}


def _estate() -> dict[str, Any]:
    estate = copy.deepcopy(demo_estate())
    estate["projects"] = estate["projects"][:1]
    estate["projects"][0]["vertex"] = {
        US: {
            "endpoints": [{"name": f"{BASE}/endpoints/1", "displayName": "ep",
                           "deployedModels": [{"id": "1", "model": f"{BASE}/models/1"},
                                              {"id": "2", "model": f"{BASE}/models/2"}]}],
            "models": [
                _model("1", "m-artifact-registry", "europe-west4-docker.pkg.dev/p/serving/fraud:1",
                       "gs://b-private/jobs/1/model"),
                _model("2", "m-gcr", "gcr.io/p/fraud:2", "gs://b-public/models/fraud"),
                _model("3", "m-eu-gcr", "eu.gcr.io/p/fraud:3", "gs://b-authenticated/models/3"),
                _model("4", "m-docker-hub", "vllm/vllm-openai:v0.6.3", "gs://b-denied/models/4"),
                _model("5", "m-docker-io", "docker.io/library/python:3.12", "gs://b-gone/models/5"),
                _model("6", "m-quay", "quay.io/org/server:1"),
                _model("7", "m-look-alike", "us-docker.pkg.dev.example.com/p/r/i:1"),
                _model("8", "m-automl", None,
                       trainingPipeline=f"{BASE}/trainingPipelines/99"),
            ],
            "customJobs": [_job("1", "job-private-out", "gs://b-private/jobs/1"),
                           _job("2", "job-public-out", "gs://b-public/jobs/2"),
                           _job("3", "job-no-output", None)],
            "datasets": [
                _dataset(BASE, "1", "ds-private", "gs://b-private/data/a.csv", "gs://b-private/data/b.csv"),
                _dataset(BASE, "2", "ds-public-wins", "gs://b-denied/a.csv", "gs://b-public/b.csv"),
                _dataset(BASE, "3", "ds-unreadable-wins", "gs://b-private/a.csv", "gs://b-gone/b.csv"),
                {"name": f"{BASE}/datasets/4", "displayName": "ds-bigquery",
                 "metadata": {"inputConfig": {"bigquerySource": {"uri": "bq://p.d.t"}}}},
            ],
        },
        EU: {"datasets": [_dataset(EU_BASE, "5", "ds-eu-public", "gs://b-public/eu/c.csv")]},
    }
    estate["buckets"] = [bucket("b-private", NUMBER), bucket("b-public", NUMBER, "allUsers"),
                         bucket("b-authenticated", NUMBER, "allAuthenticatedUsers",
                                role="roles/storage.legacyObjectReader"),
                         bucket("b-denied", NUMBER)]   # b-gone does not exist: 404
    return estate


def _collect(fake: FakeGoogle, monkeypatch: pytest.MonkeyPatch) -> list[CollectResult]:
    monkeypatch.setenv(ENDPOINT_ENV, fake.url)
    fake.deny("/storage/v1/b/b-denied/iam")
    options = GcpOptions(projects=(PROJECT,), locations=(US, EU), job_window_days=3650, retry=FAST)
    c = GcpCollector(options, credentials=AnonymousCredentials())  # type: ignore[no-untyped-call]
    units, errors = c.plan()
    assert errors == []
    return [c.collect(u) for u in units]


def _evaluate(results: list[CollectResult]) -> dict[tuple[str, str], tuple[str, str]]:
    """(asset name, rule id) -> (status, detail) over every unit."""
    out: dict[tuple[str, str], tuple[str, str]] = {}
    for r in results:
        engine = evaluate(normalize("gcp", r.records),
                          {i.uid: i for i in normalize_identities("gcp", r.identities)}, Policy())
        for ev in engine.evaluations:
            if ev.rule.id.startswith("AISPM-PRV-"):
                out[(ev.asset.name, ev.rule.id)] = (ev.status.capitalize(), ev.detail or "")
    return out


def test_each_gcp_provenance_line_passes_fails_skips_and_errors(monkeypatch: pytest.MonkeyPatch) -> None:
    with FakeGoogle(_estate()) as fake:
        got = _evaluate(_collect(fake, monkeypatch))

    def prv(rule: str) -> dict[str, str]:
        return {name: status for (name, r), (status, _) in got.items() if r == rule}

    assert prv("AISPM-PRV-001") == {
        "m-artifact-registry": "Pass", "m-gcr": "Pass", "m-eu-gcr": "Pass", "m-docker-hub": "Fail",
        "m-docker-io": "Fail", "m-quay": "Fail", "m-look-alike": "Fail",
    }   # m-automl: the API returns no containerSpec
    assert prv("AISPM-PRV-003") == {
        "m-artifact-registry": "Pass", "m-gcr": "Fail", "m-eu-gcr": "Fail", "m-docker-hub": "Error",
        "m-docker-io": "Error", "job-private-out": "Pass", "job-public-out": "Fail", "ds-private": "Pass",
        "ds-public-wins": "Fail", "ds-unreadable-wins": "Error", "ds-eu-public": "Fail",
    }   # no location (m-quay, m-look-alike, m-automl, job-no-output, a BigQuery dataset): nothing to judge
    assert not any(r == "AISPM-PRV-002" for _, r in got)   # every Vertex AI model is a registry version


def test_findings_name_the_registry_host_the_bucket_and_the_location(monkeypatch: pytest.MonkeyPatch) -> None:
    with FakeGoogle(_estate()) as fake:
        got = _evaluate(_collect(fake, monkeypatch))

    def detail(name: str, rule: str) -> str:
        return got[(name, f"AISPM-PRV-{rule}")][1]

    assert "docker.io" in detail("m-docker-hub", "001") and "quay.io" in detail("m-quay", "001")
    assert "us-docker.pkg.dev.example.com" in detail("m-look-alike", "001")
    public = detail("m-gcr", "003")
    assert "gs://b-public/models/fraud" in public and "roles/storage.objectViewer to allUsers" in public
    assert "roles/storage.legacyObjectReader to allAuthenticatedUsers" in detail("m-eu-gcr", "003")
    denied = detail("m-docker-hub", "003")
    assert "gs://b-denied/models/4" in denied and "403" in denied
    gone = detail("ds-unreadable-wins", "003")
    assert "gs://b-gone/b.csv" in gone and "404" in gone and "does not exist" in gone
    wins = detail("ds-public-wins", "003")
    assert "gs://b-public/b.csv" in wins and "b-denied" not in wins


def test_each_bucket_is_read_once_per_scan_however_many_assets_and_units_use_it(
        monkeypatch: pytest.MonkeyPatch) -> None:
    with FakeGoogle(_estate()) as fake:
        results = _collect(fake, monkeypatch)
        reads = [r for r in fake.requests if r.path.startswith("/storage/")]
    # b-public: a model, a job and two datasets in two locations (scope units); one read.
    assert sorted(r.path for r in reads) == sorted(
        f"/storage/v1/b/{b}/iam" for b in ("b-private", "b-public", "b-authenticated", "b-denied", "b-gone"))
    assert all(r.method == "GET" for r in reads)
    assert sum(r.api_calls["gcp"].get("storage.buckets.getIamPolicy", 0) for r in results) == 5


def test_lineage_edges_endpoint_model_job_pipeline_artifacts_image_and_dataset(
        monkeypatch: pytest.MonkeyPatch) -> None:
    with FakeGoogle(_estate()) as fake:
        results = _collect(fake, monkeypatch)
    assets = {a.name: a for r in results for a in normalize("gcp", r.records)}
    edges = {name: [(e.rel, e.uid) for e in a.lineage] for name, a in assets.items() if a.lineage}
    assert edges["ep"] == [("serves", f"{BASE}/models/1"), ("serves", f"{BASE}/models/2")]
    assert edges["m-artifact-registry"] == [
        ("trained_by", f"{BASE}/customJobs/1"),   # its artifacts are under the job's output directory
        ("artifacts_in", "gs://b-private/jobs/1/model"),
        ("image", "europe-west4-docker.pkg.dev/p/serving/fraud:1")]
    assert edges["m-gcr"] == [("artifacts_in", "gs://b-public/models/fraud"), ("image", "gcr.io/p/fraud:2")]
    assert edges["m-automl"] == [("trained_by", f"{BASE}/trainingPipelines/99")]
    assert edges["job-private-out"] == [("artifacts_in", "gs://b-private/jobs/1")]
    assert edges["ds-public-wins"] == [("uses", "gs://b-denied/a.csv"), ("uses", "gs://b-public/b.csv")]
    assert "job-no-output" not in edges and "ds-bigquery" not in edges
