"""The ``securityhub`` sink: ASFF findings through BatchImportFindings.

Each finding of an AWS asset goes to its own region (or to the one aggregation
region of ``AISPM_SECURITYHUB_REGION``) and its own account: with the default
product ARN, Security Hub accepts a finding only from the account named in its
``AwsAccountId``, so a finding of another account is imported through the role
``AISPM_SECURITYHUB_ROLE_NAME`` assumed in that account, or, without that
setting, into the caller's (aggregation) account. Findings of Azure and GCP
assets go to the caller's account in the aggregation region (default: the
session's region). Calls carry at most 100 findings, each at most 240 KB, at
most 10 calls a second.

Giving up in time: botocore makes at most ``AISPM_SECURITYHUB_SDK_MAX_ATTEMPTS``
tries of one call (standard retry mode); a call that is still throttled (or
failed on a server or connection error), and findings Security Hub reports in
``FailedFindings``, are tried again up to ``AISPM_SECURITYHUB_MAX_ATTEMPTS``
times, for at most ``AISPM_SECURITYHUB_MAX_RETRY_SECONDS`` per batch. With a
deadline for the whole delivery (``AISPM_SECURITYHUB_DEADLINE_SECONDS``, or
``set_deadline`` from a Lambda handler that knows its remaining time), no call
starts once less than ``AISPM_SECURITYHUB_DEADLINE_MARGIN_SECONDS`` remain: the
rest is returned as undelivered at once, for the dead-letter store.

Suppressed findings (contract v1.1): a suppressed failing finding is imported
with ``Workflow.Status`` ``SUPPRESSED``, which Security Hub applies only to a new
finding. After the import the sink reads those findings back (``GetFindings``
filtered by their Ids, 20 at a time) and, for each whose workflow is not yet
``SUPPRESSED``, sets it with ``BatchUpdateFindings`` and a ``Note`` holding the
justification, written by ``aispm``. Nothing else of the workflow is ever sent.
A finding whose suppression could not be read or set is returned as undelivered
(replaying it repeats both steps, which is harmless).

Replays never regress (a ``Batch`` with ``replay`` set: dead letters sent again by
``aispm replay``). A finding's ``UpdatedAt`` is the time of the scan that produced
it (see ``sinks.asff``), and Security Hub may already hold a newer record of it,
imported by a later scan while the letter waited. So before importing a replay the
sink reads what Security Hub holds for those Ids (the same ``GetFindings`` lookup
as for suppression, 20 Ids at a time) and imports only letters whose ``UpdatedAt``
is later than the record held (or whose Id it does not hold); of several letters
with one Id, only the newest. A letter that is not later is superseded by the
newer record: it is counted as delivered (and so leaves the dead-letter store),
since importing it would only bring back an outdated outcome or reopen an
archived finding. When the lookup fails, or the deadline comes first, those
letters are returned as undelivered and stay in the store for the next replay.
That lookup also serves the suppression step of the letters imported (an import
does not change an existing finding's workflow), so a replay reads each Id once.
A delivery that is not a replay makes no extra calls.
"""

from __future__ import annotations

import datetime as dt
import time
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from pydantic import Field, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

from aispm.collectors.base import one_line
from aispm.sinks.base import Batch, DeliveryReport, Undelivered, wire
from aispm.sinks.errors import settings_error
from aispm.sinks.formats.asff import (
    MAX_FINDING_BYTES,
    NOTE_AUTHOR,
    SUPPRESSED,
    is_suppressed,
    product_arn,
    size,
    suppression_note,
    to_asff,
)
from aispm.sinks.transports.retry import Backoff, RateLimiter

MAX_PER_CALL = 100          # BatchImportFindings and BatchUpdateFindings
MAX_FILTER_VALUES = 20      # GetFindings: values per filter attribute
GET_FINDINGS_RATE = 3.0     # GetFindings calls per second (its documented rate limit)

