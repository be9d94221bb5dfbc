"""Errors a sink raises while it is being built (bad settings), as opposed to delivery failures."""

from __future__ import annotations

from pydantic import ValidationError


class SinkConfigError(ValueError):
    """A sink name or setting that cannot work; the CLI reports it as a usage error (exit 2)."""


def setting_line(prefix: str, exc: ValidationError) -> str:
    """One line naming the environment variable (``prefix`` + the field) and what is wrong with it; the
    value is never shown (it may be a secret). The one formatter for settings errors, sinks' and the CLI's."""
    err = exc.errors()[0]
    key = prefix + "_".join(str(x) for x in err["loc"]).upper()
    return f"environment variable {key}: {err['msg']}"


def settings_error(prefix: str, exc: ValidationError) -> SinkConfigError:
    return SinkConfigError(setting_line(prefix, exc))
