"""The Cloud Storage buckets Vertex AI assets train from or serve from, and whether anyone may read them
(AISPM-PRV-003, rules-v2.md).

Locations: a dataset's ``metadata.inputConfig.gcsSource.uri[]``, a model's ``artifactUri``, a custom job's
``jobSpec.baseOutputDirectory.outputUriPrefix``. Each bucket's IAM policy (``GET /storage/v1/b/{bucket}/iam``,
permission ``storage.buckets.getIamPolicy``) is read once per scan however many assets and projects use it
(``BucketReader``), paced by the ``("storage", project)`` rate limit of the project whose assets asked first
(the request names only the bucket); a grant of any role to ``allUsers`` or ``allAuthenticatedUsers`` makes it
public. A bucket that cannot be read (403, 404, another project's) keeps the error as its verdict, never a Pass.

The reader goes through google-auth's ``AuthorizedSession`` (TLS verified; ``AISPM_GCP_ENDPOINT`` honoured like
every Google API): google-cloud-storage is left out of the Lambda package. The helpers above it are pure (no SDK
import): the normalizer reads them without the Google libraries.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from aispm.collectors.gcp.endpoint import endpoint_override

if TYPE_CHECKING:
    from aispm.collectors.ratelimit import RateLimits

STORAGE_HOST = "storage.googleapis.com"
PUBLIC_MEMBERS = ("allUsers", "allAuthenticatedUsers")
IAM_CALL = "storage.buckets.getIamPolicy"


def _text(value: Any) -> str:
    return value.strip() if isinstance(value, str) else ""


def gcs_locations(kind: str, data: Mapping[str, Any]) -> list[str]:
    """The ``gs://`` locations of one record, in field order, each once (other schemes are not Cloud Storage)."""
    raw: list[Any] = []
    if kind == "dataset":
        metadata = data.get("metadata")
        source = metadata.get("inputConfig", {}).get("gcsSource", {}) if isinstance(metadata, Mapping) else {}
        uris = source.get("uri") if isinstance(source, Mapping) else None
        raw = list(uris) if isinstance(uris, list) else [uris]
    elif kind == "model":
        raw = [data.get("artifactUri")]
    elif kind == "custom_job":
        spec = data.get("jobSpec")
        out = spec.get("baseOutputDirectory") if isinstance(spec, Mapping) else None
        raw = [out.get("outputUriPrefix") if isinstance(out, Mapping) else None]
    return list(dict.fromkeys(u for u in map(_text, raw) if u.startswith("gs://") and bucket_of(u)))


def bucket_of(uri: str) -> str:
    """``gs://bucket/prefix`` -> ``bucket``."""
    return uri.removeprefix("gs://").split("/", 1)[0]


def public_grants(policy: Mapping[str, Any]) -> list[str]:
    """``role to member`` for every binding that grants a role to everyone (or every Google account)."""
    out: list[str] = []
    for binding in policy.get("bindings") or []:
        if not isinstance(binding, Mapping):
            continue
        members = [m for m in binding.get("members") or [] if m in PUBLIC_MEMBERS]
        out += [f"{binding.get('role')} to {m}" for m in members]
    return out


def storage_base() -> str:
    """``https://storage.googleapis.com``, or the ``AISPM_GCP_ENDPOINT`` that replaces every Google host."""
    host = endpoint_override() or STORAGE_HOST
    return host if "://" in host else f"https://{host}"


class BucketReader:
    """Bucket verdicts for one scan, each bucket read once (concurrent callers wait for the first)."""

    def __init__(self, credentials: Any, timeout: float, limits: RateLimits | None = None) -> None:
        self._credentials = credentials
        self._timeout = timeout
        self._limits = limits
        self._session: Any = None
        self._lock = threading.Lock()
        self._pending: dict[str, threading.Lock] = {}
        self._verdicts: dict[str, dict[str, Any]] = {}

    def verdict(self, bucket: str, project: str = "") -> tuple[dict[str, Any], bool]:
        """The bucket's verdict, and whether this call read it (counted in ``api_calls``); ``project`` is the
        asking unit's, whose Cloud Storage rate limit paces the read."""
        with self._lock:
            once = self._pending.setdefault(bucket, threading.Lock())
        with once:
            if bucket in self._verdicts:
                return self._verdicts[bucket], False
            self._verdicts[bucket] = self._read(bucket, project)
            return self._verdicts[bucket], True

    def _authorized(self) -> Any:
        from google.auth.transport.requests import AuthorizedSession

        from aispm.collectors.gcp.clients import pooled

        with self._lock:
            if self._session is None:
                credentials = self._credentials
                # As the Vertex AI clients do: a service account signs its own JWT (no token endpoint call).
                if hasattr(credentials, "with_always_use_jwt_access"):
                    credentials = credentials.with_always_use_jwt_access(True)
                self._session = pooled(AuthorizedSession(credentials))  # type: ignore[no-untyped-call]
            return self._session

    def _read(self, bucket: str, project: str) -> dict[str, Any]:
        import requests
        from google.auth import exceptions as auth_exceptions

        url = f"{storage_base()}/storage/v1/b/{quote(bucket, safe='')}/iam"
        pacer = self._limits.bucket("storage", project or "-") if self._limits is not None else None
        if pacer is not None:
            pacer.acquire()
        try:
            response = self._authorized().get(url, timeout=self._timeout)
        except (requests.exceptions.RequestException, auth_exceptions.GoogleAuthError) as exc:
            return {"bucket": bucket, "error": f"bucket {bucket} could not be read: {type(exc).__name__}: {exc}"}
        if pacer is not None:
            if response.status_code == 429:
                pacer.throttled()
            else:
                pacer.answered()
        if response.status_code != 200:
            return {"bucket": bucket, "error": f"bucket {bucket} could not be read: {_describe(response)}"}
        try:
            policy = response.json()
        except ValueError:
            return {"bucket": bucket, "error": f"bucket {bucket} could not be read: the IAM policy is not JSON"}
        grants = public_grants(policy if isinstance(policy, Mapping) else {})
        if grants:
            return {"bucket": bucket, "public": True, "why": "IAM grants " + ", ".join(grants)}
        return {"bucket": bucket, "public": False, "why": "no IAM grant to allUsers or allAuthenticatedUsers"}


def _describe(response: Any) -> str:
    """``403 Forbidden: <message>`` from the Cloud Storage JSON API error body (one line)."""
    message = ""
    try:
        body = response.json()
        message = str(body.get("error", {}).get("message") or "")
    except (ValueError, AttributeError):
        pass
    text = f"{response.status_code} {response.reason or ''}".strip()
    return " ".join(f"{text}: {message}".split()) if message else text
