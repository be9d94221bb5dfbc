"""AWS SageMaker collector: one account x region per scope unit.

List calls give names; a Describe is made only for the kinds whose rules need
fields the list summary lacks. Describes of one region run on a small thread
pool: boto3 clients are thread-safe and adaptive retries pace them.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import boto3
from botocore.exceptions import BotoCoreError, ClientError

from collectors.aws.iam import RoleCache
from collectors.aws.iam import role_arns as _role_arns
from collectors.aws.session import client, error_code
from collectors.base import ApiCalls, CollectResult, RawRecord, ScopeError, ScopeUnit, one_line

# Errors that mean "the resource vanished between List and Describe": not a scope failure.
_GONE = {"ValidationException", "ResourceNotFound", "ResourceNotFoundException"}


@dataclass(frozen=True)
class AwsOptions:
    regions: tuple[str, ...] = ()
    job_window_days: int = 30
    describe_workers: int = 8
    collect_tags: bool = False


@dataclass(frozen=True)
class _Kind:
    """How to enumerate and describe one SageMaker resource kind."""

    record_type: str
    list_op: str
    list_key: str
    name_key: str
    describe_op: str
    describe_arg: str
    arn_key: str
    jobs: bool = False


_KINDS: tuple[_Kind, ...] = (
    _Kind("notebook_instance", "list_notebook_instances", "NotebookInstances", "NotebookInstanceName",
          "describe_notebook_instance", "NotebookInstanceName", "NotebookInstanceArn"),
    _Kind("model", "list_models", "Models", "ModelName", "describe_model", "ModelName", "ModelArn"),
    _Kind("endpoint_config", "list_endpoint_configs", "EndpointConfigs", "EndpointConfigName",
          "describe_endpoint_config", "EndpointConfigName", "EndpointConfigArn"),
    _Kind("endpoint", "list_endpoints", "Endpoints", "EndpointName", "describe_endpoint", "EndpointName",
          "EndpointArn"),
    _Kind("training_job", "list_training_jobs", "TrainingJobSummaries", "TrainingJobName",
          "describe_training_job", "TrainingJobName", "TrainingJobArn", jobs=True),
)


def _strip_metadata(resp: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in resp.items() if k != "ResponseMetadata"}


@dataclass
class AwsCollector:
    """Collects SageMaker records; scope units are planned from the session's account and regions."""

    options: AwsOptions = field(default_factory=AwsOptions)
    session: boto3.Session = field(default_factory=boto3.Session)
    provider: str = "aws"
    page_size: int | None = None   # None: the service default; tests set it small to exercise paging

    _roles: RoleCache = field(default_factory=lambda: RoleCache())

    def plan(self) -> tuple[list[ScopeUnit], list[ScopeError]]:
        calls = ApiCalls()
        try:
            account = client(self.session, "sts", self._default_region(), calls).get_caller_identity()["Account"]
        except (ClientError, BotoCoreError) as exc:
            return [], [ScopeError(provider="aws", scope="aws", error=f"cannot identify the account: {one_line(exc)}")]
        regions = self.options.regions or (self._default_region(),)
        units = [
            ScopeUnit(provider="aws", scope=f"aws:{account}:{r}", account=account, region=r) for r in regions
        ]
        return units, []

    def _default_region(self) -> str:
        return self.session.region_name or "us-east-1"

    def collect(self, unit: ScopeUnit) -> CollectResult:
        calls = ApiCalls()
        result = CollectResult(unit=unit)
        sm = client(self.session, "sagemaker", unit.region, calls)
        for kind in _KINDS:
            try:
                names = list(self._list(sm, kind))
            except (ClientError, BotoCoreError) as exc:
                result.errors.append(self._error(unit, f"{kind.list_op}: {one_line(exc)}"))
                continue
            self._describe(sm, kind, names, unit, result)
        roles = sorted({arn for r in result.records for arn in _role_arns(r)})
        if roles:
            iam = client(self._session_for(unit), "iam", None, calls)
            result.identities = [self._roles.get(iam, arn, unit.account) for arn in roles]
        result.api_calls = calls.as_dict()
        return result

    def _session_for(self, _unit: ScopeUnit) -> boto3.Session:
        return self.session

    def _list(self, sm: Any, kind: _Kind) -> Iterator[str]:
        kwargs: dict[str, Any] = {}
        if kind.jobs:
            since = dt.datetime.now(dt.UTC) - dt.timedelta(days=self.options.job_window_days)
            kwargs["CreationTimeAfter"] = since
        if self.page_size:
            kwargs["PaginationConfig"] = {"PageSize": self.page_size}
        for page in sm.get_paginator(kind.list_op).paginate(**kwargs):
            for item in page.get(kind.list_key, []):
                yield item[kind.name_key]

    def _describe(self, sm: Any, kind: _Kind, names: list[str], unit: ScopeUnit, result: CollectResult) -> None:
        describe: Callable[..., dict[str, Any]] = getattr(sm, kind.describe_op)

        def one(name: str) -> dict[str, Any] | str | None:
            try:
                data = _strip_metadata(describe(**{kind.describe_arg: name}))
                if self.options.collect_tags and "Tags" not in data:
                    data["Tags"] = [
                        t for page in sm.get_paginator("list_tags").paginate(ResourceArn=data[kind.arn_key])
                        for t in page.get("Tags", [])
                    ]
                return data
            except ClientError as exc:
                if error_code(exc) in _GONE:
                    return None
                return f"{kind.describe_op} {name}: {one_line(exc)}"
            except BotoCoreError as exc:
                return f"{kind.describe_op} {name}: {one_line(exc)}"

        with ThreadPoolExecutor(max_workers=max(1, self.options.describe_workers)) as pool:
            for outcome in pool.map(one, names):
                if isinstance(outcome, str):
                    result.errors.append(self._error(unit, outcome))
                elif outcome is not None:
                    result.records.append(
                        RawRecord(provider="aws", type=kind.record_type, account=unit.account,
                                  region=unit.region, data=outcome)
                    )

    @staticmethod
    def _error(unit: ScopeUnit, text: str) -> ScopeError:
        return ScopeError(provider="aws", scope=unit.scope, error=text)
