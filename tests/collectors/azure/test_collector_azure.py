"""The Azure collector through the real SDK pipeline against the fake Resource Manager.

Scope, paging, faults (403, 404, 429, 5xx, malformed JSON), one role-assignment
listing per subscription, the token scope, read-only behaviour and the CLI's
exit code for a partial scan.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from azure.core.rest import HttpRequest

from aispm.cli import main
from aispm.collectors.azure import build
from aispm.collectors.azure.arm import ArmCredentials, ArmSettings, ReadOnlyViolation, make_client
from aispm.collectors.base import CollectOptions
from aispm.pipeline import scan_unit
from aispm.rules.policy import Policy
from aispm.sinks.formats.ocsf import to_ocsf
from aispm.testing.fake_arm import FakeArm
from tests.support.azure import (
    ML,
    SUB,
    TEST_TOKEN,
    AllowPlainHttpForTests,
    StaticTokenCredential,
    collect_all,
    collector,
    estate,
    scan_env,
)

PROD = "267e4902-d322-50d3-a641-c983590c3b5b"
DEV = "58bab2f7-9e23-55fb-814a-fbd9f250689d"
ROLE_ASSIGNMENTS = "/providers/Microsoft.Authorization/roleAssignments"


def ws_id(est: dict[str, Any], name: str) -> str:
    return next(r["id"] for r in est["resources"] if r["id"].endswith(f"/workspaces/{name}"))


def by_type(results: list[Any]) -> Counter[str]:
    return Counter(r.type for res in results for r in res.records)


def test_collects_every_kind_across_pages(fake_arm: FakeArm, estate: dict[str, Any]) -> None:
    results = collect_all(fake_arm)
    assert [r.unit.scope for r in results] == [f"azure:{PROD}", f"azure:{DEV}"]
    assert all(r.errors == [] for r in results)
    want = Counter()
    ml, ai = "Microsoft.MachineLearningServices", "Microsoft.CognitiveServices"
    kinds = {f"{ml}/workspaces": "workspace", f"{ml}/registries": "registry", f"{ml}/workspaces/computes": "compute",
             f"{ml}/workspaces/onlineEndpoints": "endpoint",
             f"{ml}/workspaces/onlineEndpoints/deployments": "deployment",
             f"{ml}/workspaces/batchEndpoints": "batch_endpoint", f"{ml}/workspaces/datastores": "datastore",
             f"{ai}/accounts": "ai_services_account", f"{ai}/accounts/deployments": "model_deployment",
             f"{ai}/accounts/projects": "ai_project"}
    joined = {f"{ai}/accounts/raiPolicies", "Microsoft.Insights/diagnosticSettings",   # not assets of their own
              "Microsoft.Storage/storageAccounts"}
    for r in estate["resources"]:
        if r["type"] not in joined:
            want[kinds[r["type"]]] += 1
    assert by_type(results) == want
    # Two items per page: lists longer than that were read through nextLink ($skip continuation).
    continued = [r for r in fake_arm.requests if "$skip" in r.query or "$skiptoken" in r.query]
    assert any(r.path.endswith("/computes") for r in continued)
    assert any(r.path.endswith("/workspaces") for r in continued)
    assert any(r.path.endswith("/accounts") for r in continued)
    assert any(r.path.endswith("/raiPolicies") for r in continued)
    # Identity: uid = resource id as returned, account = subscription, region = location.
    ci = next(r for res in results for r in res.records if r.data["id"].endswith("/computes/ci-dev-alice"))
    assert (ci.account, ci.region) == (DEV, "westeurope")
    ds = next(r for res in results for r in res.records if r.type == "datastore")
    assert ds.region in ("eastus2", "westeurope")   # datastores have no location: their workspace's


def test_every_request_is_a_get_with_the_current_api_versions(fake_arm: FakeArm) -> None:
    collect_all(fake_arm)
    assert {r.method for r in fake_arm.requests} == {"GET"}
    assert all(r.status == 200 for r in fake_arm.requests)
    ml = [r for r in fake_arm.requests if "/providers/microsoft.machinelearningservices/" in r.path.lower()]
    assert ml and {r.query["api-version"] for r in ml} == {"2025-12-01"}
    insights = [r for r in fake_arm.requests
                if r.path.lower().endswith("/providers/microsoft.insights/diagnosticsettings")]
    ai = [r for r in fake_arm.requests
          if "/providers/microsoft.cognitiveservices/" in r.path.lower() and r not in insights]
    assert ai and {r.query["api-version"] for r in ai} == {"2025-12-01"}
    assert insights and {r.query["api-version"] for r in insights} == {"2021-05-01-preview"}
    assert {r.query["api-version"] for r in fake_arm.requests if r.path == "/subscriptions"} == {"2022-12-01"}


def test_read_only_policy_refuses_writes_before_they_leave(fake_arm: FakeArm) -> None:
    settings = ArmSettings(endpoint=fake_arm.url, credential=StaticTokenCredential(fake_arm.token),
                           per_call_policies=(AllowPlainHttpForTests(),))
    client = make_client(settings, settings.credential, PROD)
    with pytest.raises(ReadOnlyViolation):
        client._send_request(HttpRequest("POST", f"/subscriptions/{PROD}/providers/Microsoft.MachineLearningServices"
                                         "/register", params={"api-version": "2016-02-01"}))
    client.close()
    assert fake_arm.requests == []


def test_role_assignments_are_listed_once_per_subscription(fake_arm: FakeArm) -> None:
    results = collect_all(fake_arm)
    first_pages = [r for r in fake_arm.requests
                   if r.path.endswith(ROLE_ASSIGNMENTS) and "$skiptoken" not in r.query]
    assert sorted(r.path for r in first_pages) == sorted(
        f"/subscriptions/{s}{ROLE_ASSIGNMENTS}" for s in (PROD, DEV))
    assert all("$filter" not in r.query for r in first_pages)   # unfiltered: inherited and nested ones too
    principals = {i.data["principalId"] for res in results for i in res.identities}
    assert len(principals) > len(first_pages)   # one call serves every principal of the subscription


def test_plan_lists_enabled_subscriptions_or_takes_the_given_ones() -> None:
    subs = [{"subscriptionId": SUB, "displayName": "on", "state": "Enabled"},
            {"subscriptionId": "00000000-0000-4000-8000-00000000dead", "displayName": "off", "state": "Disabled"}]
    with FakeArm(estate([], subscriptions=subs)) as fake:
        units, errors = collector(fake).plan()
        assert ([u.scope for u in units], errors) == ([f"azure:{SUB}"], [])
        fake.clear_requests()
        units, _ = collector(fake, subscriptions=["aaaa", "bbbb", "aaaa"]).plan()
        assert [u.account for u in units] == ["aaaa", "bbbb"]
        assert fake.requests == []


def test_subscription_list_denied_is_a_plan_error(fake_arm: FakeArm) -> None:
    fake_arm.deny("/subscriptions")
    units, errors = collector(fake_arm).plan()
    assert units == []
    assert len(errors) == 1 and "403 AuthorizationFailed" in errors[0].error


def test_denied_workspace_is_a_scope_error_and_the_others_complete(fake_arm: FakeArm,
                                                                   estate: dict[str, Any]) -> None:
    denied = ws_id(estate, "mlw-genai-hub")
    fake_arm.deny(denied)
    c = collector(fake_arm)
    prod = next(u for u in c.plan()[0] if u.account == PROD)
    result = c.collect(prod)
    assert len(result.errors) == 1
    assert denied in result.errors[0].error and "403 AuthorizationFailed" in result.errors[0].error
    ids = {r.data["id"] for r in result.records}
    assert denied in ids   # the workspace itself came from the subscription-wide list
    fraud = ws_id(estate, "mlw-fraud-prod")
    assert f"{fraud}/computes/ci-fraud-analyst" in ids
    assert f"{fraud}/onlineEndpoints/ep-fraud-score/deployments/green" in ids


def test_cli_scan_with_a_denied_workspace_exits_4(estate: dict[str, Any], tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """The real CLI and credential chain (an ``az`` answering with the fake's token), the fake over TLS."""
    with FakeArm(estate, token=TEST_TOKEN, page_size=2, tls=True) as fake_arm:
        scan_env(monkeypatch, fake_arm, tmp_path / "bin")
        fake_arm.deny(ws_id(estate, "mlw-sandbox-dev"))
        code = main(["scan", "--provider", "azure", "--out", str(out := tmp_path / "out")])
    assert code == 4
    summary = json.loads((out / "summary.json").read_text())
    scopes = {s["scope"]: s for s in summary["scopes"]}
    assert scopes[f"azure:{PROD}"]["status"] == "ok"
    assert scopes[f"azure:{DEV}"]["status"] == "error"
    assert "mlw-sandbox-dev" in scopes[f"azure:{DEV}"]["error"]
    findings = [json.loads(line) for line in (out / "findings.ocsf.jsonl").read_text().splitlines()]
    assert {f["cloud"]["account"]["uid"] for f in findings} == {PROD, DEV}
    assert all(f["cloud"]["provider"] == "Azure" for f in findings)


def test_throttling_is_retried_after_retry_after(fake_arm: FakeArm, estate: dict[str, Any]) -> None:
    computes = f"{ws_id(estate, 'mlw-fraud-prod')}/computes"
    fault = fake_arm.rate_limit(computes, times=1, retry_after=1)
    result = collector(fake_arm, subscriptions=[PROD]).collect(collector(fake_arm, subscriptions=[PROD]).plan()[0][0])
    assert result.errors == []
    assert fault.hits == 1
    first_pages = [r for r in fake_arm.requests if r.path == computes and "$skip" not in r.query]
    assert [r.status for r in first_pages] == [429, 200]
    # The backoff factor is 0.01 s: only Retry-After explains a one-second wait.
    assert first_pages[1].at - first_pages[0].at >= 0.9
    assert sum(r.data["id"].startswith(computes) for r in result.records) == 2


def test_server_errors_after_retries_are_a_scope_error(fake_arm: FakeArm, estate: dict[str, Any]) -> None:
    endpoints = f"{ws_id(estate, 'mlw-fraud-prod')}/onlineEndpoints"
    fake_arm.unavailable(endpoints, times=None)
    c = collector(fake_arm, subscriptions=[PROD], retry_total=2)
    result = c.collect(c.plan()[0][0])
    assert len(result.errors) == 1 and "503 ServiceUnavailable" in result.errors[0].error
    assert len([r for r in fake_arm.requests if r.path == endpoints]) == 3   # the first try and two retries
    assert any(r.data["id"].endswith("/workspaces/mlw-genai-hub") for r in result.records)


def test_unknown_subscription_is_a_scope_error(fake_arm: FakeArm) -> None:
    c = collector(fake_arm, subscriptions=["00000000-0000-4000-8000-000000000404"])
    result = c.collect(c.plan()[0][0])
    assert result.records == []
    assert {e.error.split(":")[0] for e in result.errors} == {"workspaces.list", "registries.list", "accounts.list"}
    assert all("404 SubscriptionNotFound" in e.error for e in result.errors)


def test_malformed_json_is_a_scope_error(fake_arm: FakeArm) -> None:
    fake_arm.malformed(f"/subscriptions/{DEV}/providers/Microsoft.MachineLearningServices/workspaces")
    c = collector(fake_arm)
    results = {u.account: c.collect(u) for u in c.plan()[0]}
    assert results[PROD].errors == []
    assert len(results[DEV].errors) == 1
    assert results[DEV].errors[0].error == "workspaces.list: malformed JSON in the response"


def test_malformed_resource_data_is_a_scope_error_not_a_crash() -> None:
    ws = f"{ML}/workspaces/ws"
    resources = [{"id": ws, "location": "eastus", "properties": {}},
                 {"id": f"{ws}/computes/odd", "location": "eastus", "properties": "not an object"}]
    with FakeArm(estate(resources)) as fake:
        c = collector(fake)
        unit = c.plan()[0][0]
        result = scan_unit(c, unit, Policy())
    assert not result.ok                                   # the scope is incomplete, so never reconciled
    assert "malformed azure compute record" in result.errors[0].error
    assert {a.uid for a in result.assets} == {ws}          # one bad record costs only itself
    assert {f["resources"][0]["uid"] for f in map(to_ocsf, result.findings)} == {ws}


def test_role_assignments_denied_fail_the_scope_and_never_pass_iam_001(fake_arm: FakeArm) -> None:
    fake_arm.deny(f"/subscriptions/{DEV}{ROLE_ASSIGNMENTS}")
    c = collector(fake_arm, subscriptions=[DEV])
    result = scan_unit(c, c.plan()[0][0], Policy())
    assert [e.error.split(":")[0] for e in result.errors] == ["role assignments"]
    with_identity = {a.uid for a in result.assets if a.identities}
    without = {a.uid for a in result.assets if a.identities == ()}
    assert with_identity and without
    iam = {f["resources"][0]["uid"]: f["compliance"]["status"] for f in map(to_ocsf, result.findings)
           if f["compliance"]["control"] == "AISPM-IAM-001"}
    assert iam == dict.fromkeys(without, "Pass")   # no verdict at all for identities that could not be read
    assert {e["resource"] for e in result.evaluation_errors if e["rule"] == "AISPM-IAM-001"} == with_identity


def test_token_scope_follows_the_arm_endpoint(fake_arm: FakeArm, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AISPM_AZURE_ARM_ENDPOINT", fake_arm.url + "/")
    credential = StaticTokenCredential(fake_arm.token)
    c = build(CollectOptions(subscriptions=[PROD]), ArmCredentials(credential, (AllowPlainHttpForTests(),)))
    result = c.collect(c.plan()[0][0])
    assert result.errors == [] and result.records
    assert credential.scopes and set(credential.scopes) == {(f"{fake_arm.url}/.default",)}


def test_bad_arm_endpoint_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AISPM_AZURE_ARM_ENDPOINT", "management.azure.com")
    with pytest.raises(ValueError, match="AISPM_AZURE_ARM_ENDPOINT must be an absolute URL"):
        build(CollectOptions())
