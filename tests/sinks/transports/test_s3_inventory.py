"""The s3 sink uploads the inventory exports a scan's summary names (inventory-v1.md §Sinks)."""

from __future__ import annotations

import csv
import datetime as dt
import gzip
import io
import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from aispm.sinks.base import Batch
from aispm.sinks.transports.s3 import S3Settings, S3Sink
from tests.support.inventory import HOSTILE, estate, findings, summary

FILES = ["findings.ocsf.jsonl", "assets.jsonl", "summary.json", "inventory.csv", "aibom.cdx.json", "report.html"]


@pytest.fixture
def s3() -> Iterator[Any]:
    with mock_aws():
        client = boto3.client("s3", region_name="us-east-1")
        client.create_bucket(Bucket="lake")
        yield client


def test_the_inventory_files_are_uploaded_gzipped_with_their_media_types(s3: Any) -> None:
    assets = estate()
    batch = Batch(scan_id="scan-9", findings=findings(assets), assets=assets,
                  summary={**summary(assets), "files": FILES})
    report = S3Sink("s3://lake/p", S3Settings()).deliver(batch)
    assert report.undelivered == []
    base = f"p/{dt.datetime.now(dt.UTC).strftime('%Y/%m/%d')}/scan-9"
    listed = sorted(o["Key"] for o in s3.list_objects_v2(Bucket="lake")["Contents"])
    assert listed == sorted(f"{base}/{name}.gz" for name in FILES)

    def get(name: str) -> tuple[str, bytes]:
        obj = s3.get_object(Bucket="lake", Key=f"{base}/{name}.gz")
        return obj["ContentType"], gzip.decompress(obj["Body"].read())

    media, body = get("inventory.csv")
    assert media.startswith("text/csv")
    assert len(list(csv.reader(io.StringIO(body.decode(), newline="")))) == len(assets) + 1
    media, body = get("aibom.cdx.json")
    assert media == "application/vnd.cyclonedx+json" and json.loads(body)["specVersion"] == "1.6"
    media, body = get("report.html")
    assert media.startswith("text/html") and HOSTILE.encode() not in body


def test_a_summary_that_names_no_exports_uploads_none(s3: Any) -> None:
    assets = estate()
    batch = Batch(scan_id="scan-10", findings=findings(assets), assets=assets,
                  summary=summary(assets))
    S3Sink("s3://lake/p", S3Settings()).deliver(batch)
    names = {o["Key"].rsplit("/", 1)[-1] for o in s3.list_objects_v2(Bucket="lake")["Contents"]}
    assert names == {"findings.ocsf.jsonl.gz", "assets.jsonl.gz", "summary.json.gz"}
