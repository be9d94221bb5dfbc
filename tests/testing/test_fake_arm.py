"""The fake Azure Resource Manager, driven through the real Azure SDK pipeline.

Every call below goes through ``MachineLearningServicesMgmtClient`` (the ARM
pipeline: bearer-token policy, retry policy, ARM error handling) against the fake
on 127.0.0.1, except the few that need a request the SDK would never send.
"""

from __future__ import annotations

import http.client
import json
import re
import time
from typing import Any

import pytest
from azure.core.exceptions import HttpResponseError, ServiceRequestError
from azure.core.rest import HttpRequest
from azure.mgmt.machinelearningservices import MachineLearningServicesMgmtClient

from aispm.testing.fake_arm import DEMO_ESTATE_PATH, EstateError, FakeArm, load_estate, validate_estate
from tests.support.azure import (
    AUTHZ_API,
    COGNITIVE_API,
    INSIGHTS_API,
    ML_API,
    STORAGE_API,
    SUBSCRIPTIONS_API,
    TEST_TOKEN,
    StaticTokenCredential,
    arm_get,
    arm_list,
    make_arm_client,
)

ML = "Microsoft.MachineLearningServices"
ROLE_ASSIGNMENTS = "/providers/Microsoft.Authorization/roleAssignments"
OWNER = "8e3af657-a8ff-443c-a75c-2fe8c4bcb635"
CONTRIBUTOR = "b24988ac-6180-42a0-ab88-20f7382dd24c"
USER_ACCESS_ADMINISTRATOR = "18d7d88d-d35e-4fb5-a5c3-7773c20a72d9"
RBAC_ADMINISTRATOR = "f58310d9-a9f6-439a-9e8d-f62e7b41a168"
PRIVILEGED_ROLES = {OWNER, CONTRIBUTOR, USER_ACCESS_ADMINISTRATOR, RBAC_ADMINISTRATOR}

AZURE_RULES = (
    "AISPM-NET-001",
    "AISPM-NET-002",
    "AISPM-NET-003",
    "AISPM-NET-004",
    "AISPM-NET-005",
    "AISPM-NET-006",
    "AISPM-ENC-001",
    "AISPM-IAM-001",
    "AISPM-IAM-003",
    "AISPM-SEC-001",
    "AISPM-LOG-001",
    "AISPM-RES-001",
    "AISPM-GOV-001",
    "AISPM-GOV-002",
    "AISPM-GOV-003",
    "AISPM-GAI-001",
    "AISPM-GAI-002",
    "AISPM-LOG-003",
    "AISPM-PRV-002",
    "AISPM-PRV-003",
)
DEFAULT_RAI_POLICIES = (None, "Microsoft.Default", "Microsoft.DefaultV2")
HARMFUL_CONTENT = ("Hate", "Sexual", "Violence", "Selfharm")


def subscription_ids(estate: dict[str, Any]) -> tuple[str, str]:
    prod, dev = estate["subscriptions"][:2]
    return str(prod["subscriptionId"]), str(dev["subscriptionId"])


def resource_id(estate: dict[str, Any], suffix: str) -> str:
    """The one estate resource id ending with ``suffix``."""
    found = [r["id"] for r in estate["resources"] if r["id"].lower().endswith(suffix.lower())]
    assert len(found) == 1, (suffix, found)
    return str(found[0])


def error_code(response: Any) -> str:
    return str(response.json()["error"]["code"])


# --------------------------------------------------------------------------- authentication


def test_wrong_token_is_rejected_with_401(fake_arm: FakeArm) -> None:
    client = make_arm_client(fake_arm, token="not-the-token")
    response = arm_get(client, "/subscriptions", {"api-version": SUBSCRIPTIONS_API})
    assert response.status_code == 401
    assert error_code(response) == "InvalidAuthenticationToken"
    assert 'error="invalid_token"' in response.headers["WWW-Authenticate"]
    with pytest.raises(HttpResponseError) as raised:
        response.raise_for_status()
    assert raised.value.status_code == 401
    assert [r.authorized for r in fake_arm.requests] == [False]


def test_right_token_is_accepted_and_scope_follows_the_endpoint(fake_arm: FakeArm) -> None:
    credential = StaticTokenCredential(TEST_TOKEN)
    client = make_arm_client(fake_arm, credential=credential)
    response = arm_get(client, "/subscriptions", {"api-version": SUBSCRIPTIONS_API})
    assert response.status_code == 200
    assert credential.scopes == [(f"{fake_arm.url}/.default",)]
    assert fake_arm.requests[-1].authorized


@pytest.mark.parametrize(
    ("authorization", "code"),
    [
        (None, "AuthenticationFailed"),
        ("Basic dXNlcjpwYXNz", "AuthenticationFailed"),
        ("Bearer ", "AuthenticationFailed"),
        ("Bearer nope", "InvalidAuthenticationToken"),
    ],
)
def test_missing_or_malformed_authorization_is_rejected(
    fake_arm: FakeArm, authorization: str | None, code: str
) -> None:
    # Raw HTTP: the SDK always sends a well-formed header.
    connection = http.client.HTTPConnection("127.0.0.1", fake_arm.port, timeout=5)
    headers = {"Authorization": authorization} if authorization is not None else {}
    connection.request("GET", f"/subscriptions?api-version={SUBSCRIPTIONS_API}", headers=headers)
    response = connection.getresponse()
    body = json.loads(response.read())
    connection.close()
    assert response.status == 401
    assert body["error"]["code"] == code
    assert response.getheader("WWW-Authenticate", "").startswith("Bearer authorization_uri=")


