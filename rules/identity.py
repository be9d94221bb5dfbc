"""Decide whether a workload identity is over-privileged (AISPM-IAM-001).

Kept apart from the rule so each identity is analyzed once per scan, however
many assets run as it (see ``IdentityVerdicts``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from fnmatch import fnmatchcase
from functools import lru_cache

from aispm.normalizer.schema import Identity, PolicyStatement

AZURE_PRIVILEGED_ROLES: dict[str, str] = {
    "8e3af657-a8ff-443c-a75c-2fe8c4bcb635": "Owner",
    "b24988ac-6180-42a0-ab88-20f7382dd24c": "Contributor",
    "18d7d88d-d35e-4fb5-a5c3-7773c20a72d9": "User Access Administrator",
    "f58310d9-a9f6-439a-9e8d-f62e7b41a168": "Role Based Access Control Administrator",
}
GCP_PRIVILEGED_ROLES = ("roles/owner", "roles/editor")

_BROAD_SCOPE = re.compile(
    r"^(/|/subscriptions/[^/]+/?|/subscriptions/[^/]+/resourcegroups/[^/]+/?"
    r"|/providers/microsoft\.management/managementgroups/[^/]+/?)$",
    re.IGNORECASE,
)


def _covers(patterns: tuple[str, ...], action: str) -> bool:
    return any(fnmatchcase(action.lower(), p.lower()) for p in patterns)


def _grants(stmt: PolicyStatement, action: str) -> bool:
    """Whether an Allow statement grants ``action`` (Action or NotAction form)."""
    if stmt.actions:
        return _covers(stmt.actions, action)
    if stmt.not_actions:
        return not _covers(stmt.not_actions, action)
    return False


def _any_resource(stmt: PolicyStatement) -> bool:
    # NotResource in an Allow grants every resource but the excluded ones: as broad as "*".
    return "*" in stmt.resources or bool(stmt.not_resources)


def aws_privileged_grants(statements: tuple[PolicyStatement, ...]) -> list[str]:
    found: list[str] = []
    for stmt in statements:
        if stmt.effect != "Allow" or stmt.conditional:
            continue
        star = _any_resource(stmt)
        full_admin = star and any(a in ("*", "*:*") for a in stmt.actions)
        checks = (
            ("*:* on *", full_admin),
            ("iam:*", not full_admin and _grants(stmt, "iam:*") and _grants(stmt, "iam:CreateUser")),
            ("iam:PassRole on *", not full_admin and star and _grants(stmt, "iam:PassRole")),
            ("sts:AssumeRole on *", not full_admin and star and _grants(stmt, "sts:AssumeRole")),
            ("s3:* on *", not full_admin and star and _grants(stmt, "s3:*")),
        )
        for label, hit in checks:
            text = f"{label} ({stmt.policy})"
            if hit and text not in found:
                found.append(text)
    return found


def azure_privileged_grants(identity: Identity) -> list[str]:
    found: list[str] = []
    for ra in identity.role_assignments:
        guid = ra.role_definition_id.rstrip("/").rsplit("/", 1)[-1].lower()
        role = AZURE_PRIVILEGED_ROLES.get(guid)
        if role and _BROAD_SCOPE.match(ra.scope):
            found.append(f"{role} at {ra.scope}")
    return found


def gcp_privileged_grants(identity: Identity) -> list[str]:
    found: list[str] = []
    if identity.default_compute_account:
        found.append("Compute Engine default service account")
    found.extend(f"{role} on the project" for role in identity.project_roles if role in GCP_PRIVILEGED_ROLES)
    return found


def privileged_grants(identity: Identity) -> list[str]:
    """Human-readable list of the grants that make ``identity`` over-privileged (empty: it is not)."""
    if identity.provider == "aws":
        return aws_privileged_grants(identity.statements)
    if identity.provider == "azure":
        return azure_privileged_grants(identity)
    return gcp_privileged_grants(identity)


@lru_cache(maxsize=16384)
def _analyzed(identity: Identity) -> tuple[str, ...]:
    # Identities are frozen and hashable: the same role, principal or service account met by several
    # scope units of a scan (an IAM role shared across regions) is analyzed once.
    return tuple(privileged_grants(identity))


class IdentityVerdicts:
    """The identities one scope unit's assets run as, with their analysis memoized across the scan."""

    def __init__(self, identities: Mapping[str, Identity]) -> None:
        self._identities = identities

    def get(self, uid: str) -> Identity | None:
        return self._identities.get(uid)

    def grants(self, identity: Identity) -> tuple[str, ...]:
        return _analyzed(identity)
