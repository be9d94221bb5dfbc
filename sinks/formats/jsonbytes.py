"""Compact JSON as bytes, the fast way: what the findings, assets and state files are written with.

orjson writes 5-10 times faster than ``json.dumps``; the text reads back to the same values, with non-ASCII
written as UTF-8 rather than escaped (and a NaN or infinite float, which JSON cannot carry, as ``null``). What
orjson refuses (a string with a lone surrogate, which a cloud's JSON can carry; an integer beyond 64 bits;
nesting deeper than 254) is written by ``json.dumps`` instead.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import orjson

# Datetimes and dataclasses go to ``default`` as with json.dumps; keys that are not strings are written as
# json.dumps writes them.
_OPTIONS = orjson.OPT_NON_STR_KEYS | orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_DATACLASS


def compact(value: Any, default: Callable[[Any], Any] = str) -> bytes:
    """``json.dumps(value, separators=(",", ":"), default=default)``, read back, as UTF-8 bytes."""
    try:
        return orjson.dumps(value, default=default, option=_OPTIONS)
    except orjson.JSONEncodeError:
        return json.dumps(value, separators=(",", ":"), default=default).encode("utf-8")


def json_lines(items: Iterable[Any]) -> Iterator[bytes]:
    """One compact JSON object per line."""
    for item in items:
        yield compact(item) + b"\n"
