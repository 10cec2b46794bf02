"""A strict fal.ai emulator: queue API, CDN upload, pricing and billing, with faults injected on request.

One base URL serves every fal host (queue, rest, api, CDN, media), the way `AINFLUENCER_PROVIDER_FAL_BASE_URL`
points the adapter at it. Jobs move IN_QUEUE → IN_PROGRESS → COMPLETED over `queue_s` and `run_s`.
"""

from __future__ import annotations

import asyncio
import io
import itertools
import json
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import av
from aiohttp import web

from .faults import answer_after_create
from .media import fit_png, make_mp4, make_png, make_swapped_mp4, make_talking_mp4, wav_seconds
from .serve import serve, shutdown

FLUX = "fal-ai/flux-pro/v1.1"
HAILUO_STD = "fal-ai/minimax/hailuo-02/standard/image-to-video"
HAILUO_PRO = "fal-ai/minimax/hailuo-02/pro/image-to-video"
WAN = ("fal-ai/wan-25-preview/image-to-video", "fal-ai/wan/v2.7/image-to-video")
CLARITY = "fal-ai/clarity-upscaler"
PULID = "fal-ai/flux-pulid"  # https://fal.ai/models/fal-ai/flux-pulid/llms.txt
OMNIHUMAN = "fal-ai/bytedance/omnihuman"  # https://fal.ai/models/fal-ai/bytedance/omnihuman/llms.txt
# https://fal.ai/models/half-moon-ai/ai-face-swap/faceswapvideo/api
FACE_SWAP = "half-moon-ai/ai-face-swap/faceswapvideo"
PULID_FIELDS = {"prompt", "reference_image_url", "image_size", "num_inference_steps", "seed",
                "guidance_scale", "negative_prompt", "sync_mode", "true_cfg", "id_weight",
                "enable_safety_checker", "max_sequence_length", "start_step"}  # fmt: skip
SIZE_PIXELS = {
    "square_hd": (1024, 1024),
    "square": (512, 512),
    "portrait_4_3": (768, 1024),
    "portrait_16_9": (576, 1024),
    "landscape_4_3": (1024, 768),
    "landscape_16_9": (1024, 576),
}
UNIT_PRICES = {CLARITY: (0.03, "megapixels"), PULID: (0.0333, "megapixels"), OMNIHUMAN: (0.14, "seconds"),
               FACE_SWAP: (0.1, "seconds")}  # fmt: skip


