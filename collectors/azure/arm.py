"""Resource Manager access through the official Azure SDK pipeline.

The typed models of ``azure-mgmt-machinelearningservices`` are pinned to an old
api-version that lacks fields the rules read (``idleTimeBeforeShutdown``,
``egressPublicNetworkAccess``), so current ARM JSON is read through the
management client's own pipeline (``_send_request``): bearer-token auth, the
retry policy (which honours ``Retry-After``) and ARM challenge handling all
come from the SDK; only ``nextLink`` paging is done here.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import threading
from dataclasses import dataclass, field, replace
from typing import Any
from urllib.parse import urlsplit

import requests
from azure.core.exceptions import AzureError, ClientAuthenticationError, DecodeError
from azure.core.pipeline import PipelineRequest, PipelineResponse
from azure.core.pipeline.policies import SansIOHTTPPolicy
from azure.core.pipeline.transport import RequestsTransport
from azure.core.rest import HttpRequest, HttpResponse
from azure.mgmt.machinelearningservices import MachineLearningServicesMgmtClient
from urllib3.util.retry import Retry

from aispm.collectors.base import ApiCalls, one_line
from aispm.collectors.ratelimit import RateLimits

DEFAULT_ENDPOINT = "https://management.azure.com"
ENDPOINT_ENV = "AISPM_AZURE_ARM_ENDPOINT"

SUBSCRIPTIONS_API = "2022-12-01"
AUTHORIZATION_API = "2022-04-01"


class ArmCallError(Exception):
    """A Resource Manager call that failed for good (after the pipeline's retries): one line, no secrets."""


def arm_endpoint() -> str:
    """The Resource Manager endpoint: ``AISPM_AZURE_ARM_ENDPOINT`` or the public cloud's."""
    endpoint = (os.environ.get(ENDPOINT_ENV) or DEFAULT_ENDPOINT).strip().rstrip("/")
    parts = urlsplit(endpoint)
    if parts.scheme not in ("https", "http") or not parts.netloc:
        raise ValueError(f"{ENDPOINT_ENV} must be an absolute URL such as {DEFAULT_ENDPOINT}, got {endpoint!r}")
    return endpoint


@dataclass(frozen=True)
class ArmSettings:
    """How the collector reaches Resource Manager.

    ``credential`` None means ``DefaultAzureCredential``. ``per_call_policies``
    are extra azure-core policies (tests use them to talk to a plain-http fake).
    """

    endpoint: str = DEFAULT_ENDPOINT
    credential: Any = None
    per_call_policies: tuple[Any, ...] = ()
    retry_total: int = 6
    retry_backoff_factor: float = 0.8
    retry_backoff_max: int = 60
    scope_workers: int = 16   # calls in flight within one subscription (CollectOptions.scope_workers)

    @property
    def scope(self) -> str:
        """The token scope follows the endpoint, so sovereign clouds and private links work."""
        return f"{self.endpoint}/.default"

    def using(self, credentials: Any) -> ArmSettings:
        """These settings with the caller's ``credentials`` (an :class:`ArmCredentials`, or a bare azure-core
        token credential) instead of ``DefaultAzureCredential``; None keeps them as they are."""
        if credentials is None:
            return self
        if isinstance(credentials, ArmCredentials):
            return replace(self, credential=credentials.credential,
                           per_call_policies=self.per_call_policies + credentials.per_call_policies)
        return replace(self, credential=credentials)


@dataclass(frozen=True)
class ArmCredentials:
    """What a caller hands the Azure collector through ``build(options, credentials)``: a token credential
    and the extra per-call pipeline policies it needs (tests add one to reach a plain-http fake)."""

    credential: Any
    per_call_policies: tuple[Any, ...] = ()


def current_settings() -> ArmSettings:
    """Settings from the environment (the Resource Manager endpoint)."""
    return ArmSettings(endpoint=arm_endpoint())


class ReadOnlyViolation(RuntimeError):
    """A non-GET request was about to leave the collector."""


class ReadOnlyPolicy(SansIOHTTPPolicy[Any, Any]):
    """Refuses any request but GET, whoever builds it (the ARM pipeline may try to register providers).

    Placed after the retry policy, so it sees every request actually sent.
    """

    def on_request(self, request: PipelineRequest[Any]) -> None:
        method = str(request.http_request.method).upper()
        if method != "GET":
            raise ReadOnlyViolation(f"refused {method} {request.http_request.url}: the collector is read-only")


_SUBSCRIPTION = re.compile(r"/subscriptions/([^/?#]+)", re.IGNORECASE)
TENANT_SCOPE = "tenant"   # the bucket of requests outside any subscription (the subscription list)


def throttling_scope(url: str, fallback: str = "") -> str:
    """The subscription whose read limits a request counts against (Resource Manager throttles per
    subscription): the one its path names, else ``fallback``, else the tenant."""
    match = _SUBSCRIPTION.search(urlsplit(url).path)
    return match.group(1).lower() if match else (fallback.lower() or TENANT_SCOPE)


class RateLimitPolicy(SansIOHTTPPolicy[Any, Any]):
    """Sends each attempt only with a token from the ``("arm", subscription)`` bucket; a 429 halves its rate.

    Placed after the retry policy, so every retry takes a token too; the retry policy still waits out
    ``Retry-After`` before the next attempt.
    """

    def __init__(self, limits: RateLimits, subscription_id: str = "") -> None:
        self._limits = limits
        self._subscription = subscription_id

    def _bucket(self, request: PipelineRequest[Any]) -> Any:
        return self._limits.bucket("arm", throttling_scope(str(request.http_request.url), self._subscription))

    def on_request(self, request: PipelineRequest[Any]) -> None:
        self._bucket(request).acquire()

    def on_response(self, request: PipelineRequest[Any], response: PipelineResponse[Any, Any]) -> None:
        bucket = self._bucket(request)
        if response.http_response.status_code == 429:
            bucket.throttled()
        else:
            bucket.answered()


IDENTITY_LOGGER = "azure.identity"


def quiet_identity_logging() -> None:
    """Keep azure-identity's own warnings off the terminal (unless ``AISPM_DEBUG`` is set).

    A credential chain that gets no token logs a multi-line WARNING block and then raises
    the same text; aispm reports the raised error itself, as one line
    (:func:`credential_error_line`), so the logged copy would only repeat it, once per call.
    """
    if not os.environ.get("AISPM_DEBUG"):
        logging.getLogger(IDENTITY_LOGGER).setLevel(logging.ERROR)


def default_credential() -> Any:
    """``DefaultAzureCredential``: env, workload identity, managed identity, developer logins, as Azure documents."""
    from azure.identity import DefaultAzureCredential

    quiet_identity_logging()
    return DefaultAzureCredential()


_SEE = re.compile(r"(https://\S+?)\.?$")
_CHAIN_FAILED = re.compile(r"^(\w+) failed to retrieve a token from the included credentials$")
_SENTENCE_END = re.compile(r"\.(?:\s|$)")


def _attempt(line: str) -> str:
    """``Name: reason`` of one credential tried, cut to the first sentence of its reason, name not repeated."""
    name, sep, reason = line.partition(": ")
    if not sep:
        return line.rstrip(".")
    reason = reason.removeprefix(name).strip() if reason.startswith(name + " ") else reason
    reason = _SENTENCE_END.split(reason, maxsplit=1)[0].strip()
    if len(reason) > 120:
        reason = reason[:117].rstrip() + "..."
    return f"{name}: {reason}"


def credential_error_line(exc: BaseException, limit: int = 500) -> str:
    """One line from a credential failure: the chain's verdict, then ``Name: reason`` per credential tried.

    ``DefaultAzureCredential`` raises a multi-line block ("... failed to retrieve a token",
    "Attempted credentials:", one tab-indented line per credential, a troubleshooting link);
    every credential tried keeps its name and the first sentence of its reason.
    """
    text = str(exc) or type(exc).__name__
    head: list[str] = []
    attempts: list[str] = []
    link = ""
    in_attempts = False
    for raw in text.splitlines():
        line = " ".join(raw.split())
        if not line:
            continue
        if line.startswith("Attempted credentials:"):
            in_attempts = True
            rest = line.removeprefix("Attempted credentials:").strip()
            if rest:
                attempts.append(rest)
        elif line.startswith("To mitigate this issue"):
            match = _SEE.search(line)
            link = match.group(1) if match else ""
        elif in_attempts and (raw.startswith("\t") or not attempts):
            attempts.append(line)
        elif in_attempts:
            attempts[-1] += " " + line
        else:
            head.append(line)
    out = _CHAIN_FAILED.sub(r"\1 tried", " ".join(head).rstrip(".")) or type(exc).__name__
    if attempts:
        out += ": " + "; ".join(_attempt(a) for a in attempts)
    if link and len(out) + len(link) + 7 <= limit:
        out += f" (see {link})"
    return out if len(out) <= limit else out[:limit - 3].rstrip() + "..."


def token_problem(settings: ArmSettings | None = None, timeout: float | None = None) -> str | None:
    """None when the scan's credential gets a token for the Resource Manager scope; otherwise one line why not.

    ``settings`` defaults to :func:`current_settings` (the environment);
    ``timeout`` (seconds) bounds the attempt, which then runs on a daemon thread. A credential
    built here is closed afterwards.
    """
    settings = settings or current_settings()
    built = settings.credential is None
    outcome: list[str | None] = []

    def attempt() -> None:
        credential: Any = None
        try:
            credential = settings.credential or default_credential()
            credential.get_token(settings.scope)
            outcome.append(None)
        except Exception as exc:  # noqa: BLE001 - any failure to get a token means "not usable", in one line
            outcome.append(credential_error_line(exc))
        finally:
            if built and credential is not None and hasattr(credential, "close"):
                with contextlib.suppress(Exception):   # closing a probe credential is best effort
                    credential.close()

    if timeout is None:
        attempt()
    else:
        worker = threading.Thread(target=attempt, name="aispm-azure-token", daemon=True)
        worker.start()
        worker.join(timeout)
        if not outcome:
            return f"no Azure token within {timeout:g} s"
    return outcome[0]


def make_client(settings: ArmSettings, credential: Any, subscription_id: str = "",
                limits: RateLimits | None = None) -> MachineLearningServicesMgmtClient:
    """A ``MachineLearningServicesMgmtClient`` on ``settings.endpoint`` with its token scope; given ``limits``,
    every request attempt is paced by its subscription's Resource Manager bucket."""
    # One session per client, shared by the subscription's concurrent calls: a pool as wide as they are.
    session = requests.Session()
    adapter = requests.adapters.HTTPAdapter(
        pool_maxsize=max(10, settings.scope_workers * 2),
        max_retries=Retry(total=False, redirect=False, raise_on_status=False),
    )
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    return MachineLearningServicesMgmtClient(
        credential,
        subscription_id,
        base_url=settings.endpoint,
        credential_scopes=[settings.scope],
        per_call_policies=list(settings.per_call_policies),
        per_retry_policies=[ReadOnlyPolicy(), *([RateLimitPolicy(limits, subscription_id)] if limits else [])],
        transport=RequestsTransport(session=session, session_owner=True),
        retry_total=settings.retry_total,
        retry_backoff_factor=settings.retry_backoff_factor,
        retry_backoff_max=settings.retry_backoff_max,
    )


@dataclass
class Arm:
    """GET and paged list over one management client, counting every request into ``calls``."""

    client: MachineLearningServicesMgmtClient
    endpoint: str
    calls: ApiCalls = field(default_factory=ApiCalls)

    def get(self, url: str, api_version: str | None, operation: str) -> dict[str, Any]:
        params = {"api-version": api_version} if api_version else None
        self.calls.add("azure", operation)
        try:
            response: HttpResponse = self.client._send_request(HttpRequest("GET", url, params=params))
        except DecodeError as exc:
            # Its message quotes the body; never copy response content into an error.
            raise ArmCallError(f"{operation}: malformed JSON in the response") from exc
        except ClientAuthenticationError as exc:
            raise ArmCallError(f"{operation}: no Azure token: {credential_error_line(exc)}") from exc
        except (AzureError, ReadOnlyViolation) as exc:
            raise ArmCallError(f"{operation}: {one_line(exc)}") from exc
        if response.status_code >= 400:
            raise ArmCallError(f"{operation}: {_http_error(response)}")
        try:
            body = response.json()
        except (ValueError, AzureError) as exc:
            raise ArmCallError(f"{operation}: malformed JSON in the response") from exc
        if not isinstance(body, dict):
            raise ArmCallError(f"{operation}: malformed response: expected a JSON object")
        return body

    def list_all(self, url: str, api_version: str, operation: str) -> list[dict[str, Any]]:
        """Every item of an ARM list, following ``nextLink`` (only ever to the same endpoint)."""
        items: list[dict[str, Any]] = []
        seen: set[str] = set()
        next_url: str | None = url
        version: str | None = api_version
        while next_url:
            body = self.get(next_url, version, operation)
            page = body.get("value")
            if not isinstance(page, list) or not all(isinstance(i, dict) for i in page):
                raise ArmCallError(f"{operation}: malformed response: 'value' is not a list of objects")
            items.extend(page)
            link = body.get("nextLink")
            if not link:
                break
            if not isinstance(link, str) or not self._same_endpoint(link):
                raise ArmCallError(f"{operation}: nextLink leaves the Resource Manager endpoint; not followed")
            if link in seen:
                raise ArmCallError(f"{operation}: nextLink repeats a page already read")
            seen.add(link)
            next_url, version = link, None   # a nextLink carries its own api-version
        return items

    def _same_endpoint(self, link: str) -> bool:
        mine, theirs = urlsplit(self.endpoint), urlsplit(link)
        return (theirs.scheme, theirs.netloc.lower()) == (mine.scheme, mine.netloc.lower())


def _http_error(response: HttpResponse) -> str:
    """'403 AuthorizationFailed: <message>' from the ARM error body (or the bare status)."""
    code, message = "", ""
    try:
        err = response.json().get("error") or {}
        code, message = str(err.get("code") or ""), str(err.get("message") or "")
    except (ValueError, AttributeError):
        pass
    text = f"{response.status_code} {code}".strip()
    return one_line(f"{text}: {message}") if message else text
