"""Kling's model × parameter table (each row names its source).

Video modes and durations from Kling's API reference (https://app.klingai.com/global/dev/document-api,
image-to-video `mode` std|pro, `duration` "5"|"10"); `kling-v2-5-turbo` is offered in `pro` mode only, as
ComfyUI's own Kling nodes list it (https://github.com/comfyanonymous/ComfyUI, comfy_api_nodes/nodes_kling.py).
`image_reference` is honoured by the kling-v1-5 and kling-v2-1 image models only (same sources), checked
2026-12.
"""

from __future__ import annotations

from typing import Any

from ...billing.cost_table import PricedRequest
from .model_rules import Choice, ModelRule

ENGINE = "provider_kling"
API_DOCS = "https://app.klingai.com/global/dev/document-api"
COMFY_KLING = "https://github.com/comfyanonymous/ComfyUI/blob/master/comfy_api_nodes/nodes_kling.py"
DURATIONS = Choice("duration", ("5", "10"), "5")
BOTH_MODES = Choice("mode", ("std", "pro"), "std")
I2V = (
    "kling-v1",
    "kling-v1-5",
    "kling-v1-6",
    "kling-v2-master",
    "kling-v2-1",
    "kling-v2-1-master",
    "kling-v2-6",
    "kling-v3",
)
IMAGE = ("kling-v1", "kling-v1-5", "kling-v2", "kling-v2-1", "kling-v3")
REFERENCE_MODELS = ("kling-v1-5", "kling-v2-1")

VIDEO_RULES: tuple[ModelRule, ...] = (
    *(ModelRule(ENGINE, model, (BOTH_MODES, DURATIONS), API_DOCS) for model in I2V),
    ModelRule(ENGINE, "kling-v2-5-turbo", (Choice("mode", ("pro",), "pro"), DURATIONS), COMFY_KLING),
)
IMAGE_RULES: tuple[ModelRule, ...] = tuple(
    ModelRule(ENGINE, model,
              (Choice("image_reference", ("subject", "face") if model in REFERENCE_MODELS else (), None),),
              COMFY_KLING if model in REFERENCE_MODELS else API_DOCS)
    for model in IMAGE
)  # fmt: skip


def priced(model: str, values: dict[str, Any], request: dict[str, Any]) -> PricedRequest:
    """What Kling bills a video by: seconds in a mode (images: one per `n`)."""
    if "duration" in values:
        return PricedRequest(ENGINE, model, seconds=int(values["duration"]), tier=str(values["mode"]))
    return PricedRequest(ENGINE, model, images=int(request.get("n") or request.get("num_images") or 1))