def test_missing_api_version_is_rejected(arm_client: MachineLearningServicesMgmtClient, fake_arm: FakeArm) -> None:
    response = arm_client._send_request(HttpRequest("GET", "/subscriptions"))
    assert response.status_code == 400
    assert error_code(response) == "MissingApiVersionParameter"


def test_other_ml_api_versions_are_refused(
    arm_client: MachineLearningServicesMgmtClient, estate: dict[str, Any]
) -> None:
    # The typed operations of azure-mgmt-machinelearningservices 1.0.1 use api-version 2020-08-01,
    # whose shapes lack the fields the rules read; the estate only holds 2025-12-01 shapes.
    prod, _ = subscription_ids(estate)
    with pytest.raises(HttpResponseError) as raised:
        arm_client.workspaces.get("rg-ml-prod", "mlw-fraud-prod")
    assert raised.value.status_code == 400
    assert raised.value.error is not None
    assert raised.value.error.code == "NoRegisteredProviderFound"
    workspace = arm_get(arm_client, resource_id(estate, "/workspaces/mlw-fraud-prod"), {"api-version": ML_API})
    assert workspace.status_code == 200
    # Namespaces the estate does not pin accept any version.
    assert arm_get(arm_client, f"/subscriptions/{prod}", {"api-version": "2016-06-01"}).status_code == 200


# --------------------------------------------------------------------------- lists and paging


def test_subscriptions_and_resource_groups_are_listed(
    arm_client: MachineLearningServicesMgmtClient, estate: dict[str, Any]
) -> None:
    subs, pages = arm_list(arm_client, "/subscriptions", {"api-version": SUBSCRIPTIONS_API})
    assert [s["displayName"] for s in subs] == ["contoso-ai-prod", "contoso-ai-dev"]
    assert pages == 1
    assert all(s["state"] == "Enabled" and s["id"] == f"/subscriptions/{s['subscriptionId']}" for s in subs)
    prod, _ = subscription_ids(estate)
    groups, _ = arm_list(arm_client, f"/subscriptions/{prod}/resourcegroups", {"api-version": SUBSCRIPTIONS_API})
    assert sorted(g["name"] for g in groups) == ["rg-genai", "rg-ml-prod"]


def test_compute_list_pages_over_three_pages_in_order(
    arm_client: MachineLearningServicesMgmtClient, fake_arm: FakeArm, estate: dict[str, Any]
) -> None:
    workspace = resource_id(estate, "/workspaces/mlw-sandbox-dev")
    computes, pages = arm_list(arm_client, f"{workspace}/computes", {"api-version": ML_API})
    expected = [r["name"] for r in estate["resources"] if r["id"].startswith(f"{workspace}/computes/")]
    assert len(expected) == 6
    assert [c["name"] for c in computes] == expected
    assert pages == 3
    calls = fake_arm.requests_to(f"{workspace}/computes")
    assert [c.status for c in calls] == [200, 200, 200]
    assert all(c.query["api-version"] == ML_API for c in calls)
    assert "$skip" not in calls[0].query
    assert all("$skip" in c.query for c in calls[1:])


def test_next_link_is_absolute_and_keeps_the_query(
    arm_client: MachineLearningServicesMgmtClient, fake_arm: FakeArm, estate: dict[str, Any]
) -> None:
    workspace = resource_id(estate, "/workspaces/mlw-sandbox-dev")
    first = arm_get(arm_client, f"{workspace}/computes", {"api-version": ML_API}).json()
    link = first["nextLink"]
    assert link.startswith(f"{fake_arm.url}{workspace}/computes?")
    assert f"api-version={ML_API}" in link
    assert "$skip=" in link
    last = arm_get(arm_client, link).json()
    assert "nextLink" in last
    final = arm_get(arm_client, last["nextLink"]).json()
    assert "nextLink" not in final


def test_page_size_is_adjustable(
    arm_client: MachineLearningServicesMgmtClient, fake_arm: FakeArm, estate: dict[str, Any]
) -> None:
    workspace = resource_id(estate, "/workspaces/mlw-sandbox-dev")
    fake_arm.page_size = 4
    _, pages = arm_list(arm_client, f"{workspace}/computes")
    assert pages == 2
    fake_arm.page_size = 100
    _, pages = arm_list(arm_client, f"{workspace}/computes")
    assert pages == 1


def test_subscription_wide_lists_span_resource_groups(
    arm_client: MachineLearningServicesMgmtClient, estate: dict[str, Any]
) -> None:
    prod, dev = subscription_ids(estate)
    workspaces, pages = arm_list(arm_client, f"/subscriptions/{prod}/providers/{ML}/workspaces")
    assert sorted((w["name"], w["kind"]) for w in workspaces) == [
        ("mlw-fraud-prod", "Default"),
        ("mlw-genai-hub", "Hub"),
        ("mlw-genai-project", "Project"),
    ]
    assert pages == 2
    assert {w["id"].split("/")[4] for w in workspaces} == {"rg-ml-prod", "rg-genai"}
    registries, _ = arm_list(arm_client, f"/subscriptions/{dev}/providers/{ML}/registries")
    assert [r["name"] for r in registries] == ["mlr-dev-models"]
    by_group, _ = arm_list(arm_client, f"/subscriptions/{prod}/resourceGroups/rg-genai/providers/{ML}/workspaces")
    assert sorted(w["name"] for w in by_group) == ["mlw-genai-hub", "mlw-genai-project"]