# Error codes that mean "slow down" or "try again": worth another try within the retry budget.
_RETRYABLE_CODES = frozenset({
    "ThrottlingException", "Throttling", "ThrottledException", "TooManyRequestsException",
    "RequestLimitExceeded", "RequestThrottled", "RequestThrottledException", "SlowDown",
    "LimitExceededException", "InternalException", "InternalFailure", "InternalServerError",
    "ServiceUnavailable", "ServiceUnavailableException",
})


class SecurityHubSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="AISPM_SECURITYHUB_", extra="ignore")

    region: str | None = None
    role_name: str | None = Field(default=None, description="role assumed in each finding's own account")
    external_id: str | None = None
    rate: float = Field(default=10.0, gt=0, description="BatchImportFindings calls per second")
    max_attempts: int = Field(default=3, ge=1, description="tries of a batch that is throttled, fails on a "
                                                           "server error, or has findings in FailedFindings")
    retry_base_seconds: float = Field(default=0.5, ge=0)
    max_retry_seconds: float = Field(default=20.0, ge=0, description="time one batch may spend on retries")
    sdk_max_attempts: int = Field(default=3, ge=1, description="botocore's tries of one call, the first included")
    deadline_seconds: float | None = Field(default=None, gt=0, description="time budget of one delivery")
    deadline_margin_seconds: float = Field(default=5.0, ge=0, description="no call starts closer to the deadline")


@dataclass
class _Item:
    finding: dict[str, Any]
    asff: dict[str, Any]


@dataclass(frozen=True)
class _Held:
    """What Security Hub holds for one finding Id, as far as the sink reads it back."""

    workflow: str                    # Workflow.Status (NEW when absent)
    updated_at: dt.datetime | None   # UpdatedAt; None when absent or unreadable


def _timestamp(value: Any) -> dt.datetime | None:
    """An ASFF timestamp (ISO 8601; UTC when it names no offset), or None when it is not one."""
    if isinstance(value, dt.datetime):  # a client that parses timestamps itself
        parsed = value
    else:
        try:
            parsed = dt.datetime.fromisoformat(str(value))
        except ValueError:
            return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)


_NEVER = dt.datetime.min.replace(tzinfo=dt.UTC)


def _updated_at(item: _Item) -> dt.datetime:
    """The UpdatedAt of a finding the sink converted (``sinks.asff.iso`` of its OCSF ``time``)."""
    return _timestamp(item.asff["UpdatedAt"]) or _NEVER


class _NoAccess(Exception):
    """The role in a finding's own account cannot be assumed."""


def _error_code(exc: BaseException) -> str:
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        return str((response.get("Error") or {}).get("Code", ""))
    return ""


def _retryable(exc: BaseException) -> bool:
    """Throttling, a server error or a dropped connection: another try may succeed."""
    from botocore.exceptions import ConnectionError as BotoConnectionError
    from botocore.exceptions import HTTPClientError

    if isinstance(exc, BotoConnectionError | HTTPClientError):
        return True
    code = _error_code(exc)
    if code in _RETRYABLE_CODES:
        return True
    response = getattr(exc, "response", None)
    status = ((response or {}).get("ResponseMetadata") or {}).get("HTTPStatusCode") if isinstance(
        response, dict) else None
    return isinstance(status, int) and status >= 500


def sdk_config(max_attempts: int) -> Any:
    """The shared client settings with botocore's own retries capped (standard mode, attempts in total)."""
    from botocore.config import Config

    from aispm.sinks.aws import client_config

    return client_config().merge(Config(retries={"mode": "standard", "total_max_attempts": max_attempts}))


