"""The default cost table: per-request model prices, and per-run fallbacks by engine × operation × quality.

1 credit = 1 USD. A remote step is priced from the request that will actually be sent: `MODEL_PRICES` holds
each provider's published rate for a model (per image, per second of video at a resolution, per output
megapixel) with the page it was read from and the month it was checked; `DEFAULT_COST_TABLE` prices what
has no model row (per run, at the stated basis). Where a provider publishes a range, or the rate depends
on a setting the request does not fix, the higher rate is held, so a reservation is never below what the
provider can charge. Users override or extend the per-run rows with `<user dir>/__ainfluencer/cost_table.json`
(`{"entries": [...]}`, same fields; `operation` may be `model:<model id>` to price one model per run); a
user's row wins over a model price. Where an API reports the real cost (Runware `includeCost`, fal billable
units) the ledger posts that instead, never more than the hold.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

CHECKED = "2026-12"
ANY_MODEL = "*"
ANY_TIER = ""


@dataclass(frozen=True)
class PricedRequest:
    """What a provider bills one request by: model, images, seconds, output megapixels and a rate tier."""

    engine: str
    model: str
    images: int = 1
    seconds: float = 0.0
    output_megapixels: float = 0.0
    tier: str = ANY_TIER  # the setting the rate depends on (a resolution, a Kling mode); "" = not fixed


@dataclass(frozen=True)
class ModelPrice:
    """A provider's published rate for one model, with the page it is read from."""

    engine: str
    model: str
    per: Literal["image", "second", "output_megapixel"]
    rates: Mapping[str, float]  # tier → USD per unit; a request whose tier is not listed pays the highest
    source: str
    assumed: bool = False
    checked: str = CHECKED
    note: str = field(default="", compare=False)

    def price(self, request: PricedRequest) -> float:
        """USD for a request, rounded up to the thousandth a reservation holds."""
        rate = self.rates.get(request.tier, max(self.rates.values()))
        units = {"image": 1.0, "second": request.seconds, "output_megapixel": request.output_megapixels}
        return math.ceil(rate * units[self.per] * max(1, request.images) * 1000 - 1e-9) / 1000