def charge(model: str, body: dict, input_size: tuple[int, int] = (1024, 1024)) -> float:
    """USD fal lists for a request (each model's page under https://fal.ai/models/, 2026-12)."""
    if model == CLARITY:  # $0.03 per output megapixel
        factor = body.get("upscale_factor", 2)
        return 0.03 * input_size[0] * input_size[1] * factor * factor / 1e6
    if model == HAILUO_STD:  # $0.045/s at 768P (the default), ~$0.017/s at 512P
        rate = 0.017 if body.get("resolution") == "512P" else 0.045
        return rate * int(body.get("duration", "6"))
    if model == HAILUO_PRO:  # 1080P, 6 s at $0.08/s
        return 0.08 * 6
    if model == PULID:  # $0.0333 per megapixel, rounded up to whole megapixels
        width, height = SIZE_PIXELS[body.get("image_size", "landscape_4_3")]
        return 0.0333 * -(-width * height // 1_000_000)
    if model in WAN:  # Wan 2.5 $0.05/$0.10/$0.15 per s at 480p/720p/1080p; Wan 2.7 $0.10/$0.15 at 720p/1080p
        rate = {"480p": 0.05, "720p": 0.10}.get(body.get("resolution", "1080p"), 0.15)
        return rate * int(body.get("duration", 5))
    return 0.04 * body.get("num_images", 1)


IMAGE_SIZES = {"square_hd", "square", "portrait_4_3", "portrait_16_9", "landscape_4_3", "landscape_16_9"}
FAULTS = {None, "exhausted", "moderation", "hang", "never_complete", "malformed_json", "missing_fields",
          "truncated", "nsfw"}  # fmt: skip
LOCKED = "User is locked. Reason: Exhausted balance. Top up your balance at fal.ai/dashboard/billing."


@dataclass
class Job:
    """One queued request."""

    request_id: str
    model: str
    app_root: str
    body: dict[str, Any]
    created: float
    queue_s: float
    run_s: float
    cancelled: bool = False

    def status(self, now: float, never_complete: bool) -> str:
        """The status at `now`."""
        if self.cancelled:
            return "COMPLETED"
        if now < self.created + self.queue_s:
            return "IN_QUEUE"
        if never_complete or now < self.created + self.queue_s + self.run_s:
            return "IN_PROGRESS"
        return "COMPLETED"


@dataclass
class FalEmulator:
    """The fal.ai contract on 127.0.0.1; set `fault`, `rate_limit_n` or `burst_5xx_n` to inject failures."""

    key: str
    admin: bool = True
    balance: float = 24.5
    queue_s: float = 0.03
    run_s: float = 0.06
    fault: str | None = None
    rate_limit_n: int = 0
    retry_after: str = "2"
    burst_5xx_n: int = 0
    after_create: str | None = None  # the next submit creates its job, then answers "500" or drops ("drop")
    pulid_render: bytes | None = None  # what PuLID "renders"; by default the reference photo, fitted to size
    submits: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    cancels: list[str] = field(default_factory=list)
    hits: dict[str, int] = field(default_factory=dict)
    peak_concurrency: int = 0
    base_url: str = ""

    def __post_init__(self) -> None:
        self.jobs: dict[str, Job] = {}
        self.media: dict[str, tuple[bytes, str]] = {}
        self.tokens: set[str] = set()
        self._ids = itertools.count(1)
        self._runner: web.AppRunner | None = None
        self._release = asyncio.Event()
        self._png, self._big_png, self._mp4 = make_png(), make_png(128, 96), make_mp4()

    @property
    def jobs_created(self) -> int:
        """Queue requests created, each billed once by fal."""
        return len(self.jobs)

    # lifecycle -----------------------------------------------------------------------------------
    async def start(self) -> str:
        """Serve on a free loopback port; returns the base URL."""
        app = web.Application(client_max_size=20 * 1024 * 1024)
        app.router.add_get("/v1/models/pricing", self._pricing)
        app.router.add_get("/v1/account/billing", self._billing)
        app.router.add_post("/storage/auth/token", self._token)
        app.router.add_post("/files/upload", self._upload)
        app.router.add_get("/media/{name}", self._media)
        app.router.add_get("/{owner}/{app}/requests/{rid}/status", self._status)
        app.router.add_put("/{owner}/{app}/requests/{rid}/cancel", self._cancel)
        app.router.add_get("/{owner}/{app}/requests/{rid}", self._result)
        app.router.add_post("/{model:.+}", self._submit)
        self._runner, self.base_url = await serve(app)
        return self.base_url

    async def stop(self) -> None:
        """Stop serving."""
        await shutdown(self._runner, self._release)

    # helpers -------------------------------------------------------------------------------------
    def _hit(self, name: str) -> None:
        self.hits[name] = self.hits.get(name, 0) + 1

    def _auth(self, request: web.Request) -> web.Response | None:
        header = request.headers.get("Authorization", "")
        if header != f"Key {self.key}":
            # Like fal, echo part of what was sent: the adapter must redact it.
            shown = header[:60]
            return web.json_response(
                {"detail": f"No user found for Authorization header {shown!r}"}, status=401
            )
        if self.fault == "exhausted":
            return web.json_response({"detail": LOCKED}, status=403)
        return None

    def _in_flight(self) -> int:
        now = time.monotonic()
        return sum(
            1 for job in self.jobs.values() if job.status(now, self.fault == "never_complete") != "COMPLETED"
        )

    def _store(self, data: bytes, content_type: str, suffix: str) -> str:
        name = f"{uuid.uuid4().hex}.{suffix}"
        self.media[name] = (data, content_type)
        return f"{self.base_url}/media/{name}"

    @staticmethod
    def _invalid(loc: str, msg: str) -> web.Response:
        return web.json_response(
            {"detail": [{"loc": ["body", loc], "msg": msg, "type": "value_error"}]}, status=422
        )

    def _input_url(self, value: Any) -> bool:
        if not isinstance(value, str):
            return False
        if value.startswith(f"{self.base_url}/media/"):
            return value.rsplit("/", 1)[1] in self.media
        return value.startswith("https://")

    # account ---------------------------------------------------------------------------------------
    async def _pricing(self, request: web.Request) -> web.Response:
        self._hit("pricing")
        if (refused := self._auth(request)) is not None:
            return refused
        ids = request.query.get("endpoint_id", "")
        if not ids:
            return self._invalid("endpoint_id", "field required")
        prices = [
            {"endpoint_id": e, "unit_price": UNIT_PRICES[e][0], "unit": UNIT_PRICES[e][1], "currency": "USD"}
            if e in UNIT_PRICES  # the clarity upscaler and PuLID per output megapixel, OmniHuman per second
            else {"endpoint_id": e, "unit_price": 0.04, "unit": "image", "currency": "USD"}
            for e in ids.split(",")
        ]
        return web.json_response({"prices": prices})

    async def _billing(self, request: web.Request) -> web.Response:
        self._hit("billing")
        if (refused := self._auth(request)) is not None:
            return refused
        if not self.admin:
            return web.json_response({"detail": "This endpoint requires an ADMIN key."}, status=403)
        if request.query.get("expand") != "credits":
            return web.json_response({"username": "emulated"})
        credits = {"current_balance": self.balance, "currency": "USD"}
        return web.json_response({"username": "emulated", "credits": credits})

    # storage ---------------------------------------------------------------------------------------
    async def _token(self, request: web.Request) -> web.Response:
        self._hit("token")
        if (refused := self._auth(request)) is not None:
            return refused
        if request.query.get("storage_type") != "fal-cdn-v3" or await request.json() != {}:
            return self._invalid("storage_type", "expected storage_type=fal-cdn-v3 and an empty JSON body")
        token = f"cdn-{uuid.uuid4().hex}"
        self.tokens.add(token)
        return web.json_response(
            {
                "token": token,
                "token_type": "Bearer",
                "base_url": self.base_url,
                "expires_at": "2099-01-01T00:00:00Z",
            }
        )

    async def _upload(self, request: web.Request) -> web.Response:
        self._hit("upload")
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        if scheme != "Bearer" or token not in self.tokens:
            return web.json_response({"detail": "invalid upload token"}, status=401)
        content_type = request.headers.get("Content-Type", "")
        data = await request.read()
        if not content_type.startswith(("image/", "audio/", "video/")) or not data:
            return self._invalid("file", "a media body with its Content-Type is required")
        return web.json_response({"access_url": self._store(data, content_type, content_type.split("/")[1])})

    async def _media(self, request: web.Request) -> web.StreamResponse:
        self._hit("media")
        found = self.media.get(request.match_info["name"])
        if found is None:
            return web.json_response({"detail": "not found"}, status=404)
        data, content_type = found
        if self.fault != "truncated":
            return web.Response(body=data, content_type=content_type)
        response = web.StreamResponse(headers={"Content-Type": content_type})
        response.content_length = len(data)
        await response.prepare(request)
        await response.write(data[: len(data) // 2])
        assert request.transport is not None
        request.transport.close()
        return response

    # queue -----------------------------------------------------------------------------------------
    def _validate(self, model: str, body: Any) -> web.Response | None:
        if not isinstance(body, dict):
            return self._invalid("", "the input must be a JSON object")
        if model == FLUX:
            allowed = {"prompt", "image_size", "num_images", "seed", "safety_tolerance", "output_format"}
            if not isinstance(body.get("prompt"), str) or not body["prompt"].strip():
                return self._invalid("prompt", "field required")
            size = body.get("image_size", "landscape_4_3")
            sized = isinstance(size, dict) and set(size) == {"width", "height"}
            if not (size in IMAGE_SIZES if isinstance(size, str) else sized):
                return self._invalid("image_size", "not a permitted size")
            if not 1 <= body.get("num_images", 1) <= 4:
                return self._invalid("num_images", "must be 1-4")
            if body.get("safety_tolerance", "2") not in {"1", "2", "3", "4", "5", "6"}:
                return self._invalid("safety_tolerance", "must be a string '1'-'6'")
        elif model in (HAILUO_STD, HAILUO_PRO):
            # https://fal.ai/models/fal-ai/minimax/hailuo-02/standard/image-to-video: duration "6"|"10",
            # resolution "512P"|"768P"; the pro endpoint is 1080P, 6 s, with neither field
            allowed = {"prompt", "image_url", "prompt_optimizer"}
            allowed |= {"end_image_url"} if model == HAILUO_PRO else {"duration", "resolution"}
            if body.get("duration", "6") not in ("6", "10"):
                return self._invalid("duration", "must be '6' or '10'")
            if body.get("resolution", "768P") not in ("512P", "768P"):
                return self._invalid("resolution", "must be '512P' or '768P'")
            if not isinstance(body.get("prompt_optimizer", True), bool):
                return self._invalid("prompt_optimizer", "must be a boolean")
        elif model in WAN:
            allowed = {"prompt", "image_url", "resolution", "duration", "negative_prompt", "seed"}
            if (invalid := self._wan(model, body)) is not None:
                return invalid
        elif model == PULID:
            allowed = PULID_FIELDS
            if (invalid := self._pulid(body)) is not None:
                return invalid
        elif model == OMNIHUMAN:
            allowed = {"image_url", "audio_url"}
            if (invalid := self._omnihuman(body)) is not None:
                return invalid
        elif model == FACE_SWAP:
            allowed = {"source_face_url", "target_video_url", "enable_occlusion_prevention"}
            for name in ("source_face_url", "target_video_url"):
                if not self._input_url(body.get(name)):
                    return self._invalid(name, "must be a fetchable URL (upload it first)")
        elif model == CLARITY:
            allowed = {"image_url", "prompt", "upscale_factor", "negative_prompt", "seed"}
            factor = body.get("upscale_factor", 2)
            if not isinstance(factor, (int, float)) or not 1 <= factor <= 4:
                return self._invalid("upscale_factor", "must be 1-4")
        else:
            return web.json_response({"detail": f"Application {model!r} not found"}, status=404)
        extra = set(body) - allowed
        if extra:
            return self._invalid(sorted(extra)[0], "extra fields not permitted")
        if model not in (FLUX, PULID, OMNIHUMAN, FACE_SWAP):
            if not isinstance(body.get("prompt", ""), str) or (model != CLARITY and "prompt" not in body):
                return self._invalid("prompt", "field required")
            for name in ("image_url", "end_image_url"):
                if (name == "image_url" or name in body) and not self._input_url(body.get(name)):
                    return self._invalid(name, "must be a fetchable URL (upload it to fal storage first)")
        return None

    def _pulid(self, body: dict) -> web.Response | None:
        """PuLID: a prompt and a fetchable reference photo; steps 1-50, guidance 0-20, a known size."""
        if not isinstance(body.get("prompt"), str) or not body["prompt"].strip():
            return self._invalid("prompt", "field required")
        if not self._input_url(body.get("reference_image_url")):
            return self._invalid("reference_image_url", "must be a fetchable URL (upload it first)")
        if body.get("image_size", "landscape_4_3") not in SIZE_PIXELS:
            return self._invalid("image_size", "not a permitted size")
        steps, guidance = body.get("num_inference_steps", 20), body.get("guidance_scale", 4)
        if type(steps) is not int or not 1 <= steps <= 50:
            return self._invalid("num_inference_steps", "must be an integer from 1 to 50")
        if not isinstance(guidance, (int, float)) or not 0 <= guidance <= 20:
            return self._invalid("guidance_scale", "must be from 0 to 20")
        return None

    def _omnihuman(self, body: dict) -> web.Response | None:
        """OmniHuman: a fetchable portrait and a fetchable speech file under 30 s."""
        for name in ("image_url", "audio_url"):
            if not self._input_url(body.get(name)):
                return self._invalid(name, "must be a fetchable URL (upload it first)")
        if wav_seconds(self._uploaded(body["audio_url"])) >= 30:
            return self._invalid("audio_url", "Audio must be under 30s long.")
        return None

    def _uploaded(self, url: str) -> bytes:
        """The bytes of a file uploaded to this emulator's storage."""
        return self.media[url.rsplit("/", 1)[-1]][0]

    def _input_size(self, url: str) -> tuple[int, int]:
        """Width and height of an uploaded input image (1024x1024 for one hosted elsewhere)."""
        from PIL import Image

        found = self.media.get(url.rsplit("/", 1)[-1]) if url.startswith(f"{self.base_url}/media/") else None
        if found is None:
            return (1024, 1024)
        with Image.open(io.BytesIO(found[0])) as image:
            return image.size

    def _wan(self, model: str, body: dict) -> web.Response | None:
        """Wan 2.5: duration "5"|"10", 480p/720p/1080p; Wan 2.7: an integer 2-15 (no string), 720p/1080p."""
        duration, resolution = body.get("duration"), body.get("resolution", "1080p")
        if model == WAN[0]:
            if duration not in (None, "5", "10"):
                return self._invalid("duration", "must be '5' or '10'")
            if resolution not in ("480p", "720p", "1080p"):
                return self._invalid("resolution", "must be '480p', '720p' or '1080p'")
            return None
        if duration is not None and (type(duration) is not int or not 2 <= duration <= 15):
            return self._invalid("duration", "must be an integer from 2 to 15")
        if resolution not in ("720p", "1080p"):
            return self._invalid("resolution", "must be '720p' or '1080p'")
        return None

    async def _submit(self, request: web.Request) -> web.Response:
        self._hit("submit")
        if self.burst_5xx_n > 0:
            self.burst_5xx_n -= 1
            return web.json_response(
                {"detail": "Runner disconnected", "error_type": "runner_disconnected"},
                status=503,
                headers={"X-Fal-Error-Type": "runner_disconnected"},
            )
        if self.rate_limit_n > 0:
            self.rate_limit_n -= 1
            return web.json_response(
                {"detail": "Too many concurrent requests", "error_type": "concurrent_requests_limit"},
                status=429,
                headers={"Retry-After": self.retry_after},
            )
        if (refused := self._auth(request)) is not None:
            return refused
        model = request.match_info["model"]
        try:
            body = await request.json()
        except json.JSONDecodeError:
            return self._invalid("", "invalid JSON")
        if (invalid := self._validate(model, body)) is not None:
            return invalid
        rid = f"req-{next(self._ids):04d}-{uuid.uuid4().hex[:8]}"
        root = "/".join(model.split("/")[:2])
        self.jobs[rid] = Job(rid, model, root, body, time.monotonic(), self.queue_s, self.run_s)
        self.submits.append((model, body))
        self.peak_concurrency = max(self.peak_concurrency, self._in_flight())
        if (mode := self.after_create) is not None:
            self.after_create = None
            body = {"detail": "Internal Server Error", "error_type": "internal_error"}
            return answer_after_create(request, mode, body, {"x-fal-request-id": rid})
        base = f"{self.base_url}/{root}/requests/{rid}"
        return web.json_response(
            {
                "request_id": rid,
                "status_url": f"{base}/status",
                "response_url": base,
                "cancel_url": f"{base}/cancel",
            }
        )

    def _job(self, request: web.Request) -> Job | None:
        job = self.jobs.get(request.match_info["rid"])
        root = f"{request.match_info['owner']}/{request.match_info['app']}"
        return job if job is not None and job.app_root == root else None

    async def _status(self, request: web.Request) -> web.Response:
        self._hit("status")
        if (refused := self._auth(request)) is not None:
            return refused
        job = self._job(request)
        if job is None:
            return web.json_response({"detail": "Request not found"}, status=404)
        if self.fault == "hang":
            await self._release.wait()
        if self.fault == "malformed_json":
            return web.Response(text='{"status": "IN_PROG', content_type="application/json")
        now = time.monotonic()
        status = job.status(now, self.fault == "never_complete")
        self.peak_concurrency = max(self.peak_concurrency, self._in_flight())
        body: dict[str, Any] = {"status": status, "request_id": job.request_id}
        if status == "IN_QUEUE":
            body["queue_position"] = 0
        elif status == "IN_PROGRESS":
            body["logs"] = [{"message": "running", "level": "INFO"}]
        else:
            body["metrics"] = {"inference_time": job.run_s}
            if job.cancelled:
                body.update(error="Request cancelled", error_type="cancelled")
            elif self.fault == "moderation":
                body.update(error="content policy violation", error_type="content_policy_violation")
        return web.json_response(body)

    async def _cancel(self, request: web.Request) -> web.Response:
        self._hit("cancel")
        if (refused := self._auth(request)) is not None:
            return refused
        job = self._job(request)
        if job is None:
            return web.json_response({"status": "NOT_FOUND"}, status=404)
        if job.status(time.monotonic(), self.fault == "never_complete") == "COMPLETED":
            return web.json_response({"status": "ALREADY_COMPLETED"}, status=400)
        job.cancelled = True
        self.cancels.append(job.request_id)
        return web.json_response({"status": "CANCELLATION_REQUESTED"}, status=202)

    async def _result(self, request: web.Request) -> web.Response:
        self._hit("result")
        if (refused := self._auth(request)) is not None:
            return refused
        job = self._job(request)
        if job is None:
            return web.json_response({"detail": "Request not found"}, status=404)
        if job.status(time.monotonic(), self.fault == "never_complete") != "COMPLETED":
            return web.json_response({"detail": "Request is still in progress"}, status=400)
        if self.fault == "moderation":
            detail = [{"loc": ["body", "prompt"], "msg": "The content was flagged by a content checker.",
                       "type": "content_policy_violation", "input": job.body.get("prompt")}]  # fmt: skip
            return web.json_response({"detail": detail}, status=422, headers={"X-Fal-Retryable": "false"})
        units = {"X-Fal-Billable-Units": "1"}
        if self.fault == "missing_fields":
            return web.json_response({"seed": 7}, headers=units)
        if job.model == FLUX:
            count = job.body.get("num_images", 1)
            images = [{"url": self._store(self._png, "image/png", "png"), "width": 64, "height": 48,
                       "content_type": "image/png"} for _ in range(count)]  # fmt: skip
            nsfw = [self.fault == "nsfw"] * count
            return web.json_response(
                {"images": images, "seed": job.body.get("seed", 42), "has_nsfw_concepts": nsfw,
                 "prompt": job.body["prompt"]}, headers=units,
            )  # fmt: skip
        if job.model == PULID:
            width, height = SIZE_PIXELS[job.body.get("image_size", "landscape_4_3")]
            reference = self._uploaded(job.body["reference_image_url"])
            render = self.pulid_render or fit_png(reference, width, height)
            image = {"url": self._store(render, "image/png", "png"), "width": width, "height": height,
                     "content_type": "image/png"}  # fmt: skip
            units = {"X-Fal-Billable-Units": str(round(charge(PULID, job.body) / 0.0333))}
            return web.json_response(
                {"images": [image], "seed": job.body.get("seed", 42), "has_nsfw_concepts": [False],
                 "prompt": job.body["prompt"]}, headers=units,
            )  # fmt: skip
        if job.model == OMNIHUMAN:
            speech = self._uploaded(job.body["audio_url"])
            clip = make_talking_mp4(self._uploaded(job.body["image_url"]), speech)
            seconds = wav_seconds(speech)
            video = {"url": self._store(clip, "video/mp4", "mp4"), "content_type": "video/mp4"}
            return web.json_response(
                {"video": video, "duration": seconds}, headers={"X-Fal-Billable-Units": f"{seconds:.3f}"}
            )
        if job.model == FACE_SWAP:
            target = self._uploaded(job.body["target_video_url"])
            clip = make_swapped_mp4(self._uploaded(job.body["source_face_url"]), target)
            with av.open(io.BytesIO(target)) as source:
                seconds = float(source.duration or 0) / 1e6
            video = {"url": self._store(clip, "video/mp4", "mp4"), "content_type": "video/mp4"}
            return web.json_response({"video": video}, headers={"X-Fal-Billable-Units": f"{seconds:.3f}"})
        if job.model == CLARITY:
            image = {"url": self._store(self._big_png, "image/png", "png"), "width": 128, "height": 96,
                     "content_type": "image/png"}  # fmt: skip
            megapixels = charge(CLARITY, job.body, self._input_size(job.body["image_url"])) / 0.03
            return web.json_response(
                {"image": image, "seed": 42}, headers={"X-Fal-Billable-Units": f"{megapixels:.6f}"}
            )
        video = {"url": self._store(self._mp4, "video/mp4", "mp4"), "content_type": "video/mp4"}
        return web.json_response({"video": video}, headers=units)
