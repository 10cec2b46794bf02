"""The Runware emulator's task rules: which models and fields each task type takes, and their ranges.

Field names and limits follow https://runware.ai/docs/en/image-inference/api-reference and
https://runware.ai/docs/en/video-inference/api-reference; a task outside them is answered with the error
item Runware documents (https://runware.ai/docs/platform/errors).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

IMAGE_MODELS = {"runware:100@1", "runware:101@1", "bfl:2@1"}
VIDEO_MODELS = {"minimax:3@1", "klingai:kling-video@3-pro", "alibaba:wan@2.7"}
INFERENCE = ("imageInference", "imageUpscale", "videoInference")
TASK_TYPES = {*INFERENCE, "imageUpload", "getResponse", "accountManagement", "authentication"}
COMMON = set("taskType taskUUID includeCost deliveryMethod outputType outputFormat outputQuality ttl".split())
COMMON.add("numberResults")
FLUX = set("model positivePrompt negativePrompt width height seed steps CFGScale scheduler safety".split())
VIDEO = set("model positivePrompt negativePrompt width height duration seed inputs providerSettings".split())
ALLOWED = {
    "runware:100@1": COMMON | FLUX,
    "runware:101@1": COMMON | FLUX | {"puLID"},  # PuLID runs on FLUX.1 dev
    "bfl:2@1": COMMON | set("model positivePrompt width height seed providerSettings safety".split()),
    "imageUpscale": COMMON | {"inputImage", "upscaleFactor", "model"},
    "video": COMMON | VIDEO | {"safety"},
}
# the puLID object (https://runware.ai/docs/en/image-inference/api-reference; github.com/Runware/sdk-python
# runware/types.py IPuLID): one input image, idWeight 0-3, trueCFGScale 0-10, one of the two CFG starts
PULID = {"inputImages", "idWeight", "trueCFGScale", "CFGStartStep", "CFGStartStepPercentage"}

DOCS = "https://runware.ai/docs/platform/errors"


class TaskError(Exception):
    """A per-task error item with the HTTP status it implies."""

    def __init__(self, code: str, message: str, parameter: str | None = None, status: int = 400) -> None:
        super().__init__(message)
        self.code, self.message, self.parameter, self.status = code, message, parameter, status

    def item(self, task: dict[str, Any]) -> dict[str, Any]:
        """The Runware error object for `task`."""
        out = {
            "code": self.code,
            "message": self.message,
            "taskType": task.get("taskType"),
            "taskUUID": task.get("taskUUID"),
            "documentation": DOCS,
        }
        return {**out, "parameter": self.parameter} if self.parameter else out


def only(task: dict[str, Any], allowed: set[str]) -> None:
    """Refuse the first field of `task` that `allowed` does not name."""
    extra = sorted(set(task) - allowed)
    if extra:
        raise TaskError("unknownParameter", f"Parameter '{extra[0]}' is not supported here.", extra[0])


def in_range(task: dict[str, Any], name: str, low: float, high: float, kind: Any) -> None:
    """Refuse `task[name]` when present and not a `kind` from `low` to `high`."""
    value = task.get(name)
    if value is None:
        return
    if not isinstance(value, kind) or isinstance(value, bool) or not low <= value <= high:
        raise TaskError(
            f"invalid{name[0].upper()}{name[1:]}", f"'{name}' must be from {low} to {high}.", name
        )


class TaskRules:
    """Validates inference tasks; `image_bytes` resolves an image field (upload UUID, URL, data URI)."""

    def __init__(self, image_bytes: Callable[[Any, str], bytes | None]) -> None:
        self.image_bytes = image_bytes

    def validate(self, task: dict[str, Any]) -> None:
        """Raise `TaskError` for the first rule `task` breaks."""
        task_type = task["taskType"]
        model = task.get("model")
        if task_type == "imageInference":
            if model not in IMAGE_MODELS:
                raise TaskError("invalidModel", f"Unknown image model {str(model)[:40]!r}.", "model")
            only(task, ALLOWED[model])
            prompt = task.get("positivePrompt")
            if not isinstance(prompt, str) or not 2 <= len(prompt.strip()) <= 3000:
                raise TaskError(
                    "invalidPositivePrompt", "positivePrompt must be 2-3000 characters.", "positivePrompt"
                )
            for name in ("width", "height"):
                value = task.get(name)
                if (
                    not isinstance(value, int)
                    or isinstance(value, bool)
                    or not 256 <= value <= 2048
                    or value % 64
                ):
                    raise TaskError(
                        f"invalid{name.title()}",
                        f"Invalid value for '{name}' parameter. It must be an "
                        "integer between 256 and 2048, in multiples of 64.",
                        name,
                    )
            in_range(task, "steps", 1, 100, int)
            in_range(task, "CFGScale", 0, 50, (int, float))
            in_range(task, "numberResults", 1, 20, int)
            in_range(task, "seed", 1, 2**63 - 1, int)
            if "puLID" in task:
                self._pulid(task["puLID"])
            if task.get("outputFormat", "JPG") not in ("JPG", "PNG", "WEBP"):
                raise TaskError(
                    "invalidOutputFormat", "outputFormat must be JPG, PNG or WEBP.", "outputFormat"
                )
        elif task_type == "imageUpscale":
            only(task, ALLOWED["imageUpscale"])
            self.image_bytes(task.get("inputImage"), "inputImage")
            if task.get("upscaleFactor") not in (2, 3, 4) or isinstance(task.get("upscaleFactor"), bool):
                raise TaskError("invalidUpscaleFactor", "upscaleFactor must be 2, 3 or 4.", "upscaleFactor")
        else:
            if model not in VIDEO_MODELS:
                raise TaskError("invalidModel", f"Unknown video model {str(model)[:40]!r}.", "model")
            only(task, ALLOWED["video"])
            if task.get("deliveryMethod", "async") != "async":
                raise TaskError(
                    "invalidDeliveryMethod", "Video tasks need deliveryMethod 'async'.", "deliveryMethod"
                )
            if model == "minimax:3@1" and not str(task.get("positivePrompt") or "").strip():
                raise TaskError(
                    "missingPositivePrompt", "positivePrompt is required for this model.", "positivePrompt"
                )
            if model == "minimax:3@1" and "negativePrompt" in task:
                raise TaskError(
                    "unsupportedParameter", "This model takes no negativePrompt.", "negativePrompt"
                )
            # Hailuo 02: 6 or 10 s; Kling 3.0 Pro: 3-15 s; Wan 2.7: 2-15 s (runware.ai/docs/models pages)
            lowest = {"minimax:3@1": 6, "klingai:kling-video@3-pro": 3}.get(model, 2)
            allowed = (6, 10) if model == "minimax:3@1" else tuple(range(lowest, 16))
            if task.get("duration", allowed[0]) not in allowed:
                raise TaskError("invalidDuration", f"duration must be one of {list(allowed)}.", "duration")
            if task.get("outputFormat", "MP4") not in ("MP4", "WEBM", "MOV"):
                raise TaskError(
                    "invalidOutputFormat", "outputFormat must be MP4, WEBM or MOV.", "outputFormat"
                )
            frames = self._frames(task.get("inputs"))
            sized = "width" in task or "height" in task
            if frames == sized:
                raise TaskError(
                    "invalidParameters",
                    "Provide exactly one of: inputs.frameImages or width/height.",
                    "inputs.frameImages",
                )
        if task.get("outputType", "URL") not in ("URL", "base64Data", "dataURI"):
            raise TaskError(
                "invalidOutputType", "outputType must be URL, base64Data or dataURI.", "outputType"
            )
        if not isinstance(task.get("includeCost", False), bool):
            raise TaskError("invalidIncludeCost", "includeCost must be a boolean.", "includeCost")
        if task.get("deliveryMethod", "sync") not in ("sync", "async"):
            raise TaskError(
                "invalidDeliveryMethod", "deliveryMethod must be sync or async.", "deliveryMethod"
            )

    def _pulid(self, pulid: Any) -> None:
        if not isinstance(pulid, dict):
            raise TaskError("invalidPuLID", "puLID must be an object.", "puLID")
        if extra := sorted(set(pulid) - PULID):
            raise TaskError("unknownParameter", f"Parameter 'puLID.{extra[0]}' is not supported.", "puLID")
        images = pulid.get("inputImages")
        if not isinstance(images, list) or len(images) != 1:
            raise TaskError(
                "invalidInputImages", "puLID.inputImages takes exactly 1 image.", "puLID.inputImages"
            )
        self.image_bytes(images[0], "puLID.inputImages")
        in_range(pulid, "idWeight", 0, 3, int)
        in_range(pulid, "trueCFGScale", 0, 10, (int, float))
        in_range(pulid, "CFGStartStep", 0, 10, int)
        in_range(pulid, "CFGStartStepPercentage", 0, 100, int)
        if "CFGStartStep" in pulid and "CFGStartStepPercentage" in pulid:
            raise TaskError(
                "conflictCFGStartStep", "Use CFGStartStep or CFGStartStepPercentage, not both.", "puLID"
            )

    def _frames(self, inputs: Any) -> bool:
        if inputs is None:
            return False
        if not isinstance(inputs, dict) or set(inputs) - {"frameImages"}:
            raise TaskError("unknownParameter", "inputs takes frameImages here.", "inputs")
        frames = inputs.get("frameImages")
        if not isinstance(frames, list) or not 1 <= len(frames) <= 2:
            raise TaskError("invalidFrameImages", "frameImages must hold 1 or 2 items.", "inputs.frameImages")
        for frame in frames:
            if not isinstance(frame, dict) or set(frame) - {"image", "frame"}:
                raise TaskError("invalidFrameImages", "Each frame is {image, frame}.", "inputs.frameImages")
            if frame.get("frame", "first") not in ("first", "last"):
                raise TaskError(
                    "invalidFrame", "frame must be 'first' or 'last'.", "inputs.frameImages.frame"
                )
            self.image_bytes(frame.get("image"), "inputs.frameImages.image")
        return True
