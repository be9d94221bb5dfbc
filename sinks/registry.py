"""Sink names of the contract -> sink objects."""

from __future__ import annotations

from pathlib import Path

from aispm.sinks.base import Sink
from aispm.sinks.errors import SinkConfigError
from aispm.sinks.files import FileSink


class UnknownSink(SinkConfigError):
    """A ``--sink`` name that is not one of the contract's."""


def build_sink(name: str, out_dir: Path) -> Sink:
    """The sink for a contract name; settings come from ``AISPM_*`` (SinkConfigError when they cannot work)."""
    if name == "file":
        return FileSink(out_dir)
    if name == "splunk":
        from aispm.sinks.splunk import SplunkSink

        return SplunkSink()
    if name == "securityhub":
        from aispm.sinks.securityhub import SecurityHubSink

        return SecurityHubSink()
    if name.startswith("s3://"):
        from aispm.sinks.s3 import S3Sink

        return S3Sink(name)
    raise UnknownSink(f"unknown sink {name!r} (use file, splunk, securityhub or s3://bucket/prefix)")
