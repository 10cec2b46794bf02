"""fal.ai through its queue API: submit → status → result → download, cancel on interrupt, key checks.

Contract notes, from fal's own docs (https://fal.ai/docs/inference-api/queue/cancel): status, result and
cancel live under the model's owner/app root without the endpoint sub-path ("Do not add the endpoint path. The
status_url, response_url, and cancel_url fields contain the correct URL"), and cancel answers one of
OK / CANCELLATION_REQUESTED / ALREADY_COMPLETED / NOT_FOUND. The clarity upscaler's inputs (`image_url`
required, `prompt`, `upscale_factor` 1–4) were checked on https://fal.ai/models/fal-ai/clarity-upscaler.
Each video model's `duration` / `resolution` values come from its row in `fal_models` (always sent, so
the price is known). Still UNCONFIRMED: the exact status a non-admin key gets from the billing endpoint
(we treat a refusal there, after the key passed the pricing check, as "balance not available for this key").
"""

from __future__ import annotations

import logging
import time
import urllib.parse
from dataclasses import dataclass
from typing import Any

import httpx

from ...core.errors import AInfError, ErrorCode
from ...core.redact import redact_secrets, register_secret
from ..vault import env_base_url
from . import fal_models
from .base import NO_CONTROL, RemoteAdapter, RemoteResult, RunControl, local_input, required_prompt
from .control import FinalStatus, OutputRef, Outputs, PollState, RemoteJob, Submitted
from .http_policy import provider_reason, request_with_retries
from .model_rules import find_rule, sent, settle

log = logging.getLogger("ainfluencer.adapters.fal")

QUEUE_URL = "https://queue.fal.run"
REST_URL = "https://rest.fal.ai"
API_URL = "https://api.fal.ai"

FLUX_PRO = "fal-ai/flux-pro/v1.1"
FLUX_PULID = "fal-ai/flux-pulid"  # FLUX with a face reference (https://fal.ai/models/fal-ai/flux-pulid)
IMAGE_MODELS = (FLUX_PRO, FLUX_PULID)
HAILUO_STANDARD = "fal-ai/minimax/hailuo-02/standard/image-to-video"
HAILUO_PRO = "fal-ai/minimax/hailuo-02/pro/image-to-video"
WAN_25 = "fal-ai/wan-25-preview/image-to-video"
WAN_27 = "fal-ai/wan/v2.7/image-to-video"
VIDEO_MODELS = (HAILUO_STANDARD, HAILUO_PRO, WAN_25, WAN_27)
CLARITY_UPSCALER = "fal-ai/clarity-upscaler"
UPSCALE_MODELS = (CLARITY_UPSCALER,)
# one portrait + speech -> a talking clip (https://fal.ai/models/fal-ai/bytedance/omnihuman): `image_url`
# and `audio_url` (audio under 30 s), the clip in `video`
OMNIHUMAN = "fal-ai/bytedance/omnihuman"
TALKING_HEAD_MODELS = (OMNIHUMAN,)
# the face of one photo onto the person in a clip (https://fal.ai/models/half-moon-ai/ai-face-swap/faceswapvideo/api):
# `source_face_url` and `target_video_url`, the clip in `video`
FACE_SWAP_VIDEO = "half-moon-ai/ai-face-swap/faceswapvideo"
FACE_SWAP_MODELS = (FACE_SWAP_VIDEO,)
IMAGE_SIZES = ("square_hd", "square", "portrait_4_3", "portrait_16_9", "landscape_4_3", "landscape_16_9")
BALANCE_CACHE_S = 60.0
LOCK_WORDS = ("user is locked", "exhausted balance", "top_up", "admin lock")
NO_BALANCE_MESSAGE = "balance not available for this key (fal reports it to admin keys only)"


@dataclass(frozen=True)
class FalJob(RemoteJob):
    """One queue run: the model's arguments and the result field holding its output (`images` is a list)."""

    arguments: dict[str, Any]
    output_field: str


@dataclass(frozen=True)
class FalRequest(Submitted):
    """A queued request and the URLs fal named for it (checked to be on the queue host)."""

    status_url: str
    response_url: str
    cancel_url: str


