"""repair_pipeline_v1: run a failed job again with safer settings, paying only for what did not finish.

It is a preset of the pipeline rather than a graph: what it runs is another preset's graph (the failed job's),
chosen at run time, which a saved graph cannot express. The repair takes the failed job's preset, inputs and
seed, forces `low` when asked, and moves to another engine variant when the failure was the engine's
(timeout, offline, rate limit, one provider's safety filter). Because the seed and inputs are the same, the
steps that completed send the same requests, and `remote.recorded` hands back their recorded results instead
of paying again. The repair job records `repair_of`, the job it repairs.

A completed job is repaired only when its identity drifted: the repair is a fresh take (a new seed, so the
provider is asked again) of the drifted shots only where the preset takes a `shots` list (a storyboard),
of the whole run otherwise; the other shots are reused from the repaired job (`board_shots`), so the repair
delivers the whole board.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ..core.errors import AInfError, ErrorCode
from ..jobs.presets import PresetCatalog
from ..jobs.store import JobStore
from ..remote.recorded import REPAIR_OF
from ..remote.storyboard import shot_list
from .board_shots import SHOTS_INPUT
from .plan import fresh_seed
from .ports import EngineAvailability, ModelRequirements

REPAIR_PRESET = "repair_pipeline_v1"
# failures that were the engine's: the repair tries another engine variant of the preset first
ENGINE_FAILURES = frozenset({"ENGINE_TIMEOUT", "ENGINE_OFFLINE", "RATE_LIMITED", "SAFETY_FILTER"})
# what a job row keeps beside the preset's own inputs
RUN_FIELDS = ("quality_level", "seed", "character_id", "consent_id", REPAIR_OF)
SETUP_STEP = "Open the Setup Hub and connect or start an engine this preset can run on."
# worded for the API; the CLI shows "List jobs with `ainfluencer jobs` …" (cli.common.CLI_WORDS)
JOB_HISTORY_STEP = "List jobs with GET /ainfluencer/v1/jobs or `ainfluencer jobs` and pass a failed job's id."
NOTHING_TO_REPAIR_STEP = (
    "Repair a failed job, or a completed one whose identity drifted (its warning names the shots)."
)

REPAIR_DESCRIPTION: dict[str, Any] = {
    "id": REPAIR_PRESET,
    "name": "Repair a failed job",
    "category": "repair",
    "description": "Runs a failed job again: the same preset, inputs and seed, `low` quality when asked, "
    "another engine when the failure was the engine's; finished remote steps are reused, never paid twice. "
    "A completed job whose identity drifted gets a fresh take of the drifted shots only.",
    "engine": "auto",
    "engines": ["auto"],
    "inputs": [
        {"name": "failed_job_id", "type": "string", "required": True, "description": "The job to repair."},
        {
            "name": "quality_override",
            "type": "choice",
            "required": False,
            "choices": ["low"],
            "description": "Force the low quality level.",
        },
    ],
    "quality_levels": {
        "low": {"description": "Always low (forced).", "overrides": [], "estimated_time_seconds": 60.0},
        "standard": {
            "description": "The failed job's own quality.",
            "overrides": [],
            "estimated_time_seconds": 60.0,
        },
    },
    "default_quality": "standard",
    "requires_consent": False,
    "has_thumbnail": False,  # a preset of the pipeline: no graph, so no template thumbnail
    "safety_notes": ["The failed job's consent carries over; nothing new is asked."],
    "failure_modes": [
        {
            "code": "FILE_NOT_FOUND",
            "when": "no job has that id",
            "remediation": JOB_HISTORY_STEP,
        },
        {
            "code": "VALIDATION_ERROR",
            "when": "the job completed and its identity held",
            "remediation": NOTHING_TO_REPAIR_STEP,
        },
        {"code": "ENGINE_OFFLINE", "when": "no engine can run the preset", "remediation": SETUP_STEP},
    ],
}


class RepairInputs(BaseModel):
    """The inputs of repair_pipeline_v1."""

    model_config = ConfigDict(extra="forbid")
    failed_job_id: str = Field(min_length=1, max_length=100)
    quality_override: Literal["low"] | None = None


class RepairPlan(BaseModel):
    """What a repair runs: the preset, the run body for it, and the job it repairs."""

    preset_id: str
    inputs: dict[str, Any]
    quality_level: Literal["low", "standard", "pro"] | None
    engine: str | None
    seed: int | None
    consent_given: bool
    character_id: str | None
    repair_of: str
    shots: list[int] = Field(default_factory=list)  # a drift repair's re-run shots (empty: the whole run)


def _failed_job(store: JobStore, job_id: str) -> dict[str, Any]:
    try:
        return store.get(job_id)
    except AInfError as exc:
        raise AInfError(
            ErrorCode.FILE_NOT_FOUND,
            "Failed job not found.",
            remediation=[JOB_HISTORY_STEP],
            detail={"failed_job_id": job_id},
        ) from exc


def drifted_shots(job: dict[str, Any]) -> list[int]:
    """The shot numbers whose face drifted from the reference in a job's identity checks (frames aside)."""
    checks = (job.get("identity") or {}).get("checks") or []
    return sorted({n for check in checks if check.get("subject") == "shot" for n in check.get("drifted", [])})


