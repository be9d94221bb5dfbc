from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from aispm.testing import moto_gaps


@pytest.fixture
def aws() -> Iterator[None]:
    # Whole-region collection calls ListMonitoringSchedules, ListUserProfiles, ListSpaces and
    # GetModelPackageGroupPolicy, which moto lacks; the demo's emulator extension answers them from
    # what a test seeds. Their exact wire handling is tested with botocore's Stubber (test_collector_gaps.py).
    moto_gaps.install()
    moto_gaps.reset()
    with mock_aws():
        yield


@pytest.fixture
def sm(aws: None) -> Any:
    return boto3.client("sagemaker", region_name="us-east-1")
