"""Provenance on Azure through the real collector on the fake Resource Manager (the SDK pipeline), the mapper and
the engine: AISPM-PRV-002 on managed online deployments (each registered model form, absent, anything else),
AISPM-PRV-003 on blob and Data Lake Gen2 datastores (public, private, absent = false, unreadable = an
evaluation error naming the location), each storage account read once per scan, and the lineage edges
endpoint -> deployment -> model version, datastore -> storage location (inventory-v1.md)."""

from __future__ import annotations

from typing import Any

from aispm.normalizer import normalize, normalize_identities
from aispm.rules.engine import evaluate
from aispm.rules.policy import Policy
from aispm.testing.fake_arm import FakeArm
from tests.support.azure import (
    ML,
    STORAGE,
    STORAGE_VERSIONS,
    SUB,
    collect_all,
    datastore,
    estate,
    online_deployment,
    outcomes,
    storage_account,
)

WS = f"{ML}/workspaces/ws-prov"
WS2 = f"{ML}/workspaces/ws-other"
EP = f"{WS}/onlineEndpoints/ep-prov"
OTHER_SUB = "22222222-3333-4444-8555-666666666666"
ARM_MODEL = f"{WS}/models/fraud/versions/3"


def _resources() -> list[dict[str, Any]]:
    workspace = {"type": "Microsoft.MachineLearningServices/workspaces", "location": "eastus", "kind": "Default",
                 "properties": {"publicNetworkAccess": "Disabled"}}
    return [
        {"id": WS, "name": "ws-prov", **workspace},
        {"id": WS2, "name": "ws-other", **workspace},
        {"id": EP, "name": "ep-prov", "type": "Microsoft.MachineLearningServices/workspaces/onlineEndpoints",
         "location": "eastus", "properties": {"authMode": "AADToken", "publicNetworkAccess": "Disabled"}},
        online_deployment(EP, "d-arm", ARM_MODEL),
        online_deployment(EP, "d-registry", "azureml://registries/azureml/models/Phi-4-mini-instruct/versions/1"),
        online_deployment(EP, "d-short", "azureml:fraud:4"),
        online_deployment(EP, "d-none", None),
        online_deployment(EP, "d-label", "azureml:fraud@latest"),
        online_deployment(EP, "d-k8s", None, compute="Kubernetes"),
        storage_account("stpublic", True),
        storage_account("stprivate", False),
        storage_account("stdefault", None),
        storage_account("stelsewhere", True, group=f"/subscriptions/{SUB}/resourceGroups/rg-data"),
        datastore(WS, "ds-public", "stpublic"),
        datastore(WS, "ds-public-2", "stpublic"),
        datastore(WS2, "ds-public-3", "stpublic", datastore_type="AzureDataLakeGen2"),
        datastore(WS, "ds-private", "stprivate"),
        datastore(WS, "ds-default", "stdefault", datastore_type="AzureDataLakeGen2"),
        datastore(WS, "ds-group", "stelsewhere", resourceGroup="rg-data"),
        datastore(WS, "ds-gone", "stgone"),
        datastore(WS, "ds-denied", "stdenied"),
        datastore(WS, "ds-foreign", "stforeign", subscriptionId=OTHER_SUB, resourceGroup="rg-x"),
        datastore(WS, "ds-files", "stpublic", datastore_type="AzureFile", fileShareName="share"),
    ]


def _fake() -> FakeArm:
    return FakeArm(estate(_resources(), api_versions=STORAGE_VERSIONS), page_size=2)


def test_each_azure_provenance_line_passes_fails_defaults_and_errors() -> None:
    with _fake() as fake:
        fake.deny(f"{STORAGE}/storageAccounts/stdenied")
        got = outcomes(collect_all(fake))

    def prv(rule: str) -> dict[str, str]:
        return {uid.rsplit("/", 1)[-1]: s for (uid, r), s in got.items() if r == rule}

    assert prv("AISPM-PRV-002") == {"d-arm": "Pass", "d-registry": "Pass", "d-short": "Pass", "d-none": "Fail",
                                    "d-label": "Fail"}   # Kubernetes deployments: not a managed deployment
    assert prv("AISPM-PRV-003") == {
        "ds-public": "Fail", "ds-public-2": "Fail", "ds-public-3": "Fail", "ds-private": "Pass",
        "ds-default": "Pass", "ds-group": "Fail", "ds-gone": "Error", "ds-denied": "Error", "ds-foreign": "Error",
    }   # a file share datastore has no blob location: nothing to judge


