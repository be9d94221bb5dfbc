"""Fixtures of the transport tests."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws


@pytest.fixture
def session() -> Iterator[Any]:
    """A session on moto with Security Hub enabled in us-east-1."""
    with mock_aws():
        boto3.client("securityhub", region_name="us-east-1").enable_security_hub()
        yield boto3.Session(region_name="us-east-1")
