"""Capability node inputs → each engine's own adapter request (the parameters its adapter documents)."""

from __future__ import annotations

import mimetypes
from typing import Any

from ..core.errors import AInfError, ErrorCode
from .adapters import fal, fal_models, kling, kling_models, runware, runware_models, synclabs
from .adapters.model_rules import duration_for, find_rule

SYNC_MODES = synclabs.SYNC_MODES


def _unsupported(engine: str, capability: str) -> AInfError:
    return AInfError(
        ErrorCode.NOT_SUPPORTED,
        f"{engine} does not offer {capability}.",
        remediation=["Pick another engine on the node, or `auto`."],
        detail={"engine": engine, "capability": capability},
    )


def audio_content_type(name: str) -> str:
    """The content type of an audio file name (audio/wav when unknown)."""
    guessed = mimetypes.guess_type(name)[0] or ""
    return guessed if guessed.startswith("audio/") else "audio/wav"


def image_request(
    engine: str, prompt: str, negative: str, width: int, height: int, seed: int
) -> dict[str, Any]:
    """Text → image parameters for an engine."""
    if not prompt.strip():
        raise AInfError(ErrorCode.VALIDATION_ERROR, "A prompt is required.", detail={"missing": "prompt"})
    if engine == "provider_fal":
        return {"model": fal.FLUX_PRO, "prompt": prompt, "image_size": {"width": width, "height": height},
                "seed": seed, "num_images": 1}  # fmt: skip
    if engine == "provider_runware":
        return {"model": runware.FLUX_SCHNELL, "prompt": prompt, "negative_prompt": negative or None,
                "width": width, "height": height, "seed": seed}  # fmt: skip
    if engine == "provider_kling":
        return {"prompt": prompt, "negative_prompt": negative or None, "aspect_ratio": _aspect(width, height)}
    raise _unsupported(engine, "image generation")


_VIDEO_MODELS = {
    "provider_fal": (fal.HAILUO_STANDARD, fal_models.RULES),
    "provider_kling": (kling.DEFAULT_VIDEO_MODEL, kling_models.VIDEO_RULES),
    "provider_runware": (runware.HAILUO_02, runware_models.VIDEO_RULES),
}


def video_settings(engine: str, duration: str) -> dict[str, Any]:
    """The model and settings an engine's video runs with: short/long onto the model's own durations."""
    if engine not in _VIDEO_MODELS:
        raise _unsupported(engine, "image-to-video")
    model, rules = _VIDEO_MODELS[engine]
    rule = find_rule(rules, model)
    if rule is None:
        raise _unsupported(engine, f"image-to-video with {model}")
    settings = {"model": model, "duration": duration_for(rule, duration == "long")}
    return {**{c.name: c.default for c in rule.choices if c.default is not None}, **settings}


def video_request(engine: str, image: bytes, prompt: str, negative: str, duration: str) -> dict[str, Any]:
    """Image → video parameters for an engine (`duration` is short or long)."""
    settings = video_settings(engine, duration)
    start = {"image": image, "image_content_type": "image/png", "prompt": prompt, **settings}
    if engine == "provider_kling":
        return {**start, "negative_prompt": negative or None}
    return start


def lipsync_request(
    engine: str, video: bytes, audio: bytes, audio_type: str, sync_mode: str
) -> dict[str, Any]:
    """Lip-sync parameters for an engine."""
    if sync_mode not in SYNC_MODES:
        raise AInfError(
            ErrorCode.VALIDATION_ERROR, detail={"field": "sync_mode", "allowed": list(SYNC_MODES)}
        )
    if engine == "provider_synclabs":
        return {"model": synclabs.LIPSYNC_2, "video": video, "video_content_type": "video/mp4",
                "audio": audio, "audio_content_type": audio_type, "sync_mode": sync_mode}  # fmt: skip
    raise _unsupported(engine, "lip-sync")


def upscale_request(engine: str, image: bytes, factor: int) -> dict[str, Any]:
    """Upscale parameters for an engine."""
    if engine == "provider_fal":
        return {
            "model": fal.CLARITY_UPSCALER,
            "image": image,
            "image_content_type": "image/png",
            "upscale_factor": factor,
        }
    if engine == "provider_runware":
        return {"image": image, "image_content_type": "image/png", "upscale_factor": factor}
    raise _unsupported(engine, "upscaling")


def _aspect(width: int, height: int) -> str:
    ratio = width / height
    options = {"1:1": 1.0, "16:9": 16 / 9, "9:16": 9 / 16, "4:3": 4 / 3, "3:4": 3 / 4}
    return min(options, key=lambda k: abs(options[k] - ratio))
