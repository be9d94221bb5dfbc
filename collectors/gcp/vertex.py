"""Google Vertex AI collector: one project x location per scope unit.

Every list returns whole resources, so no get follows a list. A unit's lists run together on a pool of
``scope_workers`` (after one probe list, so a project whose API is disabled answers once), each request paced
by the project and location's Vertex AI rate limit (``clients.py``). Records keep the
REST JSON exactly as Vertex serves it (camelCase, resource names with the
project number, proto3 defaults omitted), converted back from the client's
messages, so the mapper reads the same field paths as rules-v1.md.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import requests
from google.api_core import exceptions as gexc
from google.auth import exceptions as auth_exceptions
from google.protobuf import json_format

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
from aispm.collectors.gcp.buckets import IAM_CALL, BucketReader, bucket_of, gcs_locations
from aispm.collectors.gcp.clients import Clients, RetrySettings, default_credentials
from aispm.collectors.gcp.iam import PolicyCache, identity_records, project_number, service_accounts
from aispm.collectors.gcp.kinds import KINDS, GcpKind
from aispm.collectors.ratelimit import RateLimits
from aispm.collectors.tasks import TaskGraph

# Cloud answers and malformed payloads that fail one call (hence one scope), never the scan.
CALL_ERRORS: tuple[type[Exception], ...] = (
    gexc.GoogleAPICallError,
    gexc.RetryError,
    auth_exceptions.GoogleAuthError,
    requests.exceptions.RequestException,
    json_format.ParseError,
    ValueError,
)

Mapper = Callable[[Callable[[Any], Any], list[Any]], list[Any]]   # the unit's pool: [fn(i) for i in items], in order

_REQUEST_LINE = re.compile(r"^(GET|POST|PUT|PATCH|DELETE) \S+: ")


def describe(exc: BaseException) -> str:
    """One line for summary.json: HTTP code, Google's reason and message (never credentials)."""
    if isinstance(exc, gexc.RetryError):
        cause = exc.cause
        return f"still failing after retries: {describe(cause) if cause else one_line(exc)}"
    if isinstance(exc, gexc.GoogleAPICallError):
        reason = exc.reason or type(exc).__name__
        message = _REQUEST_LINE.sub("", str(exc.message))  # the REST client prefixes "GET <url>: "
        return one_line(Exception(f"{exc.code} {reason}: {message}"))
    return one_line(exc)


def service_disabled(exc: BaseException) -> bool:
    return isinstance(exc, gexc.GoogleAPICallError) and exc.reason == "SERVICE_DISABLED"


def not_offered(kind: GcpKind, exc: BaseException) -> bool:
    """A regional service (Agent Engine, RAG Engine) answering that it does not exist in this location:
    there is nothing to list, which is not a failure of the scope."""
    return kind.regional and isinstance(exc, (gexc.NotFound, gexc.MethodNotImplemented))


def _json(message: Any) -> dict[str, Any]:
    """Proto-plus or protobuf message -> the REST JSON Google sends (camelCase, defaults omitted)."""
    pb = type(message).pb(message) if hasattr(type(message), "pb") else message
    return dict(json_format.MessageToDict(pb))


@dataclass(frozen=True)
class GcpOptions:
    projects: tuple[str, ...] = ()
    locations: tuple[str, ...] = ()
    job_window_days: int = 30
    page_size: int | None = None
    workers: int = 8
    scope_workers: int = 16   # calls in flight within one project x location (CollectOptions.scope_workers)
    retry: RetrySettings = field(default_factory=RetrySettings)
    now: Clock = utc_now   # the job window counts back from it (CollectOptions.now)


