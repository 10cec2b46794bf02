"""Storyboard shots: one prompt per shot from a `{shot_number}` template, and the request each shot sends.

The storyboard node sends every shot of a board at once (its remote waits overlap inside one ComfyUI prompt,
as a batch's do), so its shots are planned, priced and held as numbered steps of that one node. A face
reference (consent required) needs an engine whose API takes one: Kling's image generation with
`image_reference: face` on kling-v1-5 (https://app.klingai.com/global/dev/document-api/apiReference/model/
imageGeneration); `auto` then means Kling.
"""

from __future__ import annotations

from typing import Any

from ..core.errors import AInfError, ErrorCode
from . import capabilities as cap
from .engines import AUTO

STORYBOARD_NODE = "AInfluencerStoryboardShots"
MIN_SHOTS, MAX_SHOTS = 2, 10
PLACEHOLDER = "{shot_number}"
REFERENCE_ENGINE = "provider_kling"
REFERENCE_MODEL = "kling-v1-5"  # takes image_reference "face" (kling_models.REFERENCE_MODELS)
FACE_FIDELITY = 0.8  # Kling's human_fidelity: how closely the face follows the reference (0..1)


def shot_prompts(template: str, count: int) -> list[str]:
    """The prompt of each shot: `{shot_number}` replaced by 1..count (VALIDATION_ERROR outside 2–10 shots)."""
    if not MIN_SHOTS <= count <= MAX_SHOTS:
        raise AInfError(
            ErrorCode.VALIDATION_ERROR,
            f"A storyboard has {MIN_SHOTS} to {MAX_SHOTS} shots.",
            detail={"field": "shot_count", "value": count},
        )
    if not template.strip():
        raise AInfError(
            ErrorCode.VALIDATION_ERROR,
            "A prompt template is required.",
            detail={"missing": "prompt_template"},
        )
    return [template.replace(PLACEHOLDER, str(number)) for number in range(1, count + 1)]


def chosen_shots(shots: str, count: int) -> list[int]:
    """The shot numbers to make: every one of 1..count when empty, else the listed ones ("3, 7") in order.

    A repair of a board whose identity drifted makes only the drifted shots (VALIDATION_ERROR for a number
    outside the board or text that is not a list of numbers).
    """
    if not shots.strip():
        return list(range(1, count + 1))
    try:
        numbers = sorted({int(part) for part in shots.replace(" ", "").split(",") if part})
    except ValueError:
        numbers = []
    if not numbers or not all(1 <= n <= count for n in numbers):
        raise AInfError(
            ErrorCode.VALIDATION_ERROR,
            f'shots lists shot numbers from 1 to {count}, e.g. "3, 7".',
            detail={"field": "shot_numbers", "value": shots},
        )
    return numbers


def shot_list(numbers: list[int]) -> str:
    """The text naming these shot numbers ("2, 3"), as the `shots` preset input takes it."""
    return ", ".join(str(n) for n in numbers)


def shot_engine(engine: str, has_reference: bool) -> str:
    """The engine the shots run on: a face reference makes `auto` Kling and refuses an engine without one."""
    if not has_reference:
        return engine
    if engine in (AUTO, REFERENCE_ENGINE):
        return REFERENCE_ENGINE
    raise AInfError(
        ErrorCode.NOT_SUPPORTED,
        f"{engine} takes no face reference for image generation.",
        remediation=[
            "Set the storyboard node's engine to auto or provider_kling, or leave out the reference."
        ],
        detail={"engine": engine, "needs": REFERENCE_ENGINE},
    )


def shot_request(
    engine: str, prompt: str, width: int, height: int, seed: int, reference: bytes | None = None
) -> dict[str, Any]:
    """The image request of one shot (with the face reference on Kling when one is given)."""
    request = cap.image_request(engine, prompt, "", width, height, seed)
    if reference is None:
        return request
    return {**request, "model": REFERENCE_MODEL, "image": reference, "image_content_type": "image/png",
            "image_reference": "face", "human_fidelity": FACE_FIDELITY, "negative_prompt": None}  # fmt: skip


def has_reference(inputs: dict[str, Any]) -> bool:
    """Whether a storyboard node's bound inputs name a face reference file."""
    return bool(str(inputs.get("reference_image") or "").strip())


def shot_requests(
    engine: str,
    template: str,
    count: int,
    wanted: str,
    size: tuple[int, int],
    seed: int,
    reference: bytes | None,
) -> tuple[list[int], list[dict[str, Any]]]:
    """The shot numbers `wanted` picks (all when empty) and the request each sends, shot n at seed + n - 1."""
    prompts = shot_prompts(template, count)
    numbers = chosen_shots(wanted, count)
    width, height = size
    requests = [shot_request(engine, prompts[n - 1], width, height, seed + n - 1, reference) for n in numbers]
    return numbers, requests


def planned_shots(engine: str, inputs: dict[str, Any]) -> list[dict[str, Any]]:
    """The requests (media left out) a storyboard node's bound inputs will send on the resolved engine."""
    _numbers, requests = shot_requests(
        engine,
        str(inputs.get("prompt_template") or ""),
        int(inputs.get("shot_count") or MIN_SHOTS),
        str(inputs.get("shot_numbers") or ""),
        (int(inputs.get("width") or 1024), int(inputs.get("height") or 576)),
        int(inputs.get("seed") or 0),
        b"" if has_reference(inputs) else None,
    )
    return requests
