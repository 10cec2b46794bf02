"""The shared remote-call policy: client timeouts, retries with backoff, bounded polling, capped downloads.

A submit is retried only when it provably never reached the provider's application, because a submit that
did reach it may have created (and billed) a job even though its answer was a 5xx or never came back:
`SUBMIT_RULES` says, per provider and with the page or official client it follows, which answers prove
that, and how a job submitted under doubt is found again.
"""

from __future__ import annotations

import asyncio
import email.utils
import logging
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import httpx

from ...core.errors import AInfError, ErrorCode
from ...core.redact import redact_secrets

log = logging.getLogger("ainfluencer.adapters")

T = TypeVar("T")
RETRY_STATUSES = frozenset({408, 429, 500, 502, 503, 504})
INGRESS_STATUSES = frozenset({408, 502, 503, 504})
DEFAULT_MAX_DOWNLOAD_BYTES = 512 * 1024 * 1024
# Failures raised before a single byte of the request was sent: the provider cannot have seen it.
NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)


@dataclass(frozen=True)
class SubmitRule:
    """When a failed submit provably never reached a provider's application, and how a doubtful one is found.

    A refused connection (nothing sent) and an answer in `retry_statuses` are retried. An answer in
    `ingress_statuses` is retried only when it carries none of `app_headers` / `app_fields` (what only the
    provider's application, not its load balancer, puts on an answer). Any other 5xx, 408 or dropped
    connection leaves the submit in doubt: the job is looked up by `lookup` (the value we chose and sent
    that the provider lets us find the job by, or refuses to accept twice); with none, the step fails and
    its credits stay held.
    """

    source: str  # the provider's page or official client this rule follows
    retry_statuses: frozenset[int] = frozenset({429})
    app_headers: tuple[str, ...] = ()
    app_fields: tuple[str, ...] = ()
    lookup: str | None = None
    ingress_statuses: frozenset[int] = INGRESS_STATUSES

    def reached_app(self, response: httpx.Response) -> bool:
        """True when the answer names the provider's own request (its application saw the submit)."""
        if any(name in response.headers for name in self.app_headers):
            return True
        if not self.app_fields:
            return False
        try:
            body = response.json()
        except ValueError:
            return False
        return isinstance(body, dict) and any(body.get(name) not in (None, "") for name in self.app_fields)

    def provably_not_sent(self, response: httpx.Response) -> bool:
        """True when this answer proves no job was created, so the same submit may be sent again."""
        status = response.status_code
        if status in self.retry_statuses:
            return True
        return status in self.ingress_statuses and not self.reached_app(response)

    def in_doubt(self, response: httpx.Response) -> bool:
        """True when the provider may have created the job although it answered with a failure."""
        status = response.status_code
        return (status >= 500 or status == 408) and not self.provably_not_sent(response)


# Per provider, from its documentation and official client (checked 2026-12):
# - fal: fal-client retries 408/409/429, and 502/503/504 only without `x-fal-request-id` ("this is clearly
#   returned from our server"); it never retries a submit that reached the app. The queue API has no
#   idempotency key and no way to find a request we hold no id for, so a doubtful submit fails.
FAL_SOURCE = (
    "https://github.com/fal-ai/fal/blob/main/projects/fal_client/src/fal_client/client.py "
    "(_is_ingress_error, RETRY_CODES); https://docs.fal.ai/model-apis/model-endpoints/queue"
)
# - Kling answers every call of its API in the envelope {code, message, request_id, data}; 429 refuses
#   before any task exists; a task is queried by the `external_task_id` we set when creating it.
KLING_SOURCE = (
    "https://app.klingai.com/global/dev/document-api/apiReference/commonInfo; "
    "https://app.klingai.com/global/dev/document-api/apiReference/model/imageToVideo (external_task_id)"
)
# - Runware answers from its application in {data, errors}; 429 is a capacity refusal; a task is found with
#   getResponse for the `taskUUID` we generate, and a reused taskUUID is refused (conflictTaskUUID).
RUNWARE_SOURCE = "https://runware.ai/docs/platform/rate-limits; https://runware.ai/docs/platform/task-polling"
# - Sync replays the first outcome for a repeated `Idempotency-Key` (the same key on every resend of one
#   generation), or answers 503 IDEMPOTENCY_OUTCOME_UNKNOWN with the `generationId` to poll.
SYNC_SOURCE = (
    "https://sync.so/docs/api-reference/guides/idempotency; "
    "https://sync.so/docs/developer-guides/error-handling"
)
SUBMIT_RULES: dict[str, SubmitRule] = {
    "provider_fal": SubmitRule(FAL_SOURCE, frozenset({408, 429}), app_headers=("x-fal-request-id",)),
    "provider_kling": SubmitRule(KLING_SOURCE, app_fields=("request_id",), lookup="external_task_id"),
    "provider_runware": SubmitRule(RUNWARE_SOURCE, app_fields=("errors", "data"), lookup="taskUUID"),
    "provider_synclabs": SubmitRule(SYNC_SOURCE, app_fields=("requestId",), lookup="Idempotency-Key"),
}
# A provider without a rule: only what can never have created a job is retried, and nothing is looked up.
CAUTIOUS_SUBMIT = SubmitRule(source="")