class FalAdapter(RemoteAdapter[FalJob, FalRequest, FinalStatus]):
    """fal.ai: Flux Pro images, Hailuo / Wan image-to-video and the clarity upscaler, via the queue."""

    engine_id = "provider_fal"
    default_base_url = QUEUE_URL
    provider_name = "fal.ai"

    def __init__(self, base_url: str | None = None, **settings: Any) -> None:
        super().__init__(base_url, **settings)
        override = (base_url or env_base_url(self.engine_id) or "").rstrip("/")
        # One override serves every host (the emulator); otherwise fal's three hosts.
        self.queue_url = override or QUEUE_URL
        self.rest_url = override or REST_URL
        self.api_url = override or API_URL
        self._balance_cache: dict[str, tuple[float, float | None]] = {}

    # plumbing ------------------------------------------------------------------------------------
    def auth_headers(self, api_key: str) -> dict[str, str]:
        """fal's `Authorization: Key …` header."""
        return {"Authorization": f"Key {api_key}", "Accept": "application/json"}

    def _raise_for(self, response: httpx.Response, what: str) -> None:
        """Map a non-2xx fal answer to the error taxonomy, with fal's own reason in `detail`."""
        status = response.status_code
        if status < 400:
            return
        reason = provider_reason(response)
        detail = {"engine": self.engine_id, "step": what, "status": status, "provider_reason": reason}
        text = str(reason).lower()
        error_type = response.headers.get("x-fal-error-type", "")
        if isinstance(reason, dict):
            error_type = error_type or str(reason.get("error_type") or "")
        if status == 403 and any(word in text for word in LOCK_WORDS):
            raise AInfError(
                ErrorCode.INSUFFICIENT_FUNDS,
                "fal.ai locked the account: the balance is exhausted. Nothing was generated.",
                remediation=[
                    "Top up at fal.ai/dashboard/billing, then run again.",
                    "If the account is still locked after a top-up, contact fal support.",
                ],
                detail=detail,
            )
        if status in (401, 403):
            raise AInfError(ErrorCode.AUTH_FAILED, "fal.ai rejected the API key.", detail=detail)
        if "content_policy_violation" in text or "content_policy_violation" in error_type:
            raise AInfError(
                ErrorCode.SAFETY_FILTER, "fal.ai's content moderation refused this request.", detail=detail
            )
        if status == 429:
            raise self.rate_limited(detail)
        if status in (408, 504) or error_type in ("request_timeout", "startup_timeout"):
            raise AInfError(ErrorCode.ENGINE_TIMEOUT, "fal.ai timed out running the model.", detail=detail)
        if status >= 500:
            raise self.kept_failing(status, detail)
        if status == 422:
            raise AInfError(ErrorCode.VALIDATION_ERROR, "fal.ai refused the request's inputs.", detail=detail)
        raise AInfError(
            ErrorCode.CONTRACT_MISMATCH, f"fal.ai answered HTTP {status} unexpectedly.", detail=detail
        )

    def _same_origin(self, url: Any, fallback: str) -> str:
        """Use a URL fal returned only when it points at the queue host we called (the key goes with it)."""
        if isinstance(url, str):
            ours, theirs = urllib.parse.urlsplit(self.queue_url), urllib.parse.urlsplit(url)
            if (ours.scheme, ours.netloc) == (theirs.scheme, theirs.netloc):
                return url
        return fallback

    # key, balance, health ------------------------------------------------------------------------
    async def verify_identity(self, api_key: str) -> dict[str, Any]:
        """Check the key with the pricing endpoint (any valid key may read it); then probe the balance."""
        async with self.client_factory() as client:
            response = await self.call(
                client, "GET", f"{self.api_url}/v1/models/pricing", api_key, params={"endpoint_id": FLUX_PRO}
            )
            self._raise_for(response, "key check")
            balance = await self._fetch_balance(client, api_key)
        if balance is None:
            return {"message": f"Connected to fal.ai; {NO_BALANCE_MESSAGE}."}
        return {"message": f"Connected to fal.ai; balance {balance:.2f} USD."}

    async def _fetch_balance(self, client: httpx.AsyncClient, api_key: str) -> float | None:
        cached = self._balance_cache.get(api_key)
        if cached and time.monotonic() - cached[0] < BALANCE_CACHE_S:
            return cached[1]
        response = await self.call(
            client, "GET", f"{self.api_url}/v1/account/billing", api_key, params={"expand": "credits"}
        )
        if response.status_code in (401, 403) and not any(
            word in str(provider_reason(response)).lower() for word in LOCK_WORDS
        ):
            balance: float | None = None
        else:
            self._raise_for(response, "balance")
            credits = self.field(self.json_object(response, "balance"), "credits", "balance")
            value = credits.get("current_balance") if isinstance(credits, dict) else None
            if not isinstance(value, (int, float)) or isinstance(value, bool):
                raise AInfError(
                    ErrorCode.CONTRACT_MISMATCH,
                    "fal.ai's balance answer has no numeric `credits.current_balance`.",
                    detail={"engine": self.engine_id, "step": "balance"},
                )
            balance = float(value)
        self._balance_cache[api_key] = (time.monotonic(), balance)
        return balance

    async def check_balance(self, api_key: str) -> float | None:
        """The account's USD balance (admin keys); None when fal does not tell it to this key."""
        async with self.client_factory() as client:
            return await self._fetch_balance(client, api_key)

    async def ping(self, client: httpx.AsyncClient) -> None:
        """A keyless request; any HTTP answer means the API is reachable."""
        await client.get(f"{self.api_url}/v1/models/pricing", params={"endpoint_id": FLUX_PRO})

    # inputs --------------------------------------------------------------------------------------
    async def upload_file(self, api_key: str, data: bytes, content_type: str) -> str:
        """Put bytes on fal's CDN (token, then upload) and return the public `access_url`."""
        if not data:
            raise AInfError(
                ErrorCode.INVALID_MEDIA, "The input file is empty.", detail={"engine": self.engine_id}
            )
        async with self.client_factory() as client:
            response = await self.call(
                client, "POST", f"{self.rest_url}/storage/auth/token", api_key,
                params={"storage_type": "fal-cdn-v3"}, json={},
            )  # fmt: skip
            self._raise_for(response, "upload token")
            body = self.json_object(response, "upload token")
            token = str(self.field(body, "token", "upload token"))
            token_type = str(body.get("token_type") or "Bearer")
            cdn = str(self.field(body, "base_url", "upload token")).rstrip("/")
            register_secret(token)
            if not cdn.startswith("https://") and not cdn.startswith(self.rest_url):
                raise AInfError(
                    ErrorCode.CONTRACT_MISMATCH,
                    "fal.ai offered an upload host that is not HTTPS.",
                    detail={"engine": self.engine_id, "step": "upload token"},
                )
            response = await request_with_retries(
                client, "POST", f"{cdn}/files/upload", policy=self.retry, stats=self.stats,
                engine=self.engine_id, content=data,
                headers={"Authorization": f"{token_type} {token}", "Content-Type": content_type},
            )  # fmt: skip
            self._raise_for(response, "upload")
            return str(self.field(self.json_object(response, "upload"), "access_url", "upload"))

    async def _image_url(
        self, api_key: str, request: dict[str, Any], control: RunControl, name: str = "image"
    ) -> str:
        """An input image as a URL: a given http(s) or data URL as is, bytes or a file path uploaded first."""
        schemes = ("https://", "http://", "data:")
        return await self._media_url(api_key, request, control, name, "image/png", schemes)

    async def _media_url(
        self,
        api_key: str,
        request: dict[str, Any],
        control: RunControl,
        name: str,
        bytes_type: str,
        schemes: tuple[str, ...] = ("https://", "http://"),
    ) -> str:
        """An input (`{name}` bytes or file, or `{name}_url`) as a URL on fal's CDN, uploaded when local."""
        if control.resume_request_id:
            return ""  # a resumed request was submitted with its inputs already; nothing to upload again
        url = request.get(f"{name}_url")
        if isinstance(url, str) and url.startswith(schemes):
            return url
        local = local_input(request, name, bytes_type, "application/octet-stream")
        if local is None:
            kind = "an input image" if bytes_type.startswith("image/") else f"the {name}"
            raise AInfError(
                ErrorCode.VALIDATION_ERROR,
                f"fal.ai needs {kind} (`{name}` as bytes or a file, or `{name}_url`).",
                detail={"engine": self.engine_id, "missing": name},
            )
        return await self.upload_file(api_key, *local)

    # the queue: the template's hooks ---------------------------------------------------------------
    def _request(self, model: str, request_id: str, body: dict[str, Any]) -> FalRequest:
        app_root = "/".join(model.split("/")[:2])  # status, result and cancel live without the endpoint path
        base = f"{self.queue_url}/{app_root}/requests/{urllib.parse.quote(request_id, safe='')}"
        return FalRequest(
            request_id=request_id,
            status_url=self._same_origin(body.get("status_url"), f"{base}/status"),
            response_url=self._same_origin(body.get("response_url"), base),
            cancel_url=self._same_origin(body.get("cancel_url"), f"{base}/cancel"),
        )

    async def submit(self, client: httpx.AsyncClient, api_key: str, job: FalJob) -> FalRequest:
        """POST the arguments to the model's queue (a doubtful submit cannot be looked up: no idempotency)."""
        response = await self.submit_call(
            client, "POST", f"{self.queue_url}/{job.model}", api_key, json=job.arguments
        )
        self._raise_for(response, "submit")
        body = self.json_object(response, "submit")
        return self._request(job.model, str(self.field(body, "request_id", "submit")), body)

    def resume(self, job: FalJob, request_id: str) -> FalRequest:
        """The queue URLs of a request submitted earlier."""
        return self._request(job.model, request_id, {})

    async def poll(
        self, client: httpx.AsyncClient, api_key: str, handle: FalRequest
    ) -> PollState[FinalStatus]:
        """IN_QUEUE (with its position) / IN_PROGRESS / COMPLETED."""
        response = await self.call(client, "GET", handle.status_url, api_key, params={"logs": 1})
        self._raise_for(response, "status")
        body = self.json_object(response, "status")
        status = self.field(body, "status", "status")
        if status == "COMPLETED":
            return PollState(final=FinalStatus(body))
        if status not in ("IN_QUEUE", "IN_PROGRESS"):
            raise AInfError(
                ErrorCode.CONTRACT_MISMATCH,
                f"fal.ai reported an unknown status {str(status)[:40]!r}.",
                detail={"engine": self.engine_id, "request_id": handle.request_id},
            )
        where = body.get("queue_position")
        if status == "IN_QUEUE" and where is not None:
            return PollState(status=f"fal.ai: in queue (position {where})")
        return PollState(status=f"fal.ai: {str(status).lower().replace('_', ' ')}")

    async def cancel(self, client: httpx.AsyncClient, api_key: str, handle: FalRequest) -> bool:
        """PUT the cancel URL; fal confirms with a 2xx."""
        response = await self.call(client, "PUT", handle.cancel_url, api_key)
        log.info("fal %s cancel answered HTTP %s", handle.request_id, response.status_code)
        return response.status_code < 400

    async def outputs(
        self, client: httpx.AsyncClient, api_key: str, job: FalJob, handle: FalRequest, final: FinalStatus
    ) -> Outputs:
        """Fetch the result JSON (a failed run mapped) and pick the output field's URLs."""
        result = await self.call(client, "GET", handle.response_url, api_key)
        self._raise_for(result, "result")
        failed = final.body
        if failed.get("error"):
            reason = redact_secrets({"error": failed.get("error"), "error_type": failed.get("error_type")})
            detail = {"engine": self.engine_id, "request_id": handle.request_id, "provider_reason": reason}
            if "content_policy" in str(failed.get("error_type") or "") + str(failed.get("error")):
                raise AInfError(
                    ErrorCode.SAFETY_FILTER,
                    "fal.ai's content moderation refused this request.",
                    detail=detail,
                )
            raise AInfError(ErrorCode.EXECUTION_FAILED, "fal.ai reported the run as failed.", detail=detail)
        output = self.json_object(result, "result")
        found = self.field(output, job.output_field, "result")
        items = found if job.output_field == "images" else [found]
        if not isinstance(found, (list, dict)) or not all(isinstance(i, dict) for i in items):
            raise AInfError(
                ErrorCode.CONTRACT_MISMATCH, detail={"engine": self.engine_id, "field": job.output_field}
            )
        nsfw = output.get("has_nsfw_concepts")
        if job.output_field == "images" and isinstance(nsfw, list) and nsfw and all(nsfw):
            raise AInfError(
                ErrorCode.SAFETY_FILTER,
                "fal.ai's safety checker blanked every image.",
                detail={"engine": self.engine_id, "request_id": handle.request_id},
            )
        units = result.headers.get("x-fal-billable-units")
        seed = output.get("seed")
        return Outputs(
            refs=tuple(OutputRef(item.get("url")) for item in items),
            units=_number(units),
            units_name="fal billable units" if units is not None else None,
            seed=seed if isinstance(seed, int) and not isinstance(seed, bool) else None,
        )

    async def settle(self, api_key: str, job: FalJob, outputs: Outputs) -> float | None:
        """fal's billable units × the endpoint's unit price, asked once the outputs are downloaded."""
        return await self._cost(job.model, outputs.units, api_key)

    async def _cost(self, model: str, units: Any, api_key: str) -> float | None:
        """fal's reported billable units × the endpoint's unit price (None when either is unknown)."""
        try:
            count = float(units)
        except (TypeError, ValueError):
            return None
        try:
            async with self.client_factory() as client:
                response = await self.call(
                    client, "GET", f"{self.api_url}/v1/models/pricing", api_key, params={"endpoint_id": model}
                )
            prices = (
                self.json_object(response, "pricing").get("prices") if response.status_code == 200 else None
            )
            price = next(
                (p for p in prices or [] if isinstance(p, dict) and p.get("endpoint_id") == model), None
            )
            unit_price = float(price["unit_price"]) if price else None
        except (AInfError, KeyError, TypeError, ValueError):
            unit_price = None
        return round(count * unit_price, 6) if unit_price is not None else None

    # capabilities --------------------------------------------------------------------------------
    async def generate_image(
        self, api_key: str, request: dict[str, Any], control: RunControl = NO_CONTROL
    ) -> RemoteResult:
        """Flux Pro v1.1 text-to-image; returns the decoded-checked image bytes (all images in `media`)."""
        model = self.pick_model(request, FLUX_PRO, IMAGE_MODELS, "image")
        arguments: dict[str, Any] = {"prompt": required_prompt(request)}
        if model == FLUX_PULID:
            reference = await self._image_url(api_key, request, control, "reference_image")
            arguments["reference_image_url"] = reference
        size = request.get("image_size")
        if isinstance(size, str) and size in IMAGE_SIZES:
            arguments["image_size"] = size
        elif isinstance(size, dict) and {"width", "height"} <= set(size):
            arguments["image_size"] = {"width": int(size["width"]), "height": int(size["height"])}
        elif size is not None:
            raise AInfError(
                ErrorCode.VALIDATION_ERROR, detail={"field": "image_size", "allowed": list(IMAGE_SIZES)}
            )
        for name, cast in _IMAGE_FIELDS[model]:
            if request.get(name) not in (None, ""):
                arguments[name] = cast(request[name])
        return await self.run_job(api_key, FalJob(model, "image", arguments, "images"), control)

    async def animate_portrait(
        self, api_key: str, request: dict[str, Any], control: RunControl = NO_CONTROL
    ) -> RemoteResult:
        """OmniHuman: one portrait (`image`) speaks the `audio` (WAV bytes, under 30 s); returns MP4 bytes."""
        model = self.pick_model(request, OMNIHUMAN, TALKING_HEAD_MODELS, "talking head")
        seconds = fal_models.audio_seconds(request)
        if seconds is not None and seconds >= fal_models.OMNIHUMAN_MAX_SECONDS:
            raise AInfError(
                ErrorCode.VALIDATION_ERROR,
                f"OmniHuman takes speech under 30 s; this is {seconds:.1f} s.",
                remediation=["Split the audio into parts under 30 s and run one clip per part."],
                detail={"engine": self.engine_id, "model": model, "seconds": round(seconds, 2)},
            )
        image = await self._image_url(api_key, request, control)
        audio = await self._media_url(api_key, request, control, "audio", "audio/wav")
        return await self.run_job(api_key, _clip_job(model, image_url=image, audio_url=audio), control)

    async def swap_face(
        self, api_key: str, request: dict[str, Any], control: RunControl = NO_CONTROL
    ) -> RemoteResult:
        """The face of one photo (`face`) onto the person in a clip (`video`, MP4 bytes); returns MP4."""
        model = self.pick_model(request, FACE_SWAP_VIDEO, FACE_SWAP_MODELS, "face swap")
        face = await self._image_url(api_key, request, control, "face")
        clip = await self._media_url(api_key, request, control, "video", "video/mp4")
        job = _clip_job(model, source_face_url=face, target_video_url=clip)
        return await self.run_job(api_key, job, control)

    async def generate_video(
        self, api_key: str, request: dict[str, Any], control: RunControl = NO_CONTROL
    ) -> RemoteResult:
        """Image-to-video with Minimax Hailuo 02 or Wan (model id from the request); returns MP4 bytes."""
        model = self.pick_model(request, HAILUO_STANDARD, VIDEO_MODELS, "video")
        rule = find_rule(fal_models.RULES, model)
        settled = settle(rule, request) if rule is not None else {}  # refused before any upload or submit
        arguments: dict[str, Any] = {
            "prompt": str(request.get("prompt") or ""),
            "image_url": await self._image_url(api_key, request, control),
            **(sent(rule, settled) if rule is not None else {}),
        }
        if model in (HAILUO_STANDARD, HAILUO_PRO):
            if request.get("prompt_optimizer") is not None:
                arguments["prompt_optimizer"] = bool(request["prompt_optimizer"])
            if model == HAILUO_PRO and (request.get("end_image") or request.get("end_image_url")):
                arguments["end_image_url"] = await self._image_url(api_key, request, control, "end_image")
        else:
            for name in ("negative_prompt", "seed"):
                if request.get(name) is not None:
                    arguments[name] = request[name]
        return await self.run_job(api_key, FalJob(model, "video", arguments, "video"), control)

    async def upscale(
        self, api_key: str, request: dict[str, Any], control: RunControl = NO_CONTROL
    ) -> RemoteResult:
        """Upscale an image with fal's clarity upscaler (`upscale_factor` 1–4); returns the image bytes."""
        model = self.pick_model(request, CLARITY_UPSCALER, UPSCALE_MODELS, "upscale")
        factor = float(request.get("upscale_factor") or 2)
        if not 1 <= factor <= 4:
            raise AInfError(ErrorCode.VALIDATION_ERROR, detail={"field": "upscale_factor", "range": [1, 4]})
        arguments: dict[str, Any] = {
            "image_url": await self._image_url(api_key, request, control),
            "upscale_factor": factor,
        }
        if request.get("prompt"):
            arguments["prompt"] = str(request["prompt"])
        return await self.run_job(api_key, FalJob(model, "image", arguments, "image"), control)


# the optional inputs each image model takes, with their types (each model page's input schema)
_IMAGE_FIELDS: dict[str, tuple[tuple[str, Any], ...]] = {
    FLUX_PRO: (("num_images", int), ("seed", int), ("safety_tolerance", str)),
    FLUX_PULID: (("seed", int), ("negative_prompt", str), ("num_inference_steps", int),
                 ("guidance_scale", float), ("id_weight", float)),
}  # fmt: skip


def _clip_job(model: str, **arguments: str) -> FalJob:
    """A queue run whose result is one clip in `video`."""
    return FalJob(model, "video", arguments, "video")


def _number(value: Any) -> float | None:
    """A number fal reported as text (its billable units header), or None."""
    try:
        return float(value)
    except (TypeError, ValueError):
        return None
