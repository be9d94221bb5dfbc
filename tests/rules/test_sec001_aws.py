"""SEC-001 precision on AWS: ``aispm scan`` against moto, from models' container environments to the output files.

moto stores a model's ``PrimaryContainer.Environment`` and ``Containers[].Environment``
but not a training or processing job's ``Environment``; those are covered from the
raw records the collector produces (as in test_rules_aws.py).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

from aispm.cli import main
from aispm.normalizer import normalize
from tests.support.aws import one, pj, record, tj
from tests.support.sec001 import CLEAN_ENV, PASSWORDS, SECRET_ENV, assert_scan_output, named, sec001

ROLE = "arn:aws:iam::123456789012:role/exec"


@pytest.fixture
def sm() -> Iterator[Any]:
    with mock_aws():
        iam = boto3.client("iam", region_name="us-east-1")
        trust = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole",
                                                         "Principal": {"Service": "sagemaker.amazonaws.com"}}]}
        assert iam.create_role(RoleName="exec", AssumeRolePolicyDocument=json.dumps(trust))["Role"]["Arn"] == ROLE
        yield boto3.client("sagemaker", region_name="us-east-1")


def _scan(out: Path) -> None:
    assert main(["scan", "--provider", "aws", "--region", "us-east-1", "--out", str(out)]) == 0


IMAGE = "763104351884.dkr.ecr.us-east-1.amazonaws.com/huggingface-pytorch-inference:2.1"


def test_model_primary_container_environment(sm: Any, tmp_path: Path) -> None:
    sm.create_model(ModelName="leaky", ExecutionRoleArn=ROLE,
                    PrimaryContainer={"Image": IMAGE, "Environment": SECRET_ENV})
    sm.create_model(ModelName="clean", ExecutionRoleArn=ROLE,
                    PrimaryContainer={"Image": IMAGE, "Environment": CLEAN_ENV})
    _scan(tmp_path)
    assert_scan_output(tmp_path, "leaky", "clean")


def test_model_containers_each_named_in_the_detail(sm: Any, tmp_path: Path) -> None:
    sm.create_model(ModelName="pipeline", ExecutionRoleArn=ROLE, Containers=[
        {"ContainerHostname": "tokenize", "Image": IMAGE, "Environment": {"MAX_TOKENS": "4096"}},
        {"ContainerHostname": "serve", "Image": IMAGE,
         "Environment": {"DATABASE_URL": SECRET_ENV["DATABASE_URL"], "NUM_TOKENS_PER_BATCH": "8"}},
    ])
    sm.create_model(ModelName="counts-only", ExecutionRoleArn=ROLE, Containers=[
        {"ContainerHostname": "a", "Image": IMAGE, "Environment": {"MAX_TOKENS": "4096", "TOKENIZER_PATH": "/t"}},
        {"ContainerHostname": "b", "Image": IMAGE, "Environment": {"KEYSTONE_URL": "https://ks:5000/v3"}},
    ])
    _scan(tmp_path)
    found = sec001(tmp_path)
    detail = found["pipeline"]["status_detail"]
    assert found["pipeline"]["compliance"]["status"] == "Fail"
    assert "serve:DATABASE_URL (value is a URL with a literal password)" in detail
    assert not named(detail, "MAX_TOKENS") and not named(detail, "NUM_TOKENS_PER_BATCH")
    assert found["counts-only"]["compliance"]["status"] == "Pass"
    for name in ("findings.ocsf.jsonl", "assets.jsonl"):
        assert "Tr0ub4dor" not in (tmp_path / name).read_text()


@pytest.mark.parametrize("type_", ["training_job", "processing_job"])
def test_job_environment_records(type_: str) -> None:
    make = tj if type_ == "training_job" else pj
    status, detail = one(type_, make(Environment=SECRET_ENV), "AISPM-SEC-001") or ("", "")
    assert status == "fail"
    assert all(named(detail, variable) for variable in SECRET_ENV)
    assert not any(v in detail for v in (*SECRET_ENV.values(), *PASSWORDS))
    status, detail = one(type_, make(Environment=CLEAN_ENV), "AISPM-SEC-001") or ("", "")
    assert status == "pass", detail
    [asset] = normalize("aws", [record(type_, make(Environment={**CLEAN_ENV, **SECRET_ENV}))])
    dumped = asset.model_dump_json()
    assert not any(v in dumped for v in (*SECRET_ENV.values(), *PASSWORDS))
    assert '"4096"' in dumped