class SubmitInDoubt(Exception):
    """A submit whose outcome is unknown: the provider may have created (and billed) the job.

    `response` is the failure answer (None when the connection dropped after the request was sent).
    """

    def __init__(self, response: httpx.Response | None, failure: str) -> None:
        super().__init__(failure)
        self.response = response
        self.failure = failure


class SubmitUnconfirmed(AInfError):
    """A submit the provider may have accepted that no lookup could confirm or rule out."""

    def __init__(self, engine: str, provider_name: str, failure: str, lookup: str | None) -> None:
        super().__init__(
            ErrorCode.ENGINE_OFFLINE,
            f"{provider_name} failed while accepting the job: it may have been submitted (and billed); check "
            f"{provider_name}'s dashboard.",
            remediation=[
                f"Open {provider_name}'s dashboard and look for a request made at this job's start time.",
                "This step's credits stay held (pending) until that is known: a job found there costs at "
                "most the held amount; if there is none, release the hold with POST "
                "/ainfluencer/v1/credits/holds/release {job_id, step_id}.",
                "Run the preset again only once the dashboard shows no such request.",
            ],
            detail={"engine": engine, "submit": "unconfirmed", "failure": failure[:300],
                    "lookup": lookup or "none offered by the provider", "hold": "kept"},
        )  # fmt: skip


def make_client(*, connect_s: float = 10.0, read_s: float = 60.0, write_s: float = 60.0) -> httpx.AsyncClient:
    """An httpx.AsyncClient with explicit timeouts, no env proxies and no redirects to other hosts."""
    timeout = httpx.Timeout(connect=connect_s, read=read_s, write=write_s, pool=connect_s)
    return httpx.AsyncClient(timeout=timeout, trust_env=False, follow_redirects=False)


@dataclass
class RetryPolicy:
    """How often and how long to retry 429/5xx/connection failures.

    `retryable` lets a provider refuse a retry its status alone would allow, from the answer's body (Kling
    answers 429 both for rate limits, worth a retry, and for an empty account, which is not).
    """

    max_attempts: int = 4
    base_delay_s: float = 0.5
    max_delay_s: float = 30.0
    retry_statuses: frozenset[int] = RETRY_STATUSES
    sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep
    retryable: Callable[[httpx.Response], bool] | None = None

    def should_retry(self, response: httpx.Response) -> bool:
        """True when this answer is worth another attempt (its status, then the provider's hook)."""
        if response.status_code not in self.retry_statuses:
            return False
        return self.retryable is None or self.retryable(response)


@dataclass
class CallStats:
    """What request_with_retries did, so callers and tests can see the retry count and the waits."""

    attempts: int = 0
    waits: list[float] = field(default_factory=list)
    statuses: list[int] = field(default_factory=list)


def retry_after_seconds(value: str | None) -> float | None:
    """Parse a Retry-After header (delta seconds or an HTTP date); None when absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def provider_reason(response: httpx.Response, limit: int = 500) -> Any:
    """The provider's own error body (JSON when it parses, else text), redacted and bounded."""
    try:
        body: Any = response.json()
    except ValueError:
        body = response.text[:limit]
    return redact_secrets(body)


