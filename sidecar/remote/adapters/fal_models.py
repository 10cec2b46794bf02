"""fal.ai's model × parameter table and what each request is billed by (each row names its model page).

Read from each model's own page on https://fal.ai/models/ (the input schema and the pricing section) in
2026-12. Hailuo 02 standard runs at 768P unless `resolution` says 512P, so the adapter always sends it;
Hailuo 02 pro is 1080P, where 10 s is not offered.
"""

from __future__ import annotations

import math
from typing import Any

from ...billing.cost_table import PricedRequest
from ...core.media import duration_of
from .model_rules import Choice, ModelRule

ENGINE = "provider_fal"
_PAGE = "https://fal.ai/models/"
ASSUMED_INPUT_SIDE = 1024  # an input image whose size is not known yet (planning) is priced at 1024x1024
# a talking head is billed per second of output, which follows the speech: held for at least this long while
# the audio is not known yet (planning), and grown to the real speech's length before submitting
ASSUMED_SPEECH_SECONDS = 10.0
OMNIHUMAN_MAX_SECONDS = 30.0  # "Audio must be under 30s long" (the model page's input schema)
ASSUMED_CLIP_SECONDS = 10.0  # a face swap whose clip is not known yet (planning) is held for this long
# fal's preset sizes (https://fal.ai/docs/model-endpoints, image_size); PuLID and FLUX1.1 [pro] are held per
# output megapixel
IMAGE_SIZE_PIXELS = {
    "square_hd": (1024, 1024), "square": (512, 512), "portrait_4_3": (768, 1024),
    "portrait_16_9": (576, 1024), "landscape_4_3": (1024, 768), "landscape_16_9": (1024, 576),
}  # fmt: skip

RULES: tuple[ModelRule, ...] = (
    ModelRule(ENGINE, "fal-ai/minimax/hailuo-02/standard/image-to-video",
              (Choice("duration", ("6", "10"), "6"), Choice("resolution", ("512P", "768P"), "768P")),
              _PAGE + "fal-ai/minimax/hailuo-02/standard/image-to-video"),
    ModelRule(ENGINE, "fal-ai/minimax/hailuo-02/pro/image-to-video",
              (Choice("duration", ("6",), "6", sent=False),
               Choice("resolution", ("1080P",), "1080P", sent=False)),
              _PAGE + "fal-ai/minimax/hailuo-02/pro/image-to-video"),
    ModelRule(ENGINE, "fal-ai/wan-25-preview/image-to-video",
              (Choice("duration", ("5", "10"), "5"),
               Choice("resolution", ("480p", "720p", "1080p"), "1080p")),
              _PAGE + "fal-ai/wan-25-preview/image-to-video"),
    ModelRule(ENGINE, "fal-ai/wan/v2.7/image-to-video",
              (Choice("duration", tuple(range(2, 16)), 5), Choice("resolution", ("720p", "1080p"), "1080p")),
              _PAGE + "fal-ai/wan/v2.7/image-to-video"),
    ModelRule(ENGINE, "fal-ai/flux-pro/v1.1", (), _PAGE + "fal-ai/flux-pro/v1.1"),
    ModelRule(ENGINE, "fal-ai/clarity-upscaler", (), _PAGE + "fal-ai/clarity-upscaler"),
    ModelRule(ENGINE, "fal-ai/flux-pulid",
              (Choice("image_size", tuple(IMAGE_SIZE_PIXELS), "portrait_4_3"),),
              _PAGE + "fal-ai/flux-pulid"),
    ModelRule(ENGINE, "fal-ai/bytedance/omnihuman", (), _PAGE + "fal-ai/bytedance/omnihuman"),
    ModelRule(ENGINE, "half-moon-ai/ai-face-swap/faceswapvideo", (),
              _PAGE + "half-moon-ai/ai-face-swap/faceswapvideo/api"),
)  # fmt: skip


def _requested_size(size: Any) -> tuple[int, int]:
    """The output size of an `image_size` (a preset name or {width, height}); fal's default landscape_4_3."""
    if isinstance(size, dict) and "width" in size and "height" in size:
        return int(size["width"]), int(size["height"])
    return IMAGE_SIZE_PIXELS.get(str(size), IMAGE_SIZE_PIXELS["landscape_4_3"])


def priced(
    model: str, values: dict[str, Any], request: dict[str, Any], pixels: tuple[int, int] | None
) -> PricedRequest:
    """What fal bills a request by: seconds at a resolution, output megapixels, or images."""
    if "duration" in values:
        return PricedRequest(ENGINE, model, seconds=int(values["duration"]), tier=str(values["resolution"]))
    if model == "fal-ai/clarity-upscaler":
        width, height = pixels or (ASSUMED_INPUT_SIDE, ASSUMED_INPUT_SIDE)
        factor = float(request.get("upscale_factor") or 2)
        return PricedRequest(ENGINE, model, output_megapixels=width * height * factor * factor / 1e6)
    if model == "fal-ai/flux-pulid":
        width, height = IMAGE_SIZE_PIXELS[str(values["image_size"])]
        # fal rounds a megapixel-priced output up to whole megapixels
        return PricedRequest(ENGINE, model, output_megapixels=math.ceil(width * height / 1e6))
    if model == "fal-ai/flux-pro/v1.1":
        width, height = _requested_size(request.get("image_size"))
        images = int(request.get("num_images") or 1)
        return PricedRequest(ENGINE, model, images=images, output_megapixels=math.ceil(width * height / 1e6))
    if model == "fal-ai/bytedance/omnihuman":
        measured = audio_seconds(request)
        return PricedRequest(ENGINE, model, seconds=max(measured or 0.0, ASSUMED_SPEECH_SECONDS))
    if model == "half-moon-ai/ai-face-swap/faceswapvideo":
        data = request.get("video")
        measured = duration_of(bytes(data)) if isinstance(data, (bytes, bytearray)) else None
        return PricedRequest(ENGINE, model, seconds=max(measured or 0.0, ASSUMED_CLIP_SECONDS))
    return PricedRequest(ENGINE, model, images=int(request.get("num_images") or 1))


def audio_seconds(request: dict[str, Any]) -> float | None:
    """The length of a request's in-memory speech (`audio` bytes), in seconds; None when not known."""
    data = request.get("audio")
    return duration_of(bytes(data)) if isinstance(data, (bytes, bytearray)) else None
