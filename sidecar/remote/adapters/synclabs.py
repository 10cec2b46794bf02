"""Sync Labs (sync.so) lip-sync: submit → poll → download, key checks, cost estimate and recorded cost.

Contract notes, from Sync's API reference and official SDK:

- Create: `POST /v2/generate` with `x-api-key`; JSON `{model, input: [{type: "video", url}, {type: "audio",
  url}], options: {sync_mode, …}, webhookUrl?, outputFileName?}` (outputFileName: `[A-Za-z0-9_-]`, ≤ 255,
  no extension). https://docs.sync.so/api-reference/generate-api/endpoints/create and the official SDK
  (github.com/synchronicity-labs/sync-python-sdk, src/sync/generations/raw_client.py).
- Local files: the *same* endpoint takes multipart/form-data with files under `video` / `audio`, `model` as a
  field and nested `input` / `options` as JSON strings; files under 20 MB (newer pages mention a 5 GiB parser
  limit and a per-plan limit → 422 `file_size_exceeds_plan_limit`; we keep 20 MB). A file part takes
  precedence over a URL item of the same type. https://sync.so/docs/api-reference/api/generate-api/create-with-files
  and the SDK's `create_with_files`. Larger local files go through the request's optional `upload` callable
  (e.g. fal storage) or are refused with VALIDATION_ERROR. (Sync's three-step asset upload, POST
  /v2/assets/upload → PUT → POST /v2/assets, is not used.)
- Poll: `GET /v2/generate/{id}` → `{id, status, outputUrl, outputDuration, error, errorCode|error_code}`;
  statuses PENDING, PROCESSING, COMPLETED, FAILED, REJECTED, CANCELED
  (https://docs.sync.so/api-reference/endpoint/generate/get-generate). `outputUrl` is a tokenised link
  (`…/v2/generations/{id}/result?token=…`), fetched without the key.
- Idempotency: `Idempotency-Key` (1–128 chars of `[A-Za-z0-9._~-]`) on POST /v2/generate, reused on every
  retry of one intended generation, JSON and multipart alike; an unknown outcome is 503
  `IDEMPOTENCY_OUTCOME_UNKNOWN`, possibly with `generationId` to poll
  (https://sync.so/docs/api-reference/guides/idempotency, https://sync.so/docs/developer-guides/error-handling).
- Errors: 401 bad key; 402 billing/plan state (free tier used up, no plan, unpaid invoice, plan limit); 429
  rate (60/min on POST /v2/generate) *or* plan concurrency; error body `{message, statusCode, errorCode?}`.
- Cost: estimate with `POST /v2/analyze/cost` (the SDK's path and the API reference page
  https://docs.sync.so/api-reference/endpoint/analyze/post-cost) answering `[{estimatedFrameCount,
  estimatedGenerationCost}]`; the overview page lists `/v2/generate/estimate-cost` instead, so we fall back to
  it on 404. The recorded cost of a finished generation is `GET /v2/generate/{id}/costs` →
  `{availability: complete|pending|partial|unavailable, totalCostUsd: "<decimal>"|null}`
  (https://sync.so/docs/api-reference/api/generate-api/get-costs); it is the result's `cost` only when
  complete.
- Key check: `GET /v2/models` (SDK `models.list`, "models the authenticated user has access to"); on 404 the
  list endpoint `GET /v2/generations` (SDK path; the overview page says `GET /v2/generate`). No balance API
  and no cancel API exist. `GET /v2/errors` is the unauthenticated error catalogue (sync's own agent skill
  page, https://www.skills.sh/synchronicity-labs/skills/sync-api), used for the keyless reachability check.

Still UNCONFIRMED: the `errorCode` values sent with REJECTED (we treat every REJECTED as moderation), whether
multipart submits accept `outputFileName` (we do not send it there), which of the two estimate / list paths
is current, and the exact error code of an idempotency-key payload conflict (we map any 409 to
VALIDATION_ERROR).
"""

from __future__ import annotations

import json
import logging
import mimetypes
import re
import urllib.parse
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from ...core.errors import AInfError, ErrorCode
from ...core.redact import redact_secrets
from .base import NO_CONTROL, RemoteAdapter, RemoteResult, RunControl
from .control import FinalStatus, OutputRef, Outputs, PollState, RemoteJob, Submitted
from .http_policy import SubmitInDoubt, provider_reason

log = logging.getLogger("ainfluencer.adapters.synclabs")

