"""Kling AI through its legacy `/v1` task API: JWT or API-key auth, submit → poll → download, unit balance.

The token is made in `kling_auth`, refusals are mapped in `kling_errors`, request limits checked in
`kling_checks`; the model × parameter table is `kling_models`.

Contract notes, from mirrors of Kling's own documentation:
- Auth (https://kling.ai/document-api/api/get-started/authentication): "API Key (for all models)" is sent
  as `Authorization: Bearer <API_KEY>`; the AccessKey/SecretKey JWT (HS256, `iss`=AK, `exp`=now+1800,
  `nbf`=now-5, signed with SK) still works for the legacy `model_name` APIs used here. We accept both.
- Account (https://klingai.com/document-api/api/assets/account-usage): `GET /account/costs` (no `/v1`),
  `start_time`/`end_time` in ms (required), QPS <= 1; the list sits in `data.resource_pack_subscribe_infos`
  with `remaining_quantity` (12 h delay) and `status` toBeOnline|online|expired|runOut.
- Task queries (https://klingai.com/document-api/api/image/2-1/image-generation, …/video/lip-sync):
  `final_unit_deduction` is the task's deducted *units* (a string); `final_balance_deduction{quota,
  list_price}` is a cash deduction without a currency. Image generation accepts `aspect_ratio`, `n` 1–9,
  `resolution` 1k|2k, and a reference `image` (raw Base64 without `data:` prefix, or a URL).
- Lip-sync body shape `{"input": {mode, video_url|video_id, audio_type, audio_url|audio_file, text,
  voice_id, voice_language, voice_speed}}`: confirmed only by third-party records of real calls (the
  official page now documents the advanced lip-sync instead).
Still UNCONFIRMED: the USD value of a unit (so `cost` stays None and the units go in `units`), the
currency of `final_balance_deduction`, and the exact failure texts Kling uses for moderation inside a
failed task (we match risk/moderation words, e.g. "Failure to pass the risk control system").
"""

from __future__ import annotations

import base64
import binascii
import io
import logging
import time
import urllib.parse
import uuid
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import httpx

from ...core.errors import AInfError, ErrorCode
from ...core.redact import register_secret
from . import kling_models
from .base import NO_CONTROL, RemoteAdapter, RemoteResult, RunControl
from .control import FinalStatus, OutputRef, Outputs, PollState, RemoteJob, Submitted
from .http_policy import RetryPolicy, SubmitInDoubt
from .kling_auth import JWT_REFRESH_S, JWT_TTL_S, encode_jwt
from .kling_checks import bad_number, bad_text, is_url, needs_url, refuse
from .kling_errors import BUY_PACK, NOT_FOUND_CODE, body_code, refusal, retryable_429, task_failure
from .model_rules import find_rule, settle

log = logging.getLogger("ainfluencer.adapters.kling")

API_URL = "https://api-singapore.klingai.com"
I2V_MODELS = ("kling-v1", "kling-v1-5", "kling-v1-6", "kling-v2-master", "kling-v2-1", "kling-v2-1-master",
              "kling-v2-5-turbo", "kling-v2-6", "kling-v3")  # fmt: skip
T2V_MODELS = ("kling-v1", "kling-v1-6", "kling-v2-master", "kling-v2-1-master", "kling-v2-5-turbo",
              "kling-v2-6", "kling-v3")  # fmt: skip
IMAGE_MODELS = ("kling-v1", "kling-v1-5", "kling-v2", "kling-v2-1", "kling-v3")
DEFAULT_VIDEO_MODEL = "kling-v2-5-turbo"
DEFAULT_IMAGE_MODEL = "kling-v2-1"
IMAGE_RATIOS = ("16:9", "9:16", "1:1", "4:3", "3:4", "3:2", "2:3", "21:9")
VIDEO_RATIOS = ("16:9", "9:16", "1:1")
BALANCE_CACHE_S = 60.0
BALANCE_WINDOW_MS = 400 * 86_400_000  # the window filters packs by purchase time
UNIT_NAME = "Kling resource-pack units"
MAX_IMAGE_BYTES = 10 * 1024 * 1024
MAX_AUDIO_BYTES = 5 * 1024 * 1024


