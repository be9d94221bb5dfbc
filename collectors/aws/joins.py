"""The roles and buckets a region's records name, read while the region's other calls are still in flight.

The identity join (the role each workload runs as, IAM-001) and the bucket join (AISPM-PRV-003) need every record
of the region, so they are made once the task graph has run. Their reads need only the record that first names a
role or a bucket: ``RegionJoins.prefetch`` starts them in the graph as soon as that record is in (ahead of the
describes waiting for a worker: there are few of them, and each is a chain of calls), and the joins
after the graph find them in the scan's caches (``RoleCache``, ``BucketReader``) instead of waiting for them one
after another at the end of the scope. The joins still read whatever the prefetch did not (a record made after
the graph, a read that was not started): prefetching changes when a call is made, never which.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from aispm.collectors.aws.buckets import BucketReader, bucket_of, s3_locations
from aispm.collectors.aws.iam import RoleCache
from aispm.collectors.aws.kinds import ROWS
from aispm.collectors.base import RawRecord
from aispm.collectors.tasks import TaskGraph


def _read(_: object, exc: Exception | None) -> None:
    """A prefetch's outcome is in the cache; a cloud error is the join's to report (it reads again)."""
    if exc is not None and not isinstance(exc, ClientError | BotoCoreError):
        raise exc


@dataclass
class RegionJoins:
    """One region's S3 clients (made once, shared by the prefetch and the join), IAM clients (one per account
    for the whole scan: IAM is global) and its prefetch."""

    account: str
    roles: RoleCache
    buckets: BucketReader
    iam: Callable[[str], Any | None]               # role account -> its IAM client, None when not reachable
    make_s3: Callable[[], tuple[Any, Any]]         # (s3, s3control) of the region
    _s3: tuple[Any, Any] | None = None
    _roles_named: set[str] = field(default_factory=set)
    _buckets_named: set[str] = field(default_factory=set)
    _listing: str = "not started"                  # the account's bucket list: "not started", "reading", "read"
    _waiting: set[str] = field(default_factory=set)   # buckets named while the account's list is being read

    def role(self, arn: str) -> RawRecord:
        """The identity record of role ``arn`` (read once per scan)."""
        return self.roles.get(lambda: self.iam(arn.split(":")[4]), arn, self.account)

    def s3(self) -> tuple[Any, Any]:
        if self._s3 is None:
            self._s3 = self.make_s3()
        return self._s3

    def verdicts(self, names: Iterable[str], pool: Any = None) -> dict[str, dict[str, Any]]:
        s3, s3control = self.s3()
        return self.buckets.verdicts(s3, s3control, self.account, set(names), pool)

    def prefetch(self, graph: TaskGraph, records: Iterable[RawRecord]) -> None:
        """Start the reads of the roles and buckets these records are the first to name (from the graph's
        thread, in a task's continuation)."""
        for rec in records:
            row = ROWS.get(rec.type)
            arn = row.identity_of(rec.data) if row is not None else None
            if arn and arn not in self._roles_named and arn.count(":") >= 5:
                self._roles_named.add(arn)
                graph.add(self.role, arn, then=_read, first=True)
            named = {bucket_of(u) for u in s3_locations(rec.type, rec.data)} - self._buckets_named
            if named:
                self._buckets_named |= named
                self._prefetch_buckets(graph, named)

    def _prefetch_buckets(self, graph: TaskGraph, names: set[str]) -> None:
        """The account's bucket list and public access block come first, read with the first buckets named;
        the buckets named meanwhile wait for it rather than hold a worker on its lock."""
        if self._listing == "read":
            for name in sorted(names):
                graph.add(self.verdicts, [name], then=_read, first=True)
        elif self._listing == "reading":
            self._waiting |= names
        else:
            self._listing = "reading"

            def listed(_: object, exc: Exception | None) -> None:
                _read(None, exc)
                self._listing = "read"
                waiting, self._waiting = self._waiting, set()
                if waiting:
                    self._prefetch_buckets(graph, waiting)

            graph.add(self.verdicts, sorted(names), then=listed, first=True)