API_URL = "https://api.sync.so"
LIPSYNC_2 = "lipsync-2"
LIPSYNC_2_PRO = "lipsync-2-pro"
MODELS = ("sync-3", LIPSYNC_2, LIPSYNC_2_PRO, "lipsync-1.9.0-beta", "react-1")
SYNC_MODES = ("cut_off", "loop", "bounce", "silence", "remap")
DEFAULT_SYNC_MODE = "cut_off"
MAX_DIRECT_UPLOAD_BYTES = 20 * 1024 * 1024
IDEMPOTENCY_KEY = re.compile(r"[A-Za-z0-9._~-]{1,128}")
OUTPUT_FILE_NAME = re.compile(r"[A-Za-z0-9_-]{1,255}")
NO_BALANCE_MESSAGE = "balance is not available from Sync (it has no balance API)"
WAITING = ("PENDING", "PROCESSING")

Upload = Callable[[bytes, str], Awaitable[str]]


@dataclass(frozen=True)
class SyncGeneration(RemoteJob):
    """One lip-sync generation: the request's parameters, turned into the submit at submit time.

    `idempotency_key` is chosen once per generation, so every resend of it is the same request to Sync.
    """

    request: dict[str, Any]
    idempotency_key: str


@dataclass(frozen=True)
class SyncGenerationRef(Submitted):
    """A generation Sync accepted and the URL that reports its status."""

    status_url: str


