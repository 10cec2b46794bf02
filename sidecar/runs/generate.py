"""The v1 generate contract (`GenerateRequest` / `GenerateResponse`) mapped onto presets.

Field names, types and bounds follow `pipeline_contracts.py` (the AInfluencer backend this pack
grew out of: github.com/pedrograd/AInfluencer, backend/app/models/pipeline_contracts.py, read 2026-11-26).
A generate request names a preset; its prompt, negative prompt and identity references are bound to the
preset inputs of those names, so `/generate/image` runs image presets and `/generate/video` video presets.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from ..core.errors import AInfError, ErrorCode
from ..jobs.store import view_url
from .pipeline import PipelineManager, RunRequest
from .references import MAX_REFERENCES, reference_inputs

KINDS = {"image": ("image",), "video": ("video",)}
IDENTITY_INPUTS = ("identity_reference", "image")


class GenerateRequest(BaseModel):
    """Body of `POST /ainfluencer/v1/generate/image|video` (the v1 generate contract)."""

    model_config = ConfigDict(extra="forbid")
    preset_id: str = Field(..., min_length=1, description="Workflow preset identifier")
    prompt: str = Field(..., min_length=1, max_length=2000, description="What to generate")
    negative_prompt: str | None = Field(default=None, max_length=2000, description="What to avoid")
    quality_level: Literal["low", "standard", "pro"] = Field(default="standard", description="Quality level")
    seed: int | None = Field(default=None, ge=0, le=2**32, description="Random seed for reproducibility")
    identity_reference: list[str] | None = Field(
        default=None,
        max_length=MAX_REFERENCES,
        description="1-3 uploaded image file names of one person for identity consistency (needs consent)",
    )
    consent_given: bool = Field(default=False, description="Required if identity_reference is provided")


class GenerateResponse(BaseModel):
    """Answer of the generate routes (the v1 generate contract)."""

    job_id: str
    status: Literal["queued", "running", "completed", "failed"]
    preset_id: str
    estimated_time_seconds: int | None = None
    output_url: str | None = None
    error: str | None = None


def to_run_request(kind: str, body: GenerateRequest, pipeline: PipelineManager) -> RunRequest:
    """The preset run a generate request stands for; VALIDATION_ERROR when the preset cannot take it."""
    # the variant that would run now (a fallback variant may take fewer inputs than the primary)
    manifest = pipeline.choose_variant(body.preset_id, None).manifest
    if manifest.category not in KINDS[kind]:
        raise AInfError(
            ErrorCode.VALIDATION_ERROR,
            f"Preset {body.preset_id!r} makes {manifest.category}, not {kind}.",
            remediation=[f"Pick a preset of category {kind} (GET /ainfluencer/v1/presets)."],
            detail={"preset_id": body.preset_id, "category": manifest.category},
        )
    if body.identity_reference and not body.consent_given:
        raise AInfError(ErrorCode.CONSENT_MISSING, detail={"preset_id": body.preset_id})
    accepted = {i.name for i in manifest.inputs}
    inputs: dict[str, Any] = {}
    if "prompt" not in accepted:
        raise AInfError(
            ErrorCode.VALIDATION_ERROR,
            f"Preset {body.preset_id!r} takes no prompt; run it with POST /presets/{{id}}/run instead.",
            detail={"accepted": sorted(accepted)},
        )
    inputs["prompt"] = body.prompt
    if body.negative_prompt is not None:
        if "negative_prompt" not in accepted:
            raise AInfError(
                ErrorCode.VALIDATION_ERROR,
                f"Preset {body.preset_id!r} takes no negative prompt on {manifest.engine}.",
                remediation=["Leave negative_prompt out, or connect an engine whose variant takes one."],
                detail={"accepted": sorted(accepted), "engine": manifest.engine},
            )
        inputs["negative_prompt"] = body.negative_prompt
    if body.identity_reference:
        target = next((name for name in IDENTITY_INPUTS if name in accepted), None)
        if target is None:
            raise AInfError(
                ErrorCode.VALIDATION_ERROR,
                f"Preset {body.preset_id!r} takes no identity reference.",
                detail={"accepted": sorted(accepted)},
            )
        names = reference_inputs(target, accepted)
        if len(body.identity_reference) > len(names):
            raise AInfError(
                ErrorCode.VALIDATION_ERROR,
                f"Preset {body.preset_id!r} takes at most {len(names)} reference image(s).",
                detail={"given": len(body.identity_reference), "accepted": names},
            )
        inputs.update(zip(names, body.identity_reference, strict=False))
    return RunRequest(
        inputs=inputs,
        quality_level=body.quality_level,
        seed=body.seed,
        consent_given=body.consent_given,
    )


def response_for(job: dict[str, Any], estimate: float | None = None) -> GenerateResponse:
    """A job record in the v1 response shape (`output_url` = ComfyUI's /view link of the last output)."""
    status = job["status"] if job["status"] != "cancelled" else "failed"
    output_url = None
    finals = [a for a in job.get("artifacts") or [] if not (a.get("metadata") or {}).get("remote")]
    if job["status"] == "completed" and finals:
        output_url = view_url(finals[-1])
    error = job.get("error") if job["status"] in ("failed", "cancelled") else None
    if job["status"] == "cancelled":
        error = "Cancelled."
    return GenerateResponse(
        job_id=job["job_id"],
        status=status,
        preset_id=job["preset_id"] or "",
        estimated_time_seconds=round(estimate) if estimate is not None else None,
        output_url=output_url,
        error=error,
    )
