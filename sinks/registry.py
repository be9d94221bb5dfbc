"""Sink names of the contract -> sink objects: one registry, plus the ``s3://bucket/prefix`` form.

A sink's module is imported only when it is asked for (the AWS SDK is not needed for a file-only run).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

from aispm.sinks.base import Sink, UnavailableSink
from aispm.sinks.errors import SinkConfigError
from aispm.sinks.transports.files import FileSink


class UnknownSink(SinkConfigError):
    """A ``--sink`` name that is not one of the contract's."""


def _splunk(_: Path) -> Sink:
    from aispm.sinks.transports.splunk import SplunkSink

    return SplunkSink()


def _securityhub(_: Path) -> Sink:
    from aispm.sinks.transports.securityhub import SecurityHubSink

    return SecurityHubSink()


def _sentinel(_: Path) -> Sink:
    from aispm.sinks.transports.sentinel import SentinelSink

    return SentinelSink()


def _s3(url: str) -> Sink:
    from aispm.sinks.transports.s3 import S3Sink

    return S3Sink(url)


# Contract name -> factory taking the --out directory. Settings come from AISPM_* (SinkConfigError when they
# cannot work).
SINKS: dict[str, Callable[[Path], Sink]] = {"file": FileSink, "splunk": _splunk, "securityhub": _securityhub,
                                            "sentinel": _sentinel}
S3_PREFIX = "s3://"


def build_sink(name: str, out_dir: Path) -> Sink:
    """The sink for a contract name."""
    if name.startswith(S3_PREFIX):
        return _s3(name)
    factory = SINKS.get(name)
    if factory is None:
        raise UnknownSink(f"unknown sink {name!r} (use {', '.join(SINKS)} or {S3_PREFIX}bucket/prefix)")
    return factory(out_dir)


def build_sinks(names: Sequence[str], out_dir: Path, keep_going: bool = False) -> list[Sink]:
    """Sink objects for ``--sink`` names; the file sink is always first so nothing is lost locally.

    A sink whose settings cannot work raises SinkConfigError naming it, or with ``keep_going`` (a deployed
    run, which must go on) becomes an UnavailableSink whose findings are dead-lettered.
    """
    sinks: list[Sink] = [FileSink(out_dir)]
    for name in names:
        if name == "file":
            continue
        try:
            sinks.append(build_sink(name, out_dir))
        except SinkConfigError as exc:
            if not keep_going:
                raise SinkConfigError(f"--sink {name}: {exc}") from None
            sinks.append(UnavailableSink(name, f"sink {name} is not usable: {exc}"))
    return sinks
