"""Which managed identities an Azure ML resource runs as; shared by the collector and the mapper.

Pure (no SDK import), so the normalizer can use it without the Azure SDK.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aispm.collectors.azure.kinds import ROWS


def principals(record_type: str, resource: Mapping[str, Any]) -> list[tuple[str, str]]:
    """(principalId, label) of the system- and user-assigned identities of an ARM resource, read from the
    field its kind's row names (none for kinds without one).

    The label says which identity it is: 'system-assigned' or the user-assigned
    identity's resource name.
    """
    row = ROWS.get(record_type)
    identity = row.identity_block(resource) if row else None
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