_FAL = "https://fal.ai/models/"
FLUX_PRO_PER_MP = 0.055  # held per output megapixel of FLUX1.1 [pro] on fal (see its row)
_KLING_PACKS = "https://klingai.com/dev-center"
_KLING_UNIT = 0.126  # USD per resource-pack unit ($7,560 for 60,000 units); the pack prices are assumed
_RUNWARE_RATES = "https://runware.ai/docs/models/index.json"
_SYNC = "https://sync.so/docs/product/billing"
MODEL_PRICES: tuple[ModelPrice, ...] = (
    # fal's own page could not be read (2026-12); listings of it give $0.04 per image
    # (https://lumenfall.ai/models/black-forest-labs/flux1.1-pro) and $0.055 per output megapixel rounded up
    # (https://skillspool.org/zh/skills/joernstoehler-dnd-claude-code-claude-skills-fal-flux-prompting-skill-md):
    # the higher is held per megapixel rounded up, and the post is fal's billed units
    ModelPrice("provider_fal", "fal-ai/flux-pro/v1.1", "output_megapixel", {ANY_TIER: FLUX_PRO_PER_MP},
               _FAL + "fal-ai/flux-pro/v1.1", assumed=True,
               note="unconfirmed: $0.055 per output megapixel (rounded up), the higher listed rate"),
    ModelPrice("provider_fal", "fal-ai/minimax/hailuo-02/standard/image-to-video", "second",
               {"512P": 0.017, "768P": 0.045}, _FAL + "fal-ai/minimax/hailuo-02/standard/image-to-video"),
    ModelPrice("provider_fal", "fal-ai/minimax/hailuo-02/pro/image-to-video", "second", {"1080P": 0.08},
               _FAL + "fal-ai/minimax/hailuo-02/pro/image-to-video"),
    ModelPrice("provider_fal", "fal-ai/wan-25-preview/image-to-video", "second",
               {"480p": 0.05, "720p": 0.10, "1080p": 0.15}, _FAL + "fal-ai/wan-25-preview/image-to-video"),
    ModelPrice("provider_fal", "fal-ai/wan/v2.7/image-to-video", "second", {"720p": 0.10, "1080p": 0.15},
               _FAL + "fal-ai/wan/v2.7/image-to-video"),
    ModelPrice("provider_fal", "fal-ai/clarity-upscaler", "output_megapixel", {ANY_TIER: 0.03},
               _FAL + "fal-ai/clarity-upscaler"),
    ModelPrice("provider_fal", "fal-ai/flux-pulid", "output_megapixel", {ANY_TIER: 0.0333},
               _FAL + "fal-ai/flux-pulid/llms.txt"),
    ModelPrice("provider_fal", "fal-ai/bytedance/omnihuman", "second", {ANY_TIER: 0.14},
               _FAL + "fal-ai/bytedance/omnihuman/llms.txt"),
    # the model page publishes no rate (2026-12): held high per second of clip (a reseller of this very
    # endpoint charges $0.20/s, https://developers.cuttr.com/api-reference/endpoint/create-face-swap); the
    # post is fal's billed units
    ModelPrice("provider_fal", "half-moon-ai/ai-face-swap/faceswapvideo", "second", {ANY_TIER: 0.2},
               _FAL + "half-moon-ai/ai-face-swap/faceswapvideo/api", assumed=True,
               note="unconfirmed: no published rate; the post is fal's billable units x its unit price"),
    # Runware: the Kling 3 Pro rate with audio is held, since the request does not switch the sound off
    ModelPrice("provider_runware", "klingai:kling-video@3-pro", "second", {"silent": 0.112, "audio": 0.168},
               "https://runware.ai/docs/models/klingai-video-3-0-pro"),
    ModelPrice("provider_runware", "alibaba:wan@2.7", "second", {"720p": 0.10, "1080p": 0.15},
               _RUNWARE_RATES),
    ModelPrice("provider_runware", "minimax:3@1", "second", {"768P": 0.045, "1080P": 0.08},
               _RUNWARE_RATES, assumed=True,
               note="MiniMax's Hailuo 02 rates as fal lists them; Runware's own rate is its reported cost"),
    # Runware bills some models by compute time and publishes measured runs instead of a rate
    # (https://runware.ai/docs/models-api/pricing, read 2026-12); no PuLID run is listed there, so a PuLID
    # image on FLUX.1 dev is held at the $0.04 every Runware FLUX image is held at and posted at the task's
    # reported cost
    ModelPrice("provider_runware", "runware:101@1", "image", {ANY_TIER: 0.04},
               "https://runware.ai/docs/models-api/pricing", assumed=True,
               note="unconfirmed: compute-time billing; the post is the task's `cost` (includeCost)"),
    # Kling image generation with a face or subject reference, in resource-pack units per image. Kling's
    # prepaid resource-pack page (app.klingai.com, "Prepaid Resource Packs") could not be read (2026-12):
    # the unit price and the units an image takes are unconfirmed; one unit per image is held
    ModelPrice("provider_kling", "kling-v1-5", "image", {ANY_TIER: _KLING_UNIT}, _KLING_PACKS,
               assumed=True, note="unconfirmed: no published per-image unit count; one unit per image held"),
    # Kling bills resource-pack units per second of video by mode
    ModelPrice("provider_kling", "kling-v2-5-turbo", "second", {"pro": round(0.5 * _KLING_UNIT, 4)},
               _KLING_PACKS,
               assumed=True, note="2.5 units per 5 s pro clip"),
    ModelPrice("provider_kling", ANY_MODEL, "second",
               {"std": round(0.8 * _KLING_UNIT, 4), "pro": round(1.0 * _KLING_UNIT, 4)},
               _KLING_PACKS,
               assumed=True, note="0.8 units/s at 720P (std), 1.0 unit/s at 1080P (pro)"),
    # Sync Labs bills per second of output; the top of each published range is held
    ModelPrice("provider_synclabs", "lipsync-2", "second", {ANY_TIER: 0.05},
               _SYNC),
    ModelPrice("provider_synclabs", "lipsync-2-pro", "second", {ANY_TIER: 0.083},
               _SYNC),
    ModelPrice("provider_synclabs", "sync-3", "second", {ANY_TIER: 0.133}, _SYNC),
)  # fmt: skip


def model_price(request: PricedRequest) -> float | None:
    """The published price of a request from `MODEL_PRICES` (a model's own row, then the engine's `*`)."""
    rows = {(row.engine, row.model): row for row in MODEL_PRICES}
    row = rows.get((request.engine, request.model)) or rows.get((request.engine, ANY_MODEL))
    return row.price(request) if row is not None else None


