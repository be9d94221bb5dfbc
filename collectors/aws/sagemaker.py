"""AWS collector (SageMaker and Bedrock): one account x region per scope unit.

The kinds read, and with which calls, are the rows of ``kinds.KINDS``; Bedrock's are read only in regions
where botocore's partition data offers it. List calls give names; a Describe is made only for the kinds whose
rules need fields the list summary lacks (user profiles, spaces, model package groups and monitoring schedules
are read from their list pages alone), and SageMaker Search pages stand in for the describes of models and
endpoints (100 a page). Kinds that only matter next to another kind are listed only when that kind exists in the
region (monitoring schedules next to endpoints, Studio user profiles and spaces next to domains). Tags come from
one paged tagging-API call per region, and only when a rule needs them (``required_tags``).

A region's calls run as one task graph (``collectors/tasks.py``) on ``describe_workers`` threads sharing one
client per service (boto3 clients are thread-safe), each request paced by the token bucket of its service in
that account and region (``collectors/ratelimit.py``), with botocore's adaptive retries behind it. Model package
groups' policies are read in it as soon as the groups are listed, and the roles and buckets the records name as
soon as a record names them (``joins.py``).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import boto3
from botocore.exceptions import BotoCoreError, ClientError, ConnectTimeoutError, EndpointConnectionError

from aispm.collectors.aws.accounts import Sessions, TargetError, account_of, enabled_regions, org_accounts
from aispm.collectors.aws.attached import agent_knowledge_bases, data_sources, invocation_logging, lifecycle_configs
from aispm.collectors.aws.buckets import BucketReader, bucket_of, s3_locations
from aispm.collectors.aws.iam import RoleCache
from aispm.collectors.aws.joins import RegionJoins
from aispm.collectors.aws.kinds import KINDS, MONITORING_LISTED, ROWS, AwsKind
from aispm.collectors.aws.registry import GroupGone, group_policy
from aispm.collectors.aws.session import GONE, client, error_code, strip_metadata
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
from aispm.collectors.ratelimit import RateLimits
from aispm.collectors.tasks import TaskGraph

# SageMaker list calls accept at most 100 results per page (the service default is 10); Bedrock's, 1000.
MAX_PAGE = 100
BEDROCK_PAGE = 1000


@dataclass
class _Row:
    """What one kind-table row produced in a region, gathered as its tasks finish."""

    kind: AwsKind
    started: bool = False
    items: list[dict[str, Any]] | None = None
    found: list[RawRecord] = field(default_factory=list)   # from the list or Search pages
    described: list[RawRecord | None] | None = None   # in list order; None where gone or failed
    described_errors: list[tuple[int, ScopeError]] = field(default_factory=list)
    extra: list[RawRecord] = field(default_factory=list)
    errors: list[ScopeError] = field(default_factory=list)

    def records(self) -> list[RawRecord]:
        self.errors.extend(e for _, e in sorted(self.described_errors, key=lambda pair: pair[0]))
        self.described_errors = []
        return self.found + [r for r in self.described or () if r is not None] + self.extra


@dataclass(frozen=True)
class AwsOptions:
    regions: tuple[str, ...] = ()
    all_regions: bool = False
    role_arns: tuple[str, ...] = ()
    org: bool = False
    external_id: str | None = None
    member_role_name: str = "aispm-member-read"
    job_window_days: int = 30
    describe_workers: int = 16
    workers: int = 8
    collect_tags: bool = False
    now: Clock = utc_now   # the job window counts back from it (CollectOptions.now)


@dataclass
class AwsCollector:
    """Collects SageMaker records from every target account x region."""

    options: AwsOptions = field(default_factory=AwsOptions)
    session: boto3.Session = field(default_factory=boto3.Session)
    provider: ProviderName = "aws"
    page_size: int | None = None   # None: the largest page; tests set it small to exercise paging
    known_accounts: set[str] = field(default_factory=set)   # scanned + Organization accounts (IAM-004)

    _roles: RoleCache = field(default_factory=lambda: RoleCache())
    _buckets: BucketReader = field(default_factory=BucketReader)   # each bucket read once per scan
    _plan_calls: ApiCalls = field(default_factory=ApiCalls)   # planning, AssumeRole renewals, IAM reads
    _iam_clients: dict[str, tuple[boto3.Session, Any]] = field(default_factory=dict)   # account -> (session, IAM)
    _iam_lock: threading.Lock = field(default_factory=threading.Lock)
    _plan_calls_reported: dict[str, dict[str, int]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _sessions: Sessions | None = None
    limits: RateLimits = field(default_factory=RateLimits)   # one bucket per service per account and region

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
            clients = {"sagemaker": self.client(session, "sagemaker", unit, calls)}
            if self._offered("bedrock", unit.region):   # partition data names no separate bedrock-agent regions
                clients["bedrock"] = self.client(session, "bedrock", unit, calls)
                clients["bedrock-agent"] = self.client(session, "bedrock-agent", unit, calls)
            result = self.collect_region(clients, session, unit, calls)
        calls.merge(self._unreported_session_calls())
        result.api_calls = calls.as_dict()
        return result

    def client(self, session: boto3.Session, service: str, unit: ScopeUnit, calls: ApiCalls) -> Any:
        """A counting client of ``service`` in the unit's region, paced by the account-and-region's limit."""
        return client(session, service, unit.region, calls, self.limits, f"{unit.account}:{unit.region}")

    def _offered(self, service: str, region: str) -> bool:
        """Whether botocore's partition data lists ``service`` in ``region`` (Bedrock is not in every region)."""
        return region in self.session.get_available_regions(service, partition_name=self._partition())

    def _unreported_session_calls(self) -> dict[str, dict[str, int]]:
        """Calls made outside any unit (planning, AssumeRole) since the last unit reported them."""
        with self._lock:
            now = self._plan_calls.as_dict()
            before = self._plan_calls_reported
            self._plan_calls_reported = now
        return {p: {op: n - before.get(p, {}).get(op, 0) for op, n in ops.items()
                    if n > before.get(p, {}).get(op, 0)} for p, ops in now.items()}

    def collect_region(self, clients: Mapping[str, Any], session: boto3.Session, unit: ScopeUnit,
                       calls: ApiCalls) -> CollectResult:
        """Collect one region with the given clients (boto3 client name -> client counting into ``calls``);
        the kinds of a client that is not given (a service not offered in the region) are not read.

        Every list, search and describe of the region is a task on one pool of ``describe_workers``: lists of
        all kinds start together (after one probe per client, so an unreachable endpoint fails once), and each
        describe starts as soon as its list page is in. Records and errors come out in kind-table order. With
        one worker the calls are made one after another in kind-table order (each list, then its describes)."""
        result = CollectResult(unit=unit)
        rows: list[_Row] = [_Row(kind) for kind in KINDS]
        unreachable: set[str] = set()
        logging_config: list[Any] = []
        serial = self.options.describe_workers <= 1
        joins = RegionJoins(unit.account, self._roles, self._buckets, iam=lambda acct: self._iam(acct, unit.account),
                            make_s3=lambda: (self.client(session, "s3", unit, calls),
                                             self.client(session, "s3control", unit, calls)))
        prefetch = None if serial else joins   # serially, each kind's calls stay together, joins last
        with TaskGraph(self.options.describe_workers) as graph:
            probes: dict[str, list[_Row]] = {}

            def start(row: _Row) -> None:
                row.started = True
                graph.add(lambda: list(self._list(clients[row.kind.client], row.kind)), then=listed(row), first=True)

            def listed(row: _Row) -> Callable[[Any, Exception | None], None]:
                def then(items: list[dict[str, Any]] | None, exc: Exception | None) -> None:
                    kind = row.kind
                    if isinstance(exc, ClientError | BotoCoreError):
                        row.errors.append(self._error(unit, f"{kind.list_op}: {one_line(exc)}"))
                        if isinstance(exc, EndpointConnectionError | ConnectTimeoutError):
                            unreachable.add(kind.client)   # every other call to this endpoint would retry in vain
                    elif exc is not None:
                        raise exc
                    else:
                        self._listed(graph, clients[kind.client], row, items or [], unit, prefetch)
                    if serial:
                        return
                    if kind.client not in unreachable:
                        for other in probes.pop(kind.client, []):   # this row was the client's probe
                            start(other)
                        for dependent in rows:
                            if dependent.kind.needs == kind.kind and items and not dependent.started:
                                start(dependent)
                return then

            def logging() -> None:
                graph.add(lambda: clients["bedrock"].get_model_invocation_logging_configuration(),
                          then=lambda answer, exc: logging_config.append(exc if exc is not None else answer))

            if serial:
                for row in rows:
                    needed = not row.kind.needs or any(r.items for r in rows if r.kind.kind == row.kind.needs)
                    if row.kind.client in clients and row.kind.client not in unreachable and needed:
                        start(row)
                        graph.run()
            else:
                for row in rows:
                    if row.kind.client in clients and not row.kind.needs:
                        probes.setdefault(row.kind.client, []).append(row)
                for client_rows in list(probes.values()):
                    start(client_rows.pop(0))
                if clients.get("bedrock") is not None:
                    logging()
                graph.run()
            for row in rows:
                result.records.extend(row.records())
                result.errors.extend(row.errors)
                if row.kind.jobs and row.items is not None:
                    result.partial_kinds[row.kind.kind] = f"created in the last {self.options.job_window_days} days"
            if clients.get("sagemaker") is not None and "sagemaker" not in unreachable:
                lifecycle_configs(clients["sagemaker"], result, self._error, graph.map)
            if clients.get("bedrock-agent") is not None and "bedrock-agent" not in unreachable:
                data_sources(clients["bedrock-agent"], result, self._error, graph.map, self.page_size or BEDROCK_PAGE)
                agent_knowledge_bases(clients["bedrock-agent"], result, self._error, graph.map,
                                      self.page_size or BEDROCK_PAGE)
            if serial and clients.get("bedrock") is not None and "bedrock" not in unreachable:
                logging()
                graph.run()
            if logging_config and "bedrock" not in unreachable:
                invocation_logging(logging_config[0], result, self._error, self._partition())
            self._bucket_access(joins, result, graph)
            if self.options.collect_tags:
                self._tags(session, unit, calls, result)
            result.identities = self._identities(joins, unit, result.records, graph)
        result.api_calls = calls.as_dict()
        return result

    def _listed(self, graph: TaskGraph, api: Any, row: _Row, items: list[dict[str, Any]], unit: ScopeUnit,
                prefetch: RegionJoins | None) -> None:
        """A kind's list is in: keep the summaries, or start its search and describes (and, with ``prefetch``,
        the reads of the roles and buckets each record is the first to name)."""
        kind = row.kind
        row.items = items
        if kind.kind == "monitoring_schedule":
            row.extra.append(self._record(MONITORING_LISTED, {}, unit))
        if not kind.describe_op:
            row.found = self._summaries(kind, items, unit)
            if prefetch is not None:
                prefetch.prefetch(graph, row.found)
            if kind.kind == "model_package_group":
                self._group_policies(graph, api, row, unit)
            return
        names = [str(i[kind.list_id]) for i in items]
        if not (kind.search and items):
            self._describe(graph, api, row, names, unit, prefetch)
            return

        def searched(found: dict[str, dict[str, Any]] | None, exc: Exception | None) -> None:
            if exc is not None and not isinstance(exc, ClientError | BotoCoreError):
                raise exc
            found = found or {}
            row.found = [self._record(kind.kind, d, unit) for d in found.values()]
            if prefetch is not None:
                prefetch.prefetch(graph, row.found)
            self._describe(graph, api, row, [n for n in names if n not in found], unit, prefetch)

        graph.add(self._search, api, kind, items, then=searched, first=True)

    def _describe(self, graph: TaskGraph, api: Any, row: _Row, names: list[str], unit: ScopeUnit,
                  prefetch: RegionJoins | None) -> None:
        """One describe task per name; a resource gone since the list is skipped, a failure is a scope error."""
        kind = row.kind
        describe: Callable[..., dict[str, Any]] = getattr(api, str(kind.describe_op))
        slots: list[RawRecord | None] = [None] * len(names)
        row.described = slots
        for index, name in enumerate(names):
            def then(answer: dict[str, Any] | None, exc: Exception | None, index: int = index,
                     name: str = name) -> None:
                if isinstance(exc, ClientError) and error_code(exc) in GONE:
                    return
                if isinstance(exc, ClientError | BotoCoreError):
                    row.described_errors.append((index, self._error(unit, f"{kind.describe_op} {name}: "
                                                                          f"{one_line(exc)}")))
                    return
                if exc is not None:
                    raise exc
                answer = strip_metadata(answer or {})
                data = dict(answer[kind.describe_key]) if kind.describe_key else answer
                slots[index] = record = self._record(kind.kind, data, unit)
                if prefetch is not None:
                    prefetch.prefetch(graph, [record])

            graph.add(lambda name=name: describe(**{kind.describe_arg: name}), then=then)

    def _list(self, api: Any, kind: AwsKind) -> Iterator[dict[str, Any]]:
        page = self.page_size or (MAX_PAGE if kind.client == "sagemaker" else BEDROCK_PAGE)
        kwargs: dict[str, Any] = {"PaginationConfig": {"PageSize": page}}
        if kind.jobs:
            kwargs["CreationTimeAfter"] = window_start(self.options.now, self.options.job_window_days)
        for page_ in api.get_paginator(kind.list_op).paginate(**kwargs):
            yield from page_.get(kind.list_key, [])

    def _search(self, sm: Any, kind: AwsKind, items: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
        """Full records of the listed resources from Search pages, keyed by name.

        The Search index is eventually consistent, so the list stays the authority: a record counts only
        when its ``fresh_key`` (LastModifiedTime; CreationTime for immutable models) matches the list's. Search
        failing (e.g. no sagemaker:Search permission) only means every resource is described instead.
        """
        listed = {str(i[kind.list_id]): i.get(kind.fresh_key) for i in items}
        path = (kind.search_path or str(kind.search)).split(".")
        found: dict[str, dict[str, Any]] = {}
        kwargs: dict[str, Any] = {"Resource": kind.search, "PaginationConfig": {"PageSize": self.page_size or MAX_PAGE}}
        if kind.jobs:   # only the window's jobs, as the list: Search takes ISO 8601 without a zone, in UTC
            since = window_start(self.options.now, self.options.job_window_days)
            kwargs["SearchExpression"] = {"Filters": [{"Name": "CreationTime", "Operator": "GreaterThanOrEqualTo",
                                                       "Value": since.strftime("%Y-%m-%dT%H:%M:%S")}]}
        try:
            pages = sm.get_paginator("search").paginate(**kwargs)
            for page in pages:
                for res in page.get("Results", []):
                    data: Any = res
                    for part in path:
                        data = data.get(part) if isinstance(data, dict) else None
                    if not isinstance(data, dict):
                        continue
                    name = str(data.get(kind.list_id, ""))
                    if name in listed and listed[name] is not None and data.get(kind.fresh_key) == listed[name]:
                        found[name] = data
        except (ClientError, BotoCoreError):
            return {}
        return found

    def _summaries(self, kind: AwsKind, items: list[dict[str, Any]], unit: ScopeUnit) -> list[RawRecord]:
        base = f"arn:{self._partition()}:sagemaker:{unit.region}:{unit.account}"
        out = []
        for item in items:
            data = dict(item)
            if kind.arn_format and kind.uid_key not in data:
                data[kind.uid_key] = kind.arn_format.format(base=base, **data)
            out.append(self._record(kind.kind, data, unit))
        return out

    def _partition(self) -> str:
        try:
            return self.sessions.partition
        except (ClientError, BotoCoreError):
            return "aws"

    def _group_policies(self, graph: TaskGraph, sm: Any, row: _Row, unit: ScopeUnit) -> None:
        """Each listed model package group's resource policy (in no list or search), read as the describes are;
        a group gone since the list is dropped, a failure is a scope error (in list order)."""
        groups = list(row.found)
        gone: set[int] = set()
        waiting = [len(groups)]

        def read(index: int, rec: RawRecord) -> None:
            name = str(rec.data["ModelPackageGroupName"])

            def then(policy: str | None, exc: Exception | None) -> None:
                if isinstance(exc, GroupGone):
                    gone.add(id(rec))
                elif isinstance(exc, ClientError | BotoCoreError):
                    rec.data["PolicyError"] = one_line(exc)
                    row.described_errors.append((index, self._error(
                        unit, f"get_model_package_group_policy {name}: {one_line(exc)}")))
                elif exc is not None:
                    raise exc
                else:
                    rec.data["ResourcePolicy"] = policy
                waiting[0] -= 1
                if not waiting[0]:
                    row.found = [r for r in groups if id(r) not in gone]

            graph.add(lambda: group_policy(sm, name), then=then)

        for index, rec in enumerate(groups):
            read(index, rec)

    def _bucket_access(self, joins: RegionJoins, result: CollectResult, graph: TaskGraph) -> None:
        """Join ``BucketAccess`` (bucket -> verdict) to every record with S3 locations (AISPM-PRV-003)."""
        located = [(r, {bucket_of(u) for u in s3_locations(r.type, r.data)}) for r in result.records]
        located = [(r, b) for r, b in located if b]
        if not located:
            return
        verdicts = joins.verdicts(set().union(*(b for _, b in located)), graph.map)
        for r, buckets in located:
            r.data["BucketAccess"] = {b: verdicts[b] for b in sorted(buckets)}

    def _tags(self, session: boto3.Session, unit: ScopeUnit, calls: ApiCalls, result: CollectResult) -> None:
        try:
            tags = region_tags(self.client(session, "resourcegroupstaggingapi", unit, calls),
                               self.page_size or MAX_PAGE)
        except (ClientError, BotoCoreError) as exc:
            result.errors.append(self._error(unit, f"tag:GetResources: {one_line(exc)}"))
            for r in result.records:
                r.data.setdefault("TagsError", one_line(exc))
            return
        for r in result.records:
            key = ROWS[r.type].uid_key if r.type in ROWS else None
            if key and "Tags" not in r.data and r.data.get(key):
                r.data["Tags"] = tags.get(str(r.data[key]).lower(), [])

    def _identities(self, joins: RegionJoins, unit: ScopeUnit, records: list[RawRecord],
                    graph: TaskGraph) -> list[RawRecord]:
        """The identity record of every role the records name (read once per scan, concurrently)."""
        roles = sorted({arn for r in records if r.type in ROWS and (arn := ROWS[r.type].identity_of(r.data))})
        return graph.map(joins.role, roles)

    def _iam(self, role_account: str, unit_account: str) -> Any | None:
        """The scan's IAM client in ``role_account`` (IAM is global: one for all its regions, remade when the
        account's assumed role is renewed; its calls are reported with the session's), or None when the scan
        cannot reach that account (an AssumeRole that fails is tried again by the next unit that asks)."""
        if role_account != unit_account and not self.sessions.known(role_account):
            return None
        try:
            session = self.sessions.session(role_account)
        except (TargetError, ClientError, BotoCoreError):
            return None
        with self._iam_lock:
            held = self._iam_clients.get(role_account)
            if held is None or held[0] is not session:
                held = self._iam_clients[role_account] = (
                    session, client(session, "iam", None, self._plan_calls, self.limits, role_account))
            return held[1]

    @staticmethod
    def _record(type_: str, data: dict[str, Any], unit: ScopeUnit) -> RawRecord:
        return RawRecord(provider="aws", type=type_, account=unit.account, region=unit.region, data=data)

    @staticmethod
    def _error(unit: ScopeUnit, text: str) -> ScopeError:
        return ScopeError(provider="aws", scope=unit.scope, error=text)
