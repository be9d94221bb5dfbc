"""What every AWS mapper fills the same way: the asset's identity fields (from the kind table's row),
customer-managed-key facts and the role a workload runs as."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aispm.collectors.aws.kinds import ROWS
from aispm.collectors.base import RawRecord
from aispm.normalizer.common import fact, identity_fields, present
from aispm.normalizer.schema import Fact

# SageMaker says CreationTime, Bedrock guardrails and agents createdAt, Bedrock models creationTime.
_CREATED = ("CreationTime", "createdAt", "creationTime")


def tags_of(data: Mapping[str, Any]) -> dict[str, str]:
    return {str(t["Key"]): str(t.get("Value", "")) for t in data.get("Tags") or [] if "Key" in t}


def base(rec: RawRecord, *, uid: str | None = None, name: str | None = None, service: str | None = None
         ) -> dict[str, Any]:
    """uid, name, service, tags and creation time of the record's kind, as its row in the kind table says."""
    d = rec.data
    row = ROWS.get(rec.type)   # the kinds without a list call (ai_service_settings) pass their fields
    created = next((d[k] for k in _CREATED if d.get(k)), None)
    return identity_fields(rec, rec.type, uid if uid is not None else d[ROWS[rec.type].uid_key],
                           name if name is not None else d[ROWS[rec.type].name_key], tags_of(d), created,
                           service=service or (row.service if row else None), tags_known="TagsError" not in d)


def cmk(value: Any, source: str) -> Fact:
    return fact(present(value), source, value)


def role(arn: Any) -> tuple[str, ...]:
    return (str(arn),) if arn else ()
