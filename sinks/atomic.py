"""Crash- and concurrency-safe local files: atomic replacement and OS locks.

Shared by the lifecycle state, the dead-letter file and the file sink, so that a
crash leaves the old file or the new one, never a torn one, and two runs never
interleave a read-modify-write.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterable
from pathlib import Path

from filelock import FileLock

LOCK_TIMEOUT_SECONDS = 120.0


def write_atomic(path: Path, chunks: Iterable[bytes]) -> None:
    """Write ``chunks`` to a unique temporary file beside ``path``, fsync it, rename it over ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            for chunk in chunks:
                fh.write(chunk)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    fsync_dir(path.parent)


def fsync_dir(folder: Path) -> None:
    """Make a rename in ``folder`` durable (best effort: not every file system allows it)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def file_lock(path: Path, timeout: float = LOCK_TIMEOUT_SECONDS) -> FileLock:
    """An OS lock on ``<path>.lock`` (the target itself is replaced on writes, so it cannot carry the lock)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    return FileLock(str(path.with_name(path.name + ".lock")), timeout=timeout)
