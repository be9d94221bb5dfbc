"""Observing the Security Hub calls a session's clients make."""

from __future__ import annotations

from typing import Any


class Calls:
    """Observes (does not answer) the Security Hub operations a session's clients make, with their parameters."""

    def __init__(self, session: Any) -> None:
        self.made: list[tuple[str, dict[str, Any]]] = []
        session.events.register("provide-client-params.securityhub", self._record)

    def _record(self, params: dict[str, Any], model: Any, **_: Any) -> None:
        self.made.append((model.name, params))

    def names(self) -> list[str]:
        return [name for name, _ in self.made]
