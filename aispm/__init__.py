"""aispm: AI Security Posture Management for SageMaker, Azure Machine Learning and Vertex AI."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("aispm")
except PackageNotFoundError:  # running from a source tree that was not installed
    __version__ = "0.0.0+source"
