"""Every Azure rule's Pass, Fail and absent-field default, through the real collector, mapper and engine.

The demo estate's ``expectations`` state the intended outcome of each rule for
each resource (written with the estate, from rules-v1.md); the small estates
below pin the defaults the spec gives for absent fields.
"""

from __future__ import annotations

import json
from typing import Any

from aispm.testing.fake_arm import FakeArm
from tests.support.azure import ML, RG, SUB, assignment, collect_all, estate, outcomes

AZURE_RULES = (
    "AISPM-NET-001", "AISPM-NET-002", "AISPM-NET-003", "AISPM-NET-004", "AISPM-NET-005", "AISPM-NET-006",
    "AISPM-ENC-001", "AISPM-IAM-001", "AISPM-IAM-003", "AISPM-SEC-001", "AISPM-LOG-001", "AISPM-RES-001",
    "AISPM-GOV-001", "AISPM-GOV-002", "AISPM-GOV-003", "AISPM-GAI-001", "AISPM-GAI-002", "AISPM-LOG-003",
    "AISPM-PRV-002", "AISPM-PRV-003",
)
OWNER = "8e3af657-a8ff-443c-a75c-2fe8c4bcb635"
CONTRIBUTOR = "b24988ac-6180-42a0-ab88-20f7382dd24c"
RBAC_ADMIN = "f58310d9-a9f6-439a-9e8d-f62e7b41a168"
READER = "acdd72a7-3385-48ef-bd42-f606fba81ae7"


def test_demo_estate_outcomes_are_the_expected_ones(fake_arm: FakeArm, estate: dict[str, Any]) -> None:
    expected = estate["expectations"]
    want = {(uid, rule): status for uid, rules in expected["results"].items() for rule, status in rules.items()}
    got = outcomes(collect_all(fake_arm), tuple(expected["requiredTags"]))
    assert {k: v for k, v in got.items() if want.get(k) != v} == {}
    assert {k: v for k, v in want.items() if got.get(k) != v} == {}
    # The estate exercises both outcomes of every Azure rule.
    for rule in AZURE_RULES:
        assert {s for (_, r), s in got.items() if r == rule} == {"Pass", "Fail"}, rule


def test_secret_values_never_reach_the_assets(fake_arm: FakeArm) -> None:
    from aispm.normalizer import normalize

    results = collect_all(fake_arm)
    dumped = json.dumps([a.model_dump(mode="json") for r in results for a in normalize("azure", r.records)])
    for secret in ("Winter2025!rotate-me", "AccountKey=ZmFrZS1rZXkt", "fake~client~secret", "sig=ZmFrZS1zYXMt"):
        assert secret not in dumped
    assert "***REDACTED***" in dumped


def _res(rid: str, props: dict[str, Any], **top: Any) -> dict[str, Any]:
    return {"id": rid, "location": "eastus", "properties": props, **top}