def test_nested_collections_are_served(arm_client: MachineLearningServicesMgmtClient, estate: dict[str, Any]) -> None:
    fraud = resource_id(estate, "/workspaces/mlw-fraud-prod")
    deployments, _ = arm_list(arm_client, f"{fraud}/onlineEndpoints/ep-fraud-score/deployments")
    assert [(d["name"], d["sku"]["capacity"]) for d in deployments] == [("blue", 3), ("green", 1)]
    batch, _ = arm_list(arm_client, f"{fraud}/batchEndpoints")
    assert [b["name"] for b in batch] == ["be-fraud-nightly"]
    # A known child collection with no members is an empty list, not a 404.
    sandbox = resource_id(estate, "/workspaces/mlw-sandbox-dev")
    assert arm_list(arm_client, f"{sandbox}/batchEndpoints") == ([], 1)


# --------------------------------------------------------------------------- single resources and 404s


def test_single_get_is_case_insensitive(arm_client: MachineLearningServicesMgmtClient, estate: dict[str, Any]) -> None:
    compute = resource_id(estate, "/computes/ci-dev-alice")
    for variant in (compute, compute.lower(), compute.upper().replace("/SUBSCRIPTIONS/", "/subscriptions/")):
        response = arm_get(arm_client, variant)
        assert response.status_code == 200, variant
        body = response.json()
        assert body["id"] == compute
        assert body["properties"]["computeType"] == "ComputeInstance"


@pytest.mark.parametrize(
    ("path", "code"),
    [
        ("/subscriptions/00000000-0000-0000-0000-000000000000", "SubscriptionNotFound"),
        ("/subscriptions/{prod}/resourceGroups/rg-missing/providers/" + ML + "/workspaces", "ResourceGroupNotFound"),
        ("/subscriptions/{prod}/resourceGroups/rg-ml-prod/providers/" + ML + "/workspaces/nope", "ResourceNotFound"),
        (
            "/subscriptions/{prod}/resourceGroups/rg-ml-prod/providers/" + ML + "/workspaces/nope/computes",
            "ResourceNotFound",
        ),
        (
            "/subscriptions/{prod}/resourceGroups/rg-ml-prod/providers/" + ML + "/workspaces/mlw-fraud-prod/computes/x",
            "ResourceNotFound",
        ),
        ("/tenants", "ResourceNotFound"),
    ],
)
def test_unknown_paths_answer_arm_404s(
    arm_client: MachineLearningServicesMgmtClient, estate: dict[str, Any], path: str, code: str
) -> None:
    prod, _ = subscription_ids(estate)
    response = arm_get(arm_client, path.format(prod=prod))
    assert response.status_code == 404
    assert error_code(response) == code
    if code == "ResourceNotFound" and "/workspaces/nope" in path:
        assert f"'{ML}/workspaces/nope' under resource group 'rg-ml-prod'" in response.json()["error"]["message"]


def test_datastore_secrets_are_never_served(
    arm_client: MachineLearningServicesMgmtClient, fake_arm: FakeArm, estate: dict[str, Any]
) -> None:
    secret_values = [
        value
        for r in estate["resources"]
        if r["type"].endswith("/datastores")
        for key, value in r["properties"]["credentials"].get("secrets", {}).items()
        if key != "secretsType"
    ]
    assert len(secret_values) >= 3, "the estate should hold secrets, to prove they are not served"
    served: list[Any] = []
    for workspace in ("mlw-fraud-prod", "mlw-sandbox-dev"):
        items, _ = arm_list(arm_client, f"{resource_id(estate, '/workspaces/' + workspace)}/datastores")
        served.extend(items)
        served.extend(arm_get(arm_client, item["id"]).json() for item in items)
    assert len(served) == 10
    text = json.dumps(served)
    assert not any(value in text for value in secret_values)
    types = {d["properties"]["credentials"]["credentialsType"] for d in served}
    assert types == {"None", "AccountKey", "Sas", "ServicePrincipal"}
    for datastore in served:
        secrets = datastore["properties"]["credentials"].get("secrets")
        assert secrets is None or set(secrets) == {"secretsType"}
    # The estate copy the server holds is untouched.
    assert any(
        "key" in r["properties"]["credentials"].get("secrets", {})
        for r in fake_arm.estate["resources"]
        if r["type"].endswith("/datastores")
    )


def test_non_get_methods_are_refused_and_recorded(
    arm_client: MachineLearningServicesMgmtClient, fake_arm: FakeArm, estate: dict[str, Any]
) -> None:
    datastore = resource_id(estate, "/mlw-sandbox-dev/datastores/partner_drop_sas")
    response = arm_client._send_request(HttpRequest("POST", f"{datastore}/listSecrets", params={"api-version": ML_API}))
    assert response.status_code == 405
    assert [(r.method, r.path, r.status) for r in fake_arm.requests_to(datastore, method="POST")] == [
        ("POST", f"{datastore}/listSecrets", 405)
    ]


