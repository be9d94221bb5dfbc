"""Every SageMaker kind against moto: what is listed, what is described, what is never fetched."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import boto3
from moto import mock_aws

from aispm.collectors.aws import AwsCollector, AwsOptions
from aispm.pipeline import scan_unit
from aispm.rules.policy import Policy
from aispm.sinks.formats.ocsf import to_ocsf
from aispm.testing import moto_gaps
from tests.support.aws_faults import Fault, body_has, json_error

ACCT = "123456789012"
TRUST = json.dumps({"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Principal": {"Service": "sagemaker.amazonaws.com"}, "Action": "sts:AssumeRole"}]})
VPC: Any = {"Subnets": ["subnet-1"], "SecurityGroupIds": ["sg-1"]}
CLUSTER: Any = {"ClusterConfig": {"InstanceCount": 1, "InstanceType": "ml.m5.large", "VolumeSizeInGB": 10}}


def _role(name: str, actions: Any = "s3:GetObject") -> str:
    iam = boto3.client("iam", region_name="us-east-1")
    arn: str = iam.create_role(RoleName=name, AssumeRolePolicyDocument=TRUST)["Role"]["Arn"]
    iam.put_role_policy(RoleName=name, PolicyName="p", PolicyDocument=json.dumps(
        {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": actions, "Resource": "*"}]}))
    return arn


def _scan(collector: AwsCollector, policy: Policy | None = None) -> Any:
    units, errors = collector.plan()
    assert errors == []
    return scan_unit(collector, units[0], policy or Policy(), known_accounts=collector.known_accounts)


def _status(result: Any, rule: str, name: str) -> str:
    found = [f["compliance"]["status"] for f in map(to_ocsf, result.findings)
             if f["compliance"]["control"] == rule and f["resources"][0]["name"] == name]
    assert len(found) == 1, (rule, name, found)
    return str(found[0])


def _processing_job(sm: Any, name: str, role: str, **extra: Any) -> None:
    sm.create_processing_job(ProcessingJobName=name, RoleArn=role, AppSpecification={"ImageUri": "img"},
                             ProcessingResources=CLUSTER, **extra)


def test_processing_jobs_against_moto(sm: Any) -> None:
    role = _role("exec")
    _processing_job(sm, "locked", role, NetworkConfig={
        "EnableNetworkIsolation": True, "EnableInterContainerTrafficEncryption": True, "VpcConfig": VPC},
        ProcessingOutputConfig={"Outputs": [], "KmsKeyId": "arn:aws:kms:us-east-1:1:key/k"})
    _processing_job(sm, "open", role)
    result = _scan(AwsCollector(options=AwsOptions(regions=("us-east-1",))))
    assert result.errors == []
    for rule in ("AISPM-NET-004", "AISPM-NET-005", "AISPM-ENC-001", "AISPM-ENC-002"):
        assert _status(result, rule, "locked") == "Pass"
        assert _status(result, rule, "open") == "Fail"
    assert _status(result, "AISPM-IAM-001", "open") == "Pass"
    assert result.api_calls["aws"]["sagemaker:DescribeProcessingJob"] == 2


def test_jobs_outside_the_window_are_not_listed(sm: Any) -> None:
    role = _role("exec")
    _processing_job(sm, "pj", role)
    sm.create_training_job(
        TrainingJobName="tj", RoleArn=role, AlgorithmSpecification={"TrainingImage": "i", "TrainingInputMode": "File"},
        StoppingCondition={"MaxRuntimeInSeconds": 1}, OutputDataConfig={"S3OutputPath": "s3://b"},
        ResourceConfig={"InstanceType": "ml.m5.large", "InstanceCount": 1, "VolumeSizeInGB": 1})
    created = max(sm.describe_processing_job(ProcessingJobName="pj")["CreationTime"],
                  sm.describe_training_job(TrainingJobName="tj")["CreationTime"]).astimezone(dt.UTC)
    # The clock is pinned: 29 days after the jobs were created they are in a 30-day window, 31 days after not.
    recent = AwsCollector(options=AwsOptions(regions=("us-east-1",), job_window_days=30,
                                             now=lambda: created + dt.timedelta(days=29)))
    none = AwsCollector(options=AwsOptions(regions=("us-east-1",), job_window_days=30,
                                           now=lambda: created + dt.timedelta(days=31)))
    kinds = sorted(r.type for r in recent.collect(recent.plan()[0][0]).records)
    assert kinds == ["processing_job", "training_job"]
    empty = none.collect(none.plan()[0][0])
    assert empty.records == []
    assert "sagemaker:DescribeTrainingJob" not in empty.api_calls["aws"]


def test_studio_domain_user_profiles_and_spaces(sm: Any) -> None:
    admin = _role("admin", "*")
    domain_id = sm.create_domain(DomainName="studio", AuthMode="IAM", DefaultUserSettings={"ExecutionRole": admin},
                                 SubnetIds=["subnet-1"], VpcId="vpc-1")["DomainArn"].rsplit("/", 1)[-1]
    moto_gaps.add_user_profile(ACCT, "us-east-1", domain_id, "alice")
    moto_gaps.add_space(ACCT, "us-east-1", domain_id, "team-space")
    result = _scan(AwsCollector(options=AwsOptions(regions=("us-east-1",))))
    assert result.errors == []
    by_kind = {a.kind: a for a in result.assets}
    assert by_kind["user_profile"].uid == f"arn:aws:sagemaker:us-east-1:{ACCT}:user-profile/{domain_id}/alice"
    assert by_kind["space"].uid == f"arn:aws:sagemaker:us-east-1:{ACCT}:space/{domain_id}/team-space"
    assert _status(result, "AISPM-NET-002", "studio") == "Fail"   # AppNetworkAccessType absent
    assert _status(result, "AISPM-ENC-001", "studio") == "Fail"
    assert _status(result, "AISPM-IAM-001", "studio") == "Fail"   # DefaultUserSettings.ExecutionRole is admin
    calls = result.api_calls["aws"]
    assert calls["sagemaker:ListUserProfiles"] == 1
    assert calls["sagemaker:ListSpaces"] == 1
    assert not any(op.startswith(("sagemaker:DescribeUserProfile", "sagemaker:DescribeSpace")) for op in calls)


def test_vpc_only_encrypted_domain_passes(sm: Any) -> None:
    sm.create_domain(DomainName="locked", AuthMode="IAM", DefaultUserSettings={}, SubnetIds=["s"], VpcId="v",
                     AppNetworkAccessType="VpcOnly", KmsKeyId="arn:aws:kms:us-east-1:1:key/k")
    result = _scan(AwsCollector(options=AwsOptions(regions=("us-east-1",))))
    assert _status(result, "AISPM-NET-002", "locked") == "Pass"
    assert _status(result, "AISPM-ENC-001", "locked") == "Pass"


def test_model_package_groups_and_their_policies(sm: Any) -> None:
    for name in ("private", "shared-public", "shared-unknown"):
        sm.create_model_package_group(ModelPackageGroupName=name)
    for name, principal in (("shared-public", "*"), ("shared-unknown", {"AWS": "arn:aws:iam::999988887777:root"})):
        sm.put_model_package_group_policy(ModelPackageGroupName=name, ResourcePolicy=json.dumps({
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Principal": principal, "Action": "sagemaker:DescribeModelPackage",
                           "Resource": "*"}]}))
    result = _scan(AwsCollector(options=AwsOptions(regions=("us-east-1",))))
    assert result.errors == []
    assert _status(result, "AISPM-IAM-004", "private") == "Pass"
    assert _status(result, "AISPM-IAM-004", "shared-public") == "Fail"
    assert _status(result, "AISPM-IAM-004", "shared-unknown") == "Fail"
    calls = result.api_calls["aws"]
    assert calls["sagemaker:GetModelPackageGroupPolicy"] == 3
    assert "sagemaker:DescribeModelPackageGroup" not in calls


def test_group_policies_read_with_the_describes_drop_a_vanished_group_and_report_a_failed_one(sm: Any) -> None:
    """The policies are read in the region's task graph as soon as the groups are listed: a group deleted since
    the list is dropped (no finding, no error), a failed read is a scope error and no verdict."""
    for name in ("kept", "vanished", "denied"):
        sm.create_model_package_group(ModelPackageGroupName=name)
    session = boto3.Session(region_name="us-east-1")
    gone = Fault(session, "sagemaker.GetModelPackageGroupPolicy", lambda: json_error(
        "ValidationException", "ModelPackageGroup vanished does not exist."), when=body_has('"vanished"'))
    denied = Fault(session, "sagemaker.GetModelPackageGroupPolicy", lambda: json_error(
        "AccessDeniedException", "not authorized"), when=body_has('"denied"'))
    result = _scan(AwsCollector(session=session, options=AwsOptions(regions=("us-east-1",), describe_workers=4)))
    assert (gone.hits, denied.hits) == (1, 1)
    assert sorted(a.name for a in result.assets if a.kind == "model_package_group") == ["denied", "kept"]
    assert _status(result, "AISPM-IAM-004", "kept") == "Pass"
    assert not [f for f in result.findings if f.asset.name in ("vanished", "denied") and f.rule.id == "AISPM-IAM-004"]
    assert [e.error for e in result.errors] == ["get_model_package_group_policy denied: An error occurred "
                                                "(AccessDeniedException) when calling the GetModelPackageGroupPolicy "
                                                "operation: not authorized"]


def test_monitoring_schedules_listed_once_per_region(sm: Any) -> None:
    sm.create_model(ModelName="m", ExecutionRoleArn=_role("exec"), PrimaryContainer={"Image": "i"})
    sm.create_endpoint_config(EndpointConfigName="ec", ProductionVariants=[
        {"VariantName": "v", "ModelName": "m", "InitialInstanceCount": 2, "InstanceType": "ml.m5.large"}])
    for name in ("watched", "unwatched"):
        sm.create_endpoint(EndpointName=name, EndpointConfigName="ec")
    moto_gaps.add_monitoring_schedule(ACCT, "us-east-1", "dq", "watched")
    moto_gaps.add_monitoring_schedule(ACCT, "us-east-1", "old", "unwatched", status="Stopped")
    result = _scan(AwsCollector(options=AwsOptions(regions=("us-east-1",))))
    assert _status(result, "AISPM-LOG-002", "watched") == "Pass"
    assert _status(result, "AISPM-LOG-002", "unwatched") == "Fail"
    endpoint = next(a for a in result.assets if a.name == "watched")
    assert endpoint.relations[0].uid.endswith(":endpoint-config/ec")
    calls = result.api_calls["aws"]
    assert calls["sagemaker:ListMonitoringSchedules"] == 1
    assert "sagemaker:DescribeMonitoringSchedule" not in calls
    # One page for the models (their configuration) and one for the endpoints (their config names).
    assert calls["sagemaker:Search"] == 2
    assert "sagemaker:DescribeModel" not in calls
    assert "sagemaker:DescribeEndpoint" not in calls


def test_endpoints_are_described_when_search_is_denied(sm: Any) -> None:
    from tests.support.aws_faults import Fault, json_error

    sm.create_model(ModelName="m", ExecutionRoleArn=_role("exec"), PrimaryContainer={"Image": "i"})
    sm.create_endpoint_config(EndpointConfigName="ec", ProductionVariants=[
        {"VariantName": "v", "ModelName": "m", "InitialInstanceCount": 2, "InstanceType": "ml.m5.large"}])
    sm.create_endpoint(EndpointName="e", EndpointConfigName="ec")
    session = boto3.Session(region_name="us-east-1")
    Fault(session, "sagemaker.Search", lambda: json_error("AccessDeniedException", "no sagemaker:Search", 400))
    collector = AwsCollector(session=session, options=AwsOptions(regions=("us-east-1",)))
    result = collector.collect(collector.plan()[0][0])
    assert result.errors == []
    [endpoint] = [r for r in result.records if r.type == "endpoint"]
    assert endpoint.data["EndpointConfigName"] == "ec"
    assert result.api_calls["aws"]["sagemaker:DescribeEndpoint"] == 1


def test_related_kinds_are_not_listed_when_their_parent_is_absent(sm: Any) -> None:
    sm.create_notebook_instance(NotebookInstanceName="nb", InstanceType="ml.t3.medium", RoleArn=_role("exec"))
    collector = AwsCollector(options=AwsOptions(regions=("us-east-1",)))
    calls = collector.collect(collector.plan()[0][0]).api_calls["aws"]
    for op in ("ListMonitoringSchedules", "ListUserProfiles", "ListSpaces", "GetModelPackageGroupPolicy",
               "ListTags"):
        assert f"sagemaker:{op}" not in calls
    assert "resourcegroupstaggingapi:GetResources" not in calls   # no required_tags: no tag collection


def test_tags_come_from_one_call_per_region(sm: Any) -> None:
    role = _role("exec")
    for i in range(3):
        sm.create_notebook_instance(NotebookInstanceName=f"nb-{i}", InstanceType="ml.t3.medium", RoleArn=role,
                                    Tags=[{"Key": "owner", "Value": f"team-{i}"}] if i else [])
    _processing_job(sm, "pj", role, Tags=[{"Key": "owner", "Value": "etl"}])
    collector = AwsCollector(options=AwsOptions(regions=("us-east-1",), collect_tags=True))
    result = _scan(collector, Policy(required_tags=["owner"]))
    tags = {a.name: a.tags for a in result.assets}
    assert tags == {"nb-0": {}, "nb-1": {"owner": "team-1"}, "nb-2": {"owner": "team-2"}, "pj": {"owner": "etl"}}
    assert _status(result, "AISPM-GOV-003", "nb-0") == "Fail"
    assert _status(result, "AISPM-GOV-003", "nb-1") == "Pass"
    calls = result.api_calls["aws"]
    assert calls["resourcegroupstaggingapi:GetResources"] == 1
    assert "sagemaker:ListTags" not in calls


def test_managed_policies_default_version_and_conditions() -> None:
    with mock_aws(config={"iam": {"load_aws_managed_policies": True}}):
        iam = boto3.client("iam", region_name="us-east-1")
        sm = boto3.client("sagemaker", region_name="us-east-1")
        roles = {}
        for name in ("admin", "sm-full", "old-admin-version", "conditional"):
            roles[name] = iam.create_role(RoleName=name, AssumeRolePolicyDocument=TRUST)["Role"]["Arn"]
        iam.attach_role_policy(RoleName="admin", PolicyArn="arn:aws:iam::aws:policy/AdministratorAccess")
        # Grants sagemaker:* and iam:PassRole only under an iam:PassedToService condition: not over-privileged.
        iam.attach_role_policy(RoleName="sm-full", PolicyArn="arn:aws:iam::aws:policy/AmazonSageMakerFullAccess")
        admin_doc = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}
        scoped_doc = {"Version": "2012-10-17",
                      "Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}]}
        arn = iam.create_policy(PolicyName="evolving", PolicyDocument=json.dumps(admin_doc))["Policy"]["Arn"]
        iam.create_policy_version(PolicyArn=arn, PolicyDocument=json.dumps(scoped_doc), SetAsDefault=True)
        iam.attach_role_policy(RoleName="old-admin-version", PolicyArn=arn)
        iam.put_role_policy(RoleName="conditional", PolicyName="p", PolicyDocument=json.dumps({
            "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*",
                                                    "Condition": {"Bool": {"aws:MultiFactorAuthPresent": "true"}}}]}))
        for name, role in roles.items():
            sm.create_notebook_instance(NotebookInstanceName=name, InstanceType="ml.t3.medium", RoleArn=role)
        sm.create_model(ModelName="admin-model", ExecutionRoleArn=roles["admin"], PrimaryContainer={"Image": "i"})
        result = _scan(AwsCollector(options=AwsOptions(regions=("us-east-1",))))
    assert _status(result, "AISPM-IAM-001", "admin") == "Fail"
    assert _status(result, "AISPM-IAM-001", "admin-model") == "Fail"
    assert _status(result, "AISPM-IAM-001", "sm-full") == "Pass"
    assert _status(result, "AISPM-IAM-001", "old-admin-version") == "Pass"
    assert _status(result, "AISPM-IAM-001", "conditional") == "Pass"
    detail = next(f["status_detail"] for f in map(to_ocsf, result.findings)
                  if f["compliance"]["control"] == "AISPM-IAM-001" and f["resources"][0]["name"] == "admin")
    assert "AdministratorAccess" in detail
    calls = result.api_calls["aws"]
    assert calls["iam:ListAttachedRolePolicies"] == 4    # each role once, though "admin" runs two assets
    assert calls["iam:GetPolicyVersion"] == 3            # each managed policy once, default version only


def test_training_jobs_of_the_window_are_read_from_search_pages(sm: Any) -> None:
    """Search (ResourceType TrainingJob, filtered to the job window) replaces DescribeTrainingJob, 100 a page."""
    role = _role("exec")
    for name in ("tj-1", "tj-2", "tj-3"):
        sm.create_training_job(
            TrainingJobName=name, RoleArn=role,
            AlgorithmSpecification={"TrainingImage": "i", "TrainingInputMode": "File"},
            StoppingCondition={"MaxRuntimeInSeconds": 1}, OutputDataConfig={"S3OutputPath": "s3://b"},
            ResourceConfig={"InstanceType": "ml.m5.large", "InstanceCount": 1, "VolumeSizeInGB": 1})
    created = sm.describe_training_job(TrainingJobName="tj-1")["CreationTime"].astimezone(dt.UTC)
    session = boto3.Session(region_name="us-east-1")
    searched: list[dict[str, Any]] = []
    session.events.register("provide-client-params.sagemaker.Search", lambda params, **_: searched.append(params))
    collector = AwsCollector(session=session, options=AwsOptions(regions=("us-east-1",), job_window_days=30,
                                                                 now=lambda: created + dt.timedelta(days=29)),
                             page_size=2)
    result = collector.collect(collector.plan()[0][0])
    assert result.errors == []
    jobs = {r.data["TrainingJobName"]: r.data for r in result.records if r.type == "training_job"}
    assert sorted(jobs) == ["tj-1", "tj-2", "tj-3"]
    assert jobs["tj-2"]["RoleArn"] == role and jobs["tj-2"]["OutputDataConfig"] == {"S3OutputPath": "s3://b"}
    calls = result.api_calls["aws"]
    assert "sagemaker:DescribeTrainingJob" not in calls
    window = [p["SearchExpression"] for p in searched if p["Resource"] == "TrainingJob"]
    since = (created - dt.timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%S")
    assert window == [{"Filters": [{"Name": "CreationTime", "Operator": "GreaterThanOrEqualTo", "Value": since}]}] * 2
