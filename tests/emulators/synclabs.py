"""A strict Sync Labs (sync.so) emulator: generate (JSON and multipart), poll, costs, models, with faults.

Generations move PENDING → PROCESSING → COMPLETED over `queue_s` and `run_s`; the output is a real MP4 (video
and an AAC audio track) served from a tokenised `…/v2/generations/{id}/result?token=…` link that needs no key,
like Sync's own. Idempotency-Key replays the first generation for the same key and body.
"""

from __future__ import annotations

import asyncio
import functools
import io
import itertools
import json
import re
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from .faults import answer_after_create
from .serve import serve, shutdown

MODELS = {"sync-3", "lipsync-2", "lipsync-2-pro", "lipsync-1.9.0-beta", "react-1"}
SYNC_MODES = {"cut_off", "loop", "bounce", "silence", "remap"}
OPTIONS = {"sync_mode", "temperature", "active_speaker_detection"}
JSON_FIELDS = {"model", "input", "options", "webhookUrl", "outputFileName"}
FORM_FIELDS = {"model", "input", "options", "webhookUrl"}
MAX_FILE_BYTES = 20 * 1024 * 1024
IDEMPOTENCY_KEY = re.compile(r"[A-Za-z0-9._~-]{1,128}")
OUTPUT_FILE_NAME = re.compile(r"[A-Za-z0-9_-]{1,255}")
FAULTS = {None, "bad_key", "payment_required", "rejected", "failed", "canceled", "rate_limit", "hang",
          "never_complete", "malformed_json", "missing_output", "truncated", "lost_response",
          "outcome_unknown", "cost_pending", "no_models_endpoint", "legacy_estimate_path"}  # fmt: skip
COST_PER_SECOND = 0.05


@functools.lru_cache(maxsize=4)
def make_talking_mp4(frames: int = 8, size: int = 64, rate: int = 16000) -> bytes:
    """A small real MP4 with an H.264 video track and an AAC tone track, made with PyAV."""
    import av
    import numpy as np

    out = io.BytesIO()
    with av.open(out, mode="w", format="mp4") as container:
        video = container.add_stream("libx264", rate=8)
        video.width = video.height = size
        video.pix_fmt = "yuv420p"
        audio = container.add_stream("aac", rate=rate)
        for i in range(frames):
            pixels = np.full((size, size, 3), (i * 30) % 256, dtype=np.uint8)
            for packet in video.encode(av.VideoFrame.from_ndarray(pixels, format="rgb24")):
                container.mux(packet)
        for packet in video.encode():
            container.mux(packet)
        tone = (0.3 * np.sin(np.arange(rate) * 2 * np.pi * 440 / rate)).astype(np.float32)
        for start in range(0, rate - 1024 + 1, 1024):
            chunk = np.ascontiguousarray(np.stack([tone[start : start + 1024]] * 2))
            frame = av.AudioFrame.from_ndarray(chunk, format="fltp", layout="stereo")
            frame.sample_rate, frame.pts = rate, start
            for packet in audio.encode(frame):
                container.mux(packet)
        for packet in audio.encode():
            container.mux(packet)
    return out.getvalue()


@dataclass
class Generation:
    """One submitted generation."""

    gid: str
    body: dict[str, Any]
    created: float
    queue_s: float
    run_s: float
    token: str = field(default_factory=lambda: uuid.uuid4().hex)

    def status(self, now: float, fault: str | None) -> str:
        """The status at `now` under the current fault."""
        if now < self.created + self.queue_s:
            return "PENDING"
        if fault in ("never_complete", "hang") or now < self.created + self.queue_s + self.run_s:
            return "PROCESSING"
        return {"rejected": "REJECTED", "failed": "FAILED", "canceled": "CANCELED"}.get(
            fault or "", "COMPLETED"
        )


