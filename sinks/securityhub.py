"""The ``securityhub`` sink: ASFF findings through BatchImportFindings.

Each finding of an AWS asset goes to its own account and region (or to the one
aggregation region of ``AISPM_SECURITYHUB_REGION``); findings of Azure and GCP
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
    rate: float = Field(default=10.0, gt=0, description="BatchImportFindings calls per second")
    max_attempts: int = Field(default=3, ge=1, description="tries for findings reported in FailedFindings")
    retry_base_seconds: float = Field(default=0.5, ge=0)


@dataclass
class _Item:
    finding: dict[str, Any]
    asff: dict[str, Any]


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
        self._clients: dict[str, Any] = {}
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

    def _client(self, region: str) -> Any:
        if region not in self._clients:
            from sinks.aws import client_config

            self._clients[region] = self.session.client("securityhub", region_name=region, config=client_config())
        return self._clients[region]

    def deliver(self, batch: Batch) -> DeliveryReport:
        report = DeliveryReport(sink=self.name)
        if not batch.findings:
            return report
        try:
            caller = self.session.client("sts").get_caller_identity()["Account"]
        except Exception as exc:  # noqa: BLE001 - without an identity nothing can be imported
            report.undelivered = [Undelivered(self.name, f"cannot identify the AWS caller: {_one_line(exc)}", f)
                                  for f in batch.findings]
            return report
        home = self.settings.region or self.session.region_name
        updated = iso(int(dt.datetime.now(dt.UTC).timestamp() * 1000))
        groups: dict[str, list[_Item]] = defaultdict(list)
        for finding in batch.findings:
            cloud = finding.get("cloud") or {}
            is_aws = cloud.get("provider") == "AWS"
            region = self.settings.region or (cloud.get("region") if is_aws else None) or home
            if not region:
                report.undelivered.append(Undelivered(self.name, "no region for Security Hub: set "
                                                      "AISPM_SECURITYHUB_REGION or AWS_REGION", finding))
                continue
            account = str((cloud.get("account") or {}).get("uid", "")) if is_aws else caller
            asff = to_asff(finding, product=product_arn(region, caller), account=account, region=region,
                           updated=updated)
            if size(asff) > MAX_FINDING_BYTES:
                report.undelivered.append(Undelivered(
                    self.name, f"ASFF finding is {size(asff)} bytes, over the 240 KB limit", finding))
                continue
            groups[region].append(_Item(finding, asff))
        for region, items in groups.items():
            for start in range(0, len(items), MAX_PER_CALL):
                self._import(region, items[start:start + MAX_PER_CALL], report)
        return report

    def _import(self, region: str, items: list[_Item], report: DeliveryReport) -> None:
        pending = {item.asff["Id"]: item for item in items}
        reasons: dict[str, str] = {}
        for attempt in range(1, self.settings.max_attempts + 1):
            self._limiter.acquire()
            self.calls += 1
            try:
                answer = self._client(region).batch_import_findings(Findings=[i.asff for i in pending.values()])
            except Exception as exc:  # noqa: BLE001 - botocore already retried throttling; report the rest
                reason = f"BatchImportFindings in {region} failed: {_one_line(exc)}"
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
