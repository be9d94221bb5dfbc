"""SageMaker calls moto does not implement (or mis-stores), driven through botocore's Stubber.

Stubber validates every request and response against the real service model,
so these tests pin the wire handling of:
- ListMonitoringSchedules (moto: not implemented) -> AISPM-LOG-002
- GetModelPackageGroupPolicy (moto: not implemented) -> AISPM-IAM-004, incl. "no policy" errors
- ListUserProfiles, ListSpaces (moto: not implemented) -> user_profile / space inventory
- DescribeModel with EnableNetworkIsolation=True (moto drops it on CreateModel) -> AISPM-NET-004 Pass
The rest of the region (STS for the partition) runs on moto.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from botocore.stub import ANY, Stubber
from moto import mock_aws

from aispm.collectors.aws import AwsCollector, AwsOptions
from aispm.collectors.aws.registry import group_policy
from aispm.collectors.aws.session import client
from aispm.collectors.base import ApiCalls, CollectResult, ScopeUnit
from aispm.normalizer import normalize
from aispm.rules.engine import evaluate

ACCT = "123456789012"
BASE = f"arn:aws:sagemaker:us-east-1:{ACCT}"
NOW = dt.datetime(2026, 11, 1, tzinfo=dt.UTC)
UNIT = ScopeUnit(provider="aws", scope=f"aws:{ACCT}:us-east-1", account=ACCT, region="us-east-1")
PAGE = {"MaxResults": 100}
JOBS = {"MaxResults": 100, "CreationTimeAfter": ANY}

# Every list call of a region, in collection order, with its empty answer.
EMPTY_LISTS: list[tuple[str, dict[str, Any], dict[str, Any]]] = [
    ("list_notebook_instances", {"NotebookInstances": []}, PAGE),
    ("list_models", {"Models": []}, PAGE),
    ("list_endpoint_configs", {"EndpointConfigs": []}, PAGE),
    ("list_endpoints", {"Endpoints": []}, PAGE),
    ("list_training_jobs", {"TrainingJobSummaries": []}, JOBS),
    ("list_processing_jobs", {"ProcessingJobSummaries": []}, JOBS),
    ("list_domains", {"Domains": []}, PAGE),
    ("list_model_package_groups", {"ModelPackageGroupSummaryList": []}, PAGE),
    ("list_feature_groups", {"FeatureGroupSummaries": []}, PAGE),
    ("list_data_quality_job_definitions", {"JobDefinitionSummaries": []}, PAGE),
    ("list_model_quality_job_definitions", {"JobDefinitionSummaries": []}, PAGE),
    ("list_model_bias_job_definitions", {"JobDefinitionSummaries": []}, PAGE),
    ("list_model_explainability_job_definitions", {"JobDefinitionSummaries": []}, PAGE),
]


@pytest.fixture
def moto_rest() -> Iterator[None]:
    with mock_aws():
        yield


Answer = tuple[str, dict[str, Any], dict[str, Any] | None]


def stubbed(answers: dict[str, list[Answer]]) -> tuple[Any, Stubber, ApiCalls]:
    """A counting SageMaker client whose calls are answered in collection order.

    ``answers`` maps a list operation to the calls that replace its empty answer (the list call itself
    and what follows it, e.g. describes).
    """
    calls = ApiCalls()
    sm = client(boto3.Session(region_name="us-east-1"), "sagemaker", "us-east-1", calls)
    stub = Stubber(sm)
    for op, empty, params in EMPTY_LISTS:
        for method, response, expected in answers.get(op, [(op, empty, params)]):
            if "Error" in response:   # {"Error": code[, "Message": text]}: the call fails with that error
                stub.add_client_error(method, response["Error"], response.get("Message", "not authorized"), 400,
                                      expected_params=expected)
            else:
                stub.add_response(method, response, expected)
    return sm, stub, calls


def collect(sm: Any, stub: Stubber, calls: ApiCalls) -> CollectResult:
    collector = AwsCollector(options=AwsOptions(regions=("us-east-1",), describe_workers=1))
    with stub:
        result = collector.collect_region({"sagemaker": sm}, boto3.Session(region_name="us-east-1"), UNIT, calls)
        stub.assert_no_pending_responses()
    return result


def statuses(result: CollectResult, rule: str) -> dict[str, str]:
    ev = evaluate(normalize("aws", result.records), known_accounts={ACCT}).evaluations
    return {e.asset.name: e.status for e in ev if e.rule.id == rule}


def _endpoint(name: str) -> tuple[str, dict[str, Any], dict[str, Any]]:
    return ("describe_endpoint", {
        "EndpointName": name, "EndpointArn": f"{BASE}:endpoint/{name}", "EndpointConfigName": f"{name}-config",
        "EndpointStatus": "InService", "CreationTime": NOW, "LastModifiedTime": NOW}, {"EndpointName": name})


def _schedule(name: str, endpoint: str, status: str) -> dict[str, Any]:
    return {"MonitoringScheduleName": name, "MonitoringScheduleArn": f"{BASE}:monitoring-schedule/{name}",
            "CreationTime": NOW, "LastModifiedTime": NOW, "MonitoringScheduleStatus": status, "EndpointName": endpoint}


def test_list_monitoring_schedules_gap_log002(moto_rest: None) -> None:
    """Gap: ListMonitoringSchedules. One call serves every endpoint; only status Scheduled counts."""
    endpoints = ["watched", "stopped", "bare"]
    sm, stub, calls = stubbed({"list_endpoints": [
        ("list_endpoints", {"Endpoints": [
            {"EndpointName": n, "EndpointArn": f"{BASE}:endpoint/{n}", "CreationTime": NOW, "LastModifiedTime": NOW,
             "EndpointStatus": "InService"} for n in endpoints]}, PAGE),
        # Search serves the endpoints' config names by the page; "bare" shows stale there, so it is described.
        ("search", {"Results": [{"Endpoint": _endpoint(n)[1] | (
            {"LastModifiedTime": NOW - dt.timedelta(days=1)} if n == "bare" else {})} for n in endpoints]},
         {"Resource": "Endpoint", "MaxResults": 100}),
        _endpoint("bare"),
    ], "list_model_package_groups": [
        ("list_model_package_groups", {"ModelPackageGroupSummaryList": []}, PAGE),
        ("list_monitoring_schedules", {"MonitoringScheduleSummaries": [
            _schedule("dq", "watched", "Scheduled"), _schedule("old", "stopped", "Stopped")],
            "NextToken": "p2"}, PAGE),
        ("list_monitoring_schedules", {"MonitoringScheduleSummaries": [
            _schedule("model-quality", "watched", "Scheduled")]}, {"MaxResults": 100, "NextToken": "p2"}),
    ]})
    result = collect(sm, stub, calls)
    assert result.errors == []
    assert statuses(result, "AISPM-LOG-002") == {"watched": "pass", "stopped": "fail", "bare": "fail"}
    counted = calls.as_dict()["aws"]
    assert counted["sagemaker:ListMonitoringSchedules"] == 2   # two pages, not one per endpoint
    assert counted["sagemaker:DescribeEndpoint"] == 1          # only the one Search showed stale
    assert {r.data["EndpointName"]: r.data["EndpointConfigName"] for r in result.records
            if r.type == "endpoint"} == {n: f"{n}-config" for n in endpoints}


def test_list_monitoring_schedules_failure_is_a_scope_error_not_a_verdict(moto_rest: None) -> None:
    """Gap: ListMonitoringSchedules. AccessDenied on it leaves LOG-002 unevaluated and the scope in error."""
    sm, stub, calls = stubbed({"list_endpoints": [
        ("list_endpoints", {"Endpoints": [{"EndpointName": "e", "EndpointArn": f"{BASE}:endpoint/e",
                                           "CreationTime": NOW, "LastModifiedTime": NOW,
                                           "EndpointStatus": "InService"}]}, PAGE),
        ("search", {"Results": []}, {"Resource": "Endpoint", "MaxResults": 100}),   # not yet indexed
        _endpoint("e"),
    ], "list_model_package_groups": [
        ("list_model_package_groups", {"ModelPackageGroupSummaryList": []}, PAGE),
        ("list_monitoring_schedules", {"Error": "AccessDeniedException"}, None),
    ]})
    result = collect(sm, stub, calls)
    assert statuses(result, "AISPM-LOG-002") == {}
    assert "list_monitoring_schedules" in result.errors[0].error


def test_user_profiles_and_spaces_gap(moto_rest: None) -> None:
    """Gaps: ListUserProfiles, ListSpaces. Read from list pages only (no describe), one call per region."""
    sm, stub, calls = stubbed({"list_domains": [
        ("list_domains", {"Domains": [{"DomainArn": f"{BASE}:domain/d-abc", "DomainId": "d-abc",
                                       "DomainName": "studio", "Status": "InService"}]}, PAGE),
        ("describe_domain", {"DomainArn": f"{BASE}:domain/d-abc", "DomainId": "d-abc", "DomainName": "studio",
                             "AppNetworkAccessType": "VpcOnly", "KmsKeyId": "k"}, {"DomainId": "d-abc"}),
        ("list_user_profiles", {"UserProfiles": [
            {"DomainId": "d-abc", "UserProfileName": "alice", "Status": "InService", "CreationTime": NOW}]}, PAGE),
        ("list_spaces", {"Spaces": [
            {"DomainId": "d-abc", "SpaceName": "shared", "Status": "InService", "CreationTime": NOW,
             "SpaceSharingSettingsSummary": {"SharingType": "Shared"},
             "SpaceSettingsSummary": {"AppType": "JupyterLab"}}]}, PAGE),
    ]})
    result = collect(sm, stub, calls)
    assert result.errors == []
    assets = {a.kind: a for a in normalize("aws", result.records)}
    assert assets["user_profile"].uid == f"{BASE}:user-profile/d-abc/alice"
    assert assets["space"].uid == f"{BASE}:space/d-abc/shared"
    assert assets["space"].details["sharing"] == "Shared"
    assert assets["space"].relations[0].uid == f"{BASE}:domain/d-abc"
    assert statuses(result, "AISPM-NET-002") == {"studio": "pass"}


def _groups(*names: str) -> list[Answer]:
    return [("list_model_package_groups", {"ModelPackageGroupSummaryList": [
        {"ModelPackageGroupName": n, "ModelPackageGroupArn": f"{BASE}:model-package-group/{n}", "CreationTime": NOW,
         "ModelPackageGroupStatus": "Completed"} for n in names]}, PAGE)]


def test_get_model_package_group_policy_gap_iam004(moto_rest: None) -> None:
    """Gap: GetModelPackageGroupPolicy. A policy naming an unknown account fails; 'no policy' errors pass."""
    sm, stub, calls = stubbed({"list_model_package_groups": [
        *_groups("shared", "no-policy", "not-found"),
        ("get_model_package_group_policy", {"ResourcePolicy": (
            '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::999988887777:root"},'
            '"Action":"sagemaker:DescribeModelPackage","Resource":"*"}]}')}, {"ModelPackageGroupName": "shared"}),
        ("get_model_package_group_policy", {"Error": "ValidationException",
                                            "Message": "Model Package Group no-policy does not have a policy."},
         {"ModelPackageGroupName": "no-policy"}),
        ("get_model_package_group_policy", {"Error": "ResourceNotFound",
                                            "Message": "Cannot find resource policy for not-found."},
         {"ModelPackageGroupName": "not-found"}),
    ]})
    result = collect(sm, stub, calls)
    assert result.errors == []
    assert statuses(result, "AISPM-IAM-004") == {"shared": "fail", "no-policy": "pass", "not-found": "pass"}


def test_get_model_package_group_policy_access_denied_is_a_scope_error(moto_rest: None) -> None:
    """Gap: GetModelPackageGroupPolicy. AccessDenied is not 'no policy': no verdict, scope error."""
    sm, stub, calls = stubbed({"list_model_package_groups": [
        *_groups("g"), ("get_model_package_group_policy", {"Error": "AccessDeniedException"}, None)]})
    result = collect(sm, stub, calls)
    assert statuses(result, "AISPM-IAM-004") == {}
    assert "get_model_package_group_policy g" in result.errors[0].error


def test_group_policy_distinguishes_vanished_group() -> None:
    """Gap: GetModelPackageGroupPolicy. A group deleted between List and Get is neither a policy nor an error."""
    sm = boto3.client("sagemaker", region_name="us-east-1")
    with Stubber(sm) as stub:
        stub.add_client_error("get_model_package_group_policy", "ValidationException",
                              "ModelPackageGroup arn:...:model-package-group/gone does not exist.", 400)
        from aispm.collectors.aws.registry import GroupGone

        with pytest.raises(GroupGone):
            group_policy(sm, "gone")
        stub.add_client_error("get_model_package_group_policy", "ThrottlingException", "slow down", 400)
        with pytest.raises(ClientError):
            group_policy(sm, "g")


def test_model_network_isolation_true_passes(moto_rest: None) -> None:
    """Gap: moto's CreateModel drops EnableNetworkIsolation=True; the described model here carries it."""
    sm, stub, calls = stubbed({"list_models": [
        ("list_models", {"Models": [{"ModelName": n, "ModelArn": f"{BASE}:model/{n}", "CreationTime": NOW}
                                    for n in ("isolated", "open")]}, PAGE),
        ("search", {"Results": []}, {"Resource": "Model", "MaxResults": 100}),   # not yet indexed: described
        ("describe_model", {"ModelName": "isolated", "ModelArn": f"{BASE}:model/isolated", "CreationTime": NOW,
                            "PrimaryContainer": {"Image": "img"}, "EnableNetworkIsolation": True},
         {"ModelName": "isolated"}),
        ("describe_model", {"ModelName": "open", "ModelArn": f"{BASE}:model/open", "CreationTime": NOW,
                            "PrimaryContainer": {"Image": "img"}, "EnableNetworkIsolation": False},
         {"ModelName": "open"}),
    ]})
    result = collect(sm, stub, calls)
    assert statuses(result, "AISPM-NET-004") == {"isolated": "pass", "open": "fail"}


