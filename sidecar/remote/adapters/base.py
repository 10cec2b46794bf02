"""What every keyed remote adapter shares: settings, keyed calls, JSON checks, the polling template, media.

The run protocol every remote operation honours (the nodes and the restart path rely on it): each operation
is `operation(api_key, request, control=RunControl())`. `request` holds only the provider's parameters;
`RunControl` (see `control.py`) steers the call:

- `should_cancel`: answers True once the user interrupted; polling stops and the remote job is cancelled
  where the API allows (RemoteCancelled → JOB_INTERRUPTED).
- `on_submit`: takes the provider's request id after the submit was accepted and before polling starts, so
  the id can be recorded (its failure propagates).
- `resume_request_id`: a request id recorded earlier; the adapter skips the submit (nothing is paid twice)
  and polls that request to its result.
- `poll_interval_s`, `deadline_s`: per-call overrides of the adapter's polling settings.
- `on_status`: takes a short status text ("in queue", "running 40 %") for the node's display (its failure
  is only logged).

A submit is sent once. When its outcome is in doubt (a 5xx from the provider's application, or a connection
that broke after the request was sent; see `http_policy.SUBMIT_RULES`), the job is looked up
(`find_submitted`): a found job is polled like an accepted one; one the provider says it does not have is
sent again (the lookup value keeps it from being accepted twice); with no way to look it up the call fails
with SubmitUnconfirmed, whose credits the remote step keeps held.

`RemoteAdapter.run_job` is the one remote-call template: submit or resume → `on_submit` → poll until done,
failed or past the deadline (cancel checks, status text) → cancel on interrupt where the API has one →
read the outputs → download and decode-check them → settle the cost. A provider supplies only its hooks:
`submit` and `resume` (its typed `Submitted` handle), `poll` (one status answer read into a `PollState`,
raising the mapped error for a failed job), `cancel` (False where the API has none), `outputs` (the
finished job's `Outputs`) and, optionally, `settle` (a cost known only after the download).

Every operation returns a `RemoteResult`: `engine`, `model`, `request_id`, `data` (bytes of the first
output), `content_type`, `media` (all outputs as `MediaOutput`), `cost` (the provider-reported USD, or None)
and, where the provider reports them, its billing `units`, the `seed` it used and the output's `duration_s`.
"""

from __future__ import annotations

import abc
import io
import logging
import mimetypes
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any, Generic, TypeVar

import httpx

from ...core.errors import AInfError, ErrorCode
from ...core.redact import redact_secrets
from ..vault import env_base_url, register_key
from .control import MediaOutput, Outputs, PollState, RemoteJob, RemoteResult, RunControl, Submitted
from .http_policy import (
    CAUTIOUS_SUBMIT,
    DEFAULT_MAX_DOWNLOAD_BYTES,
    SUBMIT_RULES,
    CallStats,
    RetryPolicy,
    SubmitInDoubt,
    SubmitRule,
    SubmitUnconfirmed,
    download_result,
    make_client,
    poll_until,
    provider_reason,
    request_with_retries,
)

log = logging.getLogger("ainfluencer.adapters")
POLL_ENV = "AINFLUENCER_REMOTE_POLL_S"
NO_CONTROL = RunControl()
J = TypeVar("J", bound=RemoteJob)
H = TypeVar("H", bound=Submitted)
F = TypeVar("F")


