"""The ``s3://bucket/prefix`` sink: the contract's three files, gzip'd, under a dated key layout.

``<prefix>/yyyy/mm/dd/<scan-id>/{findings.ocsf.jsonl,assets.jsonl,summary.json}.gz`` (a detect run:
``detections.ocsf.jsonl`` and ``summary.json``). With
``AISPM_S3_SECURITY_LAKE=true`` (needs the ``parquet`` extra) the findings are also written as
OCSF Parquet in the Amazon Security Lake custom-source layout.
"""

from __future__ import annotations

import datetime as dt
import gzip
import json
from typing import Any
from urllib.parse import urlsplit

from pydantic import Field, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

from aispm.collectors.base import one_line
from aispm.sinks.base import Batch, DeliveryReport, Undelivered, wire
from aispm.sinks.errors import SinkConfigError, settings_error
from aispm.sinks.formats.exports import named_exports
from aispm.sinks.formats.jsonbytes import json_lines
from aispm.sinks.formats.ocsf import to_ocsf
from aispm.sinks.transports.files import ASSETS_FILE, DETECTIONS_FILE, FINDINGS_FILE, SUMMARY_FILE


class S3Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="AISPM_S3_", extra="ignore")

    security_lake: bool = False
    security_lake_source: str = Field(default="aispm", min_length=1)
    kms_key_id: str | None = None


def parse_url(url: str) -> tuple[str, str]:
    parts = urlsplit(url)
    if parts.scheme != "s3" or not parts.netloc:
        raise SinkConfigError(f"expected s3://bucket/prefix, got {url!r}")
    return parts.netloc, parts.path.strip("/")


def _join(*parts: str) -> str:
    return "/".join(p.strip("/") for p in parts if p.strip("/"))


class S3Sink:
    def __init__(self, url: str, settings: S3Settings | None = None, client: Any = None) -> None:
        self.name = url
        self.bucket, self.prefix = parse_url(url)
        try:
            self.settings = settings or S3Settings()
        except ValidationError as exc:
            raise settings_error("AISPM_S3_", exc) from None
        if self.settings.security_lake:
            from aispm.sinks.formats.parquet import require_pyarrow

            require_pyarrow()
        self._client = client

    @property
    def client(self) -> Any:
        if self._client is None:
            import boto3

            from aispm.sinks.aws import client_config

            self._client = boto3.client("s3", config=client_config())
        return self._client

    def scan_prefix(self, batch: Batch, when: dt.datetime) -> str:
        return _join(self.prefix, when.strftime("%Y/%m/%d"), batch.scan_id)

    def _put(self, key: str, body: bytes, content_type: str, gzipped: bool) -> None:
        extra: dict[str, Any] = {"ContentType": content_type}
        if gzipped:
            extra["ContentEncoding"] = "gzip"
        if self.settings.kms_key_id:
            extra.update(ServerSideEncryption="aws:kms", SSEKMSKeyId=self.settings.kms_key_id)
        self.client.put_object(Bucket=self.bucket, Key=key, Body=body, **extra)

    def deliver(self, batch: Batch) -> DeliveryReport:
        report = DeliveryReport(sink=self.name)
        when = dt.datetime.now(dt.UTC)
        base = self.scan_prefix(batch, when)
        ocsf = [to_ocsf(f) for f in batch.findings]
        files: list[tuple[str, bytes]] = []
        if batch.findings or (batch.kind == "scan" and not batch.detections):
            files.append((FINDINGS_FILE, b"".join(json_lines(ocsf))))
        if batch.detections or batch.kind == "detect":
            files.append((DETECTIONS_FILE, b"".join(json_lines(wire(d) for d in batch.detections))))
        summary = (SUMMARY_FILE, (json.dumps(batch.summary, indent=2, default=str) + "\n").encode())
        if batch.kind == "scan" and (batch.summary or batch.assets):  # a replay carries findings only
            files += [(ASSETS_FILE, b"".join(json_lines(a.model_dump(mode="json") for a in batch.assets))), summary]
        elif batch.kind == "detect" and batch.summary:
            files.append(summary)
        try:
            for name, media_type, chunks in named_exports(batch.summary, batch.assets, batch.findings):
                self._put(f"{base}/{name}.gz", gzip.compress(b"".join(chunks)), media_type, gzipped=True)
            # Findings last: a consumer that triggers on the findings object finds its siblings already there.
            for name, body in reversed(files):
                self._put(f"{base}/{name}.gz", gzip.compress(body), "application/json", gzipped=True)
            if self.settings.security_lake and batch.findings:
                from aispm.sinks.formats.parquet import security_lake_objects

                for key, body in security_lake_objects(ocsf, self.settings.security_lake_source,
                                                       batch.scan_id, when):
                    self._put(_join(self.prefix, key), body, "application/vnd.apache.parquet", gzipped=False)
        except Exception as exc:  # noqa: BLE001 - any S3 failure leaves the findings for the dead-letter store
            reason = f"cannot write to s3://{self.bucket}/{base}: {one_line(exc, 300)}"
            report.undelivered = [Undelivered.of(self.name, reason, f) for f in batch.items]
            return report
        report.delivered = len(batch.items)
        return report
