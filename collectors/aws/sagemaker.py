"""AWS SageMaker collector: one account x region per scope unit.

List calls give names; a Describe is made only for the kinds whose rules need
fields the list summary lacks (user profiles, spaces, model package groups and
monitoring schedules are read from their list pages alone). Kinds that only
matter next to another kind are listed only when that kind exists in the
region (monitoring schedules next to endpoints, Studio user profiles and
spaces next to domains). Tags come from one paged tagging-API call per region,
and only when a rule needs them (``required_tags``). Describes of one region
run on a small thread pool: boto3 clients are thread-safe and adaptive retries
pace them.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import boto3
from botocore.exceptions import BotoCoreError, ClientError, ConnectTimeoutError, EndpointConnectionError

from aispm.collectors.aws.accounts import Sessions, TargetError, account_of, enabled_regions, org_accounts
from aispm.collectors.aws.iam import RoleCache
from aispm.collectors.aws.iam import role_arns as _role_arns
from aispm.collectors.aws.registry import GroupGone, group_policy
from aispm.collectors.aws.session import client, error_code
from aispm.collectors.aws.tags import region_tags
from aispm.collectors.base import (
    ApiCalls,
    Clock,
    CollectResult,
    ProviderName,
    RawRecord,
    ScopeError,
    ScopeUnit,
    one_line,
    utc_now,
    window_start,
)

# Errors that mean "the resource vanished between List and Describe": not a scope failure.
_GONE = {"ValidationException", "ResourceNotFound", "ResourceNotFoundException"}
# SageMaker list calls accept at most 100 results per page; the service default is 10.
MAX_PAGE = 100


@dataclass(frozen=True)
class AwsOptions:
    regions: tuple[str, ...] = ()
    all_regions: bool = False
    role_arns: tuple[str, ...] = ()
    org: bool = False
    external_id: str | None = None
    member_role_name: str = "aispm-member-read"
    job_window_days: int = 30
    describe_workers: int = 8
    workers: int = 8
    collect_tags: bool = False
    now: Clock = utc_now   # the job window counts back from it (CollectOptions.now)


@dataclass(frozen=True)
class _Kind:
    """How to enumerate (and, when its rules need it, describe) one SageMaker resource kind."""

    record_type: str
    list_op: str
    list_key: str
    name_key: str
    arn_key: str
    describe_op: str | None = None
    describe_arg: str = ""
    jobs: bool = False
    search: str | None = None           # sagemaker:Search resource that serves the describe by pages
    needs: str | None = None            # listed only when this record type exists in the region
    arn_format: str | None = None       # ARN built from list fields when the summary lacks one


_KINDS: tuple[_Kind, ...] = (
    _Kind("notebook_instance", "list_notebook_instances", "NotebookInstances", "NotebookInstanceName",
          "NotebookInstanceArn", "describe_notebook_instance", "NotebookInstanceName"),
    _Kind("model", "list_models", "Models", "ModelName", "ModelArn", "describe_model", "ModelName"),
    _Kind("endpoint_config", "list_endpoint_configs", "EndpointConfigs", "EndpointConfigName",
          "EndpointConfigArn", "describe_endpoint_config", "EndpointConfigName"),
    # Only EndpointConfigName is needed beyond the list (the endpoint -> config -> model chain of the
    # inventory): Search returns it 100 endpoints a page; an endpoint it lacks or shows stale is described.
    _Kind("endpoint", "list_endpoints", "Endpoints", "EndpointName", "EndpointArn", "describe_endpoint",
          "EndpointName", search="Endpoint"),
    _Kind("training_job", "list_training_jobs", "TrainingJobSummaries", "TrainingJobName", "TrainingJobArn",
          "describe_training_job", "TrainingJobName", jobs=True),
    _Kind("processing_job", "list_processing_jobs", "ProcessingJobSummaries", "ProcessingJobName",
          "ProcessingJobArn", "describe_processing_job", "ProcessingJobName", jobs=True),
    _Kind("studio_domain", "list_domains", "Domains", "DomainId", "DomainArn", "describe_domain", "DomainId"),
    _Kind("user_profile", "list_user_profiles", "UserProfiles", "UserProfileName", "UserProfileArn",
          needs="studio_domain", arn_format="{base}:user-profile/{DomainId}/{UserProfileName}"),
    _Kind("space", "list_spaces", "Spaces", "SpaceName", "SpaceArn",
          needs="studio_domain", arn_format="{base}:space/{DomainId}/{SpaceName}"),
    _Kind("model_package_group", "list_model_package_groups", "ModelPackageGroupSummaryList",
          "ModelPackageGroupName", "ModelPackageGroupArn"),
    _Kind("monitoring_schedule", "list_monitoring_schedules", "MonitoringScheduleSummaries",
          "MonitoringScheduleName", "MonitoringScheduleArn", needs="endpoint"),
)

# Marks that a region's monitoring schedules were listed, so "no schedule" is a fact, not a gap.
MONITORING_LISTED = "monitoring_schedules_listed"


def _strip_metadata(resp: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in resp.items() if k != "ResponseMetadata"}


@dataclass
class AwsCollector:
    """Collects SageMaker records from every target account x region."""

    options: AwsOptions = field(default_factory=AwsOptions)
    session: boto3.Session = field(default_factory=boto3.Session)
    provider: ProviderName = "aws"
    page_size: int | None = None   # None: the largest page; tests set it small to exercise paging
    known_accounts: set[str] = field(default_factory=set)   # scanned + Organization accounts (IAM-004)

    _roles: RoleCache = field(default_factory=lambda: RoleCache())
    _plan_calls: ApiCalls = field(default_factory=ApiCalls)   # planning, AssumeRole renewals
    _plan_calls_reported: dict[str, dict[str, int]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _sessions: Sessions | None = None

    @property
    def sessions(self) -> Sessions:
        if self._sessions is None:
            self._sessions = Sessions(self.session, self.options.external_id, self._plan_calls)
        return self._sessions

    def plan(self) -> tuple[list[ScopeUnit], list[ScopeError]]:
        sessions = self.sessions
        try:
            caller = sessions.caller()["Account"]
        except (ClientError, BotoCoreError) as exc:
            return [], [ScopeError(provider="aws", scope="aws", error=f"cannot identify the account: {one_line(exc)}")]
        errors: list[ScopeError] = []
        targets: dict[str, str | None] = {}
        if not self.options.role_arns and not self.options.org:
            targets[caller] = None
        for arn in self.options.role_arns:
            try:
                targets[account_of(arn)] = None if account_of(arn) == caller else arn
            except TargetError as exc:
                errors.append(ScopeError(provider="aws", scope=f"aws:{arn}", error=str(exc)))
        if self.options.org:
            try:
                active, every = org_accounts(sessions)
            except (ClientError, BotoCoreError) as exc:
                errors.append(ScopeError(provider="aws", scope="aws:organization",
                                         error=f"cannot list the Organization's accounts: {one_line(exc)}"))
                active, every = [caller], []
            self.known_accounts.update(every)
            for acct in active:
                role = None if acct == caller else \
                    f"arn:{sessions.partition}:iam::{acct}:role/{self.options.member_role_name}"
                targets.setdefault(acct, role)
        self.known_accounts.update(targets)
        for acct, role in targets.items():
            sessions.register(acct, role)

        def resolve(item: tuple[str, str | None]) -> list[ScopeUnit] | ScopeError:
            acct, role = item
            try:
                regions = self._regions(sessions.session(acct, role))
            except TargetError as exc:
                return ScopeError(provider="aws", scope=f"aws:{acct}", error=str(exc))
            except (ClientError, BotoCoreError) as exc:
                return ScopeError(provider="aws", scope=f"aws:{acct}", error=one_line(exc))
            params = {"role_arn": role} if role else {}
            return [ScopeUnit(provider="aws", scope=f"aws:{acct}:{r}", account=acct, region=r, params=params)
                    for r in regions]

        units: list[ScopeUnit] = []
        with ThreadPoolExecutor(max_workers=max(1, self.options.workers)) as pool:
            for outcome in pool.map(resolve, sorted(targets.items())):
                if isinstance(outcome, ScopeError):
                    errors.append(outcome)
                else:
                    units.extend(outcome)
        return units, errors

    def _regions(self, session: boto3.Session) -> list[str]:
        if self.options.regions:
            return list(self.options.regions)
        if self.options.all_regions:
            return enabled_regions(session, self.sessions.partition, self.sessions.region, self._plan_calls)
        return [self.sessions.region]

    def collect(self, unit: ScopeUnit) -> CollectResult:
        calls = ApiCalls()
        try:
            session = self.sessions.session(unit.account, unit.params.get("role_arn"))
        except (TargetError, ClientError, BotoCoreError) as exc:
            result = CollectResult(unit=unit, errors=[self._error(unit, one_line(exc))])
        else:
            result = self.collect_region(client(session, "sagemaker", unit.region, calls), session, unit, calls)
        calls.merge(self._unreported_session_calls())
        result.api_calls = calls.as_dict()
        return result

    def _unreported_session_calls(self) -> dict[str, dict[str, int]]:
        """Calls made outside any unit (planning, AssumeRole) since the last unit reported them."""
        with self._lock:
            now = self._plan_calls.as_dict()
            before = self._plan_calls_reported
            self._plan_calls_reported = now
        return {p: {op: n - before.get(p, {}).get(op, 0) for op, n in ops.items()
                    if n > before.get(p, {}).get(op, 0)} for p, ops in now.items()}

    def collect_region(self, sm: Any, session: boto3.Session, unit: ScopeUnit, calls: ApiCalls) -> CollectResult:
        """Collect one region with the given SageMaker client (which counts its calls into ``calls``)."""
        result = CollectResult(unit=unit)
        for kind in _KINDS:
            if kind.needs and not any(r.type == kind.needs for r in result.records):
                continue
            try:
                items = list(self._list(sm, kind))
            except (ClientError, BotoCoreError) as exc:
                result.errors.append(self._error(unit, f"{kind.list_op}: {one_line(exc)}"))
                if isinstance(exc, EndpointConnectionError | ConnectTimeoutError):
                    break   # the region's endpoint is unreachable: every other call would retry in vain
                continue
            if kind.jobs:   # job record types are their asset kinds
                result.partial_kinds[kind.record_type] = f"created in the last {self.options.job_window_days} days"
            if kind.describe_op:
                found = self._search(sm, kind, items) if kind.search and items else {}
                result.records.extend(self._record(kind.record_type, d, unit) for d in found.values())
                self._describe(sm, kind, [i[kind.name_key] for i in items if i[kind.name_key] not in found],
                               unit, result)
            else:
                result.records.extend(self._summaries(kind, items, unit))
            if kind.record_type == "monitoring_schedule":
                result.records.append(self._record(MONITORING_LISTED, {}, unit))
        self._group_policies(sm, unit, result)
        if self.options.collect_tags:
            self._tags(session, unit, calls, result)
        result.identities = self._identities(unit, calls, result.records)
        result.api_calls = calls.as_dict()
        return result

    def _list(self, sm: Any, kind: _Kind) -> Iterator[dict[str, Any]]:
        kwargs: dict[str, Any] = {"PaginationConfig": {"PageSize": self.page_size or MAX_PAGE}}
        if kind.jobs:
            kwargs["CreationTimeAfter"] = window_start(self.options.now, self.options.job_window_days)
        for page in sm.get_paginator(kind.list_op).paginate(**kwargs):
            yield from page.get(kind.list_key, [])

    def _search(self, sm: Any, kind: _Kind, items: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
        """Full records of the listed resources from Search pages, keyed by name.

        The Search index is eventually consistent, so the list stays the authority: a record counts only
        when its LastModifiedTime matches the list's. Search failing (e.g. no sagemaker:Search permission)
        only means every resource is described instead.
        """
        listed = {str(i[kind.name_key]): i.get("LastModifiedTime") for i in items}
        found: dict[str, dict[str, Any]] = {}
        try:
            pages = sm.get_paginator("search").paginate(
                Resource=kind.search, PaginationConfig={"PageSize": self.page_size or MAX_PAGE})
            for page in pages:
                for res in page.get("Results", []):
                    data = res.get(str(kind.search)) or {}
                    name = str(data.get(kind.name_key, ""))
                    if name in listed and data.get("LastModifiedTime") == listed[name]:
                        found[name] = data
        except (ClientError, BotoCoreError):
            return {}
        return found

    def _summaries(self, kind: _Kind, items: list[dict[str, Any]], unit: ScopeUnit) -> list[RawRecord]:
        base = f"arn:{self._partition()}:sagemaker:{unit.region}:{unit.account}"
        out = []
        for item in items:
            data = dict(item)
            if kind.arn_format and kind.arn_key not in data:
                data[kind.arn_key] = kind.arn_format.format(base=base, **data)
            out.append(self._record(kind.record_type, data, unit))
        return out

    def _partition(self) -> str:
        try:
            return self.sessions.partition
        except (ClientError, BotoCoreError):
            return "aws"

    def _describe(self, sm: Any, kind: _Kind, names: list[str], unit: ScopeUnit, result: CollectResult) -> None:
        describe: Callable[..., dict[str, Any]] = getattr(sm, str(kind.describe_op))

        def one(name: str) -> dict[str, Any] | str | None:
            try:
                return _strip_metadata(describe(**{kind.describe_arg: name}))
            except ClientError as exc:
                if error_code(exc) in _GONE:
                    return None
                return f"{kind.describe_op} {name}: {one_line(exc)}"
            except BotoCoreError as exc:
                return f"{kind.describe_op} {name}: {one_line(exc)}"

        self._fan_out(one, names, kind.record_type, unit, result)

    def _fan_out(self, one: Callable[[str], dict[str, Any] | str | None], names: list[str], record_type: str,
                 unit: ScopeUnit, result: CollectResult) -> None:
        if not names:
            return
        with ThreadPoolExecutor(max_workers=max(1, min(self.options.describe_workers, len(names)))) as pool:
            for outcome in pool.map(one, names):
                if isinstance(outcome, str):
                    result.errors.append(self._error(unit, outcome))
                elif outcome is not None:
                    result.records.append(self._record(record_type, outcome, unit))

    def _group_policies(self, sm: Any, unit: ScopeUnit, result: CollectResult) -> None:
        groups = [r for r in result.records if r.type == "model_package_group"]
        if not groups:
            return

        def one(rec: RawRecord) -> str | None:
            name = str(rec.data["ModelPackageGroupName"])
            try:
                rec.data["ResourcePolicy"] = group_policy(sm, name)
            except GroupGone:
                return "gone"
            except (ClientError, BotoCoreError) as exc:
                rec.data["PolicyError"] = one_line(exc)
                return f"get_model_package_group_policy {name}: {one_line(exc)}"
            return None

        with ThreadPoolExecutor(max_workers=max(1, min(self.options.describe_workers, len(groups)))) as pool:
            outcomes = list(pool.map(one, groups))
        gone = {id(r) for r, o in zip(groups, outcomes, strict=True) if o == "gone"}
        result.errors.extend(self._error(unit, o) for o in outcomes if o and o != "gone")
        result.records[:] = [r for r in result.records if id(r) not in gone]

    def _tags(self, session: boto3.Session, unit: ScopeUnit, calls: ApiCalls, result: CollectResult) -> None:
        try:
            tags = region_tags(client(session, "resourcegroupstaggingapi", unit.region, calls),
                               self.page_size or MAX_PAGE)
        except (ClientError, BotoCoreError) as exc:
            result.errors.append(self._error(unit, f"tag:GetResources: {one_line(exc)}"))
            for r in result.records:
                r.data.setdefault("TagsError", one_line(exc))
            return
        arn_keys = {k.record_type: k.arn_key for k in _KINDS}
        for r in result.records:
            key = arn_keys.get(r.type)
            if key and "Tags" not in r.data and r.data.get(key):
                r.data["Tags"] = tags.get(str(r.data[key]).lower(), [])

    def _identities(self, unit: ScopeUnit, calls: ApiCalls, records: list[RawRecord]) -> list[RawRecord]:
        roles = sorted({arn for r in records for arn in _role_arns(r)})
        clients: dict[str, Any] = {}
        out = []
        for arn in roles:
            role_account = arn.split(":")[4]
            if role_account not in clients:
                clients[role_account] = None
                if role_account == unit.account or self.sessions.known(role_account):
                    try:
                        clients[role_account] = client(self.sessions.session(role_account), "iam", None, calls)
                    except (TargetError, ClientError, BotoCoreError):
                        clients[role_account] = None
            out.append(self._roles.get(clients[role_account], arn, unit.account))
        return out

    @staticmethod
    def _record(type_: str, data: dict[str, Any], unit: ScopeUnit) -> RawRecord:
        return RawRecord(provider="aws", type=type_, account=unit.account, region=unit.region, data=data)

    @staticmethod
    def _error(unit: ScopeUnit, text: str) -> ScopeError:
        return ScopeError(provider="aws", scope=unit.scope, error=text)