@dataclass
class SyncLabsEmulator:
    """Sync Labs' contract on 127.0.0.1; set `fault`, `rate_limit_n` or `burst_5xx_n` to inject failures."""

    key: str
    queue_s: float = 0.03
    run_s: float = 0.06
    fault: str | None = None
    rate_limit_n: int = 0
    retry_after: str = "2"
    burst_5xx_n: int = 0
    after_create: str | None = None  # the next submit creates its job, then answers "500" or drops ("drop")
    output_duration: float = 4.0
    submits: list[dict[str, Any]] = field(default_factory=list)
    hits: dict[str, int] = field(default_factory=dict)
    idempotency_keys: list[str | None] = field(default_factory=list)
    peak_concurrency: int = 0
    base_url: str = ""

    def __post_init__(self) -> None:
        self.generations: dict[str, Generation] = {}
        self._by_key: dict[str, tuple[str, str]] = {}  # idempotency key → (body fingerprint, generation id)
        self._ids = itertools.count(1)
        self._runner: web.AppRunner | None = None
        self._release: asyncio.Event | None = None
        self._mp4 = make_talking_mp4()

    @property
    def jobs_created(self) -> int:
        """Generations created, each billed once by Sync."""
        return len(self.generations)

    # lifecycle -----------------------------------------------------------------------------------
    async def start(self) -> str:
        """Serve on a free loopback port; returns the base URL."""
        self._release = asyncio.Event()
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_post("/v2/generate", self._create)
        app.router.add_post("/v2/analyze/cost", self._estimate)
        app.router.add_post("/v2/generate/estimate-cost", self._estimate_legacy)
        app.router.add_get("/v2/generate/{gid}", self._get)
        app.router.add_get("/v2/generate/{gid}/costs", self._costs)
        app.router.add_get("/v2/generations", self._list)
        app.router.add_get("/v2/generations/{gid}/result", self._result)
        app.router.add_get("/v2/models", self._models)
        app.router.add_get("/v2/errors", self._errors)
        self._runner, self.base_url = await serve(app)
        return self.base_url

    async def stop(self) -> None:
        """Stop serving."""
        await shutdown(self._runner, self._release)

    # helpers -------------------------------------------------------------------------------------
    def _hit(self, name: str) -> None:
        self.hits[name] = self.hits.get(name, 0) + 1

    @staticmethod
    def _error(status: int, message: str, code: str | None = None, **extra: Any) -> web.Response:
        body: dict[str, Any] = {"message": message, "statusCode": status, **extra}
        if code:
            body["errorCode"] = code
        return web.json_response(body, status=status)

    def _auth(self, request: web.Request) -> web.Response | None:
        sent = request.headers.getall("x-api-key", [])
        if self.fault == "bad_key" or sent != [self.key]:
            # Like many APIs, echo part of what was sent: the adapter must redact it.
            shown = sent[0][:40] if sent else ""
            return self._error(401, f"Invalid API key {shown!r}", "unauthorized")
        return None

    def _in_flight(self) -> int:
        now = time.monotonic()
        return sum(
            1 for g in self.generations.values() if g.status(now, self.fault) in ("PENDING", "PROCESSING")
        )

    def _view(self, gen: Generation) -> dict[str, Any]:
        status = gen.status(time.monotonic(), self.fault)
        view: dict[str, Any] = {
            "id": gen.gid, "createdAt": "2026-11-12T00:00:00Z", "status": status, "model": gen.body["model"],
            "input": gen.body["input"], "options": gen.body.get("options") or {}, "webhookUrl": None,
            "outputUrl": None, "outputDuration": None, "segmentOutputUrl": None, "error": None,
            "errorCode": None,
        }  # fmt: skip
        if status == "COMPLETED" and self.fault != "missing_output":
            view["outputUrl"] = f"{self.base_url}/v2/generations/{gen.gid}/result?token={gen.token}"
            view["outputDuration"] = self.output_duration
        elif status == "REJECTED":
            view.update(
                error="The input was rejected by content moderation.", errorCode="generation_moderated"
            )
        elif status == "FAILED":
            view.update(
                error="No face was detected in the input video.", errorCode="generation_face_not_found"
            )
        return view

    # validation ----------------------------------------------------------------------------------
    def _validate(self, body: Any, files: dict[str, tuple[str, bytes]], allowed: set[str]) -> str | None:
        """Sync's validation message for a body (plus multipart files), or None when it is valid."""
        if not isinstance(body, dict):
            return "body must be a JSON object"
        if extra := set(body) - allowed:
            return f"property {sorted(extra)[0]} should not exist"
        if body.get("model") not in MODELS:
            return f"model must be one of the following values: {', '.join(sorted(MODELS))}"
        items = body.get("input", [])
        if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
            return "input must be an array of input objects"
        kinds: list[str] = list(files)
        for item in items:
            if set(item) != {"type", "url"} or item["type"] not in ("video", "audio"):
                return "each input must be {type: video|audio, url}"
            if not isinstance(item["url"], str) or not item["url"].startswith(("https://", "http://")):
                return f"input {item['type']} url must be a public http(s) URL"
            if item["type"] not in files:
                kinds.append(item["type"])
        if sorted(kinds) != ["audio", "video"]:
            return "input must include exactly one video input item and one audio input item"
        options = body.get("options", {})
        if not isinstance(options, dict) or (extra := set(options) - OPTIONS):
            return f"options.{sorted(extra)[0] if extra else ''} is not a valid option"
        if options.get("sync_mode", "cut_off") not in SYNC_MODES:
            return f"options.sync_mode must be one of the following values: {', '.join(sorted(SYNC_MODES))}"
        temperature = options.get("temperature", 0.5)
        if (
            isinstance(temperature, bool)
            or not isinstance(temperature, (int, float))
            or not 0 <= temperature <= 1
        ):
            return "options.temperature must be between 0 and 1"
        name = body.get("outputFileName")
        if name is not None and not (isinstance(name, str) and OUTPUT_FILE_NAME.fullmatch(name)):
            return "outputFileName may hold only letters, digits, underscores and hyphens"
        return None

    async def _read_form(
        self, request: web.Request
    ) -> tuple[Any, dict[str, tuple[str, bytes]], web.Response | None]:
        body: dict[str, Any] = {}
        files: dict[str, tuple[str, bytes]] = {}
        reader = await request.multipart()
        while (part := await reader.next()) is not None:
            name = part.name or ""
            if part.filename is not None:
                if name not in ("video", "audio") or name in files:
                    return (
                        None,
                        {},
                        self._error(400, f"unexpected file field {name!r}", "generation_input_invalid"),
                    )
                data = await part.read(decode=False)
                ctype = part.headers.get("Content-Type", "")
                if len(data) > MAX_FILE_BYTES:
                    return None, {}, self._error(413, "file too large", "generation_input_validation_failed")
                if not data or not ctype.startswith(f"{name}/"):
                    return (
                        None,
                        {},
                        self._error(400, f"{name} must be a {name}/* file", "generation_input_invalid"),
                    )
                files[name] = (ctype, data)
                continue
            text = await part.text()
            if name not in FORM_FIELDS:
                return (
                    None,
                    {},
                    self._error(400, f"property {name} should not exist", "generation_input_invalid"),
                )
            try:
                body[name] = json.loads(text) if name in ("input", "options") else text
            except json.JSONDecodeError:
                return None, {}, self._error(400, f"{name} must be a JSON string", "generation_input_invalid")
        return body, files, None

    # generate ------------------------------------------------------------------------------------
    async def _create(self, request: web.Request) -> web.Response:
        self._hit("generate")
        if self.burst_5xx_n > 0:
            self.burst_5xx_n -= 1
            return self._error(503, "Service Unavailable")
        if self.rate_limit_n > 0 or self.fault == "rate_limit":
            self.rate_limit_n = max(0, self.rate_limit_n - 1)
            return web.json_response(
                {"message": "Concurrency limit reached for your plan", "statusCode": 429},
                status=429, headers={"Retry-After": self.retry_after},
            )  # fmt: skip
        if (refused := self._auth(request)) is not None:
            return refused
        if self.fault == "payment_required":
            return self._error(
                402, "Payment required: free generations used up for this month", "payment_required"
            )
        keys = request.headers.getall("Idempotency-Key", [])
        if len(keys) > 1 or (keys and not IDEMPOTENCY_KEY.fullmatch(keys[0])):
            return self._error(400, "Invalid Idempotency-Key header", "INVALID_IDEMPOTENCY_KEY")
        key = keys[0] if keys else None
        files: dict[str, tuple[str, bytes]] = {}
        if request.content_type == "multipart/form-data":
            body, files, refused = await self._read_form(request)
            if refused is not None:
                return refused
            allowed = FORM_FIELDS
        elif request.content_type == "application/json":
            try:
                body = await request.json()
            except json.JSONDecodeError:
                return self._error(400, "body is not valid JSON", "generation_input_invalid")
            allowed = JSON_FIELDS
        else:
            return self._error(415, "use application/json or multipart/form-data")
        if (message := self._validate(body, files, allowed)) is not None:
            return self._error(400, message, "generation_input_invalid")
        fingerprint = json.dumps(
            [body, {k: (c, len(d)) for k, (c, d) in files.items()}], sort_keys=True, default=str
        )
        if key is not None and key in self._by_key:
            seen, gid = self._by_key[key]
            if seen != fingerprint:
                return self._error(
                    409, "Idempotency-Key reused with a different request", "IDEMPOTENCY_KEY_REUSED"
                )
            if self.fault == "outcome_unknown":
                return self._error(503, "Outcome unknown", "IDEMPOTENCY_OUTCOME_UNKNOWN", generationId=gid)
            return self._answer_create(self.generations[gid])
        gid = f"gen-{next(self._ids):04d}-{uuid.uuid4().hex[:8]}"
        stored = {**body, "input": list(body.get("input", []))}
        for kind, (ctype, data) in files.items():
            stored["input"].append({"type": kind, "url": f"asset://{kind}-{len(data)}-bytes-{ctype}"})
        gen = Generation(gid, stored, time.monotonic(), self.queue_s, self.run_s)
        self.generations[gid] = gen
        self._by_key[key or gid] = (fingerprint, gid)
        self.submits.append({**body, "files": {k: (c, len(d)) for k, (c, d) in files.items()}})
        self.idempotency_keys.append(key)
        self.peak_concurrency = max(self.peak_concurrency, self._in_flight())
        if self.fault == "lost_response" and len(self.submits) == 1:
            return self._error(502, "Bad Gateway")  # accepted, but the answer was lost on the way back
        if self.fault == "outcome_unknown":
            return self._error(503, "Outcome unknown", "IDEMPOTENCY_OUTCOME_UNKNOWN", generationId=gid)
        if (mode := self.after_create) is not None:
            self.after_create = None
            failure = {"message": "Internal Server Error", "statusCode": 500, "requestId": uuid.uuid4().hex}
            return answer_after_create(request, mode, failure)
        return self._answer_create(gen)

    def _answer_create(self, gen: Generation) -> web.Response:
        return web.json_response(self._view(gen), status=201)

    def _generation(self, request: web.Request) -> Generation | None:
        return self.generations.get(request.match_info["gid"])

    async def _get(self, request: web.Request) -> web.Response:
        self._hit("get")
        if (refused := self._auth(request)) is not None:
            return refused
        gen = self._generation(request)
        if gen is None:
            return self._error(404, "Generation not found", "generation_not_found")
        if self.fault == "hang":
            assert self._release is not None
            await self._release.wait()
        if self.fault == "malformed_json":
            return web.Response(text='{"id": "gen", "status": "PROCE', content_type="application/json")
        self.peak_concurrency = max(self.peak_concurrency, self._in_flight())
        return web.json_response(self._view(gen))

    async def _result(self, request: web.Request) -> web.StreamResponse:
        self._hit("result")
        gen = self._generation(request)
        if gen is None or request.query.get("token") != gen.token:
            return self._error(403, "invalid or expired result token")
        if self.fault != "truncated":
            return web.Response(body=self._mp4, content_type="video/mp4")
        response = web.StreamResponse(headers={"Content-Type": "video/mp4"})
        response.content_length = len(self._mp4)
        await response.prepare(request)
        await response.write(self._mp4[: len(self._mp4) // 2])
        assert request.transport is not None
        request.transport.close()
        return response

    # costs, models, list, errors -----------------------------------------------------------------
    async def _costs(self, request: web.Request) -> web.Response:
        self._hit("costs")
        if (refused := self._auth(request)) is not None:
            return refused
        gen = self._generation(request)
        if gen is None:
            return self._error(404, "Generation not found", "generation_not_found")
        status = gen.status(time.monotonic(), self.fault)
        total = f"{self.output_duration * COST_PER_SECOND:.4f}"
        done = status == "COMPLETED" and self.fault != "cost_pending"
        return web.json_response({
            "generationId": gen.gid, "generationStatus": status, "currency": "USD",
            "availability": "complete" if done else "pending", "totalCostUsd": total if done else None,
            "knownSubtotalUsd": total if done else "0", "retryAfterSeconds": None if done else 30,
            "components": [{"type": "lipsync", "amountUsd": total if done else None}],
            "excludedCosts": ["tax", "subscription_fees"],
        })  # fmt: skip

    async def _estimate(self, request: web.Request) -> web.Response:
        self._hit("estimate")
        if self.fault == "legacy_estimate_path":
            return self._error(404, "Cannot POST /v2/analyze/cost")
        return await self._estimate_body(request)

    async def _estimate_legacy(self, request: web.Request) -> web.Response:
        self._hit("estimate_legacy")
        if self.fault != "legacy_estimate_path":
            return self._error(404, "Cannot POST /v2/generate/estimate-cost")
        return await self._estimate_body(request, as_list=False)

    async def _estimate_body(self, request: web.Request, as_list: bool = True) -> web.Response:
        if (refused := self._auth(request)) is not None:
            return refused
        try:
            body = await request.json()
        except json.JSONDecodeError:
            return self._error(400, "body is not valid JSON", "generation_input_invalid")
        if (message := self._validate(body, {}, JSON_FIELDS)) is not None:
            return self._error(400, message, "generation_input_invalid")
        estimate = {"estimatedFrameCount": self.output_duration * 25,
                    "estimatedGenerationCost": round(self.output_duration * COST_PER_SECOND, 4)}  # fmt: skip
        return web.json_response([estimate] if as_list else estimate)

    async def _models(self, request: web.Request) -> web.Response:
        self._hit("models")
        if self.fault == "no_models_endpoint":
            return self._error(404, "Cannot GET /v2/models")
        if (refused := self._auth(request)) is not None:
            return refused
        return web.json_response([{"id": m, "name": m, "type": "lipsync"} for m in sorted(MODELS)])

    async def _list(self, request: web.Request) -> web.Response:
        self._hit("list")
        if (refused := self._auth(request)) is not None:
            return refused
        wanted = set(filter(None, request.query.get("status", "").split(",")))
        views = [self._view(g) for g in self.generations.values()]
        return web.json_response([v for v in views if not wanted or v["status"] in wanted])

    async def _errors(self, request: web.Request) -> web.Response:
        self._hit("errors")  # unauthenticated, like Sync's catalogue
        return web.json_response([
            {"code": "generation_input_invalid", "message": "The request's inputs are not valid."},
            {"code": "generation_moderated", "message": "The input was rejected by content moderation."},
        ])  # fmt: skip