@dataclass(frozen=True)
class KlingTask(RemoteJob):
    """One task to create at `/v1/{path}` with its JSON body, and the `external_task_id` it is found by.

    Kling queries a task by the `external_task_id` set at creation as well as by its own `task_id`
    (https://app.klingai.com/global/dev/document-api/apiReference/model/imageToVideo, "Query Task"); the
    lip-sync task documents no such field, so it has none.
    """

    path: str
    body: dict[str, Any]
    external_task_id: str | None


@dataclass(frozen=True)
class KlingTaskRef(Submitted):
    """A created task and the URL that queries it."""

    query_url: str


class KlingAdapter(RemoteAdapter[KlingTask, KlingTaskRef, FinalStatus]):
    """Kling AI: image-to-video, text-to-video, image generation and lip-sync on the `/v1` task API."""

    engine_id = "provider_kling"
    default_base_url = API_URL
    provider_name = "Kling"

    def __init__(self, base_url: str | None = None, **settings: Any) -> None:
        settings.setdefault("poll_interval_s", 5.0)
        settings.setdefault("deadline_s", 1800.0)
        settings["retry"] = replace(settings.get("retry") or RetryPolicy(), retryable=retryable_429)
        super().__init__(base_url, **settings)
        self.clock = time.time
        self._tokens: dict[str, tuple[str, int]] = {}
        self._balance_cache: dict[str, tuple[float, float]] = {}

    # auth ----------------------------------------------------------------------------------------
    def auth_headers(self, api_key: str) -> dict[str, str]:
        """`Bearer <JWT>` for an `access_key:secret_key` pair, else `Bearer <API key>`."""
        if ":" not in api_key:
            return {"Authorization": f"Bearer {api_key}", "Accept": "application/json"}
        access, _, secret = api_key.partition(":")
        if not access or not secret:
            raise AInfError(
                ErrorCode.VALIDATION_ERROR,
                "A Kling key is 'access_key:secret_key' or the newer single API key; one half is missing.",
                remediation=["Copy both the Access Key and the Secret Key from the Kling developer console."],
                detail={"engine": self.engine_id},
            )
        now = self.clock()
        cached = self._tokens.get(api_key)
        if cached is None or cached[1] - now < JWT_REFRESH_S:
            token = encode_jwt(access, secret, now)
            register_secret(token)
            cached = (token, int(now) + JWT_TTL_S)
            self._tokens[api_key] = cached
        return {"Authorization": f"Bearer {cached[0]}", "Accept": "application/json"}

    def _error(self, response: httpx.Response, what: str, **extra: Any) -> AInfError:
        """Map a refused Kling answer to the error taxonomy (`kling_errors.refusal`)."""
        return refusal(response, what, self.retry.max_attempts, **extra)

    def _data(self, response: httpx.Response, what: str, **extra: Any) -> dict[str, Any]:
        """The `data` object of a successful envelope (`code` 0); a mapped error otherwise."""
        if response.status_code >= 400:
            raise self._error(response, what, **extra)
        body = self.json_object(response, what)
        if body.get("code") != 0 or body_code(response) is None:
            raise self._error(response, what, **extra)
        data = self.field(body, "data", what)
        if not isinstance(data, dict):
            raise AInfError(ErrorCode.CONTRACT_MISMATCH, detail={"engine": self.engine_id, "step": what})
        return data

    # key, balance, health ------------------------------------------------------------------------
    async def _fetch_units(self, client: httpx.AsyncClient, api_key: str) -> float:
        # One query per cache period: the account endpoint allows QPS <= 1.
        cached = self._balance_cache.get(api_key)
        if cached and time.monotonic() - cached[0] < BALANCE_CACHE_S:
            return cached[1]
        end = int(self.clock() * 1000)
        params = {"start_time": end - BALANCE_WINDOW_MS, "end_time": end}
        response = await self.call(client, "GET", f"{self.base_url}/account/costs", api_key, params=params)
        data = self._data(response, "balance")
        packs = data.get("resource_pack_subscribe_infos")
        if data.get("code", 0) != 0 or not isinstance(packs, list):
            raise AInfError(
                ErrorCode.CONTRACT_MISMATCH,
                "Kling's balance answer has no `resource_pack_subscribe_infos` list.",
                detail={"engine": self.engine_id, "step": "balance", "code": data.get("code")},
            )
        units = 0.0
        for pack in packs:
            if not isinstance(pack, dict) or pack.get("status") != "online":
                continue
            left = pack.get("remaining_quantity")
            if isinstance(left, (int, float)) and not isinstance(left, bool):
                units += float(left)
        self._balance_cache[api_key] = (time.monotonic(), units)
        return units

    async def verify_identity(self, api_key: str) -> dict[str, Any]:
        """Check the key with the free account endpoint and report the units left; AUTH_FAILED if refused."""
        async with self.client_factory() as client:
            units = await self._fetch_units(client, api_key)
        if units <= 0:
            return {"message": f"Connected to Kling; no {UNIT_NAME} left in active packs. {BUY_PACK}"}
        return {
            "message": f"Connected to Kling; {units:g} {UNIT_NAME} left in active packs "
            "(units, not USD; Kling updates this figure with up to 12 h delay)."
        }

    async def check_balance(self, api_key: str) -> float | None:
        """The units left in the account's online resource packs (Kling units, not USD; cached 60 s)."""
        async with self.client_factory() as client:
            return await self._fetch_units(client, api_key)

    async def ping(self, client: httpx.AsyncClient) -> None:
        """A keyless request; any HTTP answer means the API is reachable."""
        await client.get(f"{self.base_url}/account/costs")

    # inputs --------------------------------------------------------------------------------------
    def _input_bytes(self, value: Any, name: str) -> bytes | None:
        if isinstance(value, (bytes, bytearray)):
            return bytes(value)
        if isinstance(value, (str, Path)) and str(value):
            path = Path(value)
            if not path.is_file():
                raise AInfError(ErrorCode.FILE_NOT_FOUND, detail={"input": name, "file": path.name})
            return path.read_bytes()
        return None

    def _image_input(self, request: dict[str, Any], name: str, required: bool = False) -> str | None:
        """An input image as Kling takes it: a URL as is, else raw Base64 (no `data:` prefix), or None."""
        url = request.get(f"{name}_url")
        value = request.get(name)
        for candidate in (url, value):
            if is_url(candidate):
                return candidate
        if isinstance(url, str) and url.startswith("data:") and "," in url:
            try:
                data = base64.b64decode(url.split(",", 1)[1], validate=True)
            except (binascii.Error, ValueError):
                raise AInfError(ErrorCode.VALIDATION_ERROR, detail={"field": f"{name}_url"}) from None
        else:
            data = self._input_bytes(value, name)
        if data is None and required:
            raise AInfError(
                ErrorCode.VALIDATION_ERROR,
                f"Give the `{name}` as bytes, a file path or `{name}_url` (an http(s) URL).",
                detail={"engine": self.engine_id, "input": name},
            )
        if data is None:
            return None
        self._check_image(data, name)
        return base64.b64encode(data).decode("ascii")

    def _check_image(self, data: bytes, name: str) -> None:
        """Kling's documented image limits: JPG/PNG, at most 10 MB, sides >= 300 px, aspect 1:2.5 to 2.5:1."""
        from PIL import Image, UnidentifiedImageError

        size = None
        if len(data) <= MAX_IMAGE_BYTES:
            try:
                with Image.open(io.BytesIO(data)) as img:
                    size = img.size if img.format in ("PNG", "JPEG") else None
            except (UnidentifiedImageError, OSError, ValueError):
                size = None
        if size is None or min(size) < 300 or not 1 / 2.5 <= size[0] / size[1] <= 2.5:
            raise AInfError(
                ErrorCode.VALIDATION_ERROR,
                f"The `{name}` input does not meet Kling's limits: JPG/PNG up to 10 MB, at least 300 px "
                "a side, aspect between 1:2.5 and 2.5:1.",
                detail={"engine": self.engine_id, "input": name, "bytes": len(data), "size": size},
            )

    # the task API: the template's hooks -----------------------------------------------------------
    def resume(self, job: KlingTask, request_id: str) -> KlingTaskRef:
        """The query URL of a task created earlier."""
        return KlingTaskRef(
            request_id, f"{self.base_url}/v1/{job.path}/{urllib.parse.quote(request_id, safe='')}"
        )

    async def submit(self, client: httpx.AsyncClient, api_key: str, job: KlingTask) -> KlingTaskRef:
        """Create the task, under our `external_task_id` when it has one."""
        body = (
            job.body
            if job.external_task_id is None
            else {**job.body, "external_task_id": job.external_task_id}
        )
        response = await self.submit_call(
            client, "POST", f"{self.base_url}/v1/{job.path}", api_key, json=body
        )
        return self.resume(job, str(self.field(self._data(response, "submit"), "task_id", "submit")))

    async def find_submitted(
        self, client: httpx.AsyncClient, api_key: str, job: KlingTask, doubt: SubmitInDoubt
    ) -> KlingTaskRef | None:
        """Query the task by our `external_task_id`; None when Kling answers that it has no such task."""
        if job.external_task_id is None:
            raise doubt
        response = await self.call(client, "GET", self.resume(job, job.external_task_id).query_url, api_key)
        if response.status_code == 404 or body_code(response) == NOT_FOUND_CODE:
            return None
        return self.resume(job, str(self.field(self._data(response, "lookup"), "task_id", "lookup")))

    def submit_refusal(self, response: httpx.Response) -> AInfError:
        """Kling's refusal mapped by its body code, like any other answer."""
        return self._error(response, "submit")

    async def poll(
        self, client: httpx.AsyncClient, api_key: str, handle: KlingTaskRef
    ) -> PollState[FinalStatus]:
        """submitted / processing / succeed; `failed` raised with Kling's reason."""
        response = await self.call(client, "GET", handle.query_url, api_key)
        data = self._data(response, "status", request_id=handle.request_id)
        status = self.field(data, "task_status", "status")
        if status == "succeed":
            return PollState(final=FinalStatus(data))
        if status == "failed":
            raise task_failure(data, handle.request_id)
        if status not in ("submitted", "processing"):
            raise AInfError(
                ErrorCode.CONTRACT_MISMATCH,
                f"Kling reported an unknown task status {str(status)[:40]!r}.",
                detail={"engine": self.engine_id, "request_id": handle.request_id},
            )
        return PollState(status="Kling: in queue" if status == "submitted" else "Kling: generating")

    async def outputs(
        self,
        client: httpx.AsyncClient,
        api_key: str,
        job: KlingTask,
        handle: KlingTaskRef,
        final: FinalStatus,
    ) -> Outputs:
        """Every image or video of the task's result, with the units it deducted (not USD)."""
        field = "images" if job.kind == "image" else "videos"
        result = final.body.get("task_result")
        items = result.get(field) if isinstance(result, dict) else None
        if not isinstance(items, list) or not items or not all(isinstance(i, dict) for i in items):
            raise AInfError(
                ErrorCode.CONTRACT_MISMATCH,
                f"Kling's finished task has no `task_result.{field}`.",
                detail={"engine": self.engine_id, "request_id": handle.request_id},
            )
        try:
            units: float | None = float(final.body.get("final_unit_deduction"))  # type: ignore[arg-type]
        except (TypeError, ValueError):
            units = None
        refs = tuple(OutputRef(item.get("url"), _text(item.get("id"))) for item in items)
        return Outputs(refs=refs, units=units, units_name=UNIT_NAME)

    # capabilities --------------------------------------------------------------------------------
    async def generate_video(
        self, api_key: str, request: dict[str, Any], control: RunControl = NO_CONTROL
    ) -> RemoteResult:
        """Image-to-video when an `image` is given, else text-to-video; returns the MP4 bytes."""
        model = str(request.get("model") or request.get("model_name") or DEFAULT_VIDEO_MODEL)
        has_image = any(request.get(k) for k in ("image", "image_url"))
        path = "videos/image2video" if has_image else "videos/text2video"
        if model not in (I2V_MODELS if has_image else T2V_MODELS):
            raise self._unsupported(f"{'image' if has_image else 'text'}-to-video model {model[:80]}")
        rule = find_rule(kling_models.VIDEO_RULES, model)
        settled = settle(rule, request) if rule is not None else {"mode": "std", "duration": "5"}
        mode, duration = str(settled["mode"]), str(settled["duration"])
        prompt, negative = request.get("prompt") or "", request.get("negative_prompt") or ""
        scale, ratio = request.get("cfg_scale"), request.get("aspect_ratio")
        refuse(
            {"mode": mode not in ("std", "pro"), "duration": duration not in ("5", "10"),
             "prompt": bad_text(prompt, 2500, required=not has_image),
             "negative_prompt": bad_text(negative, 2500), "cfg_scale": bad_number(scale, 0, 1),
             "aspect_ratio": not has_image and ratio not in (None, *VIDEO_RATIOS)},
            "mode std|pro, duration '5'|'10', prompt (needed without an image) and negative_prompt up to "
            "2500 characters, cfg_scale 0..1, aspect_ratio 16:9|9:16|1:1",
        )  # fmt: skip
        body: dict[str, Any] = {"model_name": model, "mode": mode, "duration": duration}
        if prompt:
            body["prompt"] = prompt
        if negative:
            body["negative_prompt"] = negative
        if scale is not None and model.startswith("kling-v1"):  # Kling: cfg_scale is not for v2.x models
            body["cfg_scale"] = float(scale)
        if not control.resume_request_id:
            if has_image:
                body["image"] = self._image_input(request, "image", required=True)
                tail = self._image_input(request, "end_image")
                if tail:
                    body["image_tail"] = tail
            else:
                body["aspect_ratio"] = ratio or "16:9"
        return await self.run_job(api_key, KlingTask(model, "video", path, body, uuid.uuid4().hex), control)

    async def generate_image(
        self, api_key: str, request: dict[str, Any], control: RunControl = NO_CONTROL
    ) -> RemoteResult:
        """Kling image generation (text, or a reference `image`); returns the first image, all in `media`."""
        model = str(request.get("model") or request.get("model_name") or DEFAULT_IMAGE_MODEL)
        if model not in IMAGE_MODELS:
            raise self._unsupported(f"image model {model[:80]}")
        prompt, negative = request.get("prompt"), request.get("negative_prompt") or ""
        n = request.get("n") or request.get("num_images") or 1
        ratio, resolution = request.get("aspect_ratio") or "1:1", str(request.get("resolution") or "1k")
        reference = request.get("image_reference")
        rule = find_rule(kling_models.IMAGE_RULES, model)
        if reference and rule is not None:  # only the models that honour a reference take one
            settle(rule, request)
        has_image = any(request.get(k) for k in ("image", "image_url"))
        orphan_reference = bool(reference) and not has_image
        refuse(
            {"prompt": bad_text(prompt, 2500, required=True),
             "negative_prompt": bad_text(negative, 2500) or bool(has_image and negative),
             "n": not isinstance(n, int) or bad_number(n, 1, 9), "aspect_ratio": ratio not in IMAGE_RATIOS,
             "resolution": resolution not in ("1k", "2k"),
             "image_reference": reference not in (None, "subject", "face") or orphan_reference,
             **{name: bad_number(request.get(name), 0, 1) for name in ("image_fidelity", "human_fidelity")}},
            "a prompt up to 2500 characters, n 1..9, aspect_ratio one of " + "|".join(IMAGE_RATIOS)
            + ", resolution 1k|2k, image_reference subject|face (with an image; no negative_prompt then), "
            "image_fidelity and human_fidelity 0..1",
        )  # fmt: skip
        body: dict[str, Any] = {"model_name": model, "prompt": prompt, "n": n, "aspect_ratio": ratio,
                                "resolution": resolution}  # fmt: skip
        if negative:
            body["negative_prompt"] = negative
        if has_image and not control.resume_request_id:
            body["image"] = self._image_input(request, "image")
            if reference:
                body["image_reference"] = reference
            for name in ("image_fidelity", "human_fidelity"):
                if request.get(name) is not None:
                    body[name] = float(request[name])
        return await self.run_job(
            api_key, KlingTask(model, "image", "images/generations", body, uuid.uuid4().hex), control
        )

    async def apply_lipsync(
        self, api_key: str, request: dict[str, Any], control: RunControl = NO_CONTROL
    ) -> RemoteResult:
        """Lip-sync a video (public `video_url` or Kling `video_id`) to `audio_url`/`audio`, or to `text`."""
        video_url = request.get("video_url") or request.get("video")
        video_id = request.get("video_id")
        if not video_id and not is_url(video_url):
            raise needs_url("video" if request.get("video") else "video_url", "the video to lip-sync")
        data: dict[str, Any] = {"video_id": str(video_id)} if video_id else {"video_url": video_url}
        audio_url, audio, text = request.get("audio_url"), request.get("audio"), request.get("text")
        if is_url(audio):
            audio_url, audio = audio, None
        if audio_url or audio is not None:
            data["mode"] = "audio2video"
            if audio_url:
                if not is_url(audio_url):
                    raise needs_url("audio_url", "the speech audio")
                data.update(audio_type="url", audio_url=audio_url)
            elif not control.resume_request_id:
                raw = self._input_bytes(audio, "audio")
                if not raw or len(raw) > MAX_AUDIO_BYTES:
                    raise AInfError(
                        ErrorCode.VALIDATION_ERROR,
                        "Kling takes lip-sync audio files of at most 5 MB; pass a longer one as `audio_url`.",
                        detail={"engine": self.engine_id, "input": "audio", "bytes": len(raw or b"")},
                    )
                data.update(audio_type="file", audio_file=base64.b64encode(raw).decode("ascii"))
        elif isinstance(text, str) and text.strip():
            language, speed = request.get("voice_language") or "en", request.get("voice_speed", 1.0)
            refuse(
                {"text": len(text) > 120, "voice_id": not request.get("voice_id"),
                 "voice_language": language not in ("zh", "en"), "voice_speed": bad_number(speed, 0.8, 2.0)},
                "text up to 120 characters with a voice_id, voice_language zh|en, voice_speed 0.8..2.0",
            )  # fmt: skip
            data.update(mode="text2video", text=text, voice_id=str(request["voice_id"]))
            data.update(voice_language=language, voice_speed=float(speed))
        else:
            raise AInfError(
                ErrorCode.VALIDATION_ERROR,
                "Kling lip-sync needs speech: `audio_url`, an `audio` file, or `text` with a `voice_id`.",
                detail={"engine": self.engine_id, "missing": "audio_url|audio|text"},
            )
        task = KlingTask("kling-lip-sync", "video", "videos/lip-sync", {"input": data}, None)
        return await self.run_job(api_key, task, control)


def _text(value: Any) -> str | None:
    """A provider id as text, or None when absent."""
    return None if value is None else str(value)
