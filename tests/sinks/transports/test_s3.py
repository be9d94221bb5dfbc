"""The s3 sink against moto: gzip'd files under the dated layout, and Security Lake Parquet."""

from __future__ import annotations

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
from aispm.sinks.errors import SinkConfigError
from aispm.sinks.formats.ocsf import from_ocsf
from aispm.sinks.registry import build_sink
from aispm.sinks.transports.s3 import S3Settings, S3Sink
from tests.support.findings import aws_asset, aws_findings, azure_asset, finding, gcp_asset


@pytest.fixture
def s3() -> Iterator[Any]:
    with mock_aws():
        client = boto3.client("s3", region_name="us-east-1")
        client.create_bucket(Bucket="lake")
        yield client


def keys(s3: Any) -> list[str]:
    return sorted(o["Key"] for o in s3.list_objects_v2(Bucket="lake").get("Contents", []))


def read_gz(s3: Any, key: str) -> bytes:
    return gzip.decompress(s3.get_object(Bucket="lake", Key=key)["Body"].read())


def test_three_gzip_files_under_a_dated_prefix(s3: Any) -> None:
    findings = aws_findings(4)
    batch = Batch(scan_id="scan-42", findings=[from_ocsf(f) for f in findings], assets=[aws_asset(0)],
                  summary={"assets": 1})
    report = build_sink("s3://lake/aispm/prod", out_dir=None).deliver(batch)  # type: ignore[arg-type]
    assert (report.sink, report.delivered, report.undelivered) == ("s3://lake/aispm/prod", 4, [])
    day = dt.datetime.now(dt.UTC).strftime("%Y/%m/%d")
    base = f"aispm/prod/{day}/scan-42"
    assert keys(s3) == [f"{base}/assets.jsonl.gz", f"{base}/findings.ocsf.jsonl.gz", f"{base}/summary.json.gz"]
    lines = read_gz(s3, f"{base}/findings.ocsf.jsonl.gz").decode().splitlines()
    assert [json.loads(x) for x in lines] == findings
    assert json.loads(read_gz(s3, f"{base}/summary.json.gz")) == {"assets": 1}
    head = s3.head_object(Bucket="lake", Key=f"{base}/assets.jsonl.gz")
    assert head["ContentEncoding"] == "gzip"


def test_missing_bucket_leaves_findings_undelivered(s3: Any) -> None:
    findings = aws_findings(2)
    report = S3Sink("s3://no-such-bucket/x", S3Settings()).deliver(Batch("s", [from_ocsf(f) for f in findings], [], {}))
    assert report.delivered == 0
    assert [u.payload for u in report.undelivered] == findings
    assert "NoSuchBucket" in report.undelivered[0].reason


def test_bad_url_is_a_config_error() -> None:
    with pytest.raises(SinkConfigError, match="s3://bucket/prefix"):
        S3Sink("s3:///nobucket")


def test_security_lake_parquet_layout(s3: Any) -> None:
    pq = pytest.importorskip("pyarrow.parquet", reason="the optional 'parquet' extra is not installed")
    findings = [*aws_findings(3), finding(azure_asset(1), "AISPM-NET-003"),
                finding(gcp_asset(1), "AISPM-NET-001", status="pass")]
    sink = S3Sink("s3://lake/", S3Settings(security_lake=True, security_lake_source="aispm-findings"))
    assert sink.deliver(Batch("scan-7", [from_ocsf(f) for f in findings], [], {"assets": 0})).delivered == 5
    parquet = [k for k in keys(s3) if k.endswith(".parquet")]
    assert sorted(k.rsplit("/", 1)[0] for k in parquet) == [
        "ext/aispm-findings/region=us-central1/accountId=my-project/eventDay=20260101",
        "ext/aispm-findings/region=us-east-1/accountId=123456789012/eventDay=20260101",
        "ext/aispm-findings/region=westeurope/accountId=00000000-0000-0000-0000-000000000001/eventDay=20260101",
    ]
    assert all(k.rsplit("/", 1)[1].startswith("2003-scan-7-") for k in parquet)
    aws_key = next(k for k in parquet if "us-east-1" in k)
    table = pq.read_table(io.BytesIO(s3.get_object(Bucket="lake", Key=aws_key)["Body"].read()))
    rows = table.to_pylist()
    assert sorted(r["finding_info"]["uid"] for r in rows) == sorted(f["finding_info"]["uid"] for f in findings[:3])
    assert {r["class_uid"] for r in rows} == {2003}
    assert json.loads(rows[0]["resources"][0]["data"])["service"] == "sagemaker"