class GcpCollector:
    """Collects Vertex AI records; ``credentials`` defaults to Application Default Credentials."""

    provider: ProviderName = "gcp"

    def __init__(self, options: GcpOptions | None = None, credentials: Any = None,
                 limits: RateLimits | None = None) -> None:
        self.options = options or GcpOptions()
        self.limits = limits or RateLimits()   # Vertex AI per project and location, Cloud Storage per project
        self.clients = Clients((lambda: credentials) if credentials is not None else default_credentials,
                               self.limits)
        self._retry = self.options.retry.policy()
        self._timeout = self.options.retry.call_timeout
        self._policies = PolicyCache(CALL_ERRORS, describe)
        self._buckets_lock = threading.Lock()
        self._bucket_reader: BucketReader | None = None

    # ------------------------------------------------------------------ planning

    def plan(self) -> tuple[list[ScopeUnit], list[ScopeError]]:
        calls = ApiCalls()
        try:
            _ = self.clients.credentials
        except auth_exceptions.GoogleAuthError as exc:
            return [], [ScopeError(provider="gcp", scope="gcp", error=f"no Google credentials: {one_line(exc)}")]
        units: list[ScopeUnit] = []
        errors: list[ScopeError] = []
        if self.options.projects:
            projects = []
            for ref in dict.fromkeys(self.options.projects):
                try:
                    projects.append(self._project_id(ref, calls))
                except CALL_ERRORS as exc:
                    errors.append(ScopeError(provider="gcp", scope=f"gcp:{ref}",
                                             error=f"projects.get: {describe(exc)}"))
        else:
            try:
                projects = self._active_projects(calls)
            except CALL_ERRORS as exc:
                return [], [ScopeError(provider="gcp", scope="gcp", error=f"projects.search: {describe(exc)}")]
        with ThreadPoolExecutor(max_workers=max(1, min(self.options.workers, len(projects) or 1))) as pool:
            for project, found in zip(projects, pool.map(lambda p: self._locations(p, calls), projects), strict=True):
                if isinstance(found, str):
                    errors.append(ScopeError(provider="gcp", scope=f"gcp:{project}", error=found))
                    continue
                units.extend(
                    ScopeUnit(provider="gcp", scope=f"gcp:{project}:{loc}", account=project, region=loc,
                              params={"project": project, "location": loc})
                    for loc in found
                )
        return units, errors

    def _active_projects(self, calls: ApiCalls) -> list[str]:
        from google.cloud.resourcemanager_v3 import Project

        pager = self.clients.projects().search_projects(
            request={"query": "state:ACTIVE"}, retry=self._retry, timeout=self._timeout)
        out: list[str] = []
        for page in pager.pages:
            calls.add("gcp", "resourcemanager.projects.search")
            out.extend(p.project_id for p in page.projects if p.state == Project.State.ACTIVE)
        return out

    def _project_id(self, ref: str, calls: ApiCalls) -> str:
        """Scope units and findings name projects by id; a project given by number is looked up once."""
        if not ref.isdigit():
            return ref
        project = self.clients.projects().get_project(name=f"projects/{ref}", retry=self._retry,
                                                      timeout=self._timeout)
        calls.add("gcp", "resourcemanager.projects.get")
        return str(project.project_id)

    def _locations(self, project: str, calls: ApiCalls) -> list[str] | str:
        """The locations to scan in ``project``, or why they could not be listed."""
        if self.options.locations:
            return list(dict.fromkeys(self.options.locations))
        from google.cloud.location import locations_pb2

        client = self.clients.vertex("endpoint", None)
        found: list[str] = []
        token = ""
        try:
            while True:
                request = locations_pb2.ListLocationsRequest(name=f"projects/{project}", page_token=token)
                response = client.list_locations(request=request, retry=self._retry, timeout=self._timeout)
                calls.add("gcp", "aiplatform.locations.list")
                found.extend(loc.location_id for loc in response.locations if loc.location_id)
                token = response.next_page_token
                if not token:
                    return found
        except CALL_ERRORS as exc:
            return f"locations.list: {describe(exc)}"

    # ------------------------------------------------------------------ collection

    def collect(self, unit: ScopeUnit) -> CollectResult:
        """The unit's lists on one task graph: the first kind alone (a disabled API then fails once, as the
        other lists would answer the same), the others together; then the project's IAM policy next to the
        bucket reads. Records and errors come out in kind-table order, as a serial walk made them."""
        calls = ApiCalls()
        result = CollectResult(unit=unit)
        project, location = unit.account, unit.region
        parent = f"projects/{project}/locations/{location}"
        answers: dict[str, tuple[list[dict[str, Any]] | None, Exception | None]] = {}
        with TaskGraph(self.options.scope_workers) as graph:

            def start(kind: GcpKind, after: Callable[[], None] | None = None) -> None:
                def then(items: list[dict[str, Any]] | None, exc: Exception | None) -> None:
                    if exc is not None and not isinstance(exc, CALL_ERRORS):
                        raise exc
                    answers[kind.kind] = (items, exc)
                    if after is not None:
                        after()

                graph.add(lambda: list(self._list(kind, parent, location, calls)), then=then, first=True)

            def probed() -> None:
                _, exc = answers[KINDS[0].kind]
                if exc is None or not service_disabled(exc):
                    for kind in KINDS[1:]:
                        start(kind)

            start(KINDS[0], probed)
            graph.run()
            for kind in KINDS:
                if kind.kind not in answers:
                    break
                items, exc = answers[kind.kind]
                if exc is not None:
                    if not_offered(kind, exc):
                        continue
                    result.errors.append(self._error(unit, f"{kind.collection}.list: {describe(exc)}"))
                    if service_disabled(exc):
                        break  # the API is off for the whole project: the later lists answered the same
                    continue
                if kind.jobs:
                    result.partial_kinds[kind.kind] = f"created in the last {self.options.job_window_days} days"
                result.records.extend(
                    RawRecord(provider="gcp", type=kind.kind, account=project, region=location, data=item)
                    for item in items or []
                )
                if kind.listed:
                    result.records.append(
                        RawRecord(provider="gcp", type=kind.listed, account=project, region=location, data={}))
            policy: list[tuple[dict[str, Any], str | None]] = []

            def got_policy(answer: tuple[dict[str, Any], str | None] | None, exc: Exception | None) -> None:
                if exc is not None:
                    raise exc   # the cache turns call errors into its answer: anything else is a bug
                policy.append(answer or ({}, None))

            emails = self._service_accounts(result)
            if emails:
                graph.add(self._policies.get, project, lambda p: self._fetch_policy(p, calls), then=got_policy)
            self._join_buckets(result, calls, graph.map)
            graph.run()
        if emails:
            self._identities(unit, result, emails, *policy[0])
        result.api_calls = calls.as_dict()
        return result

    def _reader(self) -> BucketReader:
        with self._buckets_lock:
            if self._bucket_reader is None:
                self._bucket_reader = BucketReader(self.clients.credentials, self._timeout, self.limits)
            return self._bucket_reader

    def _join_buckets(self, result: CollectResult, calls: ApiCalls, pool: Mapper) -> None:
        """PRV-003: each record with Cloud Storage locations gets ``bucketAccess`` (bucket -> verdict); every
        bucket is read once per scan, concurrently, however many records and units use it."""
        located = [(r, [bucket_of(u) for u in gcs_locations(r.type, r.data)]) for r in result.records]
        wanted = sorted({b for _, buckets in located for b in buckets})
        if not wanted:
            return
        reader = self._reader()
        project = result.unit.account
        answers = dict(zip(wanted, pool(lambda b: reader.verdict(b, project), wanted), strict=True))
        for _verdict, read in answers.values():
            if read:
                calls.add("gcp", IAM_CALL)
        for record, buckets in located:
            if buckets:
                record.data["bucketAccess"] = {b: answers[b][0] for b in buckets}

    def _list(self, kind: GcpKind, parent: str, location: str, calls: ApiCalls) -> Iterator[dict[str, Any]]:
        request: dict[str, Any] = {"parent": parent}
        if self.options.page_size:
            request["page_size"] = self.options.page_size
        if kind.jobs:
            since = window_start(self.options.now, self.options.job_window_days)
            request["filter"] = f'create_time>"{since.strftime("%Y-%m-%dT%H:%M:%SZ")}"'
        method: Callable[..., Any] = getattr(self.clients.vertex(kind.service, location), kind.method)
        pager = method(request=request, retry=self._retry, timeout=self._timeout)
        for page in pager.pages:
            calls.add("gcp", f"aiplatform.{kind.collection}.list")
            for item in getattr(page, kind.field):
                yield _json(item)

    @staticmethod
    def _service_accounts(result: CollectResult) -> dict[str, str]:
        """Service account email -> project number, of every record that runs as one."""
        emails: dict[str, str] = {}
        for record in result.records:
            for email in service_accounts(record):
                emails.setdefault(email, project_number(record))
        return emails

    def _identities(self, unit: ScopeUnit, result: CollectResult, emails: dict[str, str], policy: dict[str, Any],
                    error: str | None) -> None:
        if error:
            result.errors.append(self._error(unit, f"projects.getIamPolicy: {error}"))
        number = next(iter(emails.values()))
        result.identities = identity_records(unit.account, number, emails, policy, error)

    def _fetch_policy(self, project: str, calls: ApiCalls) -> dict[str, Any]:
        from google.iam.v1 import iam_policy_pb2, options_pb2

        request = iam_policy_pb2.GetIamPolicyRequest(
            resource=f"projects/{project}", options=options_pb2.GetPolicyOptions(requested_policy_version=3))
        policy = self.clients.projects().get_iam_policy(request=request, retry=self._retry, timeout=self._timeout)
        calls.add("gcp", "resourcemanager.projects.getIamPolicy")
        return _json(policy)

    @staticmethod
    def _error(unit: ScopeUnit, text: str) -> ScopeError:
        return ScopeError(provider="gcp", scope=unit.scope, error=text)