class EngineAdapter:
    """One engine's real contract (async). Subclasses override what the engine offers; the rest refuse."""

    engine_id: str = ""
    default_base_url: str = ""

    def __init__(self, base_url: str | None = None) -> None:
        self.base_url = (base_url or env_base_url(self.engine_id) or self.default_base_url).rstrip("/")

    def pick_model(self, request: dict[str, Any], default: str, offered: tuple[str, ...], what: str) -> str:
        """The request's `model` (or the default); NOT_SUPPORTED when this adapter does not offer it."""
        model = str(request.get("model") or default)
        if model not in offered:
            raise self._unsupported(f"{what} model {model[:80]}")
        return model

    def _unsupported(self, operation: str) -> AInfError:
        return AInfError(
            ErrorCode.NOT_SUPPORTED,
            f"{self.engine_id} does not offer {operation}.",
            detail={"engine": self.engine_id, "operation": operation},
        )

    async def verify_identity(self, api_key: str) -> dict[str, Any]:
        """Check the key with the provider; AUTH_FAILED when it is refused. Returns {'message': ...}."""
        raise self._unsupported("key verification")

    async def check_balance(self, api_key: str) -> float | None:
        """The provider's reported balance, or None when the provider has no balance API."""
        raise self._unsupported("balance")

    async def health_check(self, api_key: str | None) -> dict[str, Any]:
        """{'ok': bool, 'message': str} about the provider's reachability."""
        raise self._unsupported("health check")

    async def generate_image(
        self, api_key: str, request: dict[str, Any], control: RunControl = NO_CONTROL
    ) -> RemoteResult:
        """Generate an image."""
        raise self._unsupported("image generation")

    async def generate_video(
        self, api_key: str, request: dict[str, Any], control: RunControl = NO_CONTROL
    ) -> RemoteResult:
        """Generate a video."""
        raise self._unsupported("video generation")

    async def apply_lipsync(
        self, api_key: str, request: dict[str, Any], control: RunControl = NO_CONTROL
    ) -> RemoteResult:
        """Lip-sync a video to audio."""
        raise self._unsupported("lip-sync")

    async def upscale(
        self, api_key: str, request: dict[str, Any], control: RunControl = NO_CONTROL
    ) -> RemoteResult:
        """Upscale an image or video."""
        raise self._unsupported("upscaling")

    async def animate_portrait(
        self, api_key: str, request: dict[str, Any], control: RunControl = NO_CONTROL
    ) -> RemoteResult:
        """Make one portrait speak an audio file (a talking head)."""
        raise self._unsupported("talking heads")

    async def swap_face(
        self, api_key: str, request: dict[str, Any], control: RunControl = NO_CONTROL
    ) -> RemoteResult:
        """Put the face of one photo onto the person in a clip."""
        raise self._unsupported("face swaps")