DEFAULT_COST_TABLE: list[dict[str, Any]] = [
    {"engine": "local_comfy", "operation": "*", "quality": "*", "credits": 0.0, "assumed": False,
     "source": "local runs use this machine's own GPU", "basis": "free"},
    {"engine": "provider_liveportrait", "operation": "*", "quality": "*", "credits": 0.0, "assumed": False,
     "source": "LivePortrait runs as node-pack nodes on this machine's own GPU", "basis": "free"},
    {"engine": "provider_identity_nodes", "operation": "*", "quality": "*", "credits": 0.0, "assumed": False,
     "source": "face identity node packs run on this machine's own GPU", "basis": "free"},
    # fal.ai
    *({"engine": "provider_fal", "operation": "image", "quality": q, "credits": FLUX_PRO_PER_MP,
       "assumed": True,
       "source": f"{_FAL}fal-ai/flux-pro/v1.1 ({CHECKED}): unconfirmed, ${FLUX_PRO_PER_MP} per output "
                 "megapixel held (the higher of the listed rates)",
       "basis": "1 image of up to 1 megapixel"}
      for q in ("low", "standard", "pro")),
    {"engine": "provider_fal", "operation": "video", "quality": "low", "credits": 0.102, "assumed": False,
     "source": f"{_FAL}fal-ai/minimax/hailuo-02/standard/image-to-video ({CHECKED}): $0.017/s at 512P",
     "basis": "6 s clip at 512P"},
    {"engine": "provider_fal", "operation": "video", "quality": "standard", "credits": 0.27, "assumed": False,
     "source": f"{_FAL}fal-ai/minimax/hailuo-02/standard/image-to-video ({CHECKED}): $0.045/s at 768P",
     "basis": "6 s clip at 768P"},
    {"engine": "provider_fal", "operation": "video", "quality": "pro", "credits": 0.48, "assumed": False,
     "source": f"{_FAL}fal-ai/minimax/hailuo-02/pro/image-to-video ({CHECKED}): $0.08/s at 1080P",
     "basis": "6 s clip"},
    *({"engine": "provider_fal", "operation": "upscale", "quality": q, "credits": 0.126, "assumed": False,
       "source": f"{_FAL}fal-ai/clarity-upscaler ({CHECKED}): $0.03 per output megapixel",
       "basis": "2x of a 1024x1024 image (4.19 output megapixels)"} for q in ("low", "standard", "pro")),
    # Kling
    {"engine": "provider_kling", "operation": "video", "quality": "low", "credits": 0.315, "assumed": True,
     "source": f"{_KLING_PACKS} ({CHECKED}): v2.5-turbo pro 5 s = 2.5 units x ~$0.126/unit",
     "basis": "5 s clip"},
    {"engine": "provider_kling", "operation": "video", "quality": "standard", "credits": 0.504,
     "assumed": True, "source": f"{_KLING_PACKS} ({CHECKED}): 0.8 units/s at 720P x ~$0.126/unit",
     "basis": "5 s clip"},
    {"engine": "provider_kling", "operation": "video", "quality": "pro", "credits": 0.63, "assumed": True,
     "source": f"{_KLING_PACKS} ({CHECKED}): 1.0 unit/s at 1080P x ~$0.126/unit", "basis": "5 s clip"},
    # Runware
    *({"engine": "provider_runware", "operation": "image", "quality": q, "credits": 0.04, "assumed": True,
       "source": f"{_RUNWARE_RATES} ({CHECKED}): bfl:2@1 FLUX1.1 pro at BFL's $0.04 list price, "
                 "held for every FLUX model; the posted cost is the task's reported `cost`",
       "basis": "1 image"}
      for q in ("low", "standard", "pro")),
    *({"engine": "provider_runware", "operation": "video", "quality": q, "credits": 0.48, "assumed": True,
       "source": f"{_RUNWARE_RATES} ({CHECKED}): Hailuo 02 up to $0.08/s at 1080P; the posted cost is the "
                 "task's reported `cost`", "basis": "6 s clip"} for q in ("low", "standard", "pro")),
    *({"engine": "provider_runware", "operation": "upscale", "quality": q, "credits": 0.01, "assumed": True,
       "source": f"{_RUNWARE_RATES} ({CHECKED}): upscale rate not listed; held high, the posted cost is the "
                 "task's reported `cost`", "basis": "1 image"} for q in ("low", "standard", "pro")),
    # Sync Labs (upper end of each published range, so a reservation covers the charge)
    {"engine": "provider_synclabs", "operation": "lipsync", "quality": "low", "credits": 0.5, "assumed": True,
     "source": f"{_SYNC} ({CHECKED}): lipsync-2 $0.04-0.05/s", "basis": "10 s clip"},
    {"engine": "provider_synclabs", "operation": "lipsync", "quality": "standard", "credits": 0.83,
     "assumed": True, "source": f"{_SYNC} ({CHECKED}): lipsync-2-pro $0.067-0.083/s",
     "basis": "10 s clip"},
    {"engine": "provider_synclabs", "operation": "lipsync", "quality": "pro", "credits": 1.33,
     "assumed": True, "source": f"{_SYNC} ({CHECKED}): sync-3 $0.107-0.133/s",
     "basis": "10 s clip"},
]  # fmt: skip
