"""Which managed identities an Azure ML resource runs as; shared by the collector and the mapper.

Pure (no SDK import), so the normalizer can use it without the Azure SDK.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

# Record types whose managed identity AISPM-IAM-001 analyzes.
IDENTITY_BEARING = frozenset({"workspace", "compute", "online_endpoint"})


def principals(resource: Mapping[str, Any]) -> list[tuple[str, str]]:
    """(principalId, label) of the system- and user-assigned identities of an ARM resource.

    The label says which identity it is: 'system-assigned' or the user-assigned
    identity's resource name.
    """
    identity = resource.get("identity")
    if not isinstance(identity, Mapping):
        return []
    out: list[tuple[str, str]] = []
    system = identity.get("principalId")
    if isinstance(system, str) and system:
        out.append((system, "system-assigned"))
    assigned = identity.get("userAssignedIdentities")
    if isinstance(assigned, Mapping):
        for rid, entry in assigned.items():
            pid = entry.get("principalId") if isinstance(entry, Mapping) else None
            if isinstance(pid, str) and pid and all(pid != p for p, _ in out):
                out.append((pid, str(rid).rstrip("/").rsplit("/", 1)[-1]))
    return out