async def request_with_retries(
    client: httpx.AsyncClient,
    method: str,
    url: str,
    *,
    policy: RetryPolicy | None = None,
    stats: CallStats | None = None,
    engine: str = "",
    submit: SubmitRule | None = None,
    **kwargs: Any,
) -> httpx.Response:
    """Send a request, retrying retryable statuses and connection errors with backoff and Retry-After.

    Returns the last response (possibly still a 429/5xx once attempts are spent) for the caller to map;
    raises ENGINE_OFFLINE when the host could not be reached at all. A `submit` is retried only as its rule
    allows, and a connection that broke after the request was sent raises SubmitInDoubt.
    """
    policy = policy or RetryPolicy()
    stats = stats if stats is not None else CallStats()
    attempts = max(1, policy.max_attempts)
    for attempt in range(1, attempts + 1):
        stats.attempts += 1
        try:
            response = await client.request(method, url, **kwargs)
        except httpx.TimeoutException as exc:
            failure: BaseException = exc
            response = None
        except httpx.TransportError as exc:
            failure = exc
            response = None
        if response is None and submit is not None and not isinstance(failure, NOT_SENT):
            raise SubmitInDoubt(None, redact_secrets(repr(failure))[:300])
        if response is not None:
            stats.statuses.append(response.status_code)
            if not _worth_retry(policy, submit, response) or attempt == attempts:
                return response
            hinted = retry_after_seconds(response.headers.get("retry-after"))
        else:
            if attempt == attempts:
                code = ErrorCode.ENGINE_TIMEOUT if isinstance(failure, httpx.TimeoutException) else None
                raise AInfError(
                    code or ErrorCode.ENGINE_OFFLINE,
                    f"{engine or 'The provider'} could not be reached after {attempts} attempts.",
                    detail=redact_secrets({"engine": engine, "error": repr(failure)[:300]}),
                ) from None
            hinted = None
        backoff = policy.base_delay_s * (2 ** (attempt - 1))
        delay = min(policy.max_delay_s, hinted if hinted is not None else backoff)
        stats.waits.append(delay)
        log.info(
            "%s %s: attempt %d/%d answered %s; retrying in %.2fs",
            engine,
            method,
            attempt,
            attempts,
            response.status_code if response is not None else "no connection",
            delay,
        )
        await policy.sleep(delay)
    raise AssertionError("unreachable")  # pragma: no cover


def _worth_retry(policy: RetryPolicy, submit: SubmitRule | None, response: httpx.Response) -> bool:
    """The policy's answer, narrowed for a submit to the answers that prove it never created a job."""
    if submit is None:
        return policy.should_retry(response)
    allowed = policy.retryable is None or policy.retryable(response)
    return submit.provably_not_sent(response) and allowed


class RemoteCancelled(AInfError):
    """The user interrupted the run; the remote job was asked to cancel."""

    def __init__(self, engine: str, request_id: str | None, cancelled: bool) -> None:
        super().__init__(
            ErrorCode.JOB_INTERRUPTED,
            "Stopped at your request; the remote job was cancelled."
            if cancelled
            else "Stopped at your request; the provider did not confirm the cancel and may still bill it.",
            remediation=["Run the preset again when you are ready."],
            detail={"engine": engine, "request_id": request_id, "remote_cancelled": cancelled},
        )


async def _try_cancel(cancel: Callable[[], Awaitable[bool]] | None, timeout_s: float) -> bool:
    if cancel is None:
        return False
    try:
        return bool(await asyncio.wait_for(cancel(), timeout_s))
    except (TimeoutError, AInfError, httpx.HTTPError) as exc:
        log.warning("remote cancel failed: %s", redact_secrets(str(exc))[:200])
        return False


async def poll_until(
    check: Callable[[], Awaitable[T | None]],
    *,
    interval_s: float,
    deadline_s: float,
    should_cancel: Callable[[], bool] | None = None,
    cancel: Callable[[], Awaitable[bool]] | None = None,
    cancel_check_s: float = 1.0,
    cancel_timeout_s: float = 10.0,
    engine: str = "",
    request_id: str | None = None,
) -> T:
    """Call `check` every `interval_s` until it returns a value; ENGINE_TIMEOUT past `deadline_s`.

    `should_cancel` is checked about every `cancel_check_s` (also while a check is in flight); when it
    fires, or the deadline passes, `cancel` is awaited once and RemoteCancelled / ENGINE_TIMEOUT raised.
    """
    end = time.monotonic() + deadline_s
    slice_s = max(0.005, min(cancel_check_s, interval_s if interval_s > 0 else cancel_check_s))
    polls = 0

    async def stop_for_cancel() -> None:
        done = await _try_cancel(cancel, cancel_timeout_s)
        raise RemoteCancelled(engine, request_id, done)

    async def stop_for_deadline() -> None:
        await _try_cancel(cancel, cancel_timeout_s)
        raise AInfError(
            ErrorCode.ENGINE_TIMEOUT,
            f"{engine or 'The engine'} did not finish within {deadline_s:g} s.",
            detail={"engine": engine, "request_id": request_id, "deadline_s": deadline_s, "polls": polls},
        )

    while True:
        if should_cancel is not None and should_cancel():
            await stop_for_cancel()
        task = asyncio.ensure_future(check())
        try:
            while not task.done():
                remaining = end - time.monotonic()
                if remaining <= 0:
                    break
                await asyncio.wait({task}, timeout=min(slice_s, remaining))
                if not task.done() and should_cancel is not None and should_cancel():
                    break
        finally:
            if not task.done():
                task.cancel()
                try:
                    await task
                except (asyncio.CancelledError, Exception):  # the abandoned check no longer matters
                    pass
        if task.cancelled():
            if should_cancel is not None and should_cancel():
                await stop_for_cancel()
            await stop_for_deadline()
        polls += 1
        result = task.result()
        if result is not None:
            return result
        next_at = time.monotonic() + interval_s
        while True:
            if should_cancel is not None and should_cancel():
                await stop_for_cancel()
            now = time.monotonic()
            if now >= end:
                await stop_for_deadline()
            if now >= next_at:
                break
            await asyncio.sleep(min(slice_s, end - now, next_at - now))