class RemoteAdapter(EngineAdapter, abc.ABC, Generic[J, H, F]):
    """Base of the keyed HTTP adapters: polling settings, retries, keyed requests, checked JSON and media.

    Typed by the provider's job (`J`), its submitted handle (`H`) and its final status answer (`F`).
    """

    provider_name: str = "the provider"

    def __init__(
        self,
        base_url: str | None = None,
        *,
        poll_interval_s: float = 2.0,
        deadline_s: float = 900.0,
        cancel_check_s: float = 1.0,
        retry: RetryPolicy | None = None,
        max_download_bytes: int = DEFAULT_MAX_DOWNLOAD_BYTES,
        client_factory: Callable[[], httpx.AsyncClient] = make_client,
    ) -> None:
        super().__init__(base_url)
        override = os.environ.get(POLL_ENV)  # e.g. a proxy that answers fast, or a local emulator
        self.poll_interval_s = float(override) if override else poll_interval_s
        self.deadline_s = deadline_s
        self.cancel_check_s = cancel_check_s
        self.retry = retry or RetryPolicy()
        self.max_download_bytes = max_download_bytes
        self.client_factory = client_factory
        self.stats = CallStats()

    # keys ----------------------------------------------------------------------------------------
    def missing_key(self) -> AInfError:
        """ENGINE_OFFLINE telling the user to add this provider's key in Setup."""
        return AInfError(
            ErrorCode.ENGINE_OFFLINE,
            f"Add your {self.provider_name} API key in Setup.",
            remediation=[
                f"Open the Setup Hub → Providers → {self.provider_name}, paste your key and press Connect.",
                f"Or run: ainfluencer keys set {self.engine_id.removeprefix('provider_')}",
            ],
            detail={"engine": self.engine_id},
        )

    def rate_limited(self, detail: dict[str, Any], remediation: list[str] | None = None) -> AInfError:
        """RATE_LIMITED for a 429 that outlasted the retry policy."""
        tries = self.retry.max_attempts
        return AInfError(
            ErrorCode.RATE_LIMITED,
            f"{self.provider_name} is rate limiting this key (still 429 after {tries} attempts).",
            remediation=remediation,
            detail=detail,
        )

    def kept_failing(self, status: int, detail: dict[str, Any]) -> AInfError:
        """ENGINE_OFFLINE for a 5xx that outlasted the retry policy."""
        return AInfError(
            ErrorCode.ENGINE_OFFLINE,
            f"{self.provider_name} kept failing (HTTP {status} after {self.retry.max_attempts} attempts).",
            detail=detail,
        )

    def require_key(self, api_key: str | None) -> str:
        """The key, registered with the redactor; ENGINE_OFFLINE when there is none."""
        if not isinstance(api_key, str) or not api_key.strip():
            raise self.missing_key()
        register_key(api_key)
        return api_key

    @abc.abstractmethod
    def auth_headers(self, api_key: str) -> dict[str, str]:
        """The provider's auth headers for a key."""

    # health --------------------------------------------------------------------------------------
    @abc.abstractmethod
    async def ping(self, client: httpx.AsyncClient) -> None:
        """One keyless request that any answer of the provider's API satisfies."""

    async def health_check(self, api_key: str | None) -> dict[str, Any]:
        """Reachability of the provider's API; with a key, also whether the provider accepts it."""
        name = self.provider_name
        if api_key:
            try:
                await self.verify_identity(api_key)
            except AInfError as exc:
                return {"ok": False, "message": exc.message, "error": exc.code.value}
            return {"ok": True, "message": f"{name} reachable; key accepted."}
        async with self.client_factory() as client:
            try:
                await self.ping(client)
            except httpx.HTTPError as exc:
                return {"ok": False, "message": f"{name} is not reachable ({type(exc).__name__})."}
        return {"ok": True, "message": f"{name} reachable; add your API key in Setup to use it."}

    # calls ---------------------------------------------------------------------------------------
    async def call(
        self, client: httpx.AsyncClient, method: str, url: str, api_key: str | None, **kwargs: Any
    ) -> httpx.Response:
        """One request with this adapter's retry policy and, given a key, its auth headers."""
        headers = dict(kwargs.pop("headers", {}) or {})
        if api_key is not None:
            headers.update(self.auth_headers(self.require_key(api_key)))
        return await request_with_retries(
            client, method, url, policy=self.retry, stats=self.stats, engine=self.engine_id,
            headers=headers, **kwargs,
        )  # fmt: skip

    @property
    def submit_rule(self) -> SubmitRule:
        """When this provider's submit may be sent again, and how a doubtful one is found."""
        return SUBMIT_RULES.get(self.engine_id, CAUTIOUS_SUBMIT)

    async def submit_call(
        self, client: httpx.AsyncClient, method: str, url: str, api_key: str, **kwargs: Any
    ) -> httpx.Response:
        """A submit request: retried only as the submit rule allows; SubmitInDoubt when it may have landed."""
        headers = dict(kwargs.pop("headers", {}) or {})
        headers.update(self.auth_headers(self.require_key(api_key)))
        rule = self.submit_rule
        response = await request_with_retries(
            client, method, url, policy=self.retry, stats=self.stats, engine=self.engine_id,
            submit=rule, headers=headers, **kwargs,
        )  # fmt: skip
        if rule.in_doubt(response):
            raise SubmitInDoubt(response, f"HTTP {response.status_code} from {self.provider_name}")
        return response

    def submit_refusal(self, response: httpx.Response) -> AInfError:
        """The mapped error of a failed submit answer the provider says created no job."""
        status = response.status_code
        reason = provider_reason(response)
        return self.kept_failing(
            status, {"engine": self.engine_id, "step": "submit", "status": status, "provider_reason": reason}
        )

    def json_body(self, response: httpx.Response, what: str) -> Any:
        """The JSON body of an answer, or CONTRACT_MISMATCH when it does not parse."""
        try:
            return response.json()
        except ValueError:
            raise AInfError(
                ErrorCode.CONTRACT_MISMATCH,
                f"{self.provider_name} answered {what} with something that is not JSON.",
                detail={"engine": self.engine_id, "step": what, "body": redact_secrets(response.text[:300])},
            ) from None

    def json_object(self, response: httpx.Response, what: str) -> dict[str, Any]:
        """The JSON object of an answer, or CONTRACT_MISMATCH."""
        body = self.json_body(response, what)
        if not isinstance(body, dict):
            raise AInfError(
                ErrorCode.CONTRACT_MISMATCH,
                f"{self.provider_name} answered {what} with something that is not a JSON object.",
                detail={"engine": self.engine_id, "step": what, "body": redact_secrets(response.text[:300])},
            )
        return body

    def field(self, body: dict[str, Any], name: str, what: str) -> Any:
        """A required, non-empty field of an answer, or CONTRACT_MISMATCH naming it."""
        value = body.get(name)
        if value in (None, "", [], {}):
            raise AInfError(
                ErrorCode.CONTRACT_MISMATCH,
                f"{self.provider_name}'s {what} answer has no `{name}`.",
                detail={"engine": self.engine_id, "step": what, "fields": sorted(body)[:20]},
            )
        return value

    async def fetch_media(self, url: Any, kind: str) -> tuple[bytes, str]:
        """Download a result URL (size-capped, complete, non-empty) and check that it decodes as `kind`."""
        if not isinstance(url, str):
            raise AInfError(ErrorCode.CONTRACT_MISMATCH, detail={"engine": self.engine_id, "missing": "url"})
        async with self.client_factory() as client:
            data, content_type = await download_result(
                client, url, self.max_download_bytes, engine=self.engine_id, policy=self.retry,
                allowed_types=(f"{kind}/", "application/octet-stream", "binary/octet-stream"),
            )  # fmt: skip
        verify_decodable(data, kind, self.engine_id, self.provider_name)
        return data, content_type

    # the remote-call template -------------------------------------------------------------------
    async def run_job(self, api_key: str, job: J, control: RunControl) -> RemoteResult:
        """Submit (or resume) a job, report its id, poll it to its end, then download and settle it."""
        api_key = self.require_key(api_key)
        interval = float(control.poll_interval_s or self.poll_interval_s)
        deadline = float(control.deadline_s or self.deadline_s)
        async with self.client_factory() as client:
            if control.resume_request_id:
                handle = self.resume(job, str(control.resume_request_id))
                log.info("%s %s: resuming %s (no new submit)", self.engine_id, job.model, handle.request_id)
            else:
                handle = await self.submit_once(client, api_key, job)
                log.info("%s %s submitted as %s", self.engine_id, job.model, handle.request_id)
                control.submitted(handle.request_id)

            async def check() -> F | None:
                state = await self.poll(client, api_key, handle)
                if state.final is None and state.status:
                    control.status(state.status)
                return state.final

            async def cancel() -> bool:
                return await self.cancel(client, api_key, handle)

            final = await poll_until(
                check, interval_s=interval, deadline_s=deadline, should_cancel=control.should_cancel,
                cancel=cancel, cancel_check_s=self.cancel_check_s, engine=self.engine_id,
                request_id=handle.request_id,
            )  # fmt: skip
            outputs = await self.outputs(client, api_key, job, handle, final)
        media = []
        for ref in outputs.refs:
            data, content_type = await self.fetch_media(ref.url, job.kind)
            media.append(MediaOutput(data, content_type, ref))
        return RemoteResult(
            engine=self.engine_id, model=job.model, request_id=handle.request_id, data=media[0].data,
            content_type=media[0].content_type, media=tuple(media),
            cost=await self.settle(api_key, job, outputs), units=outputs.units, units_name=outputs.units_name,
            seed=outputs.seed,
            duration_s=outputs.duration_s,
        )  # fmt: skip

    async def submit_once(self, client: httpx.AsyncClient, api_key: str, job: J) -> H:
        """Submit; a submit in doubt is looked up, and sent again only when the provider has no such job."""
        rule, attempts = self.submit_rule, max(1, self.retry.max_attempts)
        for attempt in range(1, attempts + 1):
            try:
                return await self.submit(client, api_key, job)
            except SubmitInDoubt as doubt:
                log.warning("%s %s: submit in doubt (%s); looking it up by %s",
                            self.engine_id, job.model, doubt.failure, rule.lookup)  # fmt: skip
                try:
                    found = await self.find_submitted(client, api_key, job, doubt)
                except (SubmitInDoubt, AInfError, httpx.HTTPError) as unknown:
                    log.warning("%s: the lookup could not tell: %s", self.engine_id, str(unknown)[:200])
                    raise SubmitUnconfirmed(
                        self.engine_id, self.provider_name, doubt.failure, rule.lookup
                    ) from None
                if found is not None:
                    log.info("%s %s: the doubtful submit had landed as %s", self.engine_id, job.model,
                             found.request_id)  # fmt: skip
                    return found
                if attempt == attempts:
                    raise self._no_job(doubt) from None
                delay = min(self.retry.max_delay_s, self.retry.base_delay_s * (2 ** (attempt - 1)))
                self.stats.waits.append(delay)
                await self.retry.sleep(delay)
        raise AssertionError("unreachable")  # pragma: no cover

    def _no_job(self, doubt: SubmitInDoubt) -> AInfError:
        if doubt.response is not None:
            return self.submit_refusal(doubt.response)
        return AInfError(
            ErrorCode.ENGINE_OFFLINE,
            f"{self.provider_name} kept dropping the connection while accepting the job; it has no such job.",
            detail={"engine": self.engine_id, "step": "submit", "failure": doubt.failure},
        )

    async def find_submitted(
        self, client: httpx.AsyncClient, api_key: str, job: J, doubt: SubmitInDoubt
    ) -> H | None:
        """The job a doubtful submit created, or None when the provider says there is none.

        Raises (the doubt itself by default) when the provider offers no way to tell.
        """
        raise doubt

    @abc.abstractmethod
    async def submit(self, client: httpx.AsyncClient, api_key: str, job: J) -> H:
        """Send the job; the accepted request's handle (a mapped error when the provider refuses it)."""

    @abc.abstractmethod
    def resume(self, job: J, request_id: str) -> H:
        """The handle of a request submitted earlier, to poll it again without a new submit."""

    @abc.abstractmethod
    async def poll(self, client: httpx.AsyncClient, api_key: str, handle: H) -> PollState[F]:
        """Ask once how the request stands; raises the mapped error when it failed."""

    async def cancel(self, client: httpx.AsyncClient, api_key: str, handle: H) -> bool:
        """Ask the provider to cancel the request; False when its API has no cancel (it may still bill)."""
        log.info("%s documents no cancel; %s may still run and bill", self.provider_name, handle.request_id)
        return False

    @abc.abstractmethod
    async def outputs(self, client: httpx.AsyncClient, api_key: str, job: J, handle: H, final: F) -> Outputs:
        """The finished request's outputs (still at the provider) and what it reported about them."""

    async def settle(self, api_key: str, job: J, outputs: Outputs) -> float | None:
        """The USD cost of the downloaded outputs; the cost the provider reported with them by default."""
        return outputs.cost


