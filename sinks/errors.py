"""Errors a sink raises while it is being built (bad settings), as opposed to delivery failures."""

from __future__ import annotations

from pydantic import ValidationError


class SinkConfigError(ValueError):
    """A sink name or setting that cannot work; the CLI reports it as a usage error (exit 2)."""


def settings_error(prefix: str, exc: ValidationError) -> SinkConfigError:
    """One line naming the environment variable and what is wrong with it."""
    err = exc.errors()[0]
    key = prefix + "_".join(str(x) for x in err["loc"]).upper()
    return SinkConfigError(f"environment variable {key}: {err['msg']}")