def _model(name: str, created: dt.datetime, **extra: Any) -> dict[str, Any]:
    return {"ModelName": name, "ModelArn": f"{BASE}:model/{name}", "CreationTime": created,
            "ExecutionRoleArn": f"arn:aws:iam::{ACCT}:role/exec", "PrimaryContainer": {"Image": "img"}, **extra}


def test_models_are_read_from_search_pages_and_only_the_unindexed_are_described(moto_rest: None) -> None:
    """Search (ResourceType Model) holds each model's configuration under Results[].Model.Model, 100 a page: it
    replaces DescribeModel. An entry the eventually consistent index shows for an older model of the same name
    (CreationTime differs from the list's), or lacks, is described."""
    later = NOW + dt.timedelta(hours=1)
    names = ("isolated", "open", "recreated", "new")
    listed = [{"ModelName": n, "ModelArn": f"{BASE}:model/{n}", "CreationTime": later if n == "recreated" else NOW}
              for n in names]
    sm, stub, calls = stubbed({"list_models": [
        ("list_models", {"Models": listed}, PAGE),
        ("search", {"Results": [
            {"Model": {"Model": _model("isolated", NOW, EnableNetworkIsolation=True,
                                       VpcConfig={"SecurityGroupIds": ["sg-1"], "Subnets": ["subnet-1"]}),
                       "Endpoints": []}},
            {"Model": {"Model": _model("recreated", NOW)}},   # the index still shows the deleted namesake
        ], "NextToken": "p2"}, {"Resource": "Model", "MaxResults": 100}),
        ("search", {"Results": [{"Model": {"Model": _model("open", NOW, EnableNetworkIsolation=False)}},
                                {"Model": {"Endpoints": []}}]},
         {"Resource": "Model", "MaxResults": 100, "NextToken": "p2"}),
        ("describe_model", _model("recreated", later, EnableNetworkIsolation=True), {"ModelName": "recreated"}),
        ("describe_model", _model("new", NOW), {"ModelName": "new"}),
    ]})
    result = collect(sm, stub, calls)
    assert result.errors == []
    counted = calls.as_dict()["aws"]
    assert counted["sagemaker:Search"] == 2
    assert counted["sagemaker:DescribeModel"] == 2
    assert statuses(result, "AISPM-NET-004") == {"isolated": "pass", "open": "fail", "recreated": "pass",
                                                 "new": "fail"}
    models = {r.data["ModelName"]: r.data for r in result.records if r.type == "model"}
    assert models["isolated"]["VpcConfig"]["Subnets"] == ["subnet-1"]
    assert models["recreated"]["CreationTime"] == later
    assert [i.data["RoleArn"] for i in result.identities] == [f"arn:aws:iam::{ACCT}:role/exec"]


def test_search_denied_means_every_model_is_described(moto_rest: None) -> None:
    sm, stub, calls = stubbed({"list_models": [
        ("list_models", {"Models": [{"ModelName": "m", "ModelArn": f"{BASE}:model/m", "CreationTime": NOW}]}, PAGE),
        ("search", {"Error": "AccessDeniedException"}, None),
        ("describe_model", _model("m", NOW), {"ModelName": "m"}),
    ]})
    result = collect(sm, stub, calls)
    assert result.errors == []
    assert [r.data["ModelName"] for r in result.records if r.type == "model"] == ["m"]
