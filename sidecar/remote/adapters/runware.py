"""Runware through its task-array REST API: async submit → getResponse polling → download, balance, keys.

Error items are mapped in `runware_errors`, request values checked in `runware_checks`; the video models'
durations are `runware_models`, the PuLID request `runware_identity`.

Every call is a POST of a JSON array of tasks to `https://api.runware.ai/v1` with `Authorization: Bearer
<key>`; answers are `{"data": [...], "errors": [...]}` scoped per task.

Sources (Runware's documentation and its own SDK source):
- Error shape `{code, message, parameter, taskType, taskUUID, documentation}` and the REST statuses 400 /
  401 / 402 ("Your account balance is insufficient") / 403 / 429 / 5xx:
  https://runware.ai/docs/platform/errors. Capacity answers 429 / 503 / 504, all transient:
  https://runware.ai/docs/platform/rate-limits.
- Task polling: `deliveryMethod: "async"` returns an acknowledgment; `[{taskType: "getResponse", taskUUID}]`
  then reports each generation as `processing`, `success` or `error`:
  https://runware.ai/docs/platform/task-polling. Runware's official Python SDK (github.com/Runware/
  runware-python, `runware/client.py`) defaults every inference task, images included, to async delivery and
  treats a data item with `status: "error"` (reason in its nested `error`) as a task failure; we do the same.
- Error-code families from that SDK's `runware/errors.py`: codes containing Credits / Balance / Quota or
  `paymentRequired` = no money; `contentPolicyViolation`, `nsfwContentDetected`, `moderationFailed`, … =
  moderation; `*RateLimit*` = rate limit; `*Timeout*` = timeout; `invalid*` / `missing*` / `unknownParameter`
  = bad input; `taskFailedOrNotFound` = task gone. The exact insufficient-balance and moderation code strings
  remain UNCONFIRMED, so we classify by family and by HTTP status (402), then by message words.
- `accountManagement` + `operation: "getDetails"` answers `data[0].balance` (a USD number):
  https://runware.ai/docs/platform/account-management.
- `imageUpload` takes `image` (data URI, base64 or URL) and answers `imageUUID`:
  https://runware.ai/docs/platform/image-upload. `imageUpscale` takes `inputImage` (UUID, data URI, base64
  or URL) and `upscaleFactor` 2–4, answers `imageURL` and `cost` with `includeCost`:
  https://runware.ai/docs/en/image-editing/upscaling.
- Video image input: current model pages use `inputs.frameImages: [{image, frame: "first"|"last"}]` ("Provide
  exactly one of: inputs.frameImages or width/height", https://runware.ai/docs/models/klingai-video-3-0-pro);
  older pages used top-level `frameImages: [{inputImage, frame}]`. We send the current form.
- Seeds run from 1 (github.com/Runware/sdk-python `docs/text_to_image.md`: "1-9223372036854776000"); 0 is
  not sent, so Runware picks one, and the result's `seed` reports the seed it used.
- Model AIRs `runware:100@1` (FLUX.1 schnell), `runware:101@1` (dev), `bfl:2@1` (FLUX1.1 pro; no steps, CFG or
  negative prompt), `minimax:3@1` (Hailuo 02), `klingai:kling-video@3-pro`, `alibaba:wan@2.7`: the SDK's
  generated model table (`runware/types/task_map.py`).
Each video model's durations come from its row in `runware_models`.
Still UNCONFIRMED: no cancel is documented (we stop polling and say it may still be billed); whether video
models accept an `imageUpload` UUID in `inputs.frameImages` (the SDK passes UUIDs there).
"""

from __future__ import annotations

import base64
import logging
import uuid
from dataclasses import dataclass
from typing import Any

import httpx

from ...core.errors import AInfError, ErrorCode
from ...core.redact import redact_secrets
from . import runware_identity, runware_models
from .base import NO_CONTROL, RemoteAdapter, RemoteResult, RunControl, local_input, required_prompt
from .control import OutputRef, Outputs, PollState, RemoteJob, Submitted
from .http_policy import SubmitInDoubt, provider_reason
from .model_rules import find_rule, settle
from .runware_checks import float_in, image_format, image_side, int_in, invalid, is_uuid
from .runware_errors import error_for

log = logging.getLogger("ainfluencer.adapters.runware")

