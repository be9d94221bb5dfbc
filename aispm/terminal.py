"""What aispm prints for people: text from clouds, resources and errors with control characters escaped,
so a resource name or an error message cannot move the cursor, retitle the terminal or hide a line.
Files keep the exact (JSON-escaped) value."""

from __future__ import annotations

import re
import sys
from typing import TextIO

# C0 controls except tab and newline, DEL, and the C1 controls (which some terminals also obey).
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def safe(text: object) -> str:
    """``text`` with every control character but tab and newline shown as an escape (``\\x1b``)."""
    return _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", str(text))


def say(text: object = "", file: TextIO | None = None) -> None:
    print(safe(text), file=file or sys.stdout)


def warn(text: object) -> None:
    """One line on stderr, prefixed ``aispm: ``."""
    print(safe(f"aispm: {text}"), file=sys.stderr)