def test_request_log_keeps_method_target_headers_and_status(
    arm_client: MachineLearningServicesMgmtClient, fake_arm: FakeArm, estate: dict[str, Any]
) -> None:
    workspace = resource_id(estate, "/workspaces/mlw-genai-hub")
    arm_get(arm_client, workspace)
    (entry,) = fake_arm.requests
    assert entry.method == "GET"
    assert entry.path == workspace
    assert entry.target == f"{workspace}?api-version={ML_API}"
    assert entry.query == {"api-version": ML_API}
    assert "azsdk-python-mgmt-machinelearningservices" in entry.headers["user-agent"]
    assert re.fullmatch(r"[0-9a-f-]{36}", entry.headers["x-ms-client-request-id"])
    assert "authorization" not in entry.headers
    assert entry.authorized and entry.status == 200
    fake_arm.clear_requests()
    assert fake_arm.requests == []


# --------------------------------------------------------------------------- faults


def test_injected_403_surfaces_as_http_response_error(
    arm_client: MachineLearningServicesMgmtClient, fake_arm: FakeArm, estate: dict[str, Any]
) -> None:
    workspace = resource_id(estate, "/workspaces/mlw-fraud-prod")
    fault = fake_arm.deny(f"{workspace}/computes")
    response = arm_get(arm_client, f"{workspace}/computes")
    with pytest.raises(HttpResponseError) as raised:
        response.raise_for_status()
    assert raised.value.status_code == 403
    error = response.json()["error"]
    assert error["code"] == "AuthorizationFailed"
    assert f"'{ML}/workspaces/computes/read' over scope '{workspace}'" in error["message"]
    # Generated operations map the same answer to an ARM-formatted HttpResponseError.
    fake_arm.deny(workspace)
    with pytest.raises(HttpResponseError) as typed:
        arm_client.workspaces.get("rg-ml-prod", "mlw-fraud-prod")
    assert typed.value.status_code == 403
    assert typed.value.error is not None and typed.value.error.code == "AuthorizationFailed"
    assert fault.hits == 1
    # Other paths are unaffected, and clearing faults restores normal answers.
    assert arm_get(arm_client, resource_id(estate, "/workspaces/mlw-sandbox-dev")).status_code == 200
    fake_arm.clear_faults()
    assert arm_get(arm_client, f"{workspace}/computes").status_code == 200


@pytest.mark.parametrize(("status", "code"), [(404, "ResourceNotFound"), (500, "InternalServerError")])
def test_injected_errors_carry_arm_bodies(fake_arm: FakeArm, estate: dict[str, Any], status: int, code: str) -> None:
    client = make_arm_client(fake_arm, retry_total=0)
    workspace = resource_id(estate, "/workspaces/mlw-fraud-prod")
    fake_arm.fail(workspace, status)
    response = arm_get(client, workspace)
    assert response.status_code == status
    assert error_code(response) == code
    assert "Retry-After" not in response.headers


def test_429_with_retry_after_is_retried_by_the_sdk(
    arm_client: MachineLearningServicesMgmtClient, fake_arm: FakeArm, estate: dict[str, Any]
) -> None:
    workspace = resource_id(estate, "/workspaces/mlw-sandbox-dev")
    fault = fake_arm.rate_limit(f"{workspace}/computes", times=1, retry_after=1)
    started = time.monotonic()
    response = arm_get(arm_client, f"{workspace}/computes")
    elapsed = time.monotonic() - started
    assert response.status_code == 200
    assert len(response.json()["value"]) == 2
    assert elapsed >= 0.9, "the retry policy should have honoured Retry-After: 1"
    assert [r.status for r in fake_arm.requests_to(f"{workspace}/computes")] == [429, 200]
    assert fault.hits == 1 and not fault.active


def test_transient_500_is_retried_then_succeeds(
    arm_client: MachineLearningServicesMgmtClient, fake_arm: FakeArm, estate: dict[str, Any]
) -> None:
    registry = resource_id(estate, "/registries/mlr-shared-models")
    fake_arm.unavailable(registry, times=1, status=500)
    response = arm_get(arm_client, registry)
    assert response.status_code == 200
    assert [r.status for r in fake_arm.requests_to(registry)] == [500, 200]


# --------------------------------------------------------------------------- role assignments


def _assignments(client: MachineLearningServicesMgmtClient, scope: str, filter_: str | None = None) -> list[Any]:
    params = {"api-version": AUTHZ_API}
    if filter_ is not None:
        params["$filter"] = filter_
    items, _ = arm_list(client, f"{scope}{ROLE_ASSIGNMENTS}", params)
    return items


def test_role_assignments_apply_at_above_and_below_the_subscription(
    arm_client: MachineLearningServicesMgmtClient, estate: dict[str, Any]
) -> None:
    prod, dev = subscription_ids(estate)
    scopes = [a["properties"]["scope"] for a in _assignments(arm_client, f"/subscriptions/{prod}")]
    assert "/" in scopes
    assert "/providers/Microsoft.Management/managementGroups/mg-contoso-ai" in scopes
    assert f"/subscriptions/{prod}" in scopes
    assert any(s.startswith(f"/subscriptions/{prod}/resourceGroups/") for s in scopes)
    assert any("/providers/Microsoft.Storage/storageAccounts/" in s for s in scopes)
    assert not any(s.startswith(f"/subscriptions/{dev}") for s in scopes)
    dev_scopes = {a["properties"]["scope"] for a in _assignments(arm_client, f"/subscriptions/{dev}")}
    assert "/" in dev_scopes and f"/subscriptions/{dev}/resourceGroups/rg-ml-dev" in dev_scopes


