"""Plan: AWS units from the collector's Organization planning, Azure and Google units from settings."""

from __future__ import annotations

from collections.abc import Iterator

import boto3
import pytest
from moto import mock_aws

from tests.support import workflow
from tests.support.workflow import s3_json


@pytest.fixture
def org(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    with mock_aws():
        env = workflow.create_resources()
        orgs = boto3.client("organizations", region_name="us-east-1")
        orgs.create_organization(FeatureSet="ALL")
        members = []
        for name in ("ml-prod", "ml-dev"):
            status = orgs.create_account(AccountName=name, Email=f"{name}@example.com")["CreateAccountStatus"]
            members.append(status["AccountId"])
        secret = boto3.client("secretsmanager", region_name="us-east-1").create_secret(
            Name="ext", SecretString="ext-id-0123456789abcdef")["ARN"]
        values = workflow.template_env(**{**env, "AISPM_ORG": "true", "AISPM_REGIONS": "us-east-1,eu-west-1",
                                          "AISPM_EXTERNAL_ID_SECRET": secret,
                                          "AISPM_AZURE_CREDENTIALS_SECRET": "arn:secret:azure",
                                          "AISPM_AZURE_SUBSCRIPTIONS": "sub-a, sub-b",
                                          "AISPM_GCP_WIF_CONFIG_SECRET": "arn:secret:gcp"})
        for key, value in values.items():
            monkeypatch.setenv(key, value)
        yield members


def test_plan_lists_every_org_account_region_and_configured_clouds(org: list[str]) -> None:
    planned = workflow.plan("run-7")
    assert planned == {"run_id": "run-7", "run_prefix": "runs/run-7/", "units_key": "runs/run-7/units.json",
                       "map_prefix": "runs/run-7/map", "unit_count": 9}
    units = s3_json(planned["units_key"])
    aws = {u["scope"]: u for u in units if u["provider"] == "aws"}
    accounts = ["123456789012", *org]
    assert set(aws) == {f"aws:{a}:{r}" for a in accounts for r in ("us-east-1", "eu-west-1")}
    assert aws["aws:123456789012:us-east-1"]["role_arn"] is None   # the deployment account: its own role
    for account in org:
        assert aws[f"aws:{account}:eu-west-1"]["role_arn"] == f"arn:aws:iam::{account}:role/aispm-member-read"
    assert set(aws["aws:123456789012:us-east-1"]["known_accounts"]) == set(accounts)
    assert [u for u in units if u["provider"] != "aws"] == [
        {"provider": "azure", "scope": "azure:sub-a", "subscription": "sub-a"},
        {"provider": "azure", "scope": "azure:sub-b", "subscription": "sub-b"},
        {"provider": "gcp", "scope": "gcp:*", "project": None},
    ]
    assert s3_json("runs/run-7/plan.json")["errors"] == []


def test_plan_restricted_to_the_providers_asked(org: list[str]) -> None:
    planned = workflow.plan("run-8", providers=["gcp"])
    assert s3_json(planned["units_key"]) == [{"provider": "gcp", "scope": "gcp:*", "project": None}]


def test_member_unit_collects_through_the_member_role(org: list[str], monkeypatch: pytest.MonkeyPatch) -> None:
    planned = workflow.plan("run-9", providers=["aws"])
    units = s3_json(planned["units_key"])
    index = next(i for i, u in enumerate(units) if u["account"] == org[0])
    result = workflow.collect(planned, index, units[index], monkeypatch)
    assert result["scopes"] == [{"provider": "aws", "scope": units[index]["scope"], "status": "ok"}]
    assert result["assets_key"] == f"runs/run-9/units/{index}/assets.jsonl"
    assert result["assets"] == 0
