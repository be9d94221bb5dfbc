"""The Powertools logger writes to the stream it found at import; each test gets its own."""

from __future__ import annotations

import io
from collections.abc import Iterator

import pytest


@pytest.fixture(autouse=True)
def log_stream() -> Iterator[io.StringIO]:
    from aispm.lambdas.runtime import logger

    stream = io.StringIO()
    old = logger.registered_handler.setStream(stream)  # type: ignore[attr-defined]
    try:
        yield stream
    finally:
        logger.registered_handler.setStream(old)  # type: ignore[attr-defined]
