"""Runware's model × parameter table and what each request is billed by (each row names its source).

Durations from Runware's model pages and model list under https://runware.ai/docs/models/ (checked
2026-12): Hailuo 02 makes 6 or 10 s, Kling 3.0 Pro 3–15 s, Wan 2.7 2–15 s (integers). Runware reports
each task's real `cost`; the price here is what is held until then.
"""

from __future__ import annotations

from typing import Any

from ...billing.cost_table import PricedRequest
from .model_rules import Choice, ModelRule

ENGINE = "provider_runware"
_DOCS = "https://runware.ai/docs/models/"

VIDEO_RULES: tuple[ModelRule, ...] = (
    ModelRule(ENGINE, "minimax:3@1", (Choice("duration", (6, 10), 6),), _DOCS + "index.json"),
    ModelRule(ENGINE, "klingai:kling-video@3-pro", (Choice("duration", tuple(range(3, 16)), 5),),
              _DOCS + "klingai-video-3-0-pro"),
    ModelRule(ENGINE, "alibaba:wan@2.7", (Choice("duration", tuple(range(2, 16)), 5),), _DOCS + "index.json"),
)  # fmt: skip


def priced(model: str, values: dict[str, Any], request: dict[str, Any]) -> PricedRequest:
    """What Runware bills a request by: seconds of video (at the highest tier: none is fixed), or images."""
    if "duration" in values:
        return PricedRequest(ENGINE, model, seconds=int(values["duration"]))
    return PricedRequest(ENGINE, model, images=int(request.get("num_images") or 1))
