"""Audit-log sources for ``aispm detect``: the Azure Activity Log and Cloud Audit Logs here, CloudTrail in
``collectors/aws/cloudtrail.py`` (with the rest of the AWS code the deployment's AWS functions alone run).

Read-only, through each cloud's SDK and the same sessions, pipelines and credentials as the posture
collectors. Each source returns the records of a half-open window ``[start, end)`` as the cloud logged them
(aispm.normalizer.audit maps them), or raises ``AuditSourceError``: a source that cannot be read is a failed
scope, and its window is not advanced.
"""

from __future__ import annotations


class AuditSourceError(Exception):
    """An audit log that could not be read completely (denied, disabled, throttled past retries)."""
