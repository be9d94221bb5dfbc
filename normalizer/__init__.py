"""Raw provider records -> the AI asset schema. Pure functions, no I/O."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from aispm.collectors.base import RawRecord
from aispm.normalizer.providers import PROVIDERS
from aispm.normalizer.schema import Asset, Identity

_MALFORMED = (KeyError, TypeError, AttributeError, ValueError, IndexError)


class MappingError(ValueError):
    """A raw record the mapper cannot read (malformed API data)."""


def _mapper(provider: str) -> object:

    return PROVIDERS[provider].mappers()


def normalize(provider: str, records: Sequence[RawRecord], errors: list[str] | None = None) -> list[Asset]:
    """Map one scope's records of ``provider`` to assets.

    Each provider module offers ``Context(records)`` (facts spanning the scope's records, e.g. which
    endpoints a monitoring job watches) and ``MAPPERS`` (record type -> mapper); record types without a
    mapper only inform others. With ``errors`` given, a malformed record is reported there and skipped,
    so one bad record costs only itself; without it, the first one raises MappingError.
    """
    if not records:
        return []
    module: Any = _mapper(provider)
    try:
        ctx = module.Context(records)
    except _MALFORMED as exc:
        raise MappingError(f"malformed {provider} records: {type(exc).__name__}: {exc}") from exc
    assets: list[Asset] = []
    for record in records:
        mapper = module.MAPPERS.get(record.type)
        if mapper is None:
            continue
        try:
            assets.append(mapper(record, ctx))
        except _MALFORMED as exc:
            problem = f"malformed {provider} {record.type} record: {type(exc).__name__}: {exc}"
            if errors is None:
                raise MappingError(problem) from exc
            errors.append(problem)
    return assets


def normalize_identities(provider: str, records: Sequence[RawRecord]) -> list[Identity]:
    """Map identity records (roles, principals, service accounts) of ``provider``."""
    if not records:
        return []
    module = _mapper(provider)
    mapper = getattr(module, "map_identities", None)
    if mapper is None:
        return []
    try:
        return list(mapper(records))
    except _MALFORMED as exc:
        raise MappingError(f"malformed {provider} identity record: {type(exc).__name__}: {exc}") from exc
