"""The S3 locations AI assets train from or serve from, and whether each bucket is public (AISPM-PRV-003).

Each bucket is read once per scan however many assets use it: its policy status, its ACL and its public
access block; each scanned account's own bucket list and account-level public access block once per
account. A bucket the scope's account does not own is not read (rules-v2.md: a location in another account
is an evaluation error, never a Pass); nor is one whose reads fail.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from aispm.collectors.aws.session import error_code
from aispm.collectors.base import one_line

_PUBLIC_GRANTEES = ("http://acs.amazonaws.com/groups/global/AllUsers",
                    "http://acs.amazonaws.com/groups/global/AuthenticatedUsers")
_BLOCK_KEYS = ("BlockPublicAcls", "IgnorePublicAcls", "BlockPublicPolicy", "RestrictPublicBuckets")
_NO_CONFIG = {"NoSuchPublicAccessBlockConfiguration", "NoSuchBucketPolicy"}


def _at(data: Mapping[str, Any], *path: str) -> Any:
    cur: Any = data
    for part in path:
        cur = cur.get(part) if isinstance(cur, Mapping) else None
    return cur


def s3_locations(kind: str, data: Mapping[str, Any]) -> list[str]:
    """The ``s3://`` locations (rules-v2.md PRV-003) a record trains from or serves from, in field order."""
    found: list[Any] = []
    if kind == "training_job":
        found += [_at(c, "DataSource", "S3DataSource", "S3Uri") for c in data.get("InputDataConfig") or []]
        found.append(_at(data, "OutputDataConfig", "S3OutputPath"))
    elif kind == "model":
        for c in [data.get("PrimaryContainer") or {}, *(data.get("Containers") or [])]:
            found += [c.get("ModelDataUrl"), _at(c, "ModelDataSource", "S3DataSource", "S3Uri")]
    elif kind == "knowledge_base":
        for source in data.get("dataSources") or []:
            bucket_arn = _at(source, "dataSourceConfiguration", "s3Configuration", "bucketArn")
            if isinstance(bucket_arn, str) and bucket_arn.startswith("arn:"):
                found.append("s3://" + bucket_arn.rsplit(":", 1)[-1])
    elif kind == "custom_model":
        found += [_at(data, "trainingDataConfig", "s3Uri"), _at(data, "modelDataSource", "s3DataSource", "s3Uri")]
    out: list[str] = []
    for uri in found:
        if isinstance(uri, str) and uri.startswith("s3://") and uri not in out:
            out.append(uri)
    return out


def bucket_of(uri: str) -> str:
    return uri.removeprefix("s3://").split("/", 1)[0]


class BucketReader:
    """Bucket verdicts for one scan: ``{"public": bool, "why": str}`` or ``{"error": str}`` per bucket."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._buckets: dict[str, dict[str, Any]] = {}
        self._accounts: dict[str, tuple[frozenset[str], bool | str] | str] = {}
        self._pending: dict[str, threading.Lock] = {}

    def verdicts(self, s3: Any, s3control: Any, account: str, buckets: set[str],
                 pool: Callable[[Callable[[str], dict[str, Any]], list[str]], list[dict[str, Any]]] | None = None,
                 ) -> dict[str, dict[str, Any]]:
        """The verdict of each bucket; ``pool`` (a mapper such as ``TaskGraph.map``) reads them concurrently."""
        owned = self._account(s3, s3control, account)

        def one(bucket: str) -> dict[str, Any]:
            if isinstance(owned, str):
                return {"error": f"the buckets of account {account} could not be listed: {owned}"}
            if bucket not in owned[0]:
                return {"error": f"bucket {bucket} is not in account {account} (another account's, or gone)"}
            return _with_account_block(bucket, self._bucket(s3, bucket), account, owned[1])

        names = sorted(buckets)
        return dict(zip(names, (pool or _serial)(one, names), strict=True))

    def _once(self, key: str) -> threading.Lock:
        with self._lock:
            return self._pending.setdefault(key, threading.Lock())

    def _account(self, s3: Any, s3control: Any, account: str) -> tuple[frozenset[str], bool | str] | str:
        """The account's bucket names and whether its public access block blocks everything (or why that
        could not be read), or why its buckets could not be listed."""
        with self._once(f"account:{account}"):
            if account in self._accounts:
                return self._accounts[account]
            value: tuple[frozenset[str], bool | str] | str
            try:
                names = frozenset(str(b["Name"]) for page in s3.get_paginator("list_buckets").paginate()
                                  for b in page.get("Buckets", []))
            except (ClientError, BotoCoreError) as exc:
                value = one_line(exc)
            else:
                blocked: bool | str
                try:
                    block = s3control.get_public_access_block(AccountId=account)["PublicAccessBlockConfiguration"]
                    blocked = all(block.get(k) is True for k in _BLOCK_KEYS)
                except ClientError as exc:
                    blocked = False if error_code(exc) in _NO_CONFIG else one_line(exc)
                except BotoCoreError as exc:
                    blocked = one_line(exc)
                value = (names, blocked)
            self._accounts[account] = value
            return value

    def _bucket(self, s3: Any, bucket: str) -> dict[str, Any]:
        with self._once(f"bucket:{bucket}"):
            if bucket in self._buckets:
                return self._buckets[bucket]
            try:
                verdict = self._read(s3, bucket)
            except (ClientError, BotoCoreError) as exc:
                verdict = {"error": f"bucket {bucket} could not be read: {one_line(exc)}"}
            self._buckets[bucket] = verdict
            return verdict

    @staticmethod
    def _read(s3: Any, bucket: str) -> dict[str, Any]:
        """The bucket's own verdict; the owning account's block is applied by the caller."""
        try:
            block = s3.get_public_access_block(Bucket=bucket)["PublicAccessBlockConfiguration"]
            bucket_blocked = all(block.get(k) is True for k in _BLOCK_KEYS)
        except ClientError as exc:
            if error_code(exc) not in _NO_CONFIG:
                raise
            bucket_blocked = False
        reasons: list[str] = []
        try:
            if s3.get_bucket_policy_status(Bucket=bucket)["PolicyStatus"].get("IsPublic") is True:
                reasons.append("its bucket policy is public")
        except ClientError as exc:
            if error_code(exc) not in _NO_CONFIG:
                raise
        grants = s3.get_bucket_acl(Bucket=bucket).get("Grants") or []
        for grantee in sorted({str(_at(g, "Grantee", "URI")) for g in grants} & set(_PUBLIC_GRANTEES)):
            reasons.append(f"its ACL grants {grantee.rsplit('/', 1)[-1]}")
        if reasons and bucket_blocked:
            return {"public": False, "why": f"the bucket's public access block overrides: {'; '.join(reasons)}"}
        if reasons:
            return {"public": True, "why": "; ".join(reasons)}
        return {"public": False, "why": "no public policy or ACL grant"}


def _serial(fn: Callable[[str], dict[str, Any]], items: list[str]) -> list[dict[str, Any]]:
    return [fn(i) for i in items]


def _with_account_block(bucket: str, verdict: dict[str, Any], account: str, blocked: bool | str) -> dict[str, Any]:
    """A bucket that looks public is not when its account blocks all public access; when that block could not
    be read, the verdict is unknown (an error), never a guess."""
    if verdict.get("public") is not True:
        return verdict
    if blocked is True:
        return {"public": False, "why": f"the account's public access block overrides: {verdict['why']}"}
    if isinstance(blocked, str):
        return {"error": f"bucket {bucket} looks public ({verdict['why']}) but the public access block of "
                         f"account {account} could not be read: {blocked}"}
    return verdict
