"""``aispm scan --provider aws`` as a user runs it: a subprocess against a moto moto_server, many accounts."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import boto3
import pytest

ROOT = Path(__file__).resolve().parents[2]
MGMT = "123456789012"




def _client(url: str, service: str, creds: dict[str, str] | None = None) -> Any:
    extra = {} if creds is None else {"aws_access_key_id": creds["AccessKeyId"],
                                      "aws_secret_access_key": creds["SecretAccessKey"],
                                      "aws_session_token": creds["SessionToken"]}
    return boto3.client(service, region_name="us-east-1", endpoint_url=url, **extra)  # type: ignore[call-overload]


@pytest.mark.slow
def test_cli_org_scan_covers_member_accounts(moto_server: str, tmp_path: Path) -> None:
    org = _client(moto_server, "organizations")
    org.create_organization(FeatureSet="ALL")
    org.create_account(Email="prod@example.com", AccountName="prod")
    [member] = [a["Id"] for a in org.list_accounts()["Accounts"] if a["Id"] != MGMT]
    creds = _client(moto_server, "sts").assume_role(RoleArn=f"arn:aws:iam::{member}:role/aispm-member-read",
                                               RoleSessionName="setup")["Credentials"]
    for c in (None, creds):
        role = _client(moto_server, "iam", c).create_role(RoleName="exec", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
        _client(moto_server, "sagemaker", c).create_notebook_instance(
            NotebookInstanceName="nb", InstanceType="ml.t3.medium", RoleArn=role, DirectInternetAccess="Disabled")
    proc = subprocess.run(
        [sys.executable, "-m", "aispm", "scan", "--provider", "aws", "--org", "--region", "us-east-1",
         "--out", str(tmp_path)], cwd=ROOT, capture_output=True, text=True, timeout=300, check=False,
        env={**os.environ, "AWS_ENDPOINT_URL": moto_server})
    assert proc.returncode == 0, proc.stderr
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert sorted(s["scope"] for s in summary["scopes"]) == sorted(
        [f"aws:{MGMT}:us-east-1", f"aws:{member}:us-east-1"])
    assets = [json.loads(line) for line in (tmp_path / "assets.jsonl").read_text().splitlines()]
    assert sorted(a["uid"] for a in assets) == sorted(
        f"arn:aws:sagemaker:us-east-1:{acct}:notebook-instance/nb" for acct in (MGMT, member))