def _drift_repair(job: dict[str, Any], takes_shots: bool) -> tuple[list[int], int]:
    """The shots a completed job's repair re-runs and the fresh seed (VALIDATION_ERROR: nothing drifted)."""
    drifted = drifted_shots(job)
    if not drifted:
        raise AInfError(
            ErrorCode.VALIDATION_ERROR,
            f"Job {job['job_id']} completed and its identity held: there is nothing to repair.",
            remediation=[NOTHING_TO_REPAIR_STEP],
            detail={"failed_job_id": job["job_id"], "status": job.get("status")},
        )
    return (drifted if takes_shots else []), fresh_seed()


def _engine_for(
    catalog: PresetCatalog,
    engines: EngineAvailability,
    job: dict[str, Any],
    models: ModelRequirements | None,
) -> str | None:
    """Another runnable engine variant when the failure was the engine's; else None (the usual choice).

    Runnable: the engine is available and the variant's models are installed (a local variant without its
    checkpoint is no way out of a provider's failure).
    """
    code = (job.get("error_detail") or {}).get("error") or job.get("error_code")
    variants = catalog.get(job["preset_id"])
    preference = catalog.primary(job["preset_id"]).engine_preference
    if code not in ENGINE_FAILURES:
        return None

    def runnable(engine: str) -> bool:
        installed = models is None or not models.missing(variants[engine].manifest)
        return engines.availability(engine)[0] and installed

    others = [e for e in preference if e in variants and e != job.get("engine") and runnable(e)]
    if others:
        return others[0]
    if job.get("engine") in variants and runnable(job["engine"]):
        return job[
            "engine"
        ]  # the preset has no other engine: the same one, since the failing step may pass now
    raise AInfError(
        ErrorCode.ENGINE_OFFLINE,
        "No engine can run this preset now.",
        remediation=[SETUP_STEP],
        detail={"preset_id": job["preset_id"], "failed_engine": job.get("engine")},
    )


def plan_repair(
    store: JobStore,
    catalog: PresetCatalog,
    engines: EngineAvailability,
    inputs: dict[str, Any],
    models: ModelRequirements | None = None,
) -> RepairPlan:
    """The run repairing a failed job (FILE_NOT_FOUND: unknown job; ENGINE_OFFLINE: no engine can run)."""
    try:
        wanted = RepairInputs.model_validate(inputs)
    except ValidationError as exc:
        raise AInfError(
            ErrorCode.VALIDATION_ERROR,
            "repair_pipeline_v1 takes failed_job_id and an optional quality_override of low.",
            detail={"errors": [e["msg"] for e in exc.errors()]},
        ) from None
    job = _failed_job(store, wanted.failed_job_id)
    if not job.get("preset_id") or "batch" in (job.get("inputs") or {}):
        raise AInfError(
            ErrorCode.VALIDATION_ERROR,
            "Only a single preset run can be repaired.",
            detail={"failed_job_id": wanted.failed_job_id},
        )
    recorded = job.get("inputs") or {}
    run_inputs = {k: v for k, v in recorded.items() if k not in RUN_FIELDS}
    seed, shots = recorded.get("seed"), []
    if job.get("status") == "completed":
        takes_shots = any(i.name == SHOTS_INPUT for i in catalog.primary(job["preset_id"]).inputs)
        shots, seed = _drift_repair(job, takes_shots)
        run_inputs = {**run_inputs, SHOTS_INPUT: shot_list(shots)} if shots else run_inputs
    return RepairPlan(
        preset_id=job["preset_id"],
        inputs=run_inputs,
        quality_level=wanted.quality_override or job.get("quality_level"),
        engine=_engine_for(catalog, engines, job, models),
        seed=seed if isinstance(seed, int) else None,
        consent_given=bool(job.get("consent_given")),
        character_id=recorded.get("character_id"),
        repair_of=wanted.failed_job_id,
        shots=shots,
    )
