"""Azure AI Services through the real SDK pipeline against the fake Resource Manager: accounts, Foundry
projects and model deployments, with their diagnostic settings and content filter policies joined; paging
at two items a page, a refused deployment list, throttling and read-only behaviour."""

from __future__ import annotations

from collections import Counter

from aispm.testing.fake_arm import FakeArm
from tests.support.azure import (
    COGNITIVE,
    COGNITIVE_API,
    INSIGHTS_API,
    SUB,
    TEST_TOKEN,
    ai_estate,
    ai_uid,
    collect_all,
    outcomes,
)

DIAGNOSTIC_SETTINGS = "/providers/Microsoft.Insights/diagnosticSettings"


def _fake() -> FakeArm:
    return FakeArm(ai_estate(), token=TEST_TOKEN, page_size=2)


def test_accounts_projects_and_deployments_are_read_with_get_only_across_pages() -> None:
    with _fake() as fake:
        [result] = collect_all(fake)
        requests = fake.requests
    assert result.errors == []
    assert Counter(r.type for r in result.records) == {"ai_services_account": 3, "model_deployment": 6,
                                                       "ai_project": 2}
    # Only GET, every answer 200 (the fake refuses other api-versions of both namespaces).
    assert {r.method for r in requests} == {"GET"} and {r.status for r in requests} == {200}
    ai = [r for r in requests if "/providers/microsoft.cognitiveservices/" in r.path.lower()
          and DIAGNOSTIC_SETTINGS.lower() not in r.path.lower()]
    assert {r.query["api-version"] for r in ai} == {COGNITIVE_API}
    diagnostics = [r for r in requests if r.path.endswith(DIAGNOSTIC_SETTINGS)]
    assert sorted(r.path for r in diagnostics) == sorted(
        ai_uid(a) + DIAGNOSTIC_SETTINGS for a in ("oai-locked", "ais-acl", "lang-bare"))
    assert {r.query["api-version"] for r in diagnostics} == {INSIGHTS_API}
    # Lists longer than a page were followed through nextLink: three accounts, six deployments, five policies.
    pages = Counter(r.path.rsplit("/", 1)[-1] for r in ai)
    assert pages["accounts"] == 2 and pages["deployments"] == 3 + 2 and pages["raiPolicies"] == 3
    # Content filter policies are read once, and only for the account whose deployments name a custom one.
    assert {r.path for r in ai if r.path.endswith("/raiPolicies")} == {ai_uid("oai-locked/raiPolicies")}
    # Role assignments once for the subscription.
    assert sum(r.path.endswith("/roleAssignments") and "$skiptoken" not in r.query for r in requests) == 1
    # Joined, not assets: the diagnostic settings on the account, the named policy on the deployment.
    by_id = {r.data["id"]: r for r in result.records}
    assert [s["name"] for s in by_id[ai_uid("oai-locked")].data["diagnosticSettings"]] == ["to-law"]
    assert by_id[ai_uid("lang-bare")].data["diagnosticSettings"] == []
    assert by_id[ai_uid("oai-locked/deployments/d-weak")].data["raiPolicy"]["name"] == "weak"
    assert "raiPolicy" not in by_id[ai_uid("oai-locked/deployments/d-ghost")].data
    assert "raiPolicy" not in by_id[ai_uid("oai-locked/deployments/d-default")].data
    # Deployments have no location: their account's.
    assert by_id[ai_uid("oai-locked/deployments/d-none")].region == "eastus"


def test_a_refused_deployment_list_keeps_the_accounts_other_findings() -> None:
    denied = ai_uid("oai-locked/deployments")
    with _fake() as fake:
        fake.deny(denied)
        [result] = collect_all(fake)
        requests = fake.requests
    assert len(result.errors) == 1
    assert ai_uid("oai-locked") in result.errors[0].error and "403 AuthorizationFailed" in result.errors[0].error
    assert not [r for r in result.records if r.data["id"].startswith(denied)]
    # The account itself, its diagnostic settings and the other accounts' projects were still read.
    got = outcomes([result])
    for rule in ("AISPM-NET-003", "AISPM-ENC-001", "AISPM-IAM-003", "AISPM-IAM-001", "AISPM-LOG-003"):
        assert got[(ai_uid("oai-locked"), rule)] == "Pass", rule
    assert got[(ai_uid("ais-acl/projects/p-admin"), "AISPM-IAM-001")] == "Fail"
    assert not any(r.path.endswith("/raiPolicies") for r in requests)   # no deployment named a policy


def test_throttled_account_list_is_retried_after_retry_after() -> None:
    accounts = f"/subscriptions/{SUB}/providers/Microsoft.CognitiveServices/accounts"
    with _fake() as fake:
        fault = fake.rate_limit(accounts, times=1, retry_after=1)
        [result] = collect_all(fake)
        first_pages = [r for r in fake.requests if r.path == accounts and "$skiptoken" not in r.query]
    assert result.errors == [] and fault.hits == 1
    assert [r.status for r in first_pages] == [429, 200]
    assert first_pages[1].at - first_pages[0].at >= 0.9   # the backoff factor is 0.01 s: Retry-After waited
    assert sum(r.type == "ai_services_account" for r in result.records) == 3


def test_unreadable_diagnostic_settings_and_policies_are_evaluation_errors_never_passes() -> None:
    with _fake() as fake:
        fake.deny(ai_uid("oai-locked") + DIAGNOSTIC_SETTINGS)
        fake.deny(ai_uid("oai-locked/raiPolicies"))
        [result] = collect_all(fake)
    assert sorted(e.error.split(": ", 1)[1].split(":")[0] for e in result.errors) == [
        "diagnosticSettings.list", "raiPolicies.list"]
    got = outcomes([result])
    assert got[(ai_uid("oai-locked"), "AISPM-LOG-003")] == "Error"
    assert got[(ai_uid("oai-locked"), "AISPM-NET-003")] == "Pass"
    for name in ("d-strong", "d-weak", "d-off", "d-ghost"):   # custom policies: unknown
        assert got[(ai_uid(f"oai-locked/deployments/{name}"), "AISPM-GAI-001")] == "Error", name
    for name in ("d-strong", "d-weak", "d-off"):
        assert got[(ai_uid(f"oai-locked/deployments/{name}"), "AISPM-GAI-002")] == "Error", name
    for name in ("d-none", "d-default"):                      # the platform defaults need no read
        assert got[(ai_uid(f"oai-locked/deployments/{name}"), "AISPM-GAI-001")] == "Pass", name
    assert got[(ai_uid("ais-acl"), "AISPM-LOG-003")] == "Pass"


def test_every_account_kind_is_listed_from_one_subscription_wide_call() -> None:
    with _fake() as fake:
        collect_all(fake)
        lists = [r.path for r in fake.requests if r.path.endswith("/accounts")]
    assert set(lists) == {f"/subscriptions/{SUB}/providers/Microsoft.CognitiveServices/accounts"}
    assert not any(p.startswith(COGNITIVE) for p in lists)   # never per resource group