def local_input(
    request: dict[str, Any], name: str, bytes_type: str, file_type: str
) -> tuple[bytes, str] | None:
    """A local input as (bytes, content type): bytes with `{name}_content_type`, or a file path; else None."""
    value = request.get(name)
    if isinstance(value, (bytes, bytearray)):
        return bytes(value), str(request.get(f"{name}_content_type") or bytes_type)
    if isinstance(value, (str, Path)) and value:
        path = Path(value)
        if not path.is_file():
            raise AInfError(ErrorCode.FILE_NOT_FOUND, detail={"input": name, "file": path.name})
        return path.read_bytes(), mimetypes.guess_type(path.name)[0] or file_type
    return None


def required_prompt(request: dict[str, Any]) -> str:
    """The request's non-blank `prompt`; VALIDATION_ERROR when it has none."""
    prompt = request.get("prompt")
    if not isinstance(prompt, str) or not prompt.strip():
        raise AInfError(ErrorCode.VALIDATION_ERROR, "A prompt is required.", detail={"missing": "prompt"})
    return prompt


def verify_decodable(data: bytes, kind: str, engine: str, provider_name: str = "The provider") -> None:
    """Refuse bytes that do not decode as the media kind promised (PIL for images, PyAV for video/audio)."""
    ok = False
    if kind == "image":
        from PIL import Image, UnidentifiedImageError

        try:
            with Image.open(io.BytesIO(data)) as img:
                img.load()
                ok = img.width > 0 and img.height > 0
        except (UnidentifiedImageError, OSError, SyntaxError, ValueError):
            ok = False
    else:
        import av

        try:
            with av.open(io.BytesIO(data)) as container:
                streams = container.streams.video if kind == "video" else container.streams.audio
                stream = next(iter(streams), None)
                ok = stream is not None and next(container.decode(stream), None) is not None
        except (av.FFmpegError, OSError, ValueError, StopIteration):
            ok = False
    if not ok:
        raise AInfError(
            ErrorCode.INVALID_MEDIA,
            f"{provider_name}'s result is not a decodable {kind}.",
            detail={"engine": engine, "bytes": len(data)},
        )
