"""What every Azure mapper (Machine Learning and Azure AI Services) reads the same way from an ARM record.

Enum values are compared case-insensitively, as Resource Manager does.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aispm.collectors.azure.kinds import ROWS
from aispm.collectors.azure.principals import principals
from aispm.collectors.base import RawRecord
from aispm.normalizer.common import dig, identity_fields


def fold(value: Any) -> str:
    return str(value).casefold() if value is not None else ""


def obj(value: Any, where: str) -> Mapping[str, Any]:
    """A JSON object field: absent is empty, anything but an object is malformed data."""
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise ValueError(f"{where} is not a JSON object")
    return value


def tags(d: Mapping[str, Any]) -> dict[str, str]:
    raw = d.get("tags")
    return {str(k): "" if v is None else str(v) for k, v in raw.items()} if isinstance(raw, Mapping) else {}


def parent(uid: str, levels: int = 1) -> str:
    """The id ``levels`` resources up (each level is a type/name pair)."""
    parts = uid.rstrip("/").split("/")
    return "/".join(parts[: len(parts) - 2 * levels])


def base(rec: RawRecord, *, taggable: bool = True) -> dict[str, Any]:
    """uid, name, service, tags and creation time; the kind is the record's type, a row of the kind table."""
    d = rec.data
    uid = str(d["id"])
    row = ROWS[rec.type]
    return identity_fields(rec, row.kind, uid, str(d.get("name") or uid.rsplit("/", 1)[-1]),
                           tags(d) if taggable else {},
                           dig(d, "systemData.createdAt") or dig(d, "properties.createdOn"), taggable=taggable,
                           service=row.service)


def identities(rec: RawRecord) -> tuple[str, ...]:
    """The managed identities the resource runs as, from the field its kind's row names."""
    return tuple(pid for pid, _ in principals(rec.type, rec.data))


def details(**values: Any) -> dict[str, str]:
    return {k: str(v) for k, v in values.items() if v not in (None, "", {}, [])}
