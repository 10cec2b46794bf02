"""A remote step's request → its checked parameters and its price, from the request that will be sent.

Planning sees a node's bound inputs (media not yet made), so `node_request` turns them into the request
the node will send; running sees the request itself. Both go through `checked_request` (the provider's
model table: VALIDATION_ERROR before anything is held or submitted) and `priced_request` (what the
provider bills it by, for the ledger's `price`).
"""

from __future__ import annotations

import io
from typing import Any

from ..billing.cost_table import PricedRequest
from ..core.media import duration_of
from .adapters import (
    fal,
    fal_models,
    kling,
    kling_models,
    runware,
    runware_identity,
    runware_models,
    synclabs,
    synclabs_models,
)
from .adapters.model_rules import ModelRule, find_rule, settle
from .capabilities import video_settings

# (engine, capability) → (the model a request without one runs, the provider's rules for that capability)
_TABLES: dict[tuple[str, str], tuple[str, tuple[ModelRule, ...]]] = {
    ("provider_fal", "image"): (fal.FLUX_PRO, fal_models.RULES),
    ("provider_fal", "video"): (fal.HAILUO_STANDARD, fal_models.RULES),
    ("provider_fal", "upscale"): (fal.CLARITY_UPSCALER, fal_models.RULES),
    ("provider_fal", "talking_head"): (fal.OMNIHUMAN, fal_models.RULES),
    ("provider_fal", "face_swap"): (fal.FACE_SWAP_VIDEO, fal_models.RULES),
    ("provider_kling", "video"): (kling.DEFAULT_VIDEO_MODEL, kling_models.VIDEO_RULES),
    ("provider_kling", "image"): (kling.DEFAULT_IMAGE_MODEL, kling_models.IMAGE_RULES),
    ("provider_runware", "video"): (runware.HAILUO_02, runware_models.VIDEO_RULES),
    ("provider_runware", "image"): (runware.FLUX_SCHNELL, ()),
    ("provider_runware", "upscale"): (runware.UPSCALE_MODEL, ()),
    ("provider_synclabs", "lipsync"): (synclabs.LIPSYNC_2, synclabs_models.RULES),
}


def request_model(engine: str, capability: str, request: dict[str, Any]) -> str:
    """The model a request runs (its own, else the adapter's default)."""
    default = _TABLES.get((engine, capability), ("", ()))[0]
    return str(request.get("model") or request.get("model_name") or default)


def checked_request(engine: str, capability: str, request: dict[str, Any]) -> dict[str, Any]:
    """The request's model parameters as they will be sent; VALIDATION_ERROR naming the allowed values."""
    rules = _TABLES.get((engine, capability), ("", ()))[1]
    rule = find_rule(rules, request_model(engine, capability, request))
    return settle(rule, request) if rule is not None else {}


def image_pixels(request: dict[str, Any]) -> tuple[int, int] | None:
    """Width and height of a request's input image when it carries the bytes (read from the header only)."""
    data = request.get("image")
    if not isinstance(data, (bytes, bytearray)):
        return None
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(data)) as image:
            return image.size
    except (UnidentifiedImageError, OSError, ValueError):
        return None


def media_seconds(request: dict[str, Any]) -> float | None:
    """The longest of a request's in-memory video and audio, in seconds: a lip-sync's output is at most that.

    Sync Labs bills per second of output; its sync modes (loop, bounce, cut_off, …) match the shorter input
    to the longer, so the longer one bounds the bill (https://sync.so/docs/product/billing, 2026-12).
    """
    lengths = [duration_of(bytes(request[name])) for name in ("video", "audio")
               if isinstance(request.get(name), (bytes, bytearray))]  # fmt: skip
    known = [length for length in lengths if length]
    return max(known) if known else None


def priced_request(engine: str, capability: str, request: dict[str, Any]) -> PricedRequest:
    """What the provider bills this request by (model, seconds, resolution, output megapixels, images)."""
    model, values = request_model(engine, capability, request), checked_request(engine, capability, request)
    if engine == "provider_fal":
        return fal_models.priced(model, values, request, image_pixels(request))
    if engine == "provider_kling":
        return kling_models.priced(model, values, request)
    if engine == "provider_runware":
        return runware_models.priced(model, values, request)
    if engine == "provider_synclabs":
        seconds = request.get("seconds")
        if isinstance(seconds, (int, float)):
            return synclabs_models.priced(model, float(seconds))
        measured = media_seconds(request)  # a short clip keeps the assumed length: never below a bill
        return synclabs_models.priced(
            model, max(measured, synclabs_models.ASSUMED_SECONDS) if measured else None
        )
    return PricedRequest(engine, model)


def node_request(class_type: str, engine: str, inputs: dict[str, Any]) -> dict[str, Any]:
    """The model parameters a remote node will send, from its bound inputs (its media not made yet)."""
    if class_type == "AInfluencerImageToVideo":
        return video_settings(engine, str(inputs.get("duration") or "short"))
    if class_type == "AInfluencerUpscale":
        return {"upscale_factor": int(str(inputs.get("scale") or "2x").rstrip("x"))}
    keys = ("model", "duration", "resolution", "mode", "upscale_factor", "num_images", "image_size")
    fixed = {"model": NODE_MODELS[class_type]} if class_type in NODE_MODELS else {}
    given = {key: inputs[key] for key in keys if key in inputs and not isinstance(inputs[key], list)}
    return {**fixed, **given}


# provider nodes that run one model and so have no `model` input
NODE_MODELS = {
    "AInfluencerFalFluxPulid": fal.FLUX_PULID,
    "AInfluencerFalTalkingHead": fal.OMNIHUMAN,
    "AInfluencerFalFaceSwapVideo": fal.FACE_SWAP_VIDEO,
    "AInfluencerRunwarePulid": runware_identity.PULID_MODEL,
    "AInfluencerKlingFaceReference": "kling-v1-5",  # the face reference model (kling_models.REFERENCE_MODELS)
}
