"""Many accounts and regions: Organizations, role ARNs, all regions, and faults confined to their scope.

moto keeps separate state per account, so member-account resources are created
with assumed-role credentials, exactly as the scanner reaches them. Faults are
injected at the HTTP layer (tests/support/aws_faults.py) so the SDK's own error parsing
and retries run.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import boto3
from botocore.awsrequest import AWSResponse

from aispm.collectors.aws import AwsCollector, AwsOptions
from aispm.collectors.base import CollectOptions
from aispm.pipeline import exit_code_for, run_scan, scan_unit, summarize
from aispm.pipeline_types import ScanRequest
from aispm.rules.policy import Policy
from aispm.sinks.formats.ocsf import to_ocsf
from tests.support.aws_faults import Fault, _Raw, body_has, json_error, region_is, xml_error

MGMT = "123456789012"
MEMBER_ROLE = "aispm-member-read"


def _org(*names: str) -> list[str]:
    org = boto3.client("organizations", region_name="us-east-1")
    org.create_organization(FeatureSet="ALL")
    ids = []
    for name in names:
        org.create_account(Email=f"{name}@example.com", AccountName=name)
    for acct in org.list_accounts()["Accounts"]:
        if acct["Id"] != MGMT:
            ids.append(acct["Id"])
    return ids


def _as(account: str, role: str = MEMBER_ROLE) -> boto3.Session:
    creds = boto3.client("sts", region_name="us-east-1").assume_role(
        RoleArn=f"arn:aws:iam::{account}:role/{role}", RoleSessionName="setup")["Credentials"]
    return boto3.Session(aws_access_key_id=creds["AccessKeyId"], aws_secret_access_key=creds["SecretAccessKey"],
                         aws_session_token=creds["SessionToken"], region_name="us-east-1")


def _notebook(session: boto3.Session | None, name: str, region: str = "us-east-1") -> None:
    """A notebook running as a fresh role of its own account."""
    session = session or boto3.Session()
    role = session.client("iam", region_name="us-east-1").create_role(
        RoleName=f"exec-{name}", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
    session.client("sagemaker", region_name=region).create_notebook_instance(
        NotebookInstanceName=name, InstanceType="ml.t3.medium", RoleArn=role, DirectInternetAccess="Disabled")


def _shared_group(name: str, principal_account: str) -> None:
    sm = boto3.client("sagemaker", region_name="us-east-1")
    sm.create_model_package_group(ModelPackageGroupName=name)
    sm.put_model_package_group_policy(ModelPackageGroupName=name, ResourcePolicy=json.dumps({
        "Version": "2012-10-17", "Statement": [{
            "Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{principal_account}:root"},
            "Action": "sagemaker:DescribeModelPackage", "Resource": "*"}]}))


def _summary(out: Path) -> dict[str, Any]:
    return dict(json.loads((out / "summary.json").read_text()))


def test_org_scans_every_active_account_through_the_member_role(aws: None, tmp_path: Path) -> None:
    a, b = _org("ml-prod", "ml-dev")
    _notebook(None, "mgmt-nb")
    _notebook(_as(a), "prod-nb")
    _notebook(_as(b), "dev-nb", region="eu-west-1")
    _shared_group("shared-with-member", a)
    _shared_group("shared-with-stranger", "999988887777")
    outcome = run_scan(ScanRequest(providers=["aws"], options=CollectOptions(
        org=True, regions=["us-east-1", "eu-west-1"]), out_dir=tmp_path))
    summary = _summary(tmp_path)
    assert outcome.exit_code == 0, (summary["scopes"], summary["evaluation_errors"])
    iam001 = {f["resources"][0]["name"]: f["compliance"]["status"] for f in map(to_ocsf, outcome.batch.findings)
              if f["compliance"]["control"] == "AISPM-IAM-001"}
    assert iam001 == {"mgmt-nb": "Pass", "prod-nb": "Pass", "dev-nb": "Pass"}   # each role read in its account
    assert sorted(s["scope"] for s in summary["scopes"]) == sorted(
        f"aws:{acct}:{r}" for acct in (MGMT, a, b) for r in ("us-east-1", "eu-west-1"))
    located = {(x.name, x.account, x.region) for x in outcome.batch.assets if x.kind == "notebook"}
    assert located == {("mgmt-nb", MGMT, "us-east-1"), ("prod-nb", a, "us-east-1"), ("dev-nb", b, "eu-west-1")}
    # One AssumeRole per member account however many regions it has; the management account uses its own.
    assert summary["api_calls"]["aws"]["sts:AssumeRole"] == 2
    assert summary["api_calls"]["aws"]["organizations:ListAccounts"] == 1
    iam004 = {f["resources"][0]["name"]: f["compliance"]["status"] for f in map(to_ocsf, outcome.batch.findings)
              if f["compliance"]["control"] == "AISPM-IAM-004"}
    assert iam004 == {"shared-with-member": "Pass", "shared-with-stranger": "Fail"}


def test_role_arn_targets_use_external_id_and_session_name(aws: None) -> None:
    [target] = _org("ml-prod")
    _notebook(_as(target, "scanner"), "prod-nb")
    session = boto3.Session(region_name="us-east-1")
    seen: list[dict[str, Any]] = []
    session.events.register("before-parameter-build.sts.AssumeRole", lambda params, **_: seen.append(dict(params)))
    collector = AwsCollector(session=session, options=AwsOptions(
        role_arns=(f"arn:aws:iam::{target}:role/scanner",), external_id="ext-123", regions=("us-east-1",)))
    units, errors = collector.plan()
    assert errors == []
    assert [u.scope for u in units] == [f"aws:{target}:us-east-1"]    # the caller's own account is not a target
    assert seen == [{"RoleArn": f"arn:aws:iam::{target}:role/scanner", "RoleSessionName": "aispm",
                     "ExternalId": "ext-123"}]
    result = collector.collect(units[0])
    assert [r.data["NotebookInstanceName"] for r in result.records] == ["prod-nb"]
    assert len(seen) == 1   # the cached session served collection


def test_access_denied_in_one_account_is_that_scope_only(aws: None) -> None:
    a, b = _org("ml-prod", "ml-locked")
    _notebook(_as(a), "prod-nb")
    session = boto3.Session(region_name="us-east-1")
    Fault(session, "sts.AssumeRole", lambda: xml_error("AccessDenied", f"not authorized to assume into {b}"),
          when=body_has(b))
    collector = AwsCollector(session=session, options=AwsOptions(org=True, regions=("us-east-1",)))
    units, plan_errors = collector.plan()
    assert [e.scope for e in plan_errors] == [f"aws:{b}"]
    assert "AccessDenied" in plan_errors[0].error
    results = [scan_unit(collector, u, Policy(), collector.known_accounts) for u in units]
    summary = summarize(results, plan_errors, "scan", dt.datetime.now(dt.UTC))
    statuses = {s["scope"]: s["status"] for s in summary["scopes"]}
    assert statuses == {f"aws:{MGMT}:us-east-1": "ok", f"aws:{a}:us-east-1": "ok", f"aws:{b}": "error"}
    assert [a_.name for r in results for a_ in r.assets] == ["prod-nb"]
    assert exit_code_for(summary, [], [], None) == 4


def test_access_denied_in_one_region_leaves_the_others_complete(aws: None) -> None:
    _notebook(None, "east", "us-east-1")
    _notebook(None, "west", "eu-west-1")
    session = boto3.Session(region_name="us-east-1")
    Fault(session, "sagemaker.ListNotebookInstances",
          lambda: json_error("AccessDeniedException", "explicit deny in an SCP", 400), when=region_is("eu-west-1"))
    collector = AwsCollector(session=session, options=AwsOptions(regions=("us-east-1", "eu-west-1")))
    units, _ = collector.plan()
    results = {u.region: scan_unit(collector, u, Policy()) for u in units}
    assert results["us-east-1"].ok
    assert [a.name for a in results["us-east-1"].assets] == ["east"]
    assert not results["eu-west-1"].ok
    assert "AccessDeniedException" in results["eu-west-1"].errors[0].error


def test_throttling_in_one_region_is_retried_then_succeeds(aws: None) -> None:
    _notebook(None, "east", "us-east-1")
    _notebook(None, "west", "eu-west-1")
    session = boto3.Session(region_name="us-east-1")
    fault = Fault(session, "sagemaker.ListNotebookInstances",
                  lambda: json_error("ThrottlingException", "Rate exceeded", 400), when=region_is("eu-west-1"), times=2)
    collector = AwsCollector(session=session, options=AwsOptions(regions=("us-east-1", "eu-west-1")))
    units, _ = collector.plan()
    results = {u.region: collector.collect(u) for u in units}
    assert fault.hits == 2
    assert fault.seen == 3          # two throttled attempts, then the retry that got through
    assert results["eu-west-1"].errors == []
    assert [r.data["NotebookInstanceName"] for r in results["eu-west-1"].records] == ["west"]
    assert results["eu-west-1"].api_calls["aws"]["sagemaker:ListNotebookInstances"] == 1   # one call, retried


def _regions_response(*names: str) -> AWSResponse:
    items = "".join(f"<item><regionName>{n}</regionName><regionEndpoint>ec2.{n}.amazonaws.com</regionEndpoint>"
                    f"<optInStatus>opt-in-not-required</optInStatus></item>" for n in names)
    body = (f'<DescribeRegionsResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15/"><requestId>r</requestId>'
            f"<regionInfo>{items}</regionInfo></DescribeRegionsResponse>").encode()
    return AWSResponse("https://ec2.us-east-1.amazonaws.com", 200, {"Content-Type": "text/xml"}, _Raw(body))


def test_all_regions_are_sagemaker_regions_the_account_enabled(aws: None) -> None:
    session = boto3.Session(region_name="us-east-1")
    # The account has enabled three regions, one of which (a made-up name) has no SageMaker.
    Fault(session, "ec2.DescribeRegions", lambda: _regions_response("us-east-1", "eu-south-2", "xx-none-1"))
    collector = AwsCollector(session=session, options=AwsOptions(all_regions=True))
    units, errors = collector.plan()
    assert errors == []
    assert sorted(u.region for u in units) == ["eu-south-2", "us-east-1"]


def test_all_regions_against_moto_covers_every_partition_region(aws: None) -> None:
    collector = AwsCollector(options=AwsOptions(all_regions=True))
    units, errors = collector.plan()
    assert errors == []
    # Regions where SageMaker or Bedrock is offered (botocore's partition data).
    session = boto3.Session()
    offered = sorted({r for service in ("sagemaker", "bedrock") for r in session.get_available_regions(service)})
    assert sorted(u.region for u in units) == offered
    assert "us-gov-west-1" not in offered


def test_all_regions_falls_back_to_account_list_regions(aws: None) -> None:
    session = boto3.Session(region_name="us-east-1")
    Fault(session, "ec2.DescribeRegions", lambda: xml_error("UnauthorizedOperation", "not authorized"))
    # moto lacks account:ListRegions; answer it with the service's JSON shape.
    body = json.dumps({"Regions": [{"RegionName": "eu-west-1", "RegionOptStatus": "ENABLED_BY_DEFAULT"},
                                   {"RegionName": "me-central-1", "RegionOptStatus": "ENABLED"}]}).encode()
    listed = Fault(session, "account.ListRegions", lambda: AWSResponse(
        "https://account.us-east-1.amazonaws.com", 200, {"Content-Type": "application/json"}, _Raw(body)))
    collector = AwsCollector(session=session, options=AwsOptions(all_regions=True))
    units, errors = collector.plan()
    assert errors == []
    assert sorted(u.region for u in units) == ["eu-west-1", "me-central-1"]
    assert listed.hits == 1


def test_all_regions_unknowable_is_a_plan_error(aws: None) -> None:
    session = boto3.Session(region_name="us-east-1")
    Fault(session, "ec2.DescribeRegions", lambda: xml_error("UnauthorizedOperation", "not authorized"))
    collector = AwsCollector(session=session, options=AwsOptions(all_regions=True))
    units, errors = collector.plan()
    assert units == []
    assert errors[0].scope == f"aws:{MGMT}"
    assert "cannot list enabled regions" in errors[0].error


def test_unreadable_execution_role_is_an_iam001_error_not_a_pass(aws: None, tmp_path: Path) -> None:
    sm = boto3.client("sagemaker", region_name="us-east-1")
    iam = boto3.client("iam", region_name="us-east-1")
    iam.create_role(RoleName="readable", AssumeRolePolicyDocument="{}")
    for name, role in (("cross-account", "arn:aws:iam::999988887777:role/exec"),
                       ("readable", f"arn:aws:iam::{MGMT}:role/readable")):
        sm.create_notebook_instance(NotebookInstanceName=name, InstanceType="ml.t3.medium", RoleArn=role)
    outcome = run_scan(ScanRequest(providers=["aws"], options=CollectOptions(regions=["us-east-1"]),
                                   out_dir=tmp_path))
    summary = _summary(tmp_path)
    assert outcome.exit_code == 0   # reported and counted in errors, but no scope failed (rules-v2.md)
    assert [s["status"] for s in summary["scopes"]] == ["ok"]
    assert summary["errors"] == 1
    [err] = summary["evaluation_errors"]
    assert err["rule"] == "AISPM-IAM-001"
    assert err["resource"].endswith("notebook-instance/cross-account")
    assert "999988887777" in err["error"]
    iam001 = {f["resources"][0]["name"]: f["compliance"]["status"] for f in map(to_ocsf, outcome.batch.findings)
              if f["compliance"]["control"] == "AISPM-IAM-001"}
    assert iam001 == {"readable": "Pass"}


def test_access_denied_reading_a_role_is_an_iam001_error(aws: None) -> None:
    iam = boto3.client("iam", region_name="us-east-1")
    arn = iam.create_role(RoleName="locked", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
    boto3.client("sagemaker", region_name="us-east-1").create_notebook_instance(
        NotebookInstanceName="nb", InstanceType="ml.t3.medium", RoleArn=arn)
    session = boto3.Session(region_name="us-east-1")
    Fault(session, "iam.ListAttachedRolePolicies", lambda: xml_error("AccessDenied", "not authorized on role"))
    collector = AwsCollector(session=session, options=AwsOptions(regions=("us-east-1",)))
    result = scan_unit(collector, collector.plan()[0][0], Policy())
    assert [e["rule"] for e in result.evaluation_errors] == ["AISPM-IAM-001"]
    assert "AccessDenied" in result.evaluation_errors[0]["error"]
    assert not [f for f in map(to_ocsf, result.findings) if f["compliance"]["control"] == "AISPM-IAM-001"]


def test_assumed_sessions_are_cached_and_renewed_before_expiry(aws: None) -> None:
    from aispm.collectors.aws.accounts import Sessions
    from aispm.collectors.base import ApiCalls

    calls = ApiCalls()
    role = "arn:aws:iam::210987654321:role/scanner"
    cached = Sessions(boto3.Session(region_name="us-east-1"), None, calls)
    first = cached.session("210987654321", role)
    assert cached.session("210987654321") is first
    assert calls.as_dict()["aws"]["sts:AssumeRole"] == 1
    # Credentials last an hour; renewing two hours ahead means every use renews.
    eager = Sessions(boto3.Session(region_name="us-east-1"), None, calls, renew_before=dt.timedelta(hours=2))
    eager.session("210987654321", role)
    eager.session("210987654321")
    assert calls.as_dict()["aws"]["sts:AssumeRole"] == 3


def test_assumed_sessions_share_the_base_sessions_service_models(aws: None) -> None:
    """One decoded copy of each service model per scan, however many accounts: the sessions share one loader."""
    from aispm.collectors.aws.accounts import Sessions
    from aispm.collectors.base import ApiCalls

    base = boto3.Session(region_name="us-east-1")
    sessions = Sessions(base, None, ApiCalls())
    one = sessions.session("210987654321", "arn:aws:iam::210987654321:role/scanner")
    two = sessions.session("310987654321", "arn:aws:iam::310987654321:role/scanner")
    loader = base._session.get_component("data_loader")
    assert one._session.get_component("data_loader") is loader
    assert two._session.get_component("data_loader") is loader
    assert one.get_credentials().access_key != two.get_credentials().access_key   # each its own credentials
    assert len(loader.search_paths) - len(set(loader.search_paths)) <= 1   # boto3's path is not added per account
    assert one.client("sagemaker").meta.service_model is not None