def test_role_assignment_filters(arm_client: MachineLearningServicesMgmtClient, estate: dict[str, Any]) -> None:
    prod, _ = subscription_ids(estate)
    sub = f"/subscriptions/{prod}"
    at_scope = _assignments(arm_client, sub, "atScope()")
    assert {a["properties"]["scope"] for a in at_scope} == {
        "/",
        "/providers/Microsoft.Management/managementGroups/mg-contoso-ai",
        sub,
    }
    hub = next(r for r in estate["resources"] if r["name"] == "mlw-genai-hub")
    principal = hub["identity"]["principalId"]
    mine = _assignments(arm_client, sub, f"principalId eq '{principal}'")
    assert [(a["properties"]["scope"], a["properties"]["roleDefinitionId"].rsplit("/", 1)[1]) for a in mine] == [
        (sub, CONTRIBUTOR)
    ]
    assert _assignments(arm_client, sub, f"assignedTo('{principal.upper()}')") == mine
    project = next(r for r in estate["resources"] if r["name"] == "mlw-genai-project")
    below = _assignments(arm_client, sub, f"principalId eq '{project['identity']['principalId']}'")
    assert [a["properties"]["roleDefinitionId"].rsplit("/", 1)[1] for a in below] == [OWNER]
    assert "/storageAccounts/" in below[0]["properties"]["scope"]
    assert _assignments(arm_client, sub, f"atScope() and principalId eq '{project['identity']['principalId']}'") == []
    response = arm_get(arm_client, f"{sub}{ROLE_ASSIGNMENTS}", {"api-version": AUTHZ_API, "$filter": "roleName eq 'x'"})
    assert response.status_code == 400
    assert error_code(response) == "UnsupportedQuery"


def test_role_assignment_pages_keep_the_filter(
    arm_client: MachineLearningServicesMgmtClient, fake_arm: FakeArm, estate: dict[str, Any]
) -> None:
    prod, _ = subscription_ids(estate)
    fake_arm.page_size = 1
    items, pages = arm_list(
        arm_client, f"/subscriptions/{prod}{ROLE_ASSIGNMENTS}", {"api-version": AUTHZ_API, "$filter": "atScope()"}
    )
    # Root, the management group and the three assignments made at the subscription itself.
    assert pages == 5 and len(items) == 5
    calls = fake_arm.requests_to(f"/subscriptions/{prod}{ROLE_ASSIGNMENTS}")
    assert all(c.query["$filter"] == "atScope()" and c.query["api-version"] == AUTHZ_API for c in calls)
    assert all("$skiptoken" in c.query for c in calls[1:])


def test_role_assignments_at_management_group_and_resource_scope(
    arm_client: MachineLearningServicesMgmtClient, estate: dict[str, Any]
) -> None:
    mg = "/providers/Microsoft.Management/managementGroups/mg-contoso-ai"
    scopes = {a["properties"]["scope"] for a in _assignments(arm_client, mg, "atScope()")}
    assert scopes == {"/", mg}
    workspace = resource_id(estate, "/workspaces/mlw-fraud-prod")
    at_workspace = {a["properties"]["scope"] for a in _assignments(arm_client, workspace, "atScope()")}
    assert workspace in at_workspace and f"/subscriptions/{subscription_ids(estate)[0]}" in at_workspace
    missing = arm_get(
        arm_client,
        f"/providers/Microsoft.Management/managementGroups/nope{ROLE_ASSIGNMENTS}",
        {"api-version": AUTHZ_API},
    )
    assert missing.status_code == 404


# --------------------------------------------------------------------------- TLS


def test_tls_mode_works_with_certificate_verification_on(estate: dict[str, Any]) -> None:
    with FakeArm(estate, token=TEST_TOKEN, tls=True) as fake:
        assert fake.url.startswith("https://127.0.0.1:")
        trusted = make_arm_client(fake, connection_verify=str(fake.ca_cert_path))
        response = arm_get(trusted, "/subscriptions", {"api-version": SUBSCRIPTIONS_API})
        assert response.status_code == 200
        assert response.json()["value"][0]["displayName"] == "contoso-ai-prod"
        untrusted = make_arm_client(fake, retry_total=0)
        with pytest.raises(ServiceRequestError):
            arm_get(untrusted, "/subscriptions", {"api-version": SUBSCRIPTIONS_API})


# --------------------------------------------------------------------------- estate


def test_estate_validation_names_the_problem(estate: dict[str, Any]) -> None:
    broken = json.loads(json.dumps(estate))
    broken["resources"].append({"id": "/subscriptions/x/workspaces/y"})
    with pytest.raises(EstateError, match=r"resources\[\d+\] id"):
        validate_estate(broken)
    duplicate = json.loads(json.dumps(estate))
    duplicate["resources"].append(
        {"id": duplicate["resources"][0]["id"].upper().replace("SUBSCRIPTIONS", "subscriptions")}
    )
    with pytest.raises(EstateError, match="listed twice"):
        validate_estate(duplicate)
    with pytest.raises(EstateError, match="subscriptions"):
        validate_estate({"subscriptions": []})
    assert load_estate(DEMO_ESTATE_PATH)["apiVersions"] == {ML: [ML_API]}


