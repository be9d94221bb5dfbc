"""Which AWS accounts and regions a scan covers, and the sessions that reach them.

Targets come from the caller's own account, ``--role-arn`` and ``--org``
(every ACTIVE account of the Organization, reached through the member role;
the management account itself through the caller's session). Assumed-role
sessions are cached per account and renewed shortly before they expire.
"""

from __future__ import annotations

import datetime as dt
import threading
from dataclasses import dataclass
from typing import Any

import boto3
import botocore.session
from botocore.exceptions import BotoCoreError, ClientError

from aispm.collectors.aws.session import client
from aispm.collectors.base import ApiCalls, one_line

SESSION_NAME = "aispm"
_RENEW_BEFORE = dt.timedelta(minutes=10)


class TargetError(Exception):
    """A target account or its regions could not be reached (a plan-time scope error)."""


def account_of(role_arn: str) -> str:
    """The account id of an IAM role ARN (``arn:aws:iam::<account>:role/<name>``)."""
    parts = role_arn.split(":")
    if len(parts) < 6 or parts[2] != "iam" or not parts[4].isdigit() or not parts[5].startswith("role/"):
        raise TargetError(f"not an IAM role ARN: {role_arn!r}")
    return parts[4]


@dataclass
class _Assumed:
    role_arn: str
    session: boto3.Session
    expires: dt.datetime


class Sessions:
    """The caller's session plus one assumed-role session per target account."""

    def __init__(self, base: boto3.Session, external_id: str | None, calls: ApiCalls,
                 renew_before: dt.timedelta = _RENEW_BEFORE) -> None:
        self.base = base
        self.renew_before = renew_before
        self.external_id = external_id
        self.calls = calls
        self.region = base.region_name or "us-east-1"
        self._caller: dict[str, str] | None = None
        self._assumed: dict[str, _Assumed] = {}
        self._roles: dict[str, str] = {}
        self._lock = threading.Lock()
        self._account_locks: dict[str, threading.Lock] = {}

    def caller(self) -> dict[str, str]:
        """``{"Account", "Arn"}`` of the credentials the scan started with."""
        if self._caller is None:
            ident = client(self.base, "sts", self.region, self.calls).get_caller_identity()
            self._caller = {"Account": str(ident["Account"]), "Arn": str(ident["Arn"])}
        return self._caller

    @property
    def partition(self) -> str:
        return self.caller()["Arn"].split(":")[1] or "aws"

    def register(self, account: str, role_arn: str | None) -> None:
        """Remember how to reach ``account`` (``None``: with the caller's own session)."""
        if role_arn:
            self._roles[account] = role_arn

    def known(self, account: str) -> bool:
        return account in self._roles or account == self.caller()["Account"]

    def session(self, account: str, role_arn: str | None = None) -> boto3.Session:
        """The session for ``account``: the caller's own, or an assumed role (cached, renewed before expiry)."""
        role_arn = role_arn or self._roles.get(account)
        if not role_arn:
            if account != self.caller()["Account"]:
                raise TargetError(f"no role to reach account {account}")
            return self.base
        with self._lock:
            lock = self._account_locks.setdefault(account, threading.Lock())
        with lock:
            cached = self._assumed.get(account)
            if cached and cached.role_arn == role_arn and cached.expires - self.renew_before > dt.datetime.now(dt.UTC):
                return cached.session
            self._roles[account] = role_arn
            self._assumed[account] = self._assume(role_arn)
            return self._assumed[account].session

    def _core_session(self) -> botocore.session.Session:
        """A botocore session sharing the base session's data loader: every session otherwise decodes and keeps
        its own copy of each service model and endpoint table (0.3-0.6 s of CPU and megabytes per account)."""
        core = botocore.session.Session()
        loader = self.base._session.get_component("data_loader")
        core.register_component("data_loader", loader)
        with self._lock:   # boto3.Session adds its resource path to the shared loader each time: keep one
            paths = loader.search_paths
            paths[:] = list(dict.fromkeys(paths))
        return core

    def _assume(self, role_arn: str) -> _Assumed:
        kwargs: dict[str, Any] = {"RoleArn": role_arn, "RoleSessionName": SESSION_NAME}
        if self.external_id:
            kwargs["ExternalId"] = self.external_id
        try:
            creds = client(self.base, "sts", self.region, self.calls).assume_role(**kwargs)["Credentials"]
        except (ClientError, BotoCoreError) as exc:
            raise TargetError(f"cannot assume {role_arn}: {one_line(exc)}") from exc
        session = boto3.Session(
            aws_access_key_id=creds["AccessKeyId"],
            aws_secret_access_key=creds["SecretAccessKey"],
            aws_session_token=creds["SessionToken"],
            region_name=self.region,
            botocore_session=self._core_session(),
        )
        expires = creds.get("Expiration")
        if not isinstance(expires, dt.datetime):
            expires = dt.datetime.now(dt.UTC) + dt.timedelta(hours=1)
        elif expires.tzinfo is None:
            expires = expires.replace(tzinfo=dt.UTC)
        return _Assumed(role_arn=role_arn, session=session, expires=expires)


def org_accounts(sessions: Sessions) -> tuple[list[str], list[str]]:
    """(ACTIVE account ids, every account id) of the caller's Organization."""
    org = client(sessions.base, "organizations", sessions.region, sessions.calls)
    active: list[str] = []
    every: list[str] = []
    for page in org.get_paginator("list_accounts").paginate():
        for acct in page.get("Accounts", []):
            every.append(str(acct["Id"]))
            if (acct.get("State") or acct.get("Status")) == "ACTIVE":
                active.append(str(acct["Id"]))
    return active, every


def enabled_regions(session: boto3.Session, partition: str, home: str, calls: ApiCalls) -> list[str]:
    """Regions where SageMaker or Bedrock is offered (botocore partition data) that the account has enabled."""
    offered = sorted({r for service in ("sagemaker", "bedrock")
                      for r in session.get_available_regions(service, partition_name=partition)})
    try:
        resp = client(session, "ec2", home, calls).describe_regions()
        enabled = {str(r["RegionName"]) for r in resp.get("Regions", [])}
    except (ClientError, BotoCoreError) as ec2_exc:
        try:
            acct = client(session, "account", home, calls)
            enabled = {
                str(r["RegionName"])
                for page in acct.get_paginator("list_regions").paginate(
                    RegionOptStatusContains=["ENABLED", "ENABLED_BY_DEFAULT"])
                for r in page.get("Regions", [])
            }
        except (ClientError, BotoCoreError) as exc:
            raise TargetError(f"cannot list enabled regions: ec2:DescribeRegions: {one_line(ec2_exc)}; "
                              f"account:ListRegions: {one_line(exc)}") from exc
    return [r for r in offered if r in enabled]
