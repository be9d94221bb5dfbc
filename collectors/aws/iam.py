"""Execution roles and their policies, read once per scan however many assets share them."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from aispm.collectors.base import RawRecord, one_line


class RoleCache:
    """Role ARN -> identity record, and managed policy ARN -> default-version document, per scan."""

    def __init__(self) -> None:
        self._roles: dict[str, RawRecord] = {}
        self._policies: dict[str, dict[str, Any]] = {}
        self._lock = threading.Lock()
        self._role_locks: dict[str, threading.Lock] = {}

    def get(self, iam: Callable[[], Any | None], arn: str, account: str) -> RawRecord:
        """The role's identity record. ``iam()`` gives the IAM client of the role's account (None when that
        account is not reachable), asked only when the role is not read yet."""
        with self._lock:
            lock = self._role_locks.setdefault(arn, threading.Lock())
        with lock:
            if arn not in self._roles:
                self._roles[arn] = self._read(iam(), arn, account)
            return self._roles[arn]

    def _read(self, iam: Any | None, arn: str, account: str) -> RawRecord:
        name = arn.rsplit("/", 1)[-1]
        data: dict[str, Any] = {"RoleArn": arn, "RoleName": name, "Policies": []}
        role_account = arn.split(":")[4] if arn.count(":") >= 5 else ""
        try:
            if iam is None:
                raise PermissionError(f"role is in account {role_account}, which this scan cannot read")
            for page in iam.get_paginator("list_attached_role_policies").paginate(RoleName=name):
                for att in page.get("AttachedPolicies", []):
                    data["Policies"].append(self._managed(iam, att["PolicyArn"]))
            for page in iam.get_paginator("list_role_policies").paginate(RoleName=name):
                for pname in page.get("PolicyNames", []):
                    doc = iam.get_role_policy(RoleName=name, PolicyName=pname)["PolicyDocument"]
                    data["Policies"].append({"PolicyName": f"inline:{pname}", "Document": doc})
        except (ClientError, BotoCoreError, PermissionError) as exc:
            data["Error"] = one_line(exc)
        return RawRecord(provider="aws", type="iam_role", account=account, region="", data=data)

    def _managed(self, iam: Any, policy_arn: str) -> dict[str, Any]:
        with self._lock:
            cached = self._policies.get(policy_arn)
        if cached is not None:
            return cached
        version = iam.get_policy(PolicyArn=policy_arn)["Policy"]["DefaultVersionId"]
        doc = iam.get_policy_version(PolicyArn=policy_arn, VersionId=version)["PolicyVersion"]["Document"]
        entry = {"PolicyName": policy_arn, "Document": doc}
        with self._lock:
            self._policies[policy_arn] = entry
        return entry
