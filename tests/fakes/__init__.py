"""Local stand-ins for the remote services aispm delivers to, for use in tests.

Every fake binds to 127.0.0.1 on a port chosen by the kernel and never reaches
beyond this machine.
"""

from .hec import HEC_CODES, FakeHec, RecordedRequest

__all__ = ["HEC_CODES", "FakeHec", "RecordedRequest"]
