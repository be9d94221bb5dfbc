"""The contract's exit codes; when several apply, the highest wins."""

OK = 0
UNEXPECTED = 1
USAGE = 2
FAIL_ON = 3
PARTIAL = 4
DELIVERY = 5


class UsageError(Exception):
    """Bad flags or configuration: reported as one line on stderr, exit 2."""
