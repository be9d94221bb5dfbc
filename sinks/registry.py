"""Sink names of the contract -> sink objects."""

from __future__ import annotations

from pathlib import Path

from sinks.base import Sink
from sinks.files import FileSink


class UnknownSink(ValueError):
    """A ``--sink`` name that is not one of the contract's."""


def build_sink(name: str, out_dir: Path) -> Sink:
    if name == "file":
        return FileSink(out_dir)
    raise UnknownSink(f"unknown sink {name!r} (use file, splunk, securityhub or s3://bucket/prefix)")