API_URL = "https://api.runware.ai"
FLUX_SCHNELL = "runware:100@1"
FLUX_DEV = "runware:101@1"
FLUX_PRO = "bfl:2@1"
IMAGE_MODELS = (FLUX_SCHNELL, FLUX_DEV, FLUX_PRO)
HAILUO_02 = "minimax:3@1"
KLING_3_PRO = "klingai:kling-video@3-pro"
WAN_27 = "alibaba:wan@2.7"
VIDEO_MODELS = (HAILUO_02, KLING_3_PRO, WAN_27)
UPSCALE_MODEL = "imageUpscale"


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


@dataclass(frozen=True)
class RunwareTask(RemoteJob):
    """One async task, how many results it must yield and the result field holding their URLs."""

    task: dict[str, Any]
    expected: int
    url_field: str


@dataclass(frozen=True)
class RunwareTaskRef(Submitted):
    """A submitted task; `ready` holds its results when the submit answer already carried them all."""

    expected: int
    ready: tuple[dict[str, Any], ...] | None = None


@dataclass(frozen=True)
class RunwareDone:
    """The succeeded result items of a task."""

    items: tuple[dict[str, Any], ...]


class RunwareAdapter(RemoteAdapter[RunwareTask, RunwareTaskRef, RunwareDone]):
    """Runware: FLUX images, Hailuo / Kling / Wan video and image upscaling, all as polled async tasks."""

    engine_id = "provider_runware"
    default_base_url = API_URL
    provider_name = "Runware"

    @property
    def api_url(self) -> str:
        """The one endpoint; an override (the emulator) may be given with or without the /v1 path."""
        return self.base_url if self.base_url.endswith("/v1") else f"{self.base_url}/v1"

    # plumbing ------------------------------------------------------------------------------------
    def auth_headers(self, api_key: str) -> dict[str, str]:
        """Runware's `Authorization: Bearer …` header."""
        return {"Authorization": f"Bearer {api_key}", "Accept": "application/json"}

    async def _post(
        self, client: httpx.AsyncClient, api_key: str | None, tasks: list[dict[str, Any]], step: str
    ) -> tuple[list[dict[str, Any]], list[dict[str, Any]], int]:
        """POST a task array; returns (data items, error items, HTTP status), refusing non-JSON answers.

        The inference submit goes through the submit rule (retried only when it cannot have landed).
        """
        if step == "submit" and api_key is not None:
            response = await self.submit_call(client, "POST", self.api_url, api_key, json=tasks)
        else:
            response = await self.call(client, "POST", self.api_url, api_key, json=tasks)
        status = response.status_code
        if status >= 400:
            try:
                body: Any = response.json()
            except ValueError:
                raise self._error_for({"message": provider_reason(response)}, status, step, None) from None
        else:
            body = self.json_body(response, step)
        if not isinstance(body, dict):
            raise AInfError(
                ErrorCode.CONTRACT_MISMATCH,
                "Runware answered with something that is not a JSON object.",
                detail={"engine": self.engine_id, "step": step, "body": redact_secrets(response.text[:300])},
            )
        data, errors = body.get("data", []), body.get("errors") or body.get("error") or []
        data = [data] if isinstance(data, dict) else data
        errors = [errors] if isinstance(errors, dict) else errors
        if not isinstance(data, list) or not isinstance(errors, list):
            raise AInfError(
                ErrorCode.CONTRACT_MISMATCH,
                "Runware's answer has `data`/`errors` that are not lists.",
                detail={"engine": self.engine_id, "step": step},
            )
        errors = [e for e in errors if isinstance(e, dict)]
        if status >= 400 and not errors:
            raise self._error_for({"message": redact_secrets(body)}, status, step, None)
        return [d for d in data if isinstance(d, dict)], errors, status

    def _error_for(
        self, error: dict[str, Any], status: int | None, step: str, task_uuid: str | None
    ) -> AInfError:
        """One Runware error item (or an HTTP status) as an AInfError (`runware_errors.error_for`)."""
        return error_for(error, status, step, task_uuid, self.retry.max_attempts)

    # key, balance, health ------------------------------------------------------------------------
    async def _balance(self, api_key: str) -> float:
        task = {"taskType": "accountManagement", "taskUUID": str(uuid.uuid4()), "operation": "getDetails"}
        async with self.client_factory() as client:
            data, errors, status = await self._post(client, api_key, [task], "balance")
        if errors:
            raise self._error_for(errors[0], status, "balance", None)
        value = _number(data[0].get("balance")) if data else None
        if value is None:
            raise AInfError(
                ErrorCode.CONTRACT_MISMATCH,
                "Runware's account details have no numeric `balance`.",
                detail={"engine": self.engine_id, "step": "balance"},
            )
        return value

    async def verify_identity(self, api_key: str) -> dict[str, Any]:
        """Check the key with `accountManagement`/`getDetails` and report the balance."""
        return {"message": f"Connected to Runware; balance {await self._balance(api_key):.2f} USD."}

    async def check_balance(self, api_key: str) -> float | None:
        """The account's USD balance."""
        return await self._balance(api_key)

    async def ping(self, client: httpx.AsyncClient) -> None:
        """A keyless request; any HTTP answer means the API is reachable."""
        task = {"taskType": "accountManagement", "taskUUID": str(uuid.uuid4()), "operation": "getDetails"}
        await client.post(self.api_url, json=[task])

    # inputs --------------------------------------------------------------------------------------
    async def upload_image(self, api_key: str, data: bytes, content_type: str) -> str:
        """Upload image bytes with the `imageUpload` task (as a data URI); returns Runware's `imageUUID`."""
        if not data:
            raise AInfError(
                ErrorCode.INVALID_MEDIA, "The input image is empty.", detail={"engine": self.engine_id}
            )
        uri = f"data:{content_type};base64,{base64.b64encode(data).decode()}"
        async with self.client_factory() as client:
            for _ in range(2):  # a retried upload whose first try landed answers conflictTaskUUID: try anew
                task = {"taskType": "imageUpload", "taskUUID": str(uuid.uuid4()), "image": uri}
                items, errors, status = await self._post(client, api_key, [task], "upload")
                if errors and all(e.get("code") == "conflictTaskUUID" for e in errors):
                    continue
                if errors:
                    raise self._error_for(errors[0], status, "upload", task["taskUUID"])
                mine = [i for i in items if i.get("taskUUID") in (None, task["taskUUID"])]
                return str(self.field(mine[0] if mine else {}, "imageUUID", "upload"))
        raise AInfError(ErrorCode.CONTRACT_MISMATCH, detail={"engine": self.engine_id, "step": "upload"})

    async def _image_ref(
        self, api_key: str, request: dict[str, Any], control: RunControl, name: str = "image"
    ) -> str:
        """An input image for a task: a URL / data URI / Runware UUID as given, bytes or a file uploaded."""
        if control.resume_request_id:
            return ""  # a resumed task was submitted with its inputs already; nothing to upload again
        for key in (f"{name}_url", f"{name}_uuid"):
            value = request.get(key)
            if isinstance(value, str) and (value.startswith(("https://", "http://", "data:image/")) or (
                key.endswith("uuid") and is_uuid(value)
            )):  # fmt: skip
                return value
        local = local_input(request, name, "image/png", "image/png")
        if local is None:
            raise invalid(
                name, f"Runware needs an input image (`{name}` as bytes or a file, or `{name}_url`)."
            )
        data, content_type = local
        if not content_type.startswith("image/"):
            raise invalid(name, "The input must be a PNG, JPG or WEBP image.", content_type=content_type)
        return await self.upload_image(api_key, data, content_type)

    # the task runner: the template's hooks --------------------------------------------------------
    def resume(self, job: RunwareTask, request_id: str) -> RunwareTaskRef:
        """A task submitted earlier, named by its task UUID."""
        if not is_uuid(request_id):
            raise invalid("resume_request_id", "A Runware request id is a task UUID.")
        return RunwareTaskRef(request_id, job.expected)

    async def submit(self, client: httpx.AsyncClient, api_key: str, job: RunwareTask) -> RunwareTaskRef:
        """POST the task; a conflict on our fresh UUID means an earlier try of this same POST landed."""
        task_uuid = str(job.task["taskUUID"])
        items, errors, status = await self._post(client, api_key, [job.task], "submit")
        if errors and all(e.get("code") == "conflictTaskUUID" for e in errors):
            log.info("runware %s: submit %s was already accepted; polling it", job.model, task_uuid)
        elif errors:
            raise self._error_for(errors[0], status, "submit", task_uuid)
        state = self._collect(items, task_uuid, job.expected)
        ready = state.final.items if state.final is not None else None
        return RunwareTaskRef(task_uuid, job.expected, ready)

    async def find_submitted(
        self, client: httpx.AsyncClient, api_key: str, job: RunwareTask, doubt: SubmitInDoubt
    ) -> RunwareTaskRef | None:
        """getResponse for our taskUUID: the task when Runware has it, None when it has none.

        Runware answers `taskFailedOrNotFound` for both; a failed task met again on the resend is refused
        as `conflictTaskUUID`, then polled to its failure, so it is never run twice.
        """
        task_uuid = str(job.task["taskUUID"])
        lookup = {"taskType": "getResponse", "taskUUID": task_uuid}
        _items, errors, status = await self._post(client, api_key, [lookup], "lookup")
        if any(e.get("code") == "taskFailedOrNotFound" for e in errors):
            return None
        if errors:
            raise self._error_for(errors[0], status, "lookup", task_uuid)
        return RunwareTaskRef(task_uuid, job.expected)

    def submit_refusal(self, response: httpx.Response) -> AInfError:
        """Runware's first error item of the answer (or its status) mapped like any other."""
        try:
            body: Any = response.json()
        except ValueError:
            body = None
        errors = body.get("errors") if isinstance(body, dict) else None
        first = errors[0] if isinstance(errors, list) and errors and isinstance(errors[0], dict) else None
        return self._error_for(
            first or {"message": provider_reason(response)}, response.status_code, "submit", None
        )

    async def poll(
        self, client: httpx.AsyncClient, api_key: str, handle: RunwareTaskRef
    ) -> PollState[RunwareDone]:
        """getResponse for the task (no request when the submit answer already carried every result)."""
        if handle.ready is not None:
            return PollState(final=RunwareDone(handle.ready))
        poll = {"taskType": "getResponse", "taskUUID": handle.request_id}
        items, errors, status = await self._post(client, api_key, [poll], "status")
        mine = [e for e in errors if e.get("taskUUID") in (None, handle.request_id)]
        mine = mine or (errors if status >= 400 else [])
        if mine:
            raise self._error_for(mine[0], status, "status", handle.request_id)
        return self._collect(items, handle.request_id, handle.expected)

    def _collect(self, items: list[dict[str, Any]], task_uuid: str, expected: int) -> PollState[RunwareDone]:
        """Done once `expected` results succeeded; raises on an item with status `error`."""
        mine = [i for i in items if i.get("taskUUID") in (None, task_uuid)]
        for item in mine:
            if item.get("status") == "error":
                error = item.get("error") if isinstance(item.get("error"), dict) else item
                raise self._error_for(error, None, "status", task_uuid)
        ready = [
            i for i in mine if i.get("status") == "success" or any(k in i for k in ("imageURL", "videoURL"))
        ]
        if len(ready) >= expected:
            return PollState(final=RunwareDone(tuple(ready)))
        return PollState(status=f"Runware: processing ({len(ready)}/{expected} ready)" if mine else "")

    async def outputs(
        self,
        client: httpx.AsyncClient,
        api_key: str,
        job: RunwareTask,
        handle: RunwareTaskRef,
        final: RunwareDone,
    ) -> Outputs:
        """The results' URLs (every image of an inference, the first of an upscale or video) and cost."""
        items = final.items
        if job.task["taskType"] == "imageInference" and all(i.get("NSFWContent") is True for i in items):
            raise AInfError(
                ErrorCode.SAFETY_FILTER,
                "Runware's safety check flagged every image.",
                detail={"engine": self.engine_id, "request_id": handle.request_id},
            )
        kept = items if job.task["taskType"] == "imageInference" else items[:1]
        for item in kept:
            if not isinstance(item.get(job.url_field), str):
                raise AInfError(
                    ErrorCode.CONTRACT_MISMATCH,
                    f"Runware's finished task has no `{job.url_field}`.",
                    detail={"engine": self.engine_id, "request_id": item.get("taskUUID")},
                )
        costs = [c for c in (_number(i.get("cost")) for i in items) if c is not None]
        seed = items[0].get("seed")
        return Outputs(
            refs=tuple(OutputRef(item[job.url_field]) for item in kept),
            cost=round(sum(costs), 6) if costs else None,
            seed=seed if isinstance(seed, int) and not isinstance(seed, bool) else None,
        )

    # capabilities --------------------------------------------------------------------------------
    async def generate_image(
        self, api_key: str, request: dict[str, Any], control: RunControl = NO_CONTROL
    ) -> RemoteResult:
        """FLUX text-to-image (`imageInference`, with a PuLID face `reference`); image bytes in `media`."""
        pulid = runware_identity.wants_pulid(request)
        default = runware_identity.PULID_MODEL if pulid else FLUX_SCHNELL
        model = self.pick_model(request, default, IMAGE_MODELS, "image")
        settings = runware_identity.pulid_settings(model, request) if pulid else None
        prompt = required_prompt(request)
        count = int_in(request, "num_images", 1, 1, 20)
        task: dict[str, Any] = {
            "taskType": "imageInference", "taskUUID": str(uuid.uuid4()), "model": model,
            "positivePrompt": prompt,
            "width": image_side(request, "width"), "height": image_side(request, "height"),
            "numberResults": count, "outputType": "URL", "outputFormat": image_format(request),
            "includeCost": True, "deliveryMethod": "async",
        }  # fmt: skip
        if seed := int_in(request, "seed", 0, 0, 2**63 - 1):  # Runware seeds start at 1; 0: it picks
            task["seed"] = seed
        flux_only = {"negative_prompt": "negativePrompt", "steps": "steps", "cfg_scale": "CFGScale"}
        for name, field in flux_only.items():
            if request.get(name) in (None, ""):
                continue
            if model == FLUX_PRO:
                raise invalid(name, f"{FLUX_PRO} (FLUX1.1 pro) takes no `{name}`.", model=model)
            if name == "negative_prompt":
                task[field] = str(request[name])
            elif name == "steps":
                task[field] = int_in(request, name, 4, 1, 100)
            else:
                task[field] = float_in(request, name, 0.0, 50.0)
        if settings is not None:
            reference = await self._image_ref(api_key, request, control, runware_identity.REFERENCE)
            task["puLID"] = settings.task_field(reference)
        return await self.run_job(api_key, RunwareTask(model, "image", task, count, "imageURL"), control)

    async def upscale(
        self, api_key: str, request: dict[str, Any], control: RunControl = NO_CONTROL
    ) -> RemoteResult:
        """Upscale an image 2–4× (`imageUpscale`); bytes or files are uploaded first (`imageUpload`)."""
        factor = int_in(request, "upscale_factor", 2, 2, 4)
        task: dict[str, Any] = {
            "taskType": "imageUpscale", "taskUUID": str(uuid.uuid4()), "upscaleFactor": factor,
            "outputType": "URL", "outputFormat": image_format(request), "includeCost": True,
            "deliveryMethod": "async",
        }  # fmt: skip
        task["inputImage"] = await self._image_ref(api_key, request, control)
        return await self.run_job(api_key, RunwareTask(UPSCALE_MODEL, "image", task, 1, "imageURL"), control)

    async def generate_video(
        self, api_key: str, request: dict[str, Any], control: RunControl = NO_CONTROL
    ) -> RemoteResult:
        """Image-to-video (`videoInference`, async): Hailuo 02, Kling 3.0 Pro or Wan 2.7; MP4 bytes out."""
        model = self.pick_model(request, HAILUO_02, VIDEO_MODELS, "video")
        prompt = str(request.get("prompt") or "").strip()
        if model == HAILUO_02 and not prompt:
            raise AInfError(ErrorCode.VALIDATION_ERROR, "A prompt is required.", detail={"missing": "prompt"})
        rule = find_rule(runware_models.VIDEO_RULES, model)
        if rule is not None:
            duration = settle(rule, request)["duration"]
        else:
            duration = int_in(request, "duration", 6, 1, 15)
        task: dict[str, Any] = {
            "taskType": "videoInference", "taskUUID": str(uuid.uuid4()), "model": model, "duration": duration,
            "numberResults": 1, "outputType": "URL", "outputFormat": "MP4", "includeCost": True,
            "deliveryMethod": "async",
        }  # fmt: skip
        if prompt:
            task["positivePrompt"] = prompt
        if request.get("negative_prompt") and model != HAILUO_02:
            task["negativePrompt"] = str(request["negative_prompt"])
        if seed := int_in(request, "seed", 0, 0, 2**31 - 1):
            task["seed"] = seed
        has_image = any(request.get(k) for k in ("image", "image_url", "image_uuid"))
        if has_image:
            frames = [{"image": await self._image_ref(api_key, request, control), "frame": "first"}]
            if any(request.get(k) for k in ("end_image", "end_image_url", "end_image_uuid")):
                frames.append(
                    {"image": await self._image_ref(api_key, request, control, "end_image"), "frame": "last"}
                )
            task["inputs"] = {"frameImages": frames}
        elif request.get("width") and request.get("height"):
            task["width"], task["height"] = (
                int_in(request, "width", 0, 256, 4096),
                int_in(request, "height", 0, 256, 4096),
            )
        elif not control.resume_request_id:
            raise invalid("image", "Runware video needs a start image (`image`) or a `width` and `height`.")
        return await self.run_job(api_key, RunwareTask(model, "video", task, 1, "videoURL"), control)