async def download_result(
    client: httpx.AsyncClient,
    url: str,
    max_bytes: int = DEFAULT_MAX_DOWNLOAD_BYTES,
    *,
    engine: str = "",
    policy: RetryPolicy | None = None,
    allowed_types: Iterable[str] | None = None,
) -> tuple[bytes, str]:
    """Stream a result URL into memory, refusing more than `max_bytes`; verified non-empty and complete."""
    if not url.startswith(("https://", "http://")):
        raise AInfError(ErrorCode.CONTRACT_MISMATCH, detail={"engine": engine, "result_url": url[:200]})
    policy = policy or RetryPolicy()
    detail = {"engine": engine, "url": redact_secrets(url.split("?")[0][:300])}
    for attempt in range(1, max(1, policy.max_attempts) + 1):
        try:
            async with client.stream("GET", url) as response:
                if response.status_code in policy.retry_statuses and attempt < policy.max_attempts:
                    await policy.sleep(policy.base_delay_s * (2 ** (attempt - 1)))
                    continue
                if response.status_code != 200:
                    raise AInfError(
                        ErrorCode.DOWNLOAD_FAILED,
                        f"The result download answered HTTP {response.status_code}.",
                        remediation=["Run again; the provider's result link may have expired."],
                        detail={**detail, "status": response.status_code},
                    )
                declared = response.headers.get("content-length")
                if declared and declared.isdigit() and int(declared) > max_bytes:
                    raise _too_large(detail, max_bytes)
                chunks: list[bytes] = []
                size = 0
                async for chunk in response.aiter_bytes():
                    size += len(chunk)
                    if size > max_bytes:
                        raise _too_large(detail, max_bytes)
                    chunks.append(chunk)
                content_type = response.headers.get("content-type", "application/octet-stream")
        except httpx.TransportError as exc:
            raise AInfError(
                ErrorCode.DOWNLOAD_FAILED,
                "The result download broke off before it was complete.",
                remediation=["Run again; if it keeps failing, the provider's file host is unwell."],
                detail={**detail, "error": redact_secrets(repr(exc))[:300]},
            ) from None
        data = b"".join(chunks)
        if not data:
            raise AInfError(ErrorCode.INVALID_MEDIA, "The provider's result file is empty.", detail=detail)
        if declared and declared.isdigit() and int(declared) != len(data):
            raise AInfError(
                ErrorCode.DOWNLOAD_FAILED,
                "The result download broke off before it was complete.",
                detail={**detail, "expected": int(declared), "received": len(data)},
            )
        base_type = content_type.split(";")[0].strip().lower()
        if allowed_types is not None and not any(base_type.startswith(t) for t in allowed_types):
            raise AInfError(
                ErrorCode.INVALID_MEDIA,
                f"The provider's result is {base_type}, not the media expected.",
                detail={**detail, "content_type": base_type},
            )
        return data, base_type
    raise AInfError(ErrorCode.DOWNLOAD_FAILED, detail=detail)


def _too_large(detail: dict[str, Any], max_bytes: int) -> AInfError:
    return AInfError(
        ErrorCode.PAYLOAD_TOO_LARGE,
        f"The provider's result is larger than the {max_bytes} byte limit; it was not kept.",
        remediation=["Pick a smaller output size or duration."],
        detail={**detail, "max_bytes": max_bytes},
    )
