"""The default cost table: credits per run by engine × operation × quality (1 credit = 1 USD).

No seed table was available, so every remote price below is derived from the list prices compiled in
`reference/providers.md` (November 2026) and marked `"assumed": true` with its source and basis. Users
override or extend it with `<user dir>/__ainfluencer/cost_table.json` (`{"entries": [...]}`, same fields);
where an API reports the real cost (Runware `includeCost`, fal billable units) the ledger posts that instead.
"""

from __future__ import annotations

from typing import Any

_PROVIDERS_MD = "reference/providers.md (compiled 2026-11)"

DEFAULT_COST_TABLE: list[dict[str, Any]] = [
    {"engine": "local_comfy", "operation": "*", "quality": "*", "credits": 0.0, "assumed": False,
     "source": "local runs use this machine's own GPU", "basis": "free"},
    {"engine": "provider_liveportrait", "operation": "*", "quality": "*", "credits": 0.0, "assumed": False,
     "source": "LivePortrait runs as node-pack nodes on this machine's own GPU", "basis": "free"},
    # fal.ai
    *({"engine": "provider_fal", "operation": "image", "quality": q, "credits": 0.04, "assumed": True,
       "source": f"{_PROVIDERS_MD} §2: FLUX1.1 pro, BFL direct $0.04/image (fal's own price unconfirmed)",
       "basis": "1 image"} for q in ("low", "standard", "pro")),
    {"engine": "provider_fal", "operation": "video", "quality": "low", "credits": 0.102, "assumed": True,
     "source": f"{_PROVIDERS_MD} §2: Hailuo-02 i2v ~$0.017/s at 512P", "basis": "6 s clip"},
    {"engine": "provider_fal", "operation": "video", "quality": "standard", "credits": 0.27, "assumed": True,
     "source": f"{_PROVIDERS_MD} §2: Hailuo-02 i2v $0.045/s at 768P", "basis": "6 s clip"},
    {"engine": "provider_fal", "operation": "video", "quality": "pro", "credits": 0.48, "assumed": True,
     "source": f"{_PROVIDERS_MD} §2: Hailuo-02 pro 1080p $0.08/s ($0.48 per 6 s)", "basis": "6 s clip"},
    *({"engine": "provider_fal", "operation": "upscale", "quality": q, "credits": 0.05, "assumed": True,
       "source": f"{_PROVIDERS_MD} §2: clarity-upscaler price not listed (UNCONFIRMED); held high so "
                 "the reservation covers it, posted as billable units × fal's unit price", "basis": "1 image"}
      for q in ("low", "standard", "pro")),
    # Kling (units at ~$0.126 each, itself unconfirmed)
    {"engine": "provider_kling", "operation": "video", "quality": "low", "credits": 0.315, "assumed": True,
     "source": f"{_PROVIDERS_MD} §3: v2.5-turbo pro 5 s ≈ 2.5 units × ~$0.126/unit", "basis": "5 s clip"},
    {"engine": "provider_kling", "operation": "video", "quality": "standard", "credits": 0.504,
     "assumed": True, "source": f"{_PROVIDERS_MD} §3: 3.0 Turbo 0.8 units/s at 720P × ~$0.126/unit",
     "basis": "5 s clip"},
    {"engine": "provider_kling", "operation": "video", "quality": "pro", "credits": 0.63, "assumed": True,
     "source": f"{_PROVIDERS_MD} §3: 3.0 Turbo 1.0 unit/s at 1080P × ~$0.126/unit", "basis": "5 s clip"},
    # Runware
    *({"engine": "provider_runware", "operation": "image", "quality": q, "credits": 0.04, "assumed": True,
       "source": f"{_PROVIDERS_MD} §4: bfl:2@1 FLUX1.1 pro at BFL's $0.04 list price (Runware rate "
                 "unconfirmed; the posted cost is the task's reported `cost`)", "basis": "1 image"}
      for q in ("low", "standard", "pro")),
    *({"engine": "provider_runware", "operation": "video", "quality": q, "credits": 0.27, "assumed": True,
       "source": f"{_PROVIDERS_MD} §2: Hailuo-02 768P $0.045/s (fal list price; Runware rate UNCONFIRMED, "
                 "the posted cost is the task's reported `cost`)", "basis": "6 s clip"}
      for q in ("low", "standard", "pro")),
    *({"engine": "provider_runware", "operation": "upscale", "quality": q, "credits": 0.01, "assumed": True,
       "source": f"{_PROVIDERS_MD} §4: upscale rate UNCONFIRMED; held high, the posted cost is the task's "
                 "reported `cost`", "basis": "1 image"} for q in ("low", "standard", "pro")),
    # Sync Labs (upper end of each published range, so a reservation covers the charge)
    {"engine": "provider_synclabs", "operation": "lipsync", "quality": "low", "credits": 0.5, "assumed": True,
     "source": f"{_PROVIDERS_MD} §5: lipsync-2 $0.04–0.05/s", "basis": "10 s clip"},
    {"engine": "provider_synclabs", "operation": "lipsync", "quality": "standard", "credits": 0.83,
     "assumed": True, "source": f"{_PROVIDERS_MD} §5: lipsync-2-pro $0.067–0.083/s", "basis": "10 s clip"},
    {"engine": "provider_synclabs", "operation": "lipsync", "quality": "pro", "credits": 1.33,
     "assumed": True, "source": f"{_PROVIDERS_MD} §5: sync-3 $0.107–0.133/s", "basis": "10 s clip"},
]  # fmt: skip