def test_absent_fields_take_the_documented_defaults() -> None:
    bare_ws = f"{ML}/workspaces/ws-bare"
    outbound_ws = f"{ML}/workspaces/ws-outbound"
    resources = [
        _res(bare_ws, {}),
        _res(outbound_ws, {"publicNetworkAccess": "disabled", "managedNetwork": {"isolationMode":
                                                                                "AllowInternetOutbound"},
                           "encryption": {"status": "Enabled"}}),
        _res(f"{bare_ws}/computes/ci-bare", {"computeType": "ComputeInstance"}),
        _res(f"{outbound_ws}/computes/ci-managed-net", {"computeType": "ComputeInstance", "disableLocalAuth": True,
                                                        "properties": {"enableNodePublicIp": False,
                                                                       "idleTimeBeforeShutdown": "PT30M"}}),
        _res(f"{bare_ws}/computes/cc-open", {"computeType": "AmlCompute", "properties": {}}),
        _res(f"{bare_ws}/computes/cc-subnet", {"computeType": "AmlCompute", "disableLocalAuth": True,
                                               "properties": {"subnet": {"id": f"{RG}/providers/Microsoft.Network/"
                                                                         "virtualNetworks/v/subnets/s"}}}),
        _res(f"{bare_ws}/computes/aks", {"computeType": "Kubernetes", "disableLocalAuth": True}),
        _res(f"{bare_ws}/onlineEndpoints/ep-bare", {}),
        _res(f"{bare_ws}/onlineEndpoints/ep-bare/deployments/managed-bare", {"endpointComputeType": "Managed"}),
        _res(f"{bare_ws}/onlineEndpoints/ep-bare/deployments/managed-good",
             {"endpointComputeType": "Managed", "egressPublicNetworkAccess": "Disabled", "appInsightsEnabled": True,
              "environmentVariables": {"API_KEY_REF": "https://kv.vault.azure.net/secrets/k"}},
             sku={"name": "Default", "capacity": 2}),
        _res(f"{bare_ws}/onlineEndpoints/ep-bare/deployments/k8s",
             {"endpointComputeType": "Kubernetes", "environmentVariables": {"GITHUB": "ghp_" + "a" * 36}}),
        _res(f"{bare_ws}/datastores/cert", {"credentials": {"credentialsType": "Certificate"}}),
        _res(f"{bare_ws}/datastores/identity", {"credentials": {"credentialsType": "None"}}),
        _res(f"{ML}/registries/reg-bare", {}),
    ]
    with FakeArm(estate(resources), page_size=3) as fake:
        got = outcomes(collect_all(fake))

    def rules_of(suffix: str) -> dict[str, str]:
        return {rule: s for (uid, rule), s in got.items() if uid.endswith(suffix)}

    assert rules_of("/workspaces/ws-bare") == {
        "AISPM-NET-003": "Fail", "AISPM-NET-004": "Fail", "AISPM-ENC-001": "Fail", "AISPM-IAM-001": "Pass"}
    assert rules_of("/workspaces/ws-outbound") == {
        "AISPM-NET-003": "Pass", "AISPM-NET-004": "Fail", "AISPM-ENC-001": "Pass", "AISPM-IAM-001": "Pass"}
    assert rules_of("/computes/ci-bare") == {
        "AISPM-NET-002": "Fail", "AISPM-NET-005": "Fail", "AISPM-NET-006": "Pass", "AISPM-IAM-003": "Fail",
        "AISPM-GOV-002": "Fail", "AISPM-IAM-001": "Pass"}   # GOV-001 skipped: no osImageMetadata
    assert rules_of("/computes/ci-managed-net") == {
        "AISPM-NET-002": "Pass", "AISPM-NET-005": "Pass", "AISPM-NET-006": "Pass", "AISPM-IAM-003": "Pass",
        "AISPM-GOV-002": "Pass", "AISPM-IAM-001": "Pass"}
    assert rules_of("/computes/cc-open") == {
        "AISPM-NET-005": "Fail", "AISPM-NET-006": "Fail", "AISPM-IAM-003": "Fail", "AISPM-IAM-001": "Pass"}
    assert rules_of("/computes/cc-subnet") == {
        "AISPM-NET-005": "Pass", "AISPM-NET-006": "Pass", "AISPM-IAM-003": "Pass", "AISPM-IAM-001": "Pass"}
    assert rules_of("/computes/aks") == {"AISPM-IAM-003": "Pass", "AISPM-IAM-001": "Pass"}
    assert rules_of("/onlineEndpoints/ep-bare") == {
        "AISPM-NET-001": "Fail", "AISPM-IAM-003": "Pass", "AISPM-IAM-001": "Pass"}
    assert rules_of("/deployments/managed-bare") == {
        "AISPM-NET-004": "Fail", "AISPM-LOG-001": "Fail", "AISPM-RES-001": "Fail", "AISPM-SEC-001": "Pass",
        "AISPM-PRV-002": "Fail"}   # no properties.model
    assert rules_of("/deployments/managed-good") == {
        "AISPM-NET-004": "Pass", "AISPM-LOG-001": "Pass", "AISPM-RES-001": "Pass", "AISPM-SEC-001": "Pass",
        "AISPM-PRV-002": "Fail"}
    assert rules_of("/deployments/k8s") == {"AISPM-SEC-001": "Fail"}
    assert rules_of("/datastores/cert") == {"AISPM-IAM-003": "Fail"}
    assert rules_of("/datastores/identity") == {"AISPM-IAM-003": "Pass"}
    assert rules_of("/registries/reg-bare") == {"AISPM-NET-003": "Fail"}


