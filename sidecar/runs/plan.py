"""What a preset run will do once queued, worked out before anything is written: one run or a batch."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any, NamedTuple

from ..jobs.presets import PresetVariant, WorkflowPreset
from .timing import TimeEstimate

TAKE_SEEDS = 2**31  # a seedless run's random seed fits every seed widget (the pack's and core's) unchanged


def fresh_seed() -> int:
    """A new take's seed (recorded on the job, so the take can be reproduced)."""
    return secrets.randbelow(TAKE_SEEDS)


class StepPrice(NamedTuple):
    """One remote step a run will call, with the credits reserved for it and the engine that runs it."""

    step_id: str
    credits: float
    engine: str


@dataclass(frozen=True)
class RunPlan:
    """One bound, converted and priced preset run."""

    preset_id: str
    variant: PresetVariant
    graph: dict[str, Any]  # the bound UI graph, kept in the outputs' PNG info
    prompt: dict[str, Any]  # the API prompt ComfyUI validates and runs
    inputs: dict[str, Any]  # the checked inputs the job row records
    requested_inputs: dict[str, Any]  # the inputs as sent (a batch records these)
    quality: str
    seed: int | None
    consent_given: bool
    character_id: str | None
    steps: tuple[StepPrice, ...]
    cost: float
    time: TimeEstimate  # measured on this machine for inputs like these, else the manifest's figure
    repair_of: str | None = None  # the failed job this run repairs (repair_pipeline_v1)

    @property
    def manifest(self) -> WorkflowPreset:
        """The manifest of the chosen variant."""
        return self.variant.manifest

    @property
    def engine(self) -> str:
        """The engine whose variant runs."""
        return self.variant.manifest.engine

    @property
    def estimated_time_seconds(self) -> float:
        """Expected seconds of this run (see `time` for where they come from)."""
        return self.time.seconds

    @property
    def lead(self) -> RunPlan:
        """The run whose preset, quality, graph and consent the job records (itself)."""
        return self

    def job_inputs(self, consent_id: str | None) -> dict[str, Any]:
        """The `inputs` a job row keeps for this run."""
        return {
            **self.inputs,
            "quality_level": self.quality,
            "seed": self.seed,
            "character_id": self.character_id,
            "consent_id": consent_id,
            **({"repair_of": self.repair_of} if self.repair_of else {}),
        }


@dataclass(frozen=True)
class BatchPlan:
    """Several runs of one preset merged into one API prompt (node ids moved per run), priced together."""

    runs: tuple[RunPlan, ...]
    prompt: dict[str, Any]
    steps: tuple[StepPrice, ...]
    cost: float

    @property
    def lead(self) -> RunPlan:
        """The first run: its preset, quality, graph and consent stand for the batch's job."""
        return self.runs[0]

    def job_inputs(self, consent_id: str | None) -> dict[str, Any]:
        """The `inputs` a batch job row keeps: every run's inputs as sent (no consent id)."""
        return {"batch": [run.requested_inputs for run in self.runs], "quality_level": self.lead.quality}