def test_a_minimal_estate_derives_names_types_and_resource_groups() -> None:
    sub = "11111111-2222-3333-4444-555555555555"
    ws = f"/subscriptions/{sub}/resourceGroups/rg1/providers/{ML}/workspaces/w1"
    with FakeArm(
        {
            "subscriptions": [{"subscriptionId": sub, "displayName": "s", "state": "Enabled", "tenantId": "t"}],
            "resources": [{"id": ws, "location": "eastus"}, {"id": f"{ws}/computes/c1"}],
        },
        token=TEST_TOKEN,
    ) as fake:
        client = make_arm_client(fake)
        body = arm_get(client, f"{ws}/computes/c1").json()
        assert (body["name"], body["type"]) == ("c1", f"{ML}/workspaces/computes")
        group = arm_get(client, f"/subscriptions/{sub}/resourceGroups/rg1", {"api-version": SUBSCRIPTIONS_API})
        assert group.json()["location"] == "eastus"
        # Without apiVersions in the estate every version is accepted.
        assert arm_get(client, ws, {"api-version": "2020-08-01"}).status_code == 200


def test_accounts_children_and_diagnostic_settings_are_served(arm_client: MachineLearningServicesMgmtClient,
                                                                estate: dict[str, Any]) -> None:
    account = resource_id(estate, "/accounts/oai-contoso-chat")
    settings, _ = arm_list(arm_client, f"{account}/providers/Microsoft.Insights/diagnosticSettings",
                           {"api-version": INSIGHTS_API})
    assert [(s["name"], s["type"]) for s in settings] == [("send-to-sentinel", "Microsoft.Insights/diagnosticSettings")]
    # A resource without diagnostic settings has an empty list; a missing one is a 404.
    bare = resource_id(estate, "/accounts/lang-contoso-support")
    empty = arm_get(arm_client, f"{bare}/providers/Microsoft.Insights/diagnosticSettings",
                    {"api-version": INSIGHTS_API})
    assert (empty.status_code, empty.json()) == (200, {"value": []})
    missing = arm_get(arm_client, f"{bare}-gone/providers/Microsoft.Insights/diagnosticSettings",
                      {"api-version": INSIGHTS_API})
    assert missing.status_code == 404
    # An account's deployments, content filter policies and projects are listed even where it has none.
    for child in ("deployments", "raiPolicies", "projects"):
        response = arm_get(arm_client, f"{bare}/{child}", {"api-version": COGNITIVE_API})
        assert (response.status_code, response.json()["value"]) == (200, []), child
    policies, pages = arm_list(arm_client, f"{account}/raiPolicies", {"api-version": COGNITIVE_API})
    assert pages == 2 and [p["name"] for p in policies][:2] == ["Microsoft.Default", "Microsoft.DefaultV2"]


