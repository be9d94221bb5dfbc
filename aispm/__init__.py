"""aispm: AI Security Posture Management for SageMaker, Azure Machine Learning and Vertex AI.

Every aispm process (the CLI, a Lambda function) starts by importing some hundreds of thousands of objects that
live as long as it does (SDK modules, schemas, rule catalogs). With CPython's default thresholds the garbage
collector re-walked them again and again while they were built: 0.3 s of an empty scan. So collections run
rarely while the process starts, and ``startup_done()`` (when a scan or detect run has planned its scopes, or a
Lambda handler module has loaded) sets them aside with ``gc.freeze`` and restores the usual pace, which the SDK
clients' reference cycles of each scanned scope need to be freed soon.
"""

import gc
from functools import cache
from importlib.metadata import PackageNotFoundError, version

_USUAL_GC = gc.get_threshold()
gc.set_threshold(max(_USUAL_GC[0], 10_000), *_USUAL_GC[1:])


@cache   # once per process
def startup_done() -> None:
    """The process has imported what it runs on: move every object so far out of the collector's walks and
    restore its pace."""
    gc.freeze()
    gc.set_threshold(*_USUAL_GC)


try:
    __version__ = version("aispm")
except PackageNotFoundError:  # running from a source tree that was not installed
    __version__ = "0.0.0+source"