def test_required_tags_apply_to_taggable_kinds_only() -> None:
    ws = f"{ML}/workspaces/ws"
    resources = [
        _res(ws, {}, tags={"owner": "a", "cost-center": "b"}),
        _res(f"{ws}/computes/untagged", {"computeType": "AmlCompute"}),
        _res(f"{ws}/datastores/ds", {"credentials": {"credentialsType": "None"}, "tags": {}}),
    ]
    with FakeArm(estate(resources)) as fake:
        got = outcomes(collect_all(fake), ("owner", "cost-center"))
    assert got[(ws, "AISPM-GOV-003")] == "Pass"
    assert got[(f"{ws}/computes/untagged", "AISPM-GOV-003")] == "Fail"
    assert (f"{ws}/datastores/ds", "AISPM-GOV-003") not in got


def test_over_privileged_identity_needs_a_privileged_role_at_a_broad_scope() -> None:
    ws = f"{ML}/workspaces/ws"
    storage = f"{RG}/providers/Microsoft.Storage/storageAccounts/st1"
    uai = f"{RG}/providers/Microsoft.ManagedIdentity/userAssignedIdentities/uai"

    def system(pid: str) -> dict[str, Any]:
        return {"type": "SystemAssigned", "principalId": pid}

    resources = [
        _res(ws, {}, identity=system("aaaaaaaa-0000-4000-8000-000000000001")),
        _res(f"{ws}/computes/owner-on-resource", {"computeType": "AmlCompute"},
             identity=system("aaaaaaaa-0000-4000-8000-000000000002")),
        _res(f"{ws}/computes/reader-on-sub", {"computeType": "AmlCompute"},
             identity=system("aaaaaaaa-0000-4000-8000-000000000003")),
        _res(f"{ws}/onlineEndpoints/uai-ep", {}, identity={
            "type": "UserAssigned", "userAssignedIdentities": {uai: {"principalId":
                                                                     "aaaaaaaa-0000-4000-8000-000000000004"}}}),
    ]
    assignments = [
        # Upper-case role GUID at the resource group: Owner counts.
        assignment("aaaaaaaa-0000-4000-8000-000000000001", OWNER.upper(), RG, "11111111-0000-4000-8000-00000000000a"),
        # Owner on one storage account: a single other resource does not count.
        assignment("aaaaaaaa-0000-4000-8000-000000000002", OWNER, storage, "11111111-0000-4000-8000-00000000000b"),
        assignment("aaaaaaaa-0000-4000-8000-000000000003", READER, f"/subscriptions/{SUB}",
                   "11111111-0000-4000-8000-00000000000c"),
        assignment("aaaaaaaa-0000-4000-8000-000000000004", RBAC_ADMIN, f"/subscriptions/{SUB}",
                   "11111111-0000-4000-8000-00000000000d"),
        # Another principal's Contributor must not rub off on anyone.
        assignment("bbbbbbbb-0000-4000-8000-000000000009", CONTRIBUTOR, f"/subscriptions/{SUB}",
                   "11111111-0000-4000-8000-00000000000e"),
    ]
    with FakeArm(estate(resources, assignments)) as fake:
        got = outcomes(collect_all(fake))
    assert got[(ws, "AISPM-IAM-001")] == "Fail"
    assert got[(f"{ws}/computes/owner-on-resource", "AISPM-IAM-001")] == "Pass"
    assert got[(f"{ws}/computes/reader-on-sub", "AISPM-IAM-001")] == "Pass"
    assert got[(f"{ws}/onlineEndpoints/uai-ep", "AISPM-IAM-001")] == "Fail"
