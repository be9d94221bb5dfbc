"""Calls inside one AWS scope unit: concurrent up to ``describe_workers``, paced by the rate limiter."""

from __future__ import annotations

import json
import threading
import time
from typing import Any
from urllib.parse import parse_qs, urlsplit

import boto3

from aispm.collectors.aws import AwsCollector, AwsOptions
from aispm.collectors.base import ScopeUnit
from aispm.collectors.ratelimit import RateLimits
from tests.support.aws_faults import Fault, json_error

ACCT = "123456789012"
REGION = "us-east-1"
UNIT = ScopeUnit(provider="aws", scope=f"aws:{ACCT}:{REGION}", account=ACCT, region=REGION)
ROLE = f"arn:aws:iam::{ACCT}:role/exec"


class InFlight:
    """Adds a delay to every request the session sends (the round trip of a real API) and records how many
    were in flight at once and in what order the operations went out."""

    def __init__(self, session: boto3.Session, delay: float = 0.1) -> None:
        self.delay = delay
        self.now = 0
        self.most = 0
        self.order: list[str] = []
        self._lock = threading.Lock()
        session.events.register("before-send", self)

    def __call__(self, request: Any, **_: Any) -> None:
        target = request.headers.get("X-Amz-Target", b"").decode().rsplit(".", 1)[-1]
        action = parse_qs(request.body.decode() if isinstance(request.body, bytes) else str(request.body or ""))
        with self._lock:
            self.now += 1
            self.most = max(self.most, self.now)
            url = urlsplit(request.url)
            self.order.append(target or (action.get("Action") or [""])[0]
                              or f"{request.method} {url.netloc.split('.')[0]}{url.path}?{url.query}")
        time.sleep(self.delay)
        with self._lock:
            self.now -= 1


def _estate(sm: Any, n: int) -> None:
    sm.create_model(ModelName="m", ExecutionRoleArn=ROLE, PrimaryContainer={"Image": "img"})
    for i in range(n):
        sm.create_notebook_instance(NotebookInstanceName=f"nb-{i}", InstanceType="ml.t3.medium", RoleArn=ROLE)
        sm.create_endpoint_config(EndpointConfigName=f"ec-{i}", ProductionVariants=[
            {"VariantName": "v", "ModelName": "m", "InitialInstanceCount": 1, "InstanceType": "ml.m5.large"}])


def test_lists_and_describes_of_a_region_are_in_flight_together(sm: Any) -> None:
    _estate(sm, 12)
    session = boto3.Session(region_name=REGION)
    flight = InFlight(session)
    collector = AwsCollector(session=session, options=AwsOptions(regions=(REGION,), describe_workers=6))
    result = collector.collect(UNIT)
    assert result.errors == []
    assert 2 <= flight.most <= 6   # concurrent, and never above the scope's workers
    # Records still come out in kind-table order, each kind in list order.
    kinds = [r.type for r in result.records]
    assert kinds == sorted(kinds, key=["notebook", "model", "endpoint_config"].index)
    assert [r.data["NotebookInstanceName"] for r in result.records if r.type == "notebook"] == \
        sorted(f"nb-{i}" for i in range(12))


def test_one_worker_makes_the_calls_one_after_another_in_kind_order(sm: Any) -> None:
    _estate(sm, 2)
    session = boto3.Session(region_name=REGION)
    flight = InFlight(session, delay=0.0)
    result = AwsCollector(session=session, options=AwsOptions(regions=(REGION,), describe_workers=1)).collect(UNIT)
    assert result.errors == []
    assert flight.most == 1
    sagemaker = [op for op in flight.order if op and not op.startswith(("GetCallerIdentity",))]
    assert sagemaker[:6] == ["ListNotebookInstances", "DescribeNotebookInstance", "DescribeNotebookInstance",
                             "ListModels", "Search", "ListEndpointConfigs"]   # models come from Search pages


