"""The ``securityhub`` sink: ASFF findings through BatchImportFindings.

Each finding of an AWS asset goes to its own region (or to the one aggregation
region of ``AISPM_SECURITYHUB_REGION``) and its own account: with the default
product ARN, Security Hub accepts a finding only from the account named in its
``AwsAccountId``, so a finding of another account is imported through the role
``AISPM_SECURITYHUB_ROLE_NAME`` assumed in that account, or, without that
setting, into the caller's (aggregation) account. Findings of Azure and GCP
assets go to the caller's account in the aggregation region (default: the
session's region). Calls carry at most 100 findings, each at most 240 KB, at
most 10 calls a second; findings Security Hub reports as failed are retried,
then returned as undelivered.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from pydantic import Field, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

from sinks.asff import MAX_FINDING_BYTES, iso, product_arn, size, to_asff
from sinks.base import Batch, DeliveryReport, Undelivered
from sinks.errors import settings_error
from sinks.retry import Backoff, RateLimiter

MAX_PER_CALL = 100


class SecurityHubSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="AISPM_SECURITYHUB_", extra="ignore")

    region: str | None = None
    role_name: str | None = Field(default=None, description="role assumed in each finding's own account")
    external_id: str | None = None
    rate: float = Field(default=10.0, gt=0, description="BatchImportFindings calls per second")
    max_attempts: int = Field(default=3, ge=1, description="tries for findings reported in FailedFindings")
    retry_base_seconds: float = Field(default=0.5, ge=0)


@dataclass
class _Item:
    finding: dict[str, Any]
    asff: dict[str, Any]


class _NoAccess(Exception):
    """The role in a finding's own account cannot be assumed."""


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split())[:300] or type(exc).__name__


class SecurityHubSink:
    name = "securityhub"

    def __init__(self, settings: SecurityHubSettings | None = None, session: Any = None) -> None:
        try:
            self.settings = settings or SecurityHubSettings()
        except ValidationError as exc:
            raise settings_error("AISPM_SECURITYHUB_", exc) from None
        self._session = session
        self._clients: dict[tuple[str, str], Any] = {}
        self._sessions: dict[str, Any] = {}
        self._caller = ""
        self._partition = "aws"
        self._limiter = RateLimiter(self.settings.rate)
        self._backoff = Backoff(base=self.settings.retry_base_seconds, cap=10.0,
                                attempts=self.settings.max_attempts)
        self.calls = 0  # BatchImportFindings calls made, for tests and benchmarks

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

            from sinks.aws import client_config

            role = f"arn:{self._partition}:iam::{account}:role/{self.settings.role_name}"
            kwargs: dict[str, Any] = {"RoleArn": role, "RoleSessionName": "aispm-securityhub"}
            if self.settings.external_id:
                kwargs["ExternalId"] = self.settings.external_id
            try:
                creds = self.session.client("sts", config=client_config()).assume_role(**kwargs)["Credentials"]
            except Exception as exc:  # noqa: BLE001 - reported per finding, the other accounts go on
                raise _NoAccess(f"cannot assume {role}: {_one_line(exc)}") from None
            self._sessions[account] = boto3.Session(
                aws_access_key_id=creds["AccessKeyId"], aws_secret_access_key=creds["SecretAccessKey"],
                aws_session_token=creds["SessionToken"], region_name=self.session.region_name)
        return self._sessions[account]

    def _client(self, region: str, account: str = "") -> Any:
        key = (account or self._caller, region)
        if key not in self._clients:
            from sinks.aws import client_config

            self._clients[key] = self._session_in(account).client("securityhub", region_name=region,
                                                                  config=client_config())
        return self._clients[key]

    def deliver(self, batch: Batch) -> DeliveryReport:
        report = DeliveryReport(sink=self.name)
        if not batch.findings:
            return report
        try:
            identity = self.session.client("sts").get_caller_identity()
            caller = self._caller = str(identity["Account"])
            self._partition = str(identity.get("Arn", "arn:aws:")).split(":")[1] or "aws"
        except Exception as exc:  # noqa: BLE001 - without an identity nothing can be imported
            report.undelivered = [Undelivered(self.name, f"cannot identify the AWS caller: {_one_line(exc)}", f)
                                  for f in batch.findings]
            return report
        home = self.settings.region or self.session.region_name
        updated = iso(int(dt.datetime.now(dt.UTC).timestamp() * 1000))
        groups: dict[tuple[str, str], list[_Item]] = defaultdict(list)
        for finding in batch.findings:
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
            asff = to_asff(finding, product=product_arn(region, account), account=account, region=region,
                           updated=updated)
            if size(asff) > MAX_FINDING_BYTES:
                report.undelivered.append(Undelivered(
                    self.name, f"ASFF finding is {size(asff)} bytes, over the 240 KB limit", finding))
                continue
            groups[(account, region)].append(_Item(finding, asff))
        for (account, region), items in groups.items():
            for start in range(0, len(items), MAX_PER_CALL):
                self._import(account, region, items[start:start + MAX_PER_CALL], report)
        return report

    def _import(self, account: str, region: str, items: list[_Item], report: DeliveryReport) -> None:
        pending = {item.asff["Id"]: item for item in items}
        reasons: dict[str, str] = {}
        for attempt in range(1, self.settings.max_attempts + 1):
            self._limiter.acquire()
            self.calls += 1
            try:
                client = self._client(region, account)
                answer = client.batch_import_findings(Findings=[i.asff for i in pending.values()])
            except _NoAccess as exc:
                report.undelivered.extend(Undelivered(self.name, str(exc), i.finding) for i in pending.values())
                return
            except Exception as exc:  # noqa: BLE001 - botocore already retried throttling; report the rest
                reason = f"BatchImportFindings in {account}/{region} failed: {_one_line(exc)}"
                report.undelivered.extend(Undelivered(self.name, reason, i.finding) for i in pending.values())
                return
            failed = {f.get("Id", ""): f for f in answer.get("FailedFindings", [])}
            report.delivered += sum(1 for uid in pending if uid not in failed)
            pending = {uid: item for uid, item in pending.items() if uid in failed}
            reasons = {uid: f"Security Hub refused the finding in {region}: {f.get('ErrorCode', '')} "
                            f"{f.get('ErrorMessage', '')}".strip() for uid, f in failed.items()}
            if not pending:
                return
            if attempt < self.settings.max_attempts:
                self._backoff.wait(attempt)
        report.undelivered.extend(Undelivered(self.name, reasons.get(uid, "refused"), item.finding)
                                  for uid, item in pending.items())
