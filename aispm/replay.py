"""``aispm replay``: re-deliver the dead-letter store."""

from __future__ import annotations

import argparse

from aispm.exitcodes import UsageError


def run_replay(args: argparse.Namespace) -> int:
    raise UsageError(f"replay: no dead-letter store at {args.source!r} can be read by this version")