class _Oracle:
    """Evaluates the Azure lines of rules-v1 and rules-v2 over what the fake serves, to check the estate's
    expectations."""

    secret_name = re.compile(
        r"(?i)(secret|passw(or)?d|token|api[_-]?key|private[_-]?key|access[_-]?key|conn(ection)?[_-]?str)"
    )
    secret_values = (
        re.compile(r"(AKIA|ASIA)[A-Z0-9]{16}"),
        re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----"),
        re.compile(r"gh[pousr]_[A-Za-z0-9]{20,}"),
        re.compile(r"xox[abpr]-"),
        re.compile(r"AIza[0-9A-Za-z_-]{20,}"),
        re.compile(r"eyJ[\w-]+\.[\w-]+\.[\w-]+"),
        re.compile(r"AccountKey="),
    )
    reference = re.compile(r"^(arn:aws:(secretsmanager|ssm):|https://[^/]+\.vault\.azure\.net/|\$\{.*\}$|\{\{resolve:)")

    def __init__(self, client: MachineLearningServicesMgmtClient, required_tags: list[str]) -> None:
        self.client = client
        self.required_tags = required_tags
        self._assignments: dict[str, list[Any]] = {}

    def get(self, rid: str) -> Any:
        response = arm_get(self.client, rid)
        response.raise_for_status()
        return response.json()

    def over_privileged(self, resource: Any) -> bool:
        identity = resource.get("identity") or {}
        principals = {identity.get("principalId")} | {
            uai.get("principalId") for uai in (identity.get("userAssignedIdentities") or {}).values()
        }
        principals.discard(None)
        sub = resource["id"].split("/")[2]
        if sub not in self._assignments:
            self._assignments[sub] = _assignments(self.client, f"/subscriptions/{sub}")
        wide = re.compile(
            r"(?i)^(/|/providers/Microsoft\.Management/managementGroups/[^/]+|/subscriptions/[^/]+"
            r"|/subscriptions/[^/]+/resourceGroups/[^/]+)$"
        )
        return any(
            a["properties"]["principalId"] in principals
            and a["properties"]["roleDefinitionId"].rsplit("/", 1)[1].lower() in PRIVILEGED_ROLES
            and wide.match(a["properties"]["scope"])
            for a in self._assignments[sub]
        )

    def has_secret(self, env: dict[str, str]) -> bool:
        for name, value in env.items():
            if any(p.search(value) for p in self.secret_values):
                return True
            if value and self.secret_name.search(name) and not self.reference.match(value):
                return True
        return False

    def listed(self, url: str, api_version: str) -> list[Any]:
        items, _ = arm_list(self.client, url, {"api-version": api_version})
        return items

    def evaluate_ai(self, r: Any) -> dict[str, str]:
        """rules-v2.md's Azure lines on an Azure AI Services account, deployment or project."""
        kind = r["type"].lower().removeprefix("microsoft.cognitiveservices/")
        props = r.get("properties") or {}
        out: dict[str, str] = {}

        def rule(name: str, failed: bool) -> None:
            out[f"AISPM-{name}"] = "Fail" if failed else "Pass"

        if kind in ("accounts/raipolicies", "diagnosticsettings", "microsoft.insights/diagnosticsettings"):
            return out   # joined to their account: not assets
        if kind == "accounts":
            acl = (props.get("networkAcls") or {}).get("defaultAction", "Allow")
            rule("NET-003", props.get("publicNetworkAccess", "Enabled") != "Disabled" and acl != "Deny")
            key_source = (props.get("encryption") or {}).get("keySource", "Microsoft.CognitiveServices")
            rule("ENC-001", key_source != "Microsoft.KeyVault")
            rule("IAM-003", props.get("disableLocalAuth") is not True)
            settings = self.listed(f"{r['id']}/providers/Microsoft.Insights/diagnosticSettings", INSIGHTS_API)
            logs = [e for s in settings for e in s["properties"].get("logs") or []]
            rule("LOG-003", not any(e.get("enabled") is True and (e.get("category") in ("Audit", "RequestResponse")
                                                                  or e.get("categoryGroup") in ("audit", "allLogs"))
                                    for e in logs))
        if kind in ("accounts", "accounts/projects"):
            rule("IAM-001", self.over_privileged(r))
        if kind == "accounts/deployments":
            name = props.get("raiPolicyName")
            if name in DEFAULT_RAI_POLICIES:
                rule("GAI-001", False)
                rule("GAI-002", False)
            else:
                account = r["id"].rsplit("/deployments/", 1)[0]
                policy = next(p for p in self.listed(f"{account}/raiPolicies", COGNITIVE_API) if p["name"] == name)
                filters = policy["properties"]["contentFilters"]

                def blocks(filter_name: str, source: str | None = None) -> bool:
                    return any(f["name"] == filter_name and source in (None, f["source"]) and f["enabled"]
                               and f["blocking"] for f in filters)

                rule("GAI-001", not any(f["enabled"] for f in filters))
                rule("GAI-002", not (blocks("Jailbreak") and all(
                    blocks(n, s) for n in HARMFUL_CONTENT for s in ("Prompt", "Completion"))))
        tags = r.get("tags") or {}
        rule("GOV-003", any(tag not in tags for tag in self.required_tags))
        return out

    def evaluate(self, rid: str) -> dict[str, str]:
        r = self.get(rid)
        if r["type"].lower().startswith(("microsoft.cognitiveservices/", "microsoft.insights/")):
            return self.evaluate_ai(r)
        if r["type"].lower() == "microsoft.storage/storageaccounts":
            return {}   # joined to the datastores that use it: not an asset
        kind = r["type"].lower().rsplit("/", 1)[1]
        props = r.get("properties") or {}
        out: dict[str, str] = {}

        def rule(name: str, failed: bool) -> None:
            out[f"AISPM-{name}"] = "Fail" if failed else "Pass"

        if kind in ("workspaces", "registries"):
            rule("NET-003", str(props.get("publicNetworkAccess", "Enabled")).lower() != "disabled")
        if kind == "workspaces":
            isolation = (props.get("managedNetwork") or {}).get("isolationMode", "Disabled")
            rule("NET-004", isolation != "AllowOnlyApprovedOutbound")
            rule("ENC-001", (props.get("encryption") or {}).get("status") != "Enabled")
        if kind == "computes":
            inner = props.get("properties") or {}
            subnet = (inner.get("subnet") or {}).get("id")
            workspace = self.get(rid.rsplit("/computes/", 1)[0])
            isolation = (workspace["properties"].get("managedNetwork") or {}).get("isolationMode", "Disabled")
            rule("NET-005", not subnet and isolation == "Disabled")
            rule("IAM-003", props.get("disableLocalAuth") is not True)
            if props["computeType"] == "ComputeInstance":
                rule("NET-002", inner.get("enableNodePublicIp") is not False)
                rule("NET-006", (inner.get("sshSettings") or {}).get("sshPublicAccess") == "Enabled")
                latest = (inner.get("osImageMetadata") or {}).get("isLatestOsImageVersion")
                if latest is not None:
                    rule("GOV-001", latest is False)
                rule("GOV-002", not inner.get("idleTimeBeforeShutdown"))
            else:
                access = inner.get("remoteLoginPortPublicAccess", "NotSpecified")
                rule("NET-006", access == "Enabled" or (access == "NotSpecified" and not subnet))
        if kind == "onlineendpoints":
            rule("NET-001", props.get("publicNetworkAccess", "Enabled") != "Disabled")
            rule("IAM-003", props.get("authMode") == "Key")
        if kind in ("workspaces", "computes", "onlineendpoints"):
            rule("IAM-001", self.over_privileged(r))
        if kind == "deployments":
            rule("SEC-001", self.has_secret(props.get("environmentVariables") or {}))
            if props.get("endpointComputeType") == "Managed":
                rule("NET-004", props.get("egressPublicNetworkAccess", "Enabled") != "Disabled")
                rule("LOG-001", props.get("appInsightsEnabled") is not True)
                rule("RES-001", (r.get("sku") or {}).get("capacity", 1) < 2)
                rule("PRV-002", not re.search(r"^(/subscriptions/.*/models/[^/]+/versions/[^/]+"
                                              r"|azureml://registries/[^/]+/models/[^/]+/versions/[^/]+"
                                              r"|azureml:[^:/@]+:[^:/@]+)$", props.get("model") or ""))
        if kind == "datastores":
            credentials = props.get("credentials", {}).get("credentialsType")
            rule("IAM-003", credentials in ("AccountKey", "Sas", "ServicePrincipal", "Certificate"))
            if props.get("datastoreType") in ("AzureBlob", "AzureDataLakeGen2"):
                sub, group = props.get("subscriptionId") or rid.split("/")[2], props.get("resourceGroup") or \
                    rid.split("/")[4]
                account = arm_get(self.client, f"/subscriptions/{sub}/resourceGroups/{group}/providers/"
                                  f"Microsoft.Storage/storageAccounts/{props['accountName']}",
                                  {"api-version": STORAGE_API}).json()
                rule("PRV-003", account["properties"].get("allowBlobPublicAccess") is True)
        else:
            tags = r.get("tags") or {}
            rule("GOV-003", any(tag not in tags for tag in self.required_tags))
        return out


