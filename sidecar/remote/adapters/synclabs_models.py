"""Sync Labs' model table and what a lip-sync is billed by (https://sync.so/docs/product/billing, 2026-12).

sync.so bills per second of output. At run time a lip-sync is held for its longest input, and at least
`ASSUMED_SECONDS` (the hold grows before submitting; the post is Sync's own reported cost); while planning,
before the media exists, or for inputs given by URL, a clip is priced at `ASSUMED_SECONDS`.
"""

from __future__ import annotations

from ...billing.cost_table import PricedRequest
from .model_rules import ModelRule

ENGINE = "provider_synclabs"
BILLING = "https://sync.so/docs/product/billing"
ASSUMED_SECONDS = 10.0
RULES: tuple[ModelRule, ...] = tuple(
    ModelRule(ENGINE, model, (), BILLING) for model in ("lipsync-2", "lipsync-2-pro", "sync-3")
)


def priced(model: str, seconds: float | None) -> PricedRequest:
    """What sync.so bills a lip-sync by: seconds of output."""
    return PricedRequest(ENGINE, model, seconds=seconds or ASSUMED_SECONDS)
