"""Raw provider records -> the AI asset schema. Pure functions, no I/O."""

from __future__ import annotations

import importlib
from collections.abc import Sequence

from collectors.base import RawRecord
from normalizer.schema import Asset, Identity


class MappingError(ValueError):
    """A raw record the mapper cannot read (malformed API data)."""


def _mapper(provider: str) -> object:
    return importlib.import_module(f"normalizer.{provider}")


def normalize(provider: str, records: Sequence[RawRecord]) -> list[Asset]:
    """Map one scope's records of ``provider`` to assets."""
    if not records:
        return []
    try:
        return list(_mapper(provider).map_records(records))  # type: ignore[attr-defined]
    except (KeyError, TypeError, AttributeError, ValueError) as exc:
        raise MappingError(f"malformed {provider} record: {type(exc).__name__}: {exc}") from exc


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
    except (KeyError, TypeError, AttributeError, ValueError) as exc:
        raise MappingError(f"malformed {provider} identity record: {type(exc).__name__}: {exc}") from exc
