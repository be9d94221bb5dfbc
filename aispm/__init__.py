"""aispm: AI Security Posture Management for SageMaker, Azure Machine Learning and Vertex AI.

Every aispm process (the CLI, a Lambda function) builds some hundreds of thousands of long-lived objects early
(SDK service models, schemas, rule catalogs) and little cyclic garbage. With CPython's default threshold a young
collection runs every 700 allocations and a full one often enough to re-walk all of them: 0.3 s of an empty
scan's 1.6 s. Young collections run 14 times less often here and full ones far less; the peak memory of a
large scan did not grow (bench/README.md).
"""

import gc
from importlib.metadata import PackageNotFoundError, version

GC_THRESHOLDS = (10_000, 20, 20)
if gc.get_threshold()[0] < GC_THRESHOLDS[0]:
    gc.set_threshold(*GC_THRESHOLDS)

try:
    __version__ = version("aispm")
except PackageNotFoundError:  # running from a source tree that was not installed
    __version__ = "0.0.0+source"