def test_findings_name_the_storage_account_and_the_location() -> None:
    with _fake() as fake:
        fake.deny(f"{STORAGE}/storageAccounts/stdenied")
        [result] = collect_all(fake)
    assets = normalize("azure", result.records)
    engine = evaluate(assets, {i.uid: i for i in normalize_identities("azure", result.identities)}, Policy())
    detail = {(e.asset.name, e.rule.id): e.detail for e in engine.evaluations}
    public = detail[("ds-public", "AISPM-PRV-003")]
    assert "storage account stpublic" in public and "https://stpublic.blob.core.windows.net/ds-public-data" in public
    assert "allowBlobPublicAccess" in public and "is true" in public
    assert "absent (default false)" in detail[("ds-default", "AISPM-PRV-003")]
    denied = detail[("ds-denied", "AISPM-PRV-003")]
    assert "https://stdenied.blob.core.windows.net/ds-denied-data" in denied and "403" in denied
    assert "stgone" in detail[("ds-gone", "AISPM-PRV-003")] and "404" in detail[("ds-gone", "AISPM-PRV-003")]
    foreign = detail[("ds-foreign", "AISPM-PRV-003")]
    assert f"/subscriptions/{OTHER_SUB}/resourceGroups/rg-x/providers/Microsoft.Storage/storageAccounts/stforeign" \
        in foreign
    assert "azureml:fraud@latest (not a registered model version)" in detail[("d-label", "AISPM-PRV-002")]
    assert "properties.model is absent" in detail[("d-none", "AISPM-PRV-002")]


def test_each_storage_account_is_read_once_per_scan_however_many_datastores_use_it() -> None:
    with _fake() as fake:
        results = collect_all(fake)
        reads = fake.requests_to(f"{STORAGE}/storageAccounts/stpublic")
        group = fake.requests_to(f"/subscriptions/{SUB}/resourceGroups/rg-data/providers/Microsoft.Storage/")
    assert len(reads) == 1 and reads[0].method == "GET"   # three datastores in two workspaces, one read
    assert reads[0].query.get("api-version") == STORAGE_VERSIONS["Microsoft.Storage"][0]
    assert len(group) == 1   # properties.resourceGroup names where the account is
    # One GET per distinct account: stpublic, stprivate, stdefault, stelsewhere, stgone, stdenied, stforeign.
    assert results[0].api_calls["azure"]["storageAccounts.get"] == 7


def test_storage_accounts_are_read_once_across_subscriptions() -> None:
    second = "33333333-4444-4555-8666-777777777777"
    ws2 = f"/subscriptions/{second}/resourceGroups/rg-b/providers/Microsoft.MachineLearningServices/workspaces/w"
    resources = [
        {"id": WS, "name": "ws-prov", "type": "Microsoft.MachineLearningServices/workspaces", "location": "eastus"},
        {"id": ws2, "name": "w", "type": "Microsoft.MachineLearningServices/workspaces", "location": "eastus"},
        storage_account("stshared", True),
        datastore(WS, "a", "stshared"),
        datastore(ws2, "b", "stshared", subscriptionId=SUB, resourceGroup="rg-test"),
    ]
    subs = [{"subscriptionId": SUB, "displayName": "one", "state": "Enabled"},
            {"subscriptionId": second, "displayName": "two", "state": "Enabled"}]
    with FakeArm(estate(resources, subscriptions=subs, api_versions=STORAGE_VERSIONS)) as fake:
        results = collect_all(fake)
        reads = fake.requests_to(f"{STORAGE}/storageAccounts/stshared")
    assert len(reads) == 1
    got = {}
    for r in results:
        got.update(outcomes([r]))
    assert {uid.rsplit("/", 1)[-1]: s for (uid, rule), s in got.items() if rule == "AISPM-PRV-003"} == {
        "a": "Fail", "b": "Fail"}


def test_lineage_edges_endpoint_deployment_model_and_datastore_location() -> None:
    with _fake() as fake:
        [result] = collect_all(fake)
    assets = {a.uid: a for a in normalize("azure", result.records)}
    edges = {uid: [(e.rel, e.uid) for e in a.lineage] for uid, a in assets.items() if a.lineage}
    assert edges[EP] == [("serves", f"{EP}/deployments/{d}")
                         for d in ("d-arm", "d-registry", "d-short", "d-none", "d-label", "d-k8s")]
    assert edges[f"{EP}/deployments/d-arm"] == [("serves", ARM_MODEL)]
    assert edges[f"{EP}/deployments/d-registry"] == [
        ("serves", "azureml://registries/azureml/models/Phi-4-mini-instruct/versions/1")]
    assert edges[f"{EP}/deployments/d-short"] == [("serves", f"{WS}/models/fraud/versions/4")]
    assert f"{EP}/deployments/d-none" not in edges
    assert edges[f"{WS}/datastores/ds-public"] == [("uses", "https://stpublic.blob.core.windows.net/ds-public-data")]
    assert edges[f"{WS2}/datastores/ds-public-3"] == [
        ("uses", "https://stpublic.blob.core.windows.net/ds-public-3-fs")]
    assert f"{WS}/datastores/ds-files" not in edges
