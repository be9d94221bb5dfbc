"""The Azure and GCP kind tables are the one place of each kind: every asset row is a contract kind with a
mapper, every mapper has a row, and the mappers read kinds and identities from the rows."""

from __future__ import annotations

import pytest

from aispm.collectors.azure import kinds as azure_kinds
from aispm.collectors.base import RawRecord
from aispm.collectors.gcp import kinds as gcp_kinds
from aispm.normalizer import azure, gcp, normalize
from aispm.normalizer.schema import ASSET_KINDS


def test_azure_rows_are_contract_kinds_with_one_mapper_each() -> None:
    kinds = [k.kind for k in azure_kinds.KINDS]
    assert len(kinds) == len(set(kinds))
    assert set(kinds) <= set(ASSET_KINDS)
    assert set(azure.MAPPERS) == set(kinds)
    # A parent is listed before its children, so the collector can walk the table in order.
    for i, row in enumerate(azure_kinds.KINDS):
        assert row.parent is None or row.parent in kinds[:i]


def test_gcp_asset_rows_are_contract_kinds_with_one_mapper_each() -> None:
    assets = [k.kind for k in gcp_kinds.KINDS if k.asset]
    assert set(assets) <= set(ASSET_KINDS)
    assert set(gcp.MAPPERS) == set(assets)
    informers = [k for k in gcp_kinds.KINDS if not k.asset]
    assert [k.kind for k in informers] == ["model_deployment_monitoring_job"]
    assert all(k.kind not in ASSET_KINDS for k in informers)


def test_azure_list_paths_come_from_the_rows() -> None:
    ws = "/subscriptions/s/resourceGroups/rg/providers/Microsoft.MachineLearningServices/workspaces/w"
    assert azure_kinds.WORKSPACE.list_path("s") == (
        "/subscriptions/s/providers/Microsoft.MachineLearningServices/workspaces")
    assert azure_kinds.DEPLOYMENT.list_path("s", f"{ws}/onlineEndpoints/e") == f"{ws}/onlineEndpoints/e/deployments"
    with pytest.raises(ValueError, match="listed under a workspace"):
        azure_kinds.COMPUTE.list_path("s")


def test_the_identity_comes_from_the_field_the_row_names() -> None:
    ws = "/subscriptions/s/resourceGroups/rg/providers/Microsoft.MachineLearningServices/workspaces/w"
    identity = {"principalId": "p-1", "userAssignedIdentities": {"/x/uami-a": {"principalId": "p-2"}}}
    records = [
        RawRecord(provider="azure", type="workspace", account="s", region="eastus",
                  data={"id": ws, "identity": identity, "properties": {}}),
        RawRecord(provider="azure", type="batch_endpoint", account="s", region="eastus",
                  data={"id": f"{ws}/batchEndpoints/b", "identity": identity, "properties": {}}),
    ]
    by_kind = {a.kind: a for a in normalize("azure", records)}
    assert by_kind["workspace"].identities == ("p-1", "p-2")
    assert by_kind["batch_endpoint"].identities is None   # its row names no identity field


def test_gcp_service_accounts_follow_the_row_paths() -> None:
    endpoint = {"deployedModels": [{"serviceAccount": "a@p.iam.gserviceaccount.com"}, {}, "junk",
                                   {"serviceAccount": "b@p.iam.gserviceaccount.com"}]}
    assert gcp_kinds.ENDPOINT.service_accounts(endpoint) == ["a@p.iam.gserviceaccount.com",
                                                             "b@p.iam.gserviceaccount.com"]
    assert gcp_kinds.ENDPOINT.service_accounts({"deployedModels": "not a list"}) == []
    assert gcp_kinds.CUSTOM_JOB.service_accounts({"jobSpec": {"serviceAccount": "c@p.iam"}}) == ["c@p.iam"]
    assert gcp_kinds.MODEL.service_accounts({"serviceAccount": "ignored@p.iam"}) == []