class SyncLabsAdapter(RemoteAdapter[SyncGeneration, SyncGenerationRef, FinalStatus]):
    """Sync Labs lip-sync (lipsync-2, lipsync-2-pro, sync-3, …) through POST /v2/generate and polling."""

    engine_id = "provider_synclabs"
    default_base_url = API_URL
    provider_name = "Sync Labs"

    def __init__(
        self,
        base_url: str | None = None,
        *,
        max_direct_upload_bytes: int = MAX_DIRECT_UPLOAD_BYTES,
        **settings: Any,
    ) -> None:
        super().__init__(base_url, **settings)
        self.max_direct_upload_bytes = max_direct_upload_bytes

    # plumbing ------------------------------------------------------------------------------------
    def auth_headers(self, api_key: str) -> dict[str, str]:
        """Sync's `x-api-key` header."""
        return {"x-api-key": api_key, "Accept": "application/json"}

    def _raise_for(self, response: httpx.Response, what: str) -> None:
        """Map a non-2xx Sync answer to the error taxonomy, with Sync's own reason in `detail`."""
        status = response.status_code
        if status < 400:
            return
        reason = provider_reason(response)
        code = str(reason.get("errorCode") or "") if isinstance(reason, dict) else ""
        detail = {"engine": self.engine_id, "step": what, "status": status, "provider_reason": reason}
        if status == 402:
            raise AInfError(
                ErrorCode.INSUFFICIENT_FUNDS,
                "Sync Labs refused the generation: payment required (plan, free-tier or invoice limit). "
                "Nothing was generated.",
                remediation=[
                    "Check your plan and unpaid invoices at sync.so (Billing), then run again.",
                    "Free accounts get 3 generations a month of at most 20 s each.",
                ],
                detail=detail,
            )
        if status in (401, 403):
            raise AInfError(
                ErrorCode.AUTH_FAILED,
                "Sync Labs rejected the API key.",
                remediation=[
                    "Create a key at sync.so/settings/api-keys and connect Sync Labs again in Setup."
                ],
                detail=detail,
            )
        if status == 429:
            raise self.rate_limited(
                detail,
                [
                    "Wait for your running Sync generations to finish (your plan caps how many run at once).",
                    "Or wait a minute: Sync allows 60 generation requests a minute.",
                ],
            )
        if status == 413 or code == "file_size_exceeds_plan_limit":
            raise AInfError(
                ErrorCode.PAYLOAD_TOO_LARGE,
                "Sync Labs refused an input file as too large for your plan.",
                detail=detail,
            )
        if status == 408:
            raise AInfError(ErrorCode.ENGINE_TIMEOUT, "Sync Labs timed out answering.", detail=detail)
        if status >= 500:
            raise self.kept_failing(status, detail)
        if status == 404 and what == "status":
            raise AInfError(
                ErrorCode.EXECUTION_FAILED,
                "Sync Labs does not know this generation id.",
                remediation=["Run the step again; the recorded generation no longer exists at Sync Labs."],
                detail=detail,
            )
        if status in (400, 409, 422):
            raise AInfError(
                ErrorCode.VALIDATION_ERROR, "Sync Labs refused the request's inputs.", detail=detail
            )
        raise AInfError(
            ErrorCode.CONTRACT_MISMATCH, f"Sync Labs answered HTTP {status} unexpectedly.", detail=detail
        )

    # key, balance, health ------------------------------------------------------------------------
    async def verify_identity(self, api_key: str) -> dict[str, Any]:
        """Check the key with a cheap authenticated read (models, else the generations list)."""
        async with self.client_factory() as client:
            response = await self.call(client, "GET", f"{self.base_url}/v2/models", api_key)
            if response.status_code == 404:
                response = await self.call(
                    client, "GET", f"{self.base_url}/v2/generations", api_key, params={"status": "PROCESSING"}
                )
            self._raise_for(response, "key check")
            self.json_body(response, "key check")
        return {"message": f"Connected to Sync Labs; {NO_BALANCE_MESSAGE}."}

    async def check_balance(self, api_key: str) -> float | None:
        """Always None: Sync Labs has no balance API."""
        return None

    async def ping(self, client: httpx.AsyncClient) -> None:
        """The unauthenticated error catalogue; any HTTP answer means the API is reachable."""
        await client.get(f"{self.base_url}/v2/errors")

    # request building ----------------------------------------------------------------------------
    def _model(self, request: dict[str, Any]) -> str:
        return self.pick_model(request, LIPSYNC_2, MODELS, "lip-sync")

    def _options(self, request: dict[str, Any]) -> dict[str, Any]:
        mode = str(request.get("sync_mode") or DEFAULT_SYNC_MODE)
        if mode not in SYNC_MODES:
            raise AInfError(
                ErrorCode.VALIDATION_ERROR, detail={"field": "sync_mode", "allowed": list(SYNC_MODES)}
            )
        options: dict[str, Any] = {"sync_mode": mode}
        temperature = request.get("temperature")
        if temperature is not None:
            if not isinstance(temperature, (int, float)) or not 0 <= temperature <= 1:
                raise AInfError(ErrorCode.VALIDATION_ERROR, detail={"field": "temperature", "range": [0, 1]})
            options["temperature"] = float(temperature)
        speaker = request.get("active_speaker_detection")
        if speaker is not None:
            if not isinstance(speaker, dict):
                raise AInfError(ErrorCode.VALIDATION_ERROR, detail={"field": "active_speaker_detection"})
            options["active_speaker_detection"] = speaker
        return options

    def _local(self, request: dict[str, Any], kind: str) -> tuple[bytes, str, str] | None:
        """A local input as (bytes, content type, file name), or None when a public URL is given."""
        url = request.get(f"{kind}_url")
        if isinstance(url, str) and url.startswith(("https://", "http://")):
            return None
        value = request.get(kind)
        content_type = request.get(f"{kind}_content_type")
        if isinstance(value, (bytes, bytearray)) and value:
            fallback = "video/mp4" if kind == "video" else "audio/wav"
            ctype = str(content_type or fallback)
            return bytes(value), ctype, f"{kind}{mimetypes.guess_extension(ctype) or ''}"
        if isinstance(value, (str, Path)) and str(value):
            path = Path(value)
            if not path.is_file():
                raise AInfError(ErrorCode.FILE_NOT_FOUND, detail={"input": kind, "file": path.name})
            data = path.read_bytes()
            if not data:
                raise AInfError(ErrorCode.INVALID_MEDIA, f"The {kind} file is empty.", detail={"input": kind})
            guessed = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
            return data, str(content_type or guessed), path.name
        raise AInfError(
            ErrorCode.VALIDATION_ERROR,
            f"Sync Labs needs a {kind} input (`{kind}_url` as a public https URL, "
            f"or `{kind}` as bytes or a file).",
            detail={"engine": self.engine_id, "missing": kind},
        )

    async def _inputs(
        self, request: dict[str, Any]
    ) -> tuple[list[dict[str, str]], dict[str, tuple[str, bytes, str]]]:
        """URL input items and multipart file parts; large local files go through `upload` when given."""
        items: list[dict[str, str]] = []
        files: dict[str, tuple[str, bytes, str]] = {}
        for kind in ("video", "audio"):
            local = self._local(request, kind)
            if local is None:
                items.append({"type": kind, "url": str(request[f"{kind}_url"])})
                continue
            data, content_type, name = local
            if len(data) <= self.max_direct_upload_bytes:
                files[kind] = (name, data, content_type)
                continue
            upload = request.get("upload")
            if not callable(upload):
                raise AInfError(
                    ErrorCode.VALIDATION_ERROR,
                    f"The {kind} file is larger than the {self.max_direct_upload_bytes // (1024 * 1024)} MB "
                    "Sync Labs accepts as a direct upload.",
                    remediation=[
                        f"Give `{kind}_url`: a public https link to the file (Sync fetches it from there).",
                        "Or trim / compress the file below the limit.",
                    ],
                    detail={"engine": self.engine_id, "input": kind, "bytes": len(data)},
                )
            url = await upload(data, content_type)
            if not isinstance(url, str) or not url.startswith(("https://", "http://")):
                raise AInfError(
                    ErrorCode.CONTRACT_MISMATCH,
                    f"Hosting the {kind} file did not give a public URL.",
                    detail={"engine": self.engine_id, "input": kind},
                )
            items.append({"type": kind, "url": url})
        return items, files

    def _idempotency_key(self, request: dict[str, Any]) -> str:
        given = request.get("idempotency_key")
        if given is None:
            return str(uuid.uuid4())
        if not isinstance(given, str) or not IDEMPOTENCY_KEY.fullmatch(given):
            raise AInfError(
                ErrorCode.VALIDATION_ERROR,
                detail={"field": "idempotency_key", "pattern": IDEMPOTENCY_KEY.pattern},
            )
        return given

    # the generation ------------------------------------------------------------------------------
    async def _submit(self, client: httpx.AsyncClient, api_key: str, job: SyncGeneration) -> str:
        model, request = job.model, job.request
        options = self._options(request)
        headers = {"Idempotency-Key": job.idempotency_key}
        name = request.get("output_file_name")
        if name is not None and not (isinstance(name, str) and OUTPUT_FILE_NAME.fullmatch(name)):
            raise AInfError(ErrorCode.VALIDATION_ERROR, detail={"field": "output_file_name"})
        items, files = await self._inputs(request)  # validated first, so nothing is hosted for a bad request
        url = f"{self.base_url}/v2/generate"
        if files:
            form = {"model": model, "options": json.dumps(options)}
            if items:
                form["input"] = json.dumps(items)
            response = await self.submit_call(
                client, "POST", url, api_key, headers=headers, data=form, files=files
            )
        else:
            body: dict[str, Any] = {"model": model, "input": items, "options": options}
            if name is not None:
                body["outputFileName"] = name
            response = await self.submit_call(client, "POST", url, api_key, headers=headers, json=body)
        unknown = self._outcome_unknown_id(response)
        if unknown:
            log.warning(
                "Sync Labs could not confirm the submit; polling the generation it named (%s)", unknown
            )
            return unknown
        self._raise_for(response, "submit")
        return str(self.field(self.json_object(response, "submit"), "id", "submit"))

    @staticmethod
    def _outcome_unknown_id(response: httpx.Response) -> str | None:
        """The `generationId` of a 503 IDEMPOTENCY_OUTCOME_UNKNOWN answer, to poll instead of resubmitting."""
        if response.status_code < 500:
            return None
        try:
            body = response.json()
        except ValueError:
            return None
        if isinstance(body, dict) and body.get("errorCode") == "IDEMPOTENCY_OUTCOME_UNKNOWN":
            found = body.get("generationId")
            return str(found) if isinstance(found, str) and found else None
        return None

    def _finished(self, body: dict[str, Any], request_id: str) -> dict[str, Any] | None:
        """The final status body when done, None while waiting; raises for FAILED / REJECTED / CANCELED."""
        status = str(self.field(body, "status", "status"))
        if status in WAITING:
            return None
        if status == "COMPLETED":
            return body
        reason = redact_secrets(
            {"error": body.get("error"), "errorCode": body.get("errorCode") or body.get("error_code")}
        )
        detail = {
            "engine": self.engine_id,
            "request_id": request_id,
            "status": status,
            "provider_reason": reason,
        }
        if status == "REJECTED":
            raise AInfError(
                ErrorCode.SAFETY_FILTER,
                "Sync Labs' moderation rejected this generation.",
                remediation=["Use a different video or audio input and run again."],
                detail=detail,
            )
        if status == "FAILED":
            why = str(reason.get("error") or "no reason given")[:200]
            raise AInfError(
                ErrorCode.EXECUTION_FAILED,
                f"Sync Labs reported the generation as failed: {why}",
                remediation=[
                    "Check that the video shows one clear face and the audio has speech, then run again."
                ],
                detail=detail,
            )
        if status == "CANCELED":
            raise AInfError(
                ErrorCode.EXECUTION_FAILED, "The generation was cancelled at Sync Labs.", detail=detail
            )
        raise AInfError(
            ErrorCode.CONTRACT_MISMATCH,
            f"Sync Labs reported an unknown status {status[:40]!r}.",
            detail={"engine": self.engine_id, "request_id": request_id},
        )

    # the generation: the template's hooks ---------------------------------------------------------
    def resume(self, job: SyncGeneration, request_id: str) -> SyncGenerationRef:
        """The status URL of a generation submitted earlier."""
        return SyncGenerationRef(
            request_id, f"{self.base_url}/v2/generate/{urllib.parse.quote(request_id, safe='')}"
        )

    async def submit(self, client: httpx.AsyncClient, api_key: str, job: SyncGeneration) -> SyncGenerationRef:
        """POST /v2/generate (JSON or multipart), or the generation an unknown outcome named."""
        return self.resume(job, await self._submit(client, api_key, job))

    async def find_submitted(
        self, client: httpx.AsyncClient, api_key: str, job: SyncGeneration, doubt: SubmitInDoubt
    ) -> SyncGenerationRef | None:
        """The generation an unknown-outcome answer names, else the one a same-key resend replays."""
        named = self._outcome_unknown_id(doubt.response) if doubt.response is not None else None
        if named:
            return self.resume(job, named)
        return await self.submit(client, api_key, job)  # Sync answers a repeated key with the first outcome

    async def poll(
        self, client: httpx.AsyncClient, api_key: str, handle: SyncGenerationRef
    ) -> PollState[FinalStatus]:
        """PENDING / PROCESSING / COMPLETED; the other final statuses raised."""
        response = await self.call(client, "GET", handle.status_url, api_key)
        self._raise_for(response, "status")
        body = self.json_object(response, "status")
        done = self._finished(body, handle.request_id)
        if done is None:
            return PollState(status=f"Sync Labs: {str(body.get('status')).lower()}")
        return PollState(final=FinalStatus(done))

    async def outputs(
        self,
        client: httpx.AsyncClient,
        api_key: str,
        job: SyncGeneration,
        handle: SyncGenerationRef,
        final: FinalStatus,
    ) -> Outputs:
        """The tokenised output URL and the recorded cost, when Sync reports it complete."""
        cost = await self._recorded_cost(client, api_key, handle.status_url)
        duration = final.body.get("outputDuration")
        return Outputs(
            refs=(OutputRef(self.field(final.body, "outputUrl", "status")),),
            cost=cost,
            duration_s=float(duration) if isinstance(duration, (int, float)) else None,
        )

    async def _recorded_cost(self, client: httpx.AsyncClient, api_key: str, status_url: str) -> float | None:
        """The generation's recorded USD cost when Sync reports it complete; None otherwise (never raises)."""
        try:
            response = await self.call(client, "GET", f"{status_url}/costs", api_key)
            if response.status_code != 200:
                return None
            body = self.json_object(response, "cost")
            if body.get("availability") != "complete" or body.get("totalCostUsd") is None:
                return None
            return float(body["totalCostUsd"])
        except (AInfError, TypeError, ValueError) as exc:
            log.info("Sync Labs cost not available: %s", redact_secrets(str(exc))[:200])
            return None

    # capabilities --------------------------------------------------------------------------------
    async def apply_lipsync(
        self, api_key: str, request: dict[str, Any], control: RunControl = NO_CONTROL
    ) -> RemoteResult:
        """Lip-sync a video to an audio track; returns the MP4 bytes, request id and recorded cost."""
        model = self._model(request)
        job = SyncGeneration(model, "video", request, self._idempotency_key(request))
        return await self.run_job(api_key, job, control)

    async def estimate_cost(self, api_key: str, request: dict[str, Any]) -> float | None:
        """Sync's USD estimate for a lip-sync request with public URLs; None for local files or no number."""
        model = self._model(request)
        urls = {kind: request.get(f"{kind}_url") for kind in ("video", "audio")}
        if not all(isinstance(u, str) and u.startswith(("https://", "http://")) for u in urls.values()):
            return None  # Sync estimates from the inputs' durations, so it needs URLs it can read
        body = {
            "model": model,
            "input": [{"type": kind, "url": str(url)} for kind, url in urls.items()],
            "options": self._options(request),
        }
        async with self.client_factory() as client:
            response = await self.call(client, "POST", f"{self.base_url}/v2/analyze/cost", api_key, json=body)
            if response.status_code == 404:
                response = await self.call(
                    client, "POST", f"{self.base_url}/v2/generate/estimate-cost", api_key, json=body
                )
            self._raise_for(response, "estimate")
            answer = self.json_body(response, "estimate")
        if isinstance(answer, list):
            answer = answer[0] if answer else {}
        value = answer.get("estimatedGenerationCost") if isinstance(answer, dict) else None
        if not isinstance(value, (int, float)) or isinstance(value, bool):
            return None
        return float(value)
