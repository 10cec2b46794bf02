"""A strict Runware emulator: the task-array REST API, async tasks polled with getResponse, media, faults.

One base URL serves `POST /v1` (every task) and `GET /media/{name}` (results), the way
`AINFLUENCER_PROVIDER_RUNWARE_BASE_URL` points the adapter at it. Inference tasks stay `processing` for
`queue_s + run_s` (Runware reports no separate queue state), then `success`. Faults (`fault`):

- `bad_key`: every key is refused (401 `invalidApiKey`); a wrong key is refused anyway.
- `no_credits`: inference submits answer 402 `insufficientCredits`; getDetails reports balance 0.
- `moderation`: the finished task is a data item with `status: "error"` and `contentPolicyViolation`.
- `nsfw`: images succeed but are flagged `NSFWContent: true`.
- `rate_limit`: every POST answers 429 with Retry-After (`rate_limit_n` does it for the next n POSTs only).
- `hang`: getResponse never answers; `never_complete`: tasks stay `processing`.
- `malformed_json`: getResponse answers broken JSON; `missing_fields`: finished items have no URL.
- `truncated`: media downloads break off halfway.
- `error_in_200`: getResponse answers HTTP 200 with an `errors[]` entry (`inferenceError`) for the task.
- `provider_timeout`: like `error_in_200` with `timeoutProvider`.
- `lost_ack`: the first inference submit is accepted but answered 503; its resend meets `conflictTaskUUID`.
A FLUX dev task with a `puLID` face reference "renders" that photo at the task's size (`pulid_render`
replaces it, e.g. with another face).
`burst_5xx_n` answers the next n POSTs with 503.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import io
import json
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from .faults import answer_after_create
from .media import fit_png, make_mp4, make_png
from .runware_tasks import INFERENCE, TASK_TYPES, TaskError, TaskRules, only
from .serve import serve, shutdown

COST = {"imageInference": 0.0013, "imageUpscale": 0.002, "videoInference": 0.28}
# USD per second of video (https://runware.ai/docs/models/klingai-video-3-0-pro: $0.112/s, $0.168/s with
# audio; Wan 2.7 $0.10-0.15/s; Hailuo 02 up to $0.08/s at 1080P), 2026-12
VIDEO_RATE_MAX = {"klingai:kling-video@3-pro": 0.168, "alibaba:wan@2.7": 0.15, "minimax:3@1": 0.08}


def video_charge(task: dict) -> float:
    """The most Runware can charge for a video task (its duration at the model's highest rate)."""
    return VIDEO_RATE_MAX[task["model"]] * task.get("duration", 6)


_FAULT_NAMES = (
    "bad_key no_credits moderation nsfw rate_limit hang never_complete malformed_json missing_fields"
)
FAULTS = frozenset([None, *_FAULT_NAMES.split(), "truncated", "error_in_200", "provider_timeout", "lost_ack"])


@dataclass
class Job:
    """One accepted inference task."""

    task: dict[str, Any]
    created: float
    seconds: float
    outputs: list[dict[str, Any]] | None = None

    def done(self, now: float, never_complete: bool) -> bool:
        """Whether the task has finished at `now`."""
        return not never_complete and now >= self.created + self.seconds


def _is_uuid4(value: Any) -> bool:
    try:
        parsed = uuid.UUID(str(value))
    except ValueError:
        return False
    return isinstance(value, str) and parsed.version == 4 and str(parsed) == value.lower()


@dataclass
class RunwareEmulator:
    """The Runware contract on 127.0.0.1; set `fault`, `rate_limit_n` or `burst_5xx_n` to inject failures."""

    key: str
    balance: float = 12.5
    queue_s: float = 0.03
    run_s: float = 0.06
    fault: str | None = None
    rate_limit_n: int = 0
    retry_after: str = "2"
    burst_5xx_n: int = 0
    after_create: str | None = None  # the next submit creates its job, then answers "500" or drops ("drop")
    submits: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    uploads: dict[str, bytes] = field(default_factory=dict)
    hits: dict[str, int] = field(default_factory=dict)
    peak_concurrency: int = 0
    base_url: str = ""
    pulid_render: bytes | None = None  # what a PuLID task "renders"; by default its reference photo

    def __post_init__(self) -> None:
        self.jobs: dict[str, Job] = {}
        self.media: dict[str, tuple[bytes, str]] = {}
        self.used_uuids: set[str] = set()
        self._lost_ack_spent = False
        self._runner: web.AppRunner | None = None
        self._release: asyncio.Event | None = None
        self._png, self._mp4 = make_png(), make_mp4()
        self.rules = TaskRules(self._image_bytes)

    @property
    def jobs_created(self) -> int:
        """Inference tasks created, each billed once by Runware."""
        return len(self.jobs)

    # lifecycle -----------------------------------------------------------------------------------
    async def start(self) -> str:
        """Serve on a free loopback port (in the running loop); returns the base URL."""
        assert self.fault in FAULTS, self.fault
        self._release = asyncio.Event()
        app = web.Application(client_max_size=40 * 1024 * 1024)
        app.router.add_post("/v1", self._tasks)
        app.router.add_get("/media/{name}", self._media)
        self._runner, self.base_url = await serve(app)
        return self.base_url

    async def stop(self) -> None:
        """Stop serving (and free any handler held by the `hang` fault)."""
        await shutdown(self._runner, self._release)

    # helpers -------------------------------------------------------------------------------------
    def _hit(self, name: str) -> None:
        self.hits[name] = self.hits.get(name, 0) + 1

    def _in_flight(self) -> int:
        now = time.monotonic()
        return sum(1 for job in self.jobs.values() if not job.done(now, self.fault == "never_complete"))

    def _store(self, data: bytes, content_type: str, suffix: str) -> str:
        name = f"{uuid.uuid4().hex}.{suffix}"
        self.media[name] = (data, content_type)
        return f"{self.base_url}/media/{name}"

    @staticmethod
    def _error(status: int, code: str, message: str, **fields: Any) -> web.Response:
        """A whole answer holding one error item."""
        error = {"code": code, "message": message, **fields}
        return web.json_response({"data": [], "errors": [error]}, status=status)

    def _image_bytes(self, value: Any, parameter: str) -> bytes | None:
        """An image input (uploaded UUID, data URI, base64 or URL): its bytes, None for a remote URL."""
        if not isinstance(value, str) or not value:
            raise TaskError(
                f"missing{parameter[0].upper()}{parameter[1:]}", f"'{parameter}' is required.", parameter
            )
        if _is_uuid4(value):
            if value not in self.uploads:
                raise TaskError("invalidImageUUID", f"No image with UUID {value} was uploaded.", parameter)
            return self.uploads[value]
        if value.startswith(f"{self.base_url}/media/"):
            found = self.media.get(value.rsplit("/", 1)[1])
            if found is None:
                raise TaskError("invalidImageURL", "The image URL could not be fetched.", parameter)
            return found[0]
        if value.startswith("https://"):
            return None
        raw = value.split(",", 1)[1] if value.startswith("data:image/") and "," in value else value
        try:
            data = base64.b64decode(raw, validate=True)
            from PIL import Image

            with Image.open(io.BytesIO(data)) as img:
                img.load()
        except (binascii.Error, ValueError, OSError):
            raise TaskError(
                "invalidImage", "The image is not a valid URL, UUID, data URI or base64 image.", parameter
            ) from None
        return data

    # the endpoint ----------------------------------------------------------------------------------
    async def _tasks(self, request: web.Request) -> web.StreamResponse:
        self._hit("post")
        if self.burst_5xx_n > 0:
            self.burst_5xx_n -= 1
            return self._error(503, "serviceUnavailable", "Service temporarily unavailable.")
        if self.rate_limit_n > 0 or self.fault == "rate_limit":
            self.rate_limit_n = max(0, self.rate_limit_n - 1)
            refused = self._error(429, "rateLimitExceeded", "Too many requests; retry later.")
            refused.headers["Retry-After"] = self.retry_after
            return refused
        try:
            body = json.loads(await request.read())
        except (ValueError, UnicodeDecodeError):
            return self._error(400, "invalidJSON", "The request body is not valid JSON.")
        if (refused := self._auth(request, body)) is not None:
            return refused
        if not isinstance(body, list) or not body:
            return self._error(400, "invalidRequest", "The body must be a non-empty JSON array of tasks.")
        data: list[dict[str, Any]] = []
        errors: list[tuple[int, dict[str, Any]]] = []
        for task in body:
            if isinstance(task, dict) and task.get("taskType") == "authentication":
                continue
            try:
                answer = await self._task(task)
            except TaskError as exc:
                errors.append((exc.status, exc.item(task if isinstance(task, dict) else {})))
                continue
            if isinstance(answer, web.StreamResponse):
                return answer  # a fault that answers the whole request
            data.extend(answer)
        created = [d["taskUUID"] for d in data if d.get("taskType") in INFERENCE]
        if created and (mode := self.after_create) is not None:
            self.after_create = None
            error = {
                "code": "internalServerError",
                "message": "Internal server error.",
                "taskUUID": created[0],
            }
            return answer_after_create(request, mode, {"data": [], "errors": [error]})
        status = errors[0][0] if errors and not data else 200
        out: dict[str, Any] = {"data": data}
        if errors:
            out["errors"] = [e for _, e in errors]
        return web.json_response(out, status=status)

    def _auth(self, request: web.Request, body: Any) -> web.Response | None:
        header = request.headers.get("Authorization")
        supplied: str | None = None
        auth = {"parameter": "apiKey", "taskType": "authentication"}
        if header is not None:
            scheme, _, token = header.partition(" ")
            supplied = token if scheme == "Bearer" else header
        elif isinstance(body, list) and body and isinstance(body[0], dict):
            if body[0].get("taskType") == "authentication":
                supplied = str(body[0].get("apiKey") or "")
        if not supplied:
            return self._error(401, "missingApiKey", "Missing API key.", **auth)
        if supplied != self.key or self.fault == "bad_key":
            # Unlike the real API this echoes what was sent, so the adapter's redaction is exercised.
            message = f"Invalid API key {supplied!r}. Get one at https://my.runware.ai/signup"
            return self._error(401, "invalidApiKey", message, **auth)
        return None

    async def _task(self, task: Any) -> list[dict[str, Any]] | web.StreamResponse:
        if not isinstance(task, dict):
            raise TaskError("invalidTask", "Each task must be a JSON object.")
        task_type = task.get("taskType")
        if task_type not in TASK_TYPES:
            raise TaskError("invalidTaskType", f"Unknown taskType {str(task_type)[:40]!r}.", "taskType")
        if not _is_uuid4(task.get("taskUUID")):
            raise TaskError("invalidTaskUUID", "taskUUID must be a UUID v4 string.", "taskUUID")
        self._hit(task_type)
        if task_type == "getResponse":
            return await self._get_response(task)
        if task["taskUUID"] in self.used_uuids:
            raise TaskError("conflictTaskUUID", "This taskUUID was already used.", "taskUUID")
        if task_type == "accountManagement":
            only(task, {"taskType", "taskUUID", "operation"})
            if task.get("operation") != "getDetails":
                raise TaskError("invalidOperation", "operation must be 'getDetails'.", "operation")
            self.used_uuids.add(task["taskUUID"])
            balance = 0.0 if self.fault == "no_credits" else self.balance
            return [
                {
                    "taskType": task_type,
                    "taskUUID": task["taskUUID"],
                    "operation": "getDetails",
                    "organizationName": "Emulated Org",
                    "balance": balance,
                    "usage": {"today": {"total": 0.0}},
                }
            ]
        if task_type == "imageUpload":
            only(task, {"taskType", "taskUUID", "image"})
            data = self._image_bytes(task.get("image"), "image") or self._png
            self.used_uuids.add(task["taskUUID"])
            image_uuid = str(uuid.uuid4())
            self.uploads[image_uuid] = data
            return [
                {
                    "taskType": task_type,
                    "taskUUID": task["taskUUID"],
                    "imageUUID": image_uuid,
                    "imageURL": self._store(data, "image/png", "png"),
                }
            ]
        return self._submit(task)

    def _render(self, task: dict[str, Any]) -> bytes:
        """An inference task's image: the PuLID reference at the task's size, else the stock PNG."""
        if "puLID" not in task:
            return self._png
        if self.pulid_render is not None:
            return self.pulid_render
        reference = self._image_bytes(task["puLID"]["inputImages"][0], "puLID.inputImages") or self._png
        return fit_png(reference, task["width"], task["height"])

    def _submit(self, task: dict[str, Any]) -> list[dict[str, Any]] | web.StreamResponse:
        self.rules.validate(task)
        if self.fault == "no_credits":
            raise TaskError(
                "insufficientCredits",
                "Insufficient credits. Top up your balance at https://my.runware.ai/wallet to continue.",
                status=402,
            )
        task_uuid = task["taskUUID"]
        self.used_uuids.add(task_uuid)
        self.jobs[task_uuid] = Job(task, time.monotonic(), self.queue_s + self.run_s)
        self.submits.append((task["taskType"], task))
        self.peak_concurrency = max(self.peak_concurrency, self._in_flight())
        if self.fault == "lost_ack" and not self._lost_ack_spent:
            self._lost_ack_spent = True
            return self._error(503, "serviceUnavailable", "Upstream connection reset.")
        ack = {"taskType": task["taskType"], "taskUUID": task_uuid}
        if task.get("deliveryMethod", "sync") == "async":
            return [ack]
        return self._outputs(self.jobs[task_uuid])  # sync delivery: the finished results in the answer

    async def _get_response(self, task: dict[str, Any]) -> list[dict[str, Any]] | web.StreamResponse:
        only(task, {"taskType", "taskUUID"})
        job = self.jobs.get(task["taskUUID"])
        if job is None:
            raise TaskError("taskFailedOrNotFound", "No async task with this taskUUID.", "taskUUID")
        if self.fault == "hang":
            assert self._release is not None
            await self._release.wait()
        if self.fault == "malformed_json":
            return web.Response(text='{"data": [{"taskType": "videoInf', content_type="application/json")
        self.peak_concurrency = max(self.peak_concurrency, self._in_flight())
        ident = {"taskType": job.task["taskType"], "taskUUID": task["taskUUID"]}
        if not job.done(time.monotonic(), self.fault == "never_complete"):
            return [{**ident, "status": "processing"} for _ in range(job.task.get("numberResults", 1))]
        if self.fault in ("error_in_200", "provider_timeout"):
            code, message = (
                ("inferenceError", "The model failed to produce an output.")
                if self.fault == "error_in_200"
                else ("timeoutProvider", "The provider timed out.")
            )
            return self._error(200, code, message, **ident)
        if self.fault == "moderation":
            error = {
                "code": "contentPolicyViolation",
                "message": "The request was flagged by content moderation.",
            }
            return [{**ident, "status": "error", "error": error}]
        return self._outputs(job)

    def _outputs(self, job: Job) -> list[dict[str, Any]]:
        if job.outputs is not None:
            return job.outputs
        task = job.task
        ident = {"taskType": task["taskType"], "taskUUID": task["taskUUID"], "status": "success"}
        outputs = []
        for index in range(task.get("numberResults", 1)):
            item: dict[str, Any] = {**ident, "seed": task.get("seed", 1234 + index)}
            if task["taskType"] == "videoInference":
                item.update(videoUUID=str(uuid.uuid4()), videoURL=self._store(self._mp4, "video/mp4", "mp4"))
            else:
                data = self._render(task) if task["taskType"] == "imageInference" else self._upscaled(task)
                item.update(imageUUID=str(uuid.uuid4()), imageURL=self._store(data, "image/png", "png"))
            if task.get("includeCost"):
                item["cost"] = COST[task["taskType"]]
            if self.fault == "nsfw":
                item["NSFWContent"] = True
            if self.fault == "missing_fields":
                item.pop("imageURL", None)
                item.pop("videoURL", None)
            outputs.append(item)
        job.outputs = outputs
        return outputs

    def _upscaled(self, task: dict[str, Any]) -> bytes:
        from PIL import Image

        source = self._image_bytes(task["inputImage"], "inputImage") or self._png
        with Image.open(io.BytesIO(source)) as img:
            factor = task["upscaleFactor"]
            out = io.BytesIO()
            img.convert("RGB").resize((img.width * factor, img.height * factor)).save(out, format="PNG")
        return out.getvalue()

    # media -------------------------------------------------------------------------------------------
    async def _media(self, request: web.Request) -> web.StreamResponse:
        self._hit("media")
        found = self.media.get(request.match_info["name"])
        if found is None:
            return web.json_response({"errors": [{"code": "notFound", "message": "Not found."}]}, status=404)
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
