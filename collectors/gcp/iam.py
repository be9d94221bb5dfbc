"""Service accounts that Vertex workloads run as, and the project IAM policy they are judged against.

The policy is read once per project per scan (``PolicyCache``), however many
location units of that project name a service account; a failed read is cached
too, so one denied project costs one call.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from typing import Any

from aispm.collectors.base import RawRecord
from aispm.collectors.gcp.kinds import ROWS


def service_accounts(record: RawRecord) -> list[str]:
    """Emails of the service accounts a record's workload runs as, where its kind's row says they are."""
    row = ROWS.get(record.type)
    return row.service_accounts(record.data) if row else []


def project_number(record: RawRecord) -> str:
    """The project number in a Vertex resource name (``projects/<number>/locations/...``)."""
    parts = str(record.data.get("name", "")).split("/")
    return parts[1] if len(parts) > 1 and parts[0] == "projects" else ""


class PolicyCache:
    """Project id -> (policy JSON, or the one-line error that prevented reading it)."""

    def __init__(self, errors: tuple[type[BaseException], ...], describe_error: Callable[[BaseException], str]) -> None:
        self._errors = errors
        self._describe = describe_error
        self._policies: dict[str, tuple[dict[str, Any], str | None]] = {}
        self._lock = threading.Lock()
        self._project_locks: dict[str, threading.Lock] = {}

    def get(self, project: str, fetch: Callable[[str], dict[str, Any]]) -> tuple[dict[str, Any], str | None]:
        """The cached policy of ``project``; ``fetch`` runs only for the first caller of the scan."""
        with self._lock:
            lock = self._project_locks.setdefault(project, threading.Lock())
        with lock:
            if project not in self._policies:
                try:
                    self._policies[project] = (fetch(project), None)
                except self._errors as exc:
                    self._policies[project] = ({}, self._describe(exc))
            return self._policies[project]


def identity_records(project: str, number: str, emails: Iterable[str], policy: dict[str, Any],
                     error: str | None) -> list[RawRecord]:
    """One record per service account: the bindings of the project policy that name it."""
    out: list[RawRecord] = []
    for email in sorted(set(emails)):
        # IAM compares member emails case-insensitively.
        member = f"serviceAccount:{email}".lower()
        bindings = [
            {k: v for k, v in b.items() if k in ("role", "condition")}
            for b in policy.get("bindings") or []
            if isinstance(b, dict) and member in {str(m).lower() for m in b.get("members") or []}
        ]
        data: dict[str, Any] = {"email": email, "projectId": project, "projectNumber": number, "bindings": bindings}
        if error:
            data["error"] = error
        out.append(RawRecord(provider="gcp", type="service_account", account=project, region="", data=data))
    return out