def test_roles_and_buckets_are_read_while_the_describes_are_in_flight(sm: Any) -> None:
    """The identity and bucket joins need every record, but their reads start as soon as a record names the role
    or bucket: not queued behind the region's describes, each made once, and the joins come out as when every
    call is made one after another."""
    iam, s3 = boto3.client("iam", region_name=REGION), boto3.client("s3", region_name=REGION)
    iam.create_role(RoleName="exec", AssumeRolePolicyDocument="{}")
    iam.put_role_policy(RoleName="exec", PolicyName="p", PolicyDocument=json.dumps(
        {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}]}))
    s3.create_bucket(Bucket="weights")
    sm.create_model(ModelName="m", ExecutionRoleArn=ROLE,
                    PrimaryContainer={"Image": "img", "ModelDataUrl": "s3://weights/m.tar.gz"})
    for i in range(40):   # their describes outlast the role's and the bucket's chains of calls
        sm.create_notebook_instance(NotebookInstanceName=f"nb-{i}", InstanceType="ml.t3.medium", RoleArn=ROLE)

    def run(workers: int) -> tuple[Any, list[str]]:
        session = boto3.Session(region_name=REGION)
        flight = InFlight(session, delay=0.02)
        return AwsCollector(session=session, options=AwsOptions(regions=(REGION,), describe_workers=workers)
                            ).collect(UNIT), flight.order

    result, order = run(2)
    serial, _ = run(1)
    assert result.errors == []
    last_describe = max(i for i, op in enumerate(order) if op == "DescribeNotebookInstance")
    bucket_reads = ("GET s3/?", "GET 123456789012/v20180820/configuration/publicAccessBlock?",   # the account's
                    "GET weights/?publicAccessBlock", "GET weights/?policyStatus", "GET weights/?acl")
    for read in ("ListAttachedRolePolicies", "ListRolePolicies", "GetRolePolicy", *bucket_reads):
        assert order.count(read) == 1, read   # each read once: the joins found the prefetched answers
        assert order.index(read) < last_describe, read
    assert [i.data for i in result.identities] == [i.data for i in serial.identities]
    assert result.identities[0].data["Policies"][0]["PolicyName"] == "inline:p"
    bucket_access = {r.data["ModelName"]: r.data["BucketAccess"] for r in result.records if r.type == "model"}
    assert bucket_access == {r.data["ModelName"]: r.data["BucketAccess"] for r in serial.records if r.type == "model"}
    assert bucket_access == {"m": {"weights": {"public": False, "why": "no public policy or ACL grant"}}}


def test_the_limiter_halves_a_regions_rate_when_throttled(sm: Any) -> None:
    _estate(sm, 6)
    session = boto3.Session(region_name=REGION)
    fault = Fault(session, "sagemaker.DescribeNotebookInstance",
                  lambda: json_error("ThrottlingException", "Rate exceeded", 400), times=1)
    waits: list[float] = []
    limits = RateLimits({"sagemaker": 100.0}, sleep=waits.append)   # record the waits instead of sleeping them
    collector = AwsCollector(session=session, options=AwsOptions(regions=(REGION,)), limits=limits)
    result = collector.collect(UNIT)
    assert fault.hits == 1
    assert result.errors == []   # the throttled describe was retried
    assert len([r for r in result.records if r.type == "notebook"]) == 6
    bucket = limits.bucket("sagemaker", f"{ACCT}:{REGION}")
    assert bucket.throttles == 1
    assert 50.0 <= bucket.rate < 55.0   # halved, then climbing back by about one request per second per second
    assert limits.throttles() == {f"sagemaker:{ACCT}:{REGION}": 1}


def test_the_limiter_paces_a_region_at_its_configured_rate(sm: Any) -> None:
    _estate(sm, 6)
    waits: list[float] = []
    limits = RateLimits({"sagemaker": 4.0}, sleep=waits.append)
    result = AwsCollector(options=AwsOptions(regions=(REGION,)), limits=limits).collect(UNIT)
    assert result.errors == []
    sent = sum(n for op, n in result.api_calls["aws"].items() if op.startswith("sagemaker:"))
    assert sent > 10
    assert len([w for w in waits if w > 0]) == sent - 4   # all but the first second's burst waited for a token
    assert max(waits) >= (sent - 4) / 4.0 * 0.5   # and the debt grew with every call (no real sleep here)
