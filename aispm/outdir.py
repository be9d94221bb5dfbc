"""The ``--out`` folder check every command that writes files makes first (scan, demo, export).

Apart from ``aispm.scan`` so that ``aispm export`` does not import the scan pipeline (half a second of its
start) for it.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from aispm.exitcodes import UsageError


def check_out_dir(out_dir: Path) -> None:
    """UsageError unless ``out_dir`` can be created and written: checked before any cloud call, so a scan
    never collects findings it has nowhere to put."""
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=out_dir, prefix=".aispm-write-check-"):
            pass
    except OSError as exc:
        raise UsageError(f"--out {out_dir}: cannot write there ({exc.strerror or exc})") from None
