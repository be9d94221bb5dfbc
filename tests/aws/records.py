"""Building raw AWS records the way the collector produces them."""

from __future__ import annotations

from typing import Any

from aispm.collectors.base import RawRecord


def record(type_: str, data: dict[str, Any], account: str = "123456789012", region: str = "us-east-1") -> RawRecord:
    return RawRecord(provider="aws", type=type_, account=account, region=region, data=data)
