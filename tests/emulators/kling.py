"""A strict Kling AI emulator: the legacy `/v1` task API, the account endpoint and JWT checks, with faults.

One base URL serves the API host and the result media. Auth is checked the way Kling documents it: a
`Bearer` JWT (HS256, `iss` = access key, `exp`/`nbf` in integer seconds, signed with the secret key)
or, when `plain_key` is set, the newer plain API key. Tasks move submitted → processing → succeed over
`queue_s` and `run_s`; every answer uses Kling's envelope `{code, message, request_id, data}`.

Faults (`fault`): see FAULTS. `rate_limit_n` answers that many submits with 429 code `rate_limit_code`
(1302 by default) and `Retry-After`; `burst_5xx_n` answers that many submits with HTTP 500 code 5000;
`max_concurrency` answers 429 code 1303 when a submit would exceed the pack's parallel-task limit
(image tasks hold `n` slots). `clock` is the emulator's wall clock for the JWT time checks.
A generation with a face reference (`image_reference: face`) "renders" that photo at the aspect ratio
(`face_render` replaces it, e.g. with another face; `face_renders` does so for one prompt only).
`after_create` (see `faults.py`) answers the next submit with a 500 or a dropped connection after its task
was created. A task is queried by its `task_id` or by the `external_task_id` it was created with, which
must be unique in the account.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import hmac
import io
import itertools
import json
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from .faults import answer_after_create
from .media import fit_png, make_mp4, make_png
from .serve import serve, shutdown

I2V_MODELS = {"kling-v1", "kling-v1-5", "kling-v1-6", "kling-v2-master", "kling-v2-1", "kling-v2-1-master",
              "kling-v2-5-turbo", "kling-v2-6", "kling-v3"}  # fmt: skip
T2V_MODELS = {"kling-v1", "kling-v1-6", "kling-v2-master", "kling-v2-1-master", "kling-v2-5-turbo",
              "kling-v2-6", "kling-v3"}  # fmt: skip
IMAGE_MODELS = {"kling-v1", "kling-v1-5", "kling-v2", "kling-v2-1", "kling-v3"}
IMAGE_RATIOS = {"16:9", "9:16", "1:1", "4:3", "3:4", "3:2", "2:3", "21:9"}
FAULTS = {
    None,
    "bad_key",  # every call: 401 code 1000 (a revoked key)
    "no_money_429",  # submits: 429 code 1102 (resource pack depleted)
    "arrears_429",  # submits: 429 code 1101 (account in arrears)
    "moderation",  # submits: 400 code 1301 (content security)
    "moderation_task",  # the task fails inside HTTP 200 with a risk-control message
    "failed_in_200",  # the task fails inside HTTP 200 (code 0) with "Image pixel is invalid"
    "hang",  # task queries never answer
    "never_complete",  # tasks stay `processing`
    "malformed_json",  # task queries answer broken JSON
    "missing_fields",  # a succeeded task has no task_result
    "truncated",  # media downloads break off halfway
}
RISK_MESSAGE = "Failure to pass the risk control system"
PIXEL_MESSAGE = "Image pixel is invalid"
TASK_PATHS = {"image2video": "videos/image2video", "text2video": "videos/text2video",
              "generations": "images/generations", "lip-sync": "videos/lip-sync"}  # fmt: skip


def _b64url_decode(part: str) -> bytes:
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


@dataclass
class Task:
    """One submitted task."""

    task_id: str
    kind: str
    body: dict[str, Any]
    created: float
    queue_s: float
    run_s: float
    slots: int = 1
    fail_message: str | None = None

    def status(self, now: float, never_complete: bool) -> str:
        """The task_status at `now` (monotonic)."""
        if now < self.created + self.queue_s:
            return "submitted"
        if never_complete or now < self.created + self.queue_s + self.run_s:
            return "processing"
        return "failed" if self.fail_message else "succeed"


@dataclass
class KlingEmulator:
    """The Kling contract on 127.0.0.1; set `fault`, `rate_limit_n`, `burst_5xx_n` to inject failures."""

    access_key: str
    secret_key: str
    plain_key: str | None = None
    queue_s: float = 0.03
    run_s: float = 0.06
    fault: str | None = None
    rate_limit_n: int = 0
    rate_limit_code: int = 1302
    retry_after: str = "1"
    burst_5xx_n: int = 0
    after_create: str | None = None  # the next submit creates its job, then answers "500" or drops ("drop")
    max_concurrency: int | None = None
    units_per_task: str = "2.5"
    packs: list[dict[str, Any]] = field(default_factory=list)
    clock: Callable[[], float] = time.time
    submits: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    hits: dict[str, int] = field(default_factory=dict)
    auth_kinds: list[str] = field(default_factory=list)
    peak_concurrency: int = 0
    base_url: str = ""
    face_render: bytes | None = None  # what a face-reference generation "renders"; by default the photo
    face_renders: dict[str, bytes] = field(default_factory=dict)  # by prompt: that prompt's render instead

    def __post_init__(self) -> None:
        if self.fault not in FAULTS:
            raise ValueError(f"unknown fault {self.fault!r}")
        if not self.packs:
            now_ms = int(time.time() * 1000)
            self.packs = [
                self._pack("Video pack 100", 100.0, 97.5, "online", now_ms),
                self._pack("Video pack 20", 20.0, 20.0, "online", now_ms),
                self._pack("Old pack", 50.0, 50.0, "expired", now_ms - 200 * 86_400_000),
            ]
        self.tasks: dict[str, Task] = {}
        self.media: dict[str, tuple[bytes, str]] = {}
        self._ids = itertools.count(860_000_000_000_000_001)
        self._runner: web.AppRunner | None = None
        self._release: asyncio.Event | None = None
        self._last_account_call = -10.0
        self._png, self._mp4 = make_png(320, 320), make_mp4()

    @property
    def jobs_created(self) -> int:
        """Tasks created, each deducting its units once."""
        return len(self.tasks)

    @property
    def key(self) -> str:
        """The stored-key form the adapter is given: `access_key:secret_key`."""
        return f"{self.access_key}:{self.secret_key}"

    @key.setter
    def key(self, value: str) -> None:
        self.access_key, _, self.secret_key = value.partition(":")

    @staticmethod
    def _pack(name: str, total: float, remaining: float, status: str, now_ms: int) -> dict[str, Any]:
        return {
            "resource_pack_name": name,
            "resource_pack_id": uuid.uuid4().hex,
            "resource_pack_type": "decreasing_total",
            "total_quantity": total,
            "remaining_quantity": remaining,
            "purchase_time": now_ms - 86_400_000,
            "effective_time": now_ms - 86_400_000,
            "invalid_time": now_ms + 89 * 86_400_000,
            "status": status,
        }

    # lifecycle -----------------------------------------------------------------------------------
    async def start(self) -> str:
        """Serve on a free loopback port (in the running loop); returns the base URL."""
        self._release = asyncio.Event()
        app = web.Application(client_max_size=30 * 1024 * 1024)
        app.router.add_get("/account/costs", self._costs)
        app.router.add_get("/media/{name}", self._media)
        for kind, path in TASK_PATHS.items():
            app.router.add_post(f"/v1/{path}", self._submit_handler(kind))
            app.router.add_get(f"/v1/{path}/{{task_id}}", self._query_handler(kind))
        self._runner, self.base_url = await serve(app)
        return self.base_url

    async def stop(self) -> None:
        """Stop serving (and free any handler held by the "hang" fault)."""
        await shutdown(self._runner, self._release)

    # envelope and auth ---------------------------------------------------------------------------
    def _hit(self, name: str) -> None:
        self.hits[name] = self.hits.get(name, 0) + 1

    @staticmethod
    def _error(status: int, code: int, message: str, headers: dict[str, str] | None = None) -> web.Response:
        body = {"code": code, "message": message, "request_id": str(uuid.uuid4())}
        return web.json_response(body, status=status, headers=headers)

    @staticmethod
    def _ok(data: Any) -> web.Response:
        return web.json_response(
            {"code": 0, "message": "SUCCEED", "request_id": str(uuid.uuid4()), "data": data}
        )

    def _auth(self, request: web.Request) -> web.Response | None:
        header = request.headers.get("Authorization", "")
        if self.fault == "bad_key":
            return self._error(401, 1000, "Authentication failed")
        if not header:
            return self._error(401, 1001, "Authorization is empty")
        scheme, _, token = header.partition(" ")
        if scheme != "Bearer" or not token:
            return self._error(401, 1002, "Authorization is invalid")
        if self.plain_key is not None and hmac.compare_digest(token, self.plain_key):
            self.auth_kinds.append("api_key")
            return None
        refused = self._check_jwt(token)
        if refused is None:
            self.auth_kinds.append("jwt")
        return refused

    def _check_jwt(self, token: str) -> web.Response | None:
        parts = token.split(".")
        if len(parts) != 3:
            return self._error(401, 1002, "Authorization is invalid")
        try:
            header = json.loads(_b64url_decode(parts[0]))
            payload = json.loads(_b64url_decode(parts[1]))
            signature = _b64url_decode(parts[2])
        except (ValueError, binascii.Error):
            return self._error(401, 1002, "Authorization is invalid")
        if not isinstance(header, dict) or header.get("alg") != "HS256" or header.get("typ", "JWT") != "JWT":
            return self._error(401, 1002, "Authorization is invalid: unsupported algorithm")
        if not isinstance(payload, dict) or payload.get("iss") != self.access_key:
            return self._error(401, 1000, "Authentication failed: access key not found")
        signing = f"{parts[0]}.{parts[1]}".encode()
        expected = hmac.new(self.secret_key.encode(), signing, hashlib.sha256).digest()
        if not hmac.compare_digest(signature, expected):
            return self._error(401, 1000, "Authentication failed: signature mismatch")
        exp, nbf = payload.get("exp"), payload.get("nbf")
        if not all(isinstance(v, int) and not isinstance(v, bool) for v in (exp, nbf)):
            return self._error(401, 1002, "Authorization is invalid: exp and nbf must be integer seconds")
        now = self.clock()
        if now < nbf:
            return self._error(401, 1003, "Authorization is not yet valid")
        if now >= exp:
            return self._error(401, 1004, "Authorization has expired")
        return None

    # account ---------------------------------------------------------------------------------------
    async def _costs(self, request: web.Request) -> web.Response:
        self._hit("costs")
        if (refused := self._auth(request)) is not None:
            return refused
        now = time.monotonic()
        if now - self._last_account_call < 1.0:  # the endpoint is documented as QPS <= 1
            return self._error(429, 1302, "request frequency exceeds the limit", {"Retry-After": "1"})
        self._last_account_call = now
        try:
            start, end = int(request.query["start_time"]), int(request.query["end_time"])
        except (KeyError, ValueError):
            return self._error(400, 1200, "start_time and end_time (ms) are required")
        if start >= end:
            return self._error(400, 1201, "start_time must be earlier than end_time")
        packs = [p for p in self.packs if start <= p["purchase_time"] <= end]
        return self._ok({"code": 0, "msg": "", "resource_pack_subscribe_infos": packs})

    # media -----------------------------------------------------------------------------------------
    def _store(self, data: bytes, content_type: str, suffix: str) -> str:
        name = f"{uuid.uuid4().hex}.{suffix}"
        self.media[name] = (data, content_type)
        return f"{self.base_url}/media/{name}"

    async def _media(self, request: web.Request) -> web.StreamResponse:
        self._hit("media")
        found = self.media.get(request.match_info["name"])
        if found is None:
            return web.Response(status=404, text="not found")
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

    # validation ------------------------------------------------------------------------------------
    def _url_ok(self, value: Any) -> bool:
        if not isinstance(value, str):
            return False
        if value.startswith(f"{self.base_url}/media/"):
            return value.rsplit("/", 1)[1] in self.media
        return value.startswith(("https://", "http://"))

    def _image(self, value: Any, name: str) -> str | None:
        """None when the image field is acceptable; else the reason. Sets nothing."""
        if self._url_ok(value):
            return None
        if not isinstance(value, str) or not value:
            return f"{name} must be an image URL or Base64 string"
        if value.startswith("data:"):
            return f"{name}: do not add a data: prefix to the Base64 string"
        try:
            raw = base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError):
            return f"{name} is neither a URL nor valid Base64"
        if len(raw) > 10 * 1024 * 1024:
            return f"{name} is larger than 10MB"
        if not (raw.startswith(b"\x89PNG") or raw.startswith(b"\xff\xd8")):
            return f"{name} format must be jpg/jpeg/png"
        return None

    @staticmethod
    def _image_too_small(value: str) -> bool:
        from PIL import Image

        try:
            with Image.open(io.BytesIO(base64.b64decode(value))) as img:
                w, h = img.size
        except Exception:
            return False
        return min(w, h) < 300 or not 1 / 2.5 <= w / h <= 2.5

    def _validate(self, kind: str, body: Any) -> str | None:
        if not isinstance(body, dict):
            return "request body must be a JSON object"
        if kind == "lip-sync":
            return self._validate_lipsync(body)
        common = {"model_name", "prompt", "negative_prompt", "callback_url", "external_task_id"}
        if kind == "image2video":
            allowed = common | {"image", "image_tail", "cfg_scale", "mode", "static_mask", "dynamic_masks",
                                "camera_control", "duration", "sound", "voice_list"}  # fmt: skip
            models = I2V_MODELS
        elif kind == "text2video":
            allowed = common | {"cfg_scale", "mode", "camera_control", "aspect_ratio", "duration", "sound"}
            models = T2V_MODELS
        else:
            allowed = common | {"image", "image_reference", "image_fidelity", "human_fidelity", "resolution",
                                "n", "aspect_ratio", "element_list", "watermark_info"}  # fmt: skip
            models = IMAGE_MODELS
        if extra := sorted(set(body) - allowed):
            return f"unknown parameter: {extra[0]}"
        model = body.get("model_name", "kling-v1")
        if model not in models:
            return f"model_name {str(model)[:40]} is not supported by {kind}"
        for name in ("prompt", "negative_prompt"):
            if name in body and (not isinstance(body[name], str) or len(body[name]) > 2500):
                return f"{name} must be a string of at most 2500 characters"
        if kind in ("text2video", "generations") and not str(body.get("prompt") or "").strip():
            return "prompt is required"
        if kind != "generations":
            # kling-v2-5-turbo runs in pro mode only (ComfyUI's comfy_api_nodes/nodes_kling.py model table)
            modes = ("pro",) if model == "kling-v2-5-turbo" else ("std", "pro")
            if body.get("mode", "std") not in modes:
                return f"mode: allowed values for {model}: {', '.join(modes)}"
            if body.get("duration", "5") not in ("5", "10"):
                return "duration: allowed values: '5', '10' (string)"
            if "cfg_scale" in body:
                scale = body["cfg_scale"]
                if not isinstance(scale, (int, float)) or isinstance(scale, bool) or not 0 <= scale <= 1:
                    return "cfg_scale must be within [0, 1]"
                if not model.startswith("kling-v1"):
                    return f"cfg_scale is not supported by {model}"
        if kind == "image2video":
            if "image" not in body and "image_tail" not in body:
                return "image or image_tail is required"
            for name in ("image", "image_tail"):
                if name in body and (reason := self._image(body[name], name)):
                    return reason
        if kind == "text2video" and body.get("aspect_ratio", "16:9") not in ("16:9", "9:16", "1:1"):
            return "aspect_ratio: allowed values: 16:9, 9:16, 1:1"
        if kind == "generations":
            n = body.get("n", 1)
            if not isinstance(n, int) or isinstance(n, bool) or not 1 <= n <= 9:
                return "n must be an integer within [1, 9]"
            if body.get("resolution", "1k") not in ("1k", "2k"):
                return "resolution: allowed values: 1k, 2k"
            if body.get("aspect_ratio", "16:9") not in IMAGE_RATIOS:
                return "aspect_ratio is invalid"
            if "image" in body:
                if reason := self._image(body["image"], "image"):
                    return reason
                if body.get("negative_prompt"):
                    return "negative_prompt is not supported when image is given"
                # "When using kling-v1-5 and the image parameter is not empty, the current parameter is
                # required" (image generation, image_reference)
                if model == "kling-v1-5" and "image_reference" not in body:
                    return "image_reference is required for kling-v1-5 when image is given"
            elif "image_reference" in body:
                return "image is required when image_reference is set"
            if body.get("image_reference", "subject") not in ("subject", "face"):
                return "image_reference: allowed values: subject, face"
            if "image_reference" in body and model not in ("kling-v1-5", "kling-v2-1"):
                return f"image_reference is not supported by {model}"
            for name in ("image_fidelity", "human_fidelity"):
                value = body.get(name, 0.5)
                if not isinstance(value, (int, float)) or not 0 <= value <= 1:
                    return f"{name} must be within [0, 1]"
        return None

    def _validate_lipsync(self, body: dict[str, Any]) -> str | None:
        if extra := sorted(set(body) - {"input", "callback_url"}):
            return f"unknown parameter: {extra[0]}"
        data = body.get("input")
        if not isinstance(data, dict):
            return "input is required"
        allowed = {"video_id", "video_url", "mode", "text", "voice_id", "voice_language", "voice_speed",
                   "audio_type", "audio_file", "audio_url", "model_name"}  # fmt: skip
        if extra := sorted(set(data) - allowed):
            return f"unknown parameter: input.{extra[0]}"
        mode = data.get("mode")
        if mode not in ("text2video", "audio2video"):
            return "mode: allowed values: text2video, audio2video"
        if "video_id" not in data and "video_url" not in data:
            return "video_id or video_url is required"
        if "video_url" in data and not self._url_ok(data["video_url"]):
            return "video_url must be a reachable URL"
        if mode == "audio2video":
            audio_type = data.get("audio_type")
            if audio_type is None:
                return "Audio type is null"
            if audio_type not in ("file", "url"):
                return "audio_type: allowed values: file, url"
            if audio_type == "url" and not self._url_ok(data.get("audio_url")):
                return "audio_url must be a reachable URL"
            if audio_type == "file":
                try:
                    raw = base64.b64decode(str(data.get("audio_file") or ""), validate=True)
                except (binascii.Error, ValueError):
                    raw = b""
                if not raw or len(raw) > 5 * 1024 * 1024:
                    return "audio_file must be Base64 audio of at most 5MB"
            return None
        text = data.get("text")
        if not isinstance(text, str) or not text.strip():
            return "text is required"
        if len(text) > 120:
            return "text must be at most 120 characters"
        if not data.get("voice_id"):
            return "voice_id is required"
        if data.get("voice_language", "zh") not in ("zh", "en"):
            return "voice_language: allowed values: zh, en"
        speed = data.get("voice_speed", 1.0)
        if not isinstance(speed, (int, float)) or not 0.8 <= speed <= 2.0:
            return "voice_speed must be within [0.8, 2.0]"
        return None

    # tasks -----------------------------------------------------------------------------------------
    def _slots_in_use(self) -> int:
        now = time.monotonic()
        never = self.fault == "never_complete"
        return sum(
            t.slots for t in self.tasks.values() if t.status(now, never) in ("submitted", "processing")
        )

    def _submit_handler(self, kind: str) -> Callable[[web.Request], Any]:
        async def handler(request: web.Request) -> web.Response:
            self._hit("submit")
            if self.burst_5xx_n > 0:
                self.burst_5xx_n -= 1
                return self._error(500, 5000, "Server internal error")
            if self.rate_limit_n > 0:
                self.rate_limit_n -= 1
                return self._error(429, self.rate_limit_code, "request frequency exceeds the limit",
                                   {"Retry-After": self.retry_after})  # fmt: skip
            if (refused := self._auth(request)) is not None:
                return refused
            if self.fault == "no_money_429":
                return self._error(429, 1102, "resource pack exhausted")
            if self.fault == "arrears_429":
                return self._error(429, 1101, "account is in arrears")
            try:
                body = await request.json()
            except (json.JSONDecodeError, UnicodeDecodeError):
                return self._error(400, 1200, "request body is not valid JSON")
            if (reason := self._validate(kind, body)) is not None:
                return self._error(400, 1201, reason)
            if self.fault == "moderation":
                return self._error(400, 1301, "content security policy triggered")
            slots = int(body.get("n", 1)) if kind == "generations" else 1
            if self.max_concurrency is not None and self._slots_in_use() + slots > self.max_concurrency:
                return self._error(429, 1303, "parallel task over resource pack limit")
            external = body.get("external_task_id")
            if external is not None and any(
                t.body.get("external_task_id") == external for t in self.tasks.values()
            ):
                return self._error(400, 1201, "external_task_id must be unique within the account")
            fail = None
            if self.fault == "moderation_task":
                fail = RISK_MESSAGE
            elif self.fault == "failed_in_200":
                fail = PIXEL_MESSAGE
            elif (
                kind == "image2video"
                and isinstance(body.get("image"), str)
                and not self._url_ok(body["image"])
            ):
                fail = PIXEL_MESSAGE if self._image_too_small(body["image"]) else None
            task_id = str(next(self._ids))
            self.tasks[task_id] = Task(task_id, kind, body, time.monotonic(), self.queue_s, self.run_s,
                                       slots, fail)  # fmt: skip
            self.submits.append((kind, body))
            self.peak_concurrency = max(self.peak_concurrency, self._slots_in_use())
            if (mode := self.after_create) is not None:
                self.after_create = None
                failure = {"code": 5000, "message": "Server internal error", "request_id": str(uuid.uuid4())}
                return answer_after_create(request, mode, failure)
            now_ms = int(time.time() * 1000)
            return self._ok({"task_id": task_id, "task_status": "submitted",
                             "task_info": {"external_task_id": body.get("external_task_id", "")},
                             "created_at": now_ms, "updated_at": now_ms})  # fmt: skip

        return handler

    def _query_handler(self, kind: str) -> Callable[[web.Request], Any]:
        async def handler(request: web.Request) -> web.StreamResponse:
            self._hit("query")
            if (refused := self._auth(request)) is not None:
                return refused
            wanted = request.match_info["task_id"]  # a task_id, or the external_task_id set at creation
            task = self.tasks.get(wanted) or next(
                (t for t in self.tasks.values() if t.body.get("external_task_id") == wanted), None
            )
            if task is None or task.kind != kind:
                return self._error(404, 1203, "task not found")
            if self.fault == "hang":
                assert self._release is not None
                await self._release.wait()
            if self.fault == "malformed_json":
                return web.Response(
                    text='{"code": 0, "data": {"task_status": "proc', content_type="application/json"
                )
            status = task.status(time.monotonic(), self.fault == "never_complete")
            self.peak_concurrency = max(self.peak_concurrency, self._slots_in_use())
            now_ms = int(time.time() * 1000)
            data: dict[str, Any] = {"task_id": task.task_id, "task_status": status, "task_status_msg": "",
                                    "task_info": {}, "created_at": now_ms, "updated_at": now_ms}  # fmt: skip
            if status == "failed":
                data["task_status_msg"] = task.fail_message
                data["task_result"] = {}
            elif status == "succeed":
                data["final_unit_deduction"] = self.units_per_task
                if self.fault != "missing_fields":
                    data["task_result"] = self._result(task)
            return self._ok(data)

        return handler

    def _render(self, body: dict[str, Any]) -> bytes:
        """A generation's image: the face reference fitted to its aspect ratio, else the stock PNG."""
        if body.get("image_reference") != "face":
            return self._png
        if body.get("prompt") in self.face_renders:
            return self.face_renders[body["prompt"]]
        if self.face_render is not None:
            return self.face_render
        across, down = (int(v) for v in body.get("aspect_ratio", "16:9").split(":"))
        scale = 1024 / max(across, down)
        reference = body["image"]
        data = base64.b64decode(reference) if not self._url_ok(reference) else self._png
        return fit_png(data, round(across * scale), round(down * scale))

    def _result(self, task: Task) -> dict[str, Any]:
        if task.kind == "generations":
            image = self._render(task.body)
            return {"images": [{"index": i, "url": self._store(image, "image/png", "png")}
                               for i in range(int(task.body.get("n", 1)))]}  # fmt: skip
        duration = task.body.get("duration", "5")
        return {"videos": [{"id": f"vid-{task.task_id}", "url": self._store(self._mp4, "video/mp4", "mp4"),
                            "duration": duration}]}  # fmt: skip