@pytest.fixture
def oracle(arm_client: MachineLearningServicesMgmtClient, estate: dict[str, Any]) -> _Oracle:
    return _Oracle(arm_client, estate["expectations"]["requiredTags"])


def test_demo_estate_expectations_match_what_is_served(oracle: _Oracle, estate: dict[str, Any]) -> None:
    expected = estate["expectations"]["results"]
    assert set(expected) == {r["id"] for r in estate["resources"]}, "every demo resource states its outcomes"
    mismatches = {rid: (want, got) for rid, want in expected.items() if (got := oracle.evaluate(rid)) != want}
    assert mismatches == {}


def test_demo_estate_covers_every_azure_rule_both_ways(estate: dict[str, Any]) -> None:
    outcomes: dict[str, set[str]] = {rule: set() for rule in AZURE_RULES}
    for results in estate["expectations"]["results"].values():
        for rule, status in results.items():
            outcomes[rule].add(status)
    assert {rule: sorted(seen) for rule, seen in outcomes.items() if seen != {"Pass", "Fail"}} == {}


def test_demo_estate_shape(estate: dict[str, Any]) -> None:
    def count(suffix: str) -> int:
        return sum(1 for r in estate["resources"] if r["type"].endswith(suffix))

    assert len(estate["subscriptions"]) == 2
    assert len({r["id"].split("/")[4] for r in estate["resources"]}) == 3
    assert sorted(r["kind"] for r in estate["resources"] if r["type"].endswith("/workspaces")) == [
        "Default",
        "Default",
        "Hub",
        "Project",
    ]
    assert count("/registries") == 2 and count("/onlineEndpoints") == 3 and count("/onlineEndpoints/deployments") == 4
    assert count("/batchEndpoints") == 1 and count("/datastores") == 5 and count("/computes") == 8
    auth_modes = {r["properties"]["authMode"] for r in estate["resources"] if r["type"].endswith("/onlineEndpoints")}
    assert auth_modes == {"Key", "AMLToken", "AADToken"}
    # Azure AI Services: accounts of several kinds, deployments under a default, a strong, a weak and an
    # all-disabled content filter policy (and none), a Foundry project per account that allows them.
    assert sorted(r["kind"] for r in estate["resources"] if r["type"].endswith("/accounts")) == [
        "AIServices", "AIServices", "OpenAI", "TextAnalytics"]
    assert count("/accounts/deployments") == 5 and count("/accounts/projects") == 2
    assert count("/accounts/raiPolicies") == 6 and count("/diagnosticSettings") == 3
    policies = {r["properties"].get("raiPolicyName") for r in estate["resources"]
                if r["type"].endswith("/accounts/deployments")}
    assert policies == {None, "Microsoft.DefaultV2", "strict-filter", "weak-filter", "no-filter"}


# --------------------------------------------------------------------------- harness


def test_command_line_serves_the_demo_estate() -> None:
    import subprocess
    import sys

    process = subprocess.Popen(
        [sys.executable, "-m", "aispm.testing.fake_arm", "--token", TEST_TOKEN],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        info = json.loads(process.stdout.readline())
        assert info["url"].startswith("http://127.0.0.1:")
        connection = http.client.HTTPConnection("127.0.0.1", int(info["url"].rsplit(":", 1)[1]), timeout=5)
        connection.request(
            "GET", f"/subscriptions?api-version={SUBSCRIPTIONS_API}", headers={"Authorization": f"Bearer {TEST_TOKEN}"}
        )
        response = connection.getresponse()
        assert response.status == 200
        assert len(json.loads(response.read())["value"]) == 2
        connection.close()
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_malformed_fault_answers_unparseable_json_then_recovers(fake_arm: FakeArm) -> None:
    fault = fake_arm.malformed("/subscriptions", times=1)
    answers = []
    for _ in range(2):
        connection = http.client.HTTPConnection("127.0.0.1", fake_arm.port, timeout=5)
        connection.request("GET", f"/subscriptions?api-version={SUBSCRIPTIONS_API}",
                           headers={"Authorization": f"Bearer {TEST_TOKEN}"})
        response = connection.getresponse()
        answers.append((response.status, response.read()))
        connection.close()
    assert answers[0][0] == 200
    with pytest.raises(json.JSONDecodeError):
        json.loads(answers[0][1])
    assert answers[1][0] == 200 and len(json.loads(answers[1][1])["value"]) == 2
    assert fault.hits == 1 and not fault.active