class SecurityHubSink:
    name = "securityhub"

    def __init__(self, settings: SecurityHubSettings | None = None, session: Any = None, *,
                 clock: Callable[[], float] = time.monotonic, sleep: Callable[[float], None] = time.sleep) -> None:
        try:
            self.settings = settings or SecurityHubSettings()
        except ValidationError as exc:
            raise settings_error("AISPM_SECURITYHUB_", exc) from None
        self._session = session
        self._clients: dict[tuple[str, str], Any] = {}
        self._sessions: dict[str, Any] = {}
        self._caller = ""
        self._partition = "aws"
        self._clock, self._sleep = clock, sleep
        self._limiter = RateLimiter(self.settings.rate, clock=clock, sleep=sleep)
        self._lookup_limiter = RateLimiter(GET_FINDINGS_RATE, clock=clock, sleep=sleep)
        self._backoff = Backoff(base=self.settings.retry_base_seconds, cap=10.0,
                                attempts=self.settings.max_attempts, sleep=sleep)
        self._deadline_at: float | None = None  # set_deadline, on the sink's clock
        self._deadline: float | None = None     # this delivery's
        self.calls = 0    # BatchImportFindings calls made, for tests and benchmarks
        self.lookups = 0  # GetFindings calls
        self.updates = 0  # BatchUpdateFindings calls
        self.superseded = 0  # replayed letters not imported: Security Hub holds a newer record (or the batch did)

    def set_deadline(self, at: float | None) -> None:
        """Deliveries end by ``at`` (the sink's clock, ``time.monotonic`` by default), e.g. from a Lambda's
        remaining time; the earlier of it and ``AISPM_SECURITYHUB_DEADLINE_SECONDS`` applies."""
        self._deadline_at = at

    @property
    def session(self) -> Any:
        if self._session is None:
            import boto3

            self._session = boto3.Session()
        return self._session

    def _session_in(self, account: str) -> Any:
        """The caller's session, or one for the role assumed in ``account`` (once per account)."""
        if account == self._caller or not account:
            return self.session
        if account not in self._sessions:
            import boto3

            from aispm.sinks.aws import client_config

            role = f"arn:{self._partition}:iam::{account}:role/{self.settings.role_name}"
            kwargs: dict[str, Any] = {"RoleArn": role, "RoleSessionName": "aispm-securityhub"}
            if self.settings.external_id:
                kwargs["ExternalId"] = self.settings.external_id
            try:
                creds = self.session.client("sts", config=client_config()).assume_role(**kwargs)["Credentials"]
            except Exception as exc:  # noqa: BLE001 - reported per finding, the other accounts go on
                raise _NoAccess(f"cannot assume {role}: {one_line(exc, 300)}") from None
            self._sessions[account] = boto3.Session(
                aws_access_key_id=creds["AccessKeyId"], aws_secret_access_key=creds["SecretAccessKey"],
                aws_session_token=creds["SessionToken"], region_name=self.session.region_name)
        return self._sessions[account]

    def client(self, region: str, account: str = "") -> Any:
        """The Security Hub client of ``region`` in ``account`` (default: the caller's), made once."""
        key = ("" if account in ("", self._caller) else account, region)
        if key not in self._clients:
            self._clients[key] = self._session_in(account).client(
                "securityhub", region_name=region, config=sdk_config(self.settings.sdk_max_attempts))
        return self._clients[key]

    # ------------------------------------------------------------ deadline
    def _remaining(self) -> float | None:
        return None if self._deadline is None else self._deadline - self._clock()

    def _out_of_time(self, wait: float = 0.0) -> bool:
        """True when a call started after ``wait`` more seconds would come too close to the deadline."""
        remaining = self._remaining()
        return remaining is not None and remaining - wait < self.settings.deadline_margin_seconds

    def _deadline_reason(self, what: str) -> str:
        return f"{what}: the delivery deadline was near, nothing more was sent to Security Hub (kept for replay)"

    # ------------------------------------------------------------ delivery
    def deliver(self, batch: Batch) -> DeliveryReport:
        report = DeliveryReport(sink=self.name)
        if not batch.items:
            return report
        findings = [wire(f) for f in batch.items]   # ASFF is made from the OCSF object, as HEC events are
        started = self._clock()
        budget = self.settings.deadline_seconds
        candidates = [t for t in (self._deadline_at, started + budget if budget else None) if t is not None]
        self._deadline = min(candidates) if candidates else None
        try:
            identity = self.session.client("sts").get_caller_identity()
            caller = self._caller = str(identity["Account"])
            self._partition = str(identity.get("Arn", "arn:aws:")).split(":")[1] or "aws"
        except Exception as exc:  # noqa: BLE001 - without an identity nothing can be imported
            report.undelivered = [Undelivered(self.name, f"cannot identify the AWS caller: {one_line(exc, 300)}", f)
                                  for f in findings]
            return report
        home = self.settings.region or self.session.region_name
        groups: dict[tuple[str, str], list[_Item]] = defaultdict(list)
        for finding in findings:
            cloud = finding.get("cloud") or {}
            is_aws = cloud.get("provider") == "AWS"
            region = self.settings.region or (cloud.get("region") if is_aws else None) or home
            if not region:
                report.undelivered.append(Undelivered(self.name, "no region for Security Hub: set "
                                                      "AISPM_SECURITYHUB_REGION or AWS_REGION", finding))
                continue
            account = str((cloud.get("account") or {}).get("uid", "")) if is_aws else caller
            if account != caller and not self.settings.role_name:
                account = caller  # no way into the finding's own account: the caller's account aggregates
            try:
                asff = to_asff(finding, product=product_arn(region, account), account=account, region=region)
            except Exception as exc:  # noqa: BLE001 - one malformed finding costs only itself
                report.undelivered.append(Undelivered(
                    self.name, f"cannot convert the finding to ASFF: {type(exc).__name__}: {one_line(exc, 300)}",
                    finding))
                continue
            if size(asff) > MAX_FINDING_BYTES:
                report.undelivered.append(Undelivered(
                    self.name, f"ASFF finding is {size(asff)} bytes, over the 240 KB limit", finding))
                continue
            groups[(account, region)].append(_Item(finding, asff))
        for (account, region), items in groups.items():
            held: dict[str, _Held] | None = None
            if batch.replay:
                items, held = self._newer_only(account, region, items, report)
            for start in range(0, len(items), MAX_PER_CALL):
                chunk = items[start:start + MAX_PER_CALL]
                if self._out_of_time():
                    self._fail(report, chunk, self._deadline_reason("not imported"))
                    continue
                imported = self._import(account, region, chunk, report)
                suppressed = [i for i in imported if is_suppressed(i.finding)]
                failed = self._suppress(account, region, suppressed, report, held) if suppressed else 0
                report.delivered += len(imported) - failed
        return report

    def _fail(self, report: DeliveryReport, items: Iterable[_Item], reason: str) -> int:
        before = len(report.undelivered)
        report.undelivered.extend(Undelivered(self.name, reason, i.finding) for i in items)
        return len(report.undelivered) - before

    # -------------------------------------------------------------- replay
    def _newer_only(self, account: str, region: str, items: list[_Item],
                    report: DeliveryReport) -> tuple[list[_Item], dict[str, _Held]]:
        """Of replayed ``items``, those to import: newer than the record Security Hub holds (or not held).

        Superseded letters (an older or equal ``UpdatedAt`` than the record held, or than another letter of the
        same Id) are counted as delivered; letters whose record could not be read are reported undelivered.
        Returns the letters to import and what Security Hub holds for them (for the suppression step).
        """
        newest: dict[str, _Item] = {}
        for item in items:
            uid = item.asff["Id"]
            kept = newest.get(uid)
            if kept is None or _updated_at(item) >= _updated_at(kept):  # ties: the later letter
                newest[uid] = item
        superseded = len(items) - len(newest)
        held, readable = self._read_back(
            account, region, list(newest.values()), report,
            unchecked="not imported: a replay is checked against the record Security Hub holds first",
            unread="not imported: the record Security Hub holds could not be read to check this replay is newer")
        out: list[_Item] = []
        for item in readable:
            record = held.get(item.asff["Id"])
            if record is None:
                out.append(item)   # not held: nothing newer to protect
                continue
            if record.updated_at is None:
                self._fail(report, [item], "not imported: the record Security Hub holds has no readable "
                                           "UpdatedAt, so this replay cannot be shown to be newer")
                continue
            if _updated_at(item) > record.updated_at:
                out.append(item)
            else:
                superseded += 1
        self.superseded += superseded
        report.delivered += superseded
        return out, held

    # -------------------------------------------------------------- import
    def _import(self, account: str, region: str, items: list[_Item], report: DeliveryReport) -> list[_Item]:
        """Import with bounded retries; returns what Security Hub accepted, reports the rest as undelivered."""
        s = self.settings
        pending = {item.asff["Id"]: item for item in items}
        imported: list[_Item] = []
        reasons: dict[str, str] = {}
        started = self._clock()
        attempt = 0
        why_stopped = ""
        while True:
            attempt += 1
            self._limiter.acquire()
            self.calls += 1
            try:
                client = self.client(region, account)
                answer = client.batch_import_findings(Findings=[i.asff for i in pending.values()])
            except _NoAccess as exc:
                self._fail(report, pending.values(), str(exc))
                return imported
            except Exception as exc:  # noqa: BLE001 - botocore already retried; ours are bounded below
                reason = f"BatchImportFindings in {account}/{region} failed: {one_line(exc, 300)}"
                if not _retryable(exc):
                    self._fail(report, pending.values(), reason)
                    return imported
                reasons = dict.fromkeys(pending, reason)
            else:
                failed = {f.get("Id", ""): f for f in answer.get("FailedFindings", [])}
                imported.extend(item for uid, item in pending.items() if uid not in failed)
                pending = {uid: item for uid, item in pending.items() if uid in failed}
                reasons = {uid: f"Security Hub refused the finding in {region}: {f.get('ErrorCode', '')} "
                                f"{f.get('ErrorMessage', '')}".strip() for uid, f in failed.items()}
                if not pending:
                    return imported
            if attempt >= s.max_attempts:
                why_stopped = f"gave up after {attempt} attempts"
                break
            delay = self._backoff.delay(attempt)
            spent = self._clock() - started
            if spent + delay > s.max_retry_seconds:
                why_stopped = (f"gave up after {attempt} attempts in {spent:.1f}s "
                               f"(AISPM_SECURITYHUB_MAX_RETRY_SECONDS={s.max_retry_seconds:g})")
                break
            if self._out_of_time(delay):
                why_stopped = f"gave up after {attempt} attempts: the delivery deadline was near"
                break
            self._sleep(delay)
        for uid, item in pending.items():
            report.undelivered.append(Undelivered(self.name, f"{reasons.get(uid, 'refused')}; {why_stopped}",
                                                  item.finding))
        return imported

    # ---------------------------------------------------------- suppression
    def _suppress(self, account: str, region: str, items: list[_Item], report: DeliveryReport,
                  held: dict[str, _Held] | None = None) -> int:
        """Set ``SUPPRESSED`` on imported suppressed findings whose workflow is not that yet.

        ``held``: what Security Hub held for these Ids just before the import (a replay's check), which the import
        did not change for an existing finding; without it the findings are read back now.
        Returns how many of ``items`` are reported undelivered (their suppression could not be read or set).
        """
        failed = 0
        if held is None:
            before = len(report.undelivered)
            held, checked = self._read_back(
                account, region, items, report,
                unchecked="imported, but its suppression was not checked",
                unread="imported, but its workflow could not be read")
            failed += len(report.undelivered) - before
        else:
            checked = items
        # Found and not suppressed yet: an existing finding, whose workflow the import did not change.
        # Not found: new, so the import's Workflow applied.
        to_update: dict[str, list[_Item]] = defaultdict(list)
        for item in checked:
            record = held.get(item.asff["Id"])
            if record is not None and record.workflow != SUPPRESSED:
                to_update[suppression_note(item.finding)].append(item)
        for note, group in to_update.items():
            for start in range(0, len(group), MAX_PER_CALL):
                failed += self._update(account, region, note, group[start:start + MAX_PER_CALL], report)
        return failed

    # ------------------------------------------------------------- lookup
    def _read_back(self, account: str, region: str, items: list[_Item], report: DeliveryReport, *,
                   unchecked: str, unread: str) -> tuple[dict[str, _Held], list[_Item]]:
        """What Security Hub holds for ``items`` (GetFindings, ``MAX_FILTER_VALUES`` Ids at a time), and the
        items whose lookup succeeded. The others are reported undelivered: ``unchecked`` (the deadline came
        first) or ``unread`` (GetFindings failed) says what that means for them."""
        held: dict[str, _Held] = {}
        checked: list[_Item] = []
        if not items:
            return held, checked
        product = items[0].asff["ProductArn"]
        for start in range(0, len(items), MAX_FILTER_VALUES):
            chunk = items[start:start + MAX_FILTER_VALUES]
            if self._out_of_time():
                self._fail(report, chunk, self._deadline_reason(unchecked))
                continue
            try:
                held.update(self._held(account, region, product, [i.asff["Id"] for i in chunk]))
            except Exception as exc:  # noqa: BLE001 - those findings stay undelivered, replaying repeats the lookup
                self._fail(report, chunk, f"{unread} (GetFindings in {account}/{region}): {one_line(exc, 300)}")
                continue
            checked.extend(chunk)
        return held, checked

    def _held(self, account: str, region: str, product: str, ids: list[str]) -> dict[str, _Held]:
        """Id -> what Security Hub holds (workflow status, UpdatedAt) for those of ``ids`` under ``product``."""
        wanted = set(ids)
        filters = {"Id": [{"Value": uid, "Comparison": "EQUALS"} for uid in ids],
                   "ProductArn": [{"Value": product, "Comparison": "EQUALS"}]}
        kwargs: dict[str, Any] = {"Filters": filters, "MaxResults": 100}
        out: dict[str, _Held] = {}
        while True:
            self._lookup_limiter.acquire()
            self.lookups += 1
            page = self.client(region, account).get_findings(**kwargs)
            for f in page.get("Findings", []):
                uid = f.get("Id")
                if uid in wanted and f.get("ProductArn") == product:  # never trust a filter blindly
                    out[uid] = _Held(workflow=str((f.get("Workflow") or {}).get("Status") or "NEW"),
                                     updated_at=_timestamp(f.get("UpdatedAt")))
            token = page.get("NextToken")
            if not token or wanted <= set(out):
                return out
            if self._out_of_time():
                raise TimeoutError("the delivery deadline was near")
            kwargs["NextToken"] = token

    def _update(self, account: str, region: str, note: str, items: list[_Item], report: DeliveryReport) -> int:
        if self._out_of_time():
            return self._fail(report, items, self._deadline_reason("imported, but not yet suppressed"))
        self._limiter.acquire()
        self.updates += 1
        try:
            answer = self.client(region, account).batch_update_findings(
                FindingIdentifiers=[{"Id": i.asff["Id"], "ProductArn": i.asff["ProductArn"]} for i in items],
                Workflow={"Status": SUPPRESSED},
                Note={"Text": note, "UpdatedBy": NOTE_AUTHOR},
            )
        except Exception as exc:  # noqa: BLE001 - replaying the findings repeats the update
            reason = (f"imported, but BatchUpdateFindings in {account}/{region} could not suppress it: "
                      f"{one_line(exc, 300)}")
            return self._fail(report, items, reason)
        unprocessed = {str((u.get("FindingIdentifier") or {}).get("Id", "")): u
                       for u in answer.get("UnprocessedFindings", [])}
        failed = 0
        for item in items:
            u = unprocessed.get(item.asff["Id"])
            if u is not None:
                reason = (f"imported, but Security Hub did not suppress it: {u.get('ErrorCode', '')} "
                          f"{u.get('ErrorMessage', '')}").strip()
                failed += self._fail(report, [item], reason)
        return failed
