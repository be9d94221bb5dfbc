"""The SageMaker collector against moto: paging, describes, roles once per scan, scope errors."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import boto3

from aispm.collectors.aws import AwsCollector, AwsOptions
from aispm.collectors.aws.accounts import Sessions
from aispm.collectors.base import ApiCalls, ScopeUnit

TRUST = json.dumps({"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Principal": {"Service": "sagemaker.amazonaws.com"}, "Action": "sts:AssumeRole"}]})


def _role(name: str, actions: Any) -> str:
    iam = boto3.client("iam", region_name="us-east-1")
    arn: str = iam.create_role(RoleName=name, AssumeRolePolicyDocument=TRUST)["Role"]["Arn"]
    iam.put_role_policy(RoleName=name, PolicyName="p", PolicyDocument=json.dumps(
        {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": actions, "Resource": "*"}]}))
    return arn


def test_collects_every_page_and_reads_each_role_once(sm: Any) -> None:
    role = _role("exec", ["s3:GetObject"])
    sm.create_model(ModelName="m", ExecutionRoleArn=role, PrimaryContainer={"Image": "img"})
    for i in range(5):
        sm.create_notebook_instance(NotebookInstanceName=f"nb-{i}", InstanceType="ml.t3.medium", RoleArn=role)
        sm.create_endpoint_config(EndpointConfigName=f"ec-{i}", ProductionVariants=[
            {"VariantName": "v", "ModelName": "m", "InitialInstanceCount": 1, "InstanceType": "ml.m5.large"}])
    collector = AwsCollector(options=AwsOptions(regions=("us-east-1",)), page_size=2)
    units, errors = collector.plan()
    assert errors == []
    assert [u.scope for u in units] == ["aws:123456789012:us-east-1"]
    result = collector.collect(units[0])
    assert result.errors == []
    names = sorted(r.data["NotebookInstanceName"] for r in result.records if r.type == "notebook")
    assert names == [f"nb-{i}" for i in range(5)]
    assert len([r for r in result.records if r.type == "endpoint_config"]) == 5
    calls = result.api_calls["aws"]
    assert calls["sagemaker:ListNotebookInstances"] == 3      # 5 items, pages of 2
    assert calls["sagemaker:ListEndpointConfigs"] == 3
    assert calls["sagemaker:DescribeNotebookInstance"] == 5
    assert calls["iam:ListRolePolicies"] == 1                 # one role shared by five notebooks
    assert [i.data["RoleArn"] for i in result.identities] == [role]


def test_one_iam_client_per_account_for_the_whole_scan_and_its_calls_counted_once(sm: Any) -> None:
    """IAM is global: the regions of an account share one IAM client (made only when a role is read), and its
    calls are counted once in the units' totals."""
    role = _role("exec", ["s3:GetObject"])
    other = _role("other", ["s3:GetObject"])
    for region, arn in (("us-east-1", role), ("us-west-2", other), ("eu-west-1", role)):
        boto3.client("sagemaker", region_name=region).create_notebook_instance(
            NotebookInstanceName=f"nb-{region}", InstanceType="ml.t3.medium", RoleArn=arn)
    session = boto3.Session(region_name="us-east-1")
    made: list[str] = []
    session.events.register("creating-client-class.iam", lambda **_: made.append("iam"))
    collector = AwsCollector(session=session, options=AwsOptions(regions=("us-east-1", "us-west-2", "eu-west-1")))
    units, errors = collector.plan()
    assert errors == []
    results = [collector.collect(u) for u in units]
    assert [r.errors for r in results] == [[], [], []]
    assert made == ["iam"]
    assert [[i.data["RoleArn"] for i in r.identities] for r in results] == [[role], [other], [role]]
    total: dict[str, int] = {}
    for r in results:
        for op, n in r.api_calls["aws"].items():
            total[op] = total.get(op, 0) + n
    assert total["iam:ListRolePolicies"] == 2   # each role once, whichever unit read it
    assert total["iam:GetRolePolicy"] == 2


def test_the_iam_client_follows_the_member_accounts_renewed_role(aws: None) -> None:
    """A member account's IAM client is kept for the scan while its assumed role is, and made again with the
    renewed credentials once the role is renewed (never a client with expired credentials)."""
    member, role = "210987654321", "arn:aws:iam::210987654321:role/scanner"

    def collector(renew_before: dt.timedelta) -> AwsCollector:
        made = AwsCollector(options=AwsOptions(regions=("us-east-1",)))
        made._sessions = Sessions(boto3.Session(region_name="us-east-1"), None, ApiCalls(), renew_before=renew_before)
        made.sessions.register(member, role)
        return made

    kept = collector(dt.timedelta(minutes=10))
    assert kept._iam(member, member) is kept._iam(member, member)
    eager = collector(dt.timedelta(hours=2))   # credentials last an hour: every use renews them
    first, second = eager._iam(member, member), eager._iam(member, member)
    assert first is not second
    assert first._request_signer._credentials.access_key != second._request_signer._credentials.access_key
    assert eager._iam("999999999999", member) is None   # an account the scan cannot reach


def test_unreachable_region_is_a_scope_error_not_a_crash(aws: None, monkeypatch: Any) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL_SAGEMAKER", "http://127.0.0.1:9")
    collector = AwsCollector(options=AwsOptions(regions=("us-east-1",)))
    unit = ScopeUnit(provider="aws", scope="aws:123456789012:us-east-1", account="123456789012", region="us-east-1")
    result = collector.collect(unit)
    assert result.records == []
    assert result.errors
    assert all(e.scope == unit.scope for e in result.errors)
    assert "list_notebook_instances" in result.errors[0].error
    assert len(result.errors) == 1          # an unreachable endpoint is not tried again for every kind
