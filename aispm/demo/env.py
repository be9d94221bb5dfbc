"""Temporary environment variables for the demo's local fakes, restored exactly afterwards."""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager


@contextmanager
def patched_env(values: Mapping[str, str], unset: tuple[str, ...] = ()) -> Iterator[None]:
    """Set ``values`` and remove ``unset`` for the duration; every touched variable is restored."""
    saved = {k: os.environ.get(k) for k in (*values, *unset)}
    try:
        for key in unset:
            os.environ.pop(key, None)
        os.environ.update(values)
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
