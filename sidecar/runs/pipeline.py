"""PipelineManager: bind a preset's inputs, apply its quality level, pick the engine, validate and queue."""

from __future__ import annotations

import copy
import uuid
from dataclasses import replace
from pathlib import Path
from typing import Any, Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field

from ..core.errors import AInfError, ErrorCode
from ..core.media import require_media
from ..core.paths import resolve_inside
from ..graph.bind import fit_seed, seed_targets, set_widget
from ..graph.convert import BYPASSED, ui_to_api
from ..jobs.presets import FILE_INPUT_TYPES, PresetCatalog, PresetInput, PresetVariant, WorkflowPreset
from ..jobs.store import FINAL_STATES, QUEUED, JobStore, log_line
from ..remote.engines import PROVIDER_NAMES
from ..remote.steps import RemoteSteps
from .batch import MAX_BATCH, merge_runs
from .job_files import job_prefixes
from .node_packs import licence_warnings, require_node_packs
from .plan import BatchPlan, RunPlan, StepPrice, fresh_seed
from .ports import (
    ConsentLog,
    CostEstimator,
    CreditReservations,
    EngineAvailability,
    ModelRequirements,
    NodePackAdvice,
)
from .progress import frame_fields
from .references import with_character_references
from .repair import REPAIR_PRESET, RepairPlan, plan_repair
from .timing import ThroughputLog, manifest_estimate
from .tracker import ExecutionTracker

MAX_STRING_INPUT = 10_000


class RunRequest(BaseModel):
    """Body of `POST /ainfluencer/v1/presets/{id}/run`."""

    model_config = ConfigDict(extra="forbid")
    inputs: dict[str, Any] = {}
    quality_level: Literal["low", "standard", "pro"] | None = None
    engine: str | None = None
    seed: int | None = Field(default=None, ge=0, le=2**64 - 1)
    consent_given: bool = False
    character_id: str | None = Field(default=None, min_length=1, max_length=64)


class BatchRequest(BaseModel):
    """Body of `POST …/presets/{id}/batch`: several runs of one preset, merged into one ComfyUI prompt."""

    model_config = ConfigDict(extra="forbid")
    runs: list[RunRequest] = Field(min_length=1, max_length=MAX_BATCH)


class ComfyHost(Protocol):
    """What the pipeline needs from ComfyUI (`ComfyBridge` in production, a fake in unit tests)."""

    input_dir: Path

    def node_definitions(self) -> dict[str, dict[str, Any]]: ...
    async def validate(self, prompt_id: str, prompt: dict[str, Any]) -> tuple[list[str], dict[str, Any]]: ...
    def enqueue(self, prompt_id: str, prompt: dict, extra_data: dict, outputs: list[str]) -> None: ...
    def cancel(self, prompt_id: str) -> str: ...


class PipelineManager:
    """Runs presets as jobs on the host ComfyUI."""

    def __init__(
        self,
        catalog: PresetCatalog,
        store: JobStore,
        host: ComfyHost,
        tracker: ExecutionTracker,
        engines: EngineAvailability,
        costs: CostEstimator,
        models: ModelRequirements | None = None,
        credits: CreditReservations | None = None,
        consent_log: ConsentLog | None = None,
        remote: RemoteSteps | None = None,
        timing: ThroughputLog | None = None,
        node_packs: NodePackAdvice | None = None,
    ) -> None:
        self.catalog, self.store, self.host, self.tracker = catalog, store, host, tracker
        self.engines, self.costs, self.models = engines, costs, models
        self.credits, self.consent_log = credits, consent_log
        self.remote = remote
        self.timing = timing  # measured work rates; without it estimates are the manifests' figures
        self.node_packs = node_packs  # names a missing node pack and its licence trap

    def _identity_run(self, manifest: WorkflowPreset, request: RunRequest) -> bool:
        return manifest.requires_consent or "identity_reference" in request.inputs

    # planning ------------------------------------------------------------------------------------
    def choose_variant(self, preset_id: str, engine: str | None) -> PresetVariant:
        """The named engine's variant, else the first available one in the manifest's preference order."""
        variants = self.catalog.get(preset_id)
        if engine is not None:
            if engine not in variants:
                raise AInfError(
                    ErrorCode.VALIDATION_ERROR,
                    f"Preset {preset_id!r} has no {engine!r} variant.",
                    detail={"engine": engine, "available": sorted(variants)},
                )
            ok, why = self.engines.availability(engine)
            if not ok:
                raise AInfError(
                    ErrorCode.ENGINE_OFFLINE,
                    f"Engine {engine!r} cannot run now: {why}.",
                    remediation=[
                        f"{why}.",
                        "Or run the preset with another engine (or none, for automatic).",
                    ],
                    detail={"engine": engine},
                )
            return variants[engine]
        preference = self.catalog.primary(preset_id).engine_preference
        reasons = {}
        lacking_models: PresetVariant | None = None
        for candidate in preference:
            if candidate in variants:
                ok, why = self.engines.availability(candidate)
                missing = self._missing_models(variants[candidate].manifest) if ok else []
                if ok and not missing:
                    return variants[candidate]
                if ok:
                    lacking_models = lacking_models or variants[candidate]
                    why = "needs " + ", ".join(m.get("id", "?") for m in missing) + " installed"
                reasons[candidate] = why
        if lacking_models is not None:
            return lacking_models  # binding it answers DEPENDENCY_MISSING with the download command
        steps = [f"{why}." for why in dict.fromkeys(reasons.values())]
        raise AInfError(
            ErrorCode.ENGINE_OFFLINE,
            "No engine for this preset can run now: " + " ".join(steps),
            remediation=steps or ["Check the Setup Hub's engine list."],
            detail=reasons,
        )

    def _check_input(self, spec: PresetInput, value: Any) -> Any:
        def bad(reason: str) -> AInfError:
            return AInfError(
                ErrorCode.VALIDATION_ERROR,
                f"Input {spec.name!r} {reason}.",
                detail={"input": spec.name, "type": spec.type},
            )

        if spec.type in FILE_INPUT_TYPES:
            if not isinstance(value, str) or not value:
                raise bad("must be the name of an uploaded file")
            path = resolve_inside(self.host.input_dir, *value.replace("\\", "/").split("/"))
            if not path.is_file():
                raise AInfError(
                    ErrorCode.FILE_NOT_FOUND,
                    f"Input {spec.name!r}: no uploaded file named {value!r}.",
                    detail={"input": spec.name, "name": value},
                )
            require_media(path, spec.type, spec.name)
            return value
        if spec.type == "string":
            if not isinstance(value, str) or len(value) > MAX_STRING_INPUT:
                raise bad(f"must be text of at most {MAX_STRING_INPUT} characters")
            return value
        if spec.type == "bool":
            if not isinstance(value, bool):
                raise bad("must be true or false")
            return value
        if spec.type == "choice":
            if value not in (spec.choices or []):
                raise bad(f"must be one of {spec.choices}")
            return value
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise bad(f"must be a number ({spec.type})")
        if spec.type == "int" and not float(value).is_integer():
            raise bad("must be a whole number")
        value = int(value) if spec.type == "int" else float(value)
        if (spec.minimum is not None and value < spec.minimum) or (
            spec.maximum is not None and value > spec.maximum
        ):
            raise bad(f"must lie between {spec.minimum} and {spec.maximum}")
        return value

    def _missing_models(self, manifest: WorkflowPreset) -> list[dict[str, str]]:
        """The preset's required models that are not installed (all of them when no catalog is set up)."""
        if not manifest.required_models:
            return []
        if self.models is None:
            return [{"id": model_id} for model_id in manifest.required_models]
        return self.models.missing(manifest)

    def _check_models(self, manifest: WorkflowPreset) -> None:
        if not manifest.required_models:
            return
        if self.models is None:
            raise AInfError(
                ErrorCode.DEPENDENCY_MISSING,
                f"Preset {manifest.id!r} needs {manifest.required_models}; no model catalog is set up.",
                detail={"required_models": manifest.required_models},
            )
        missing = self.models.missing(manifest)
        if missing:
            names = ", ".join(m.get("name") or m.get("id", "?") for m in missing)
            commands = " ; ".join(f"ainfluencer models download {m['id']}" for m in missing if m.get("id"))
            steps = [f"Install them from the Setup Hub's model catalog, or run: {commands}"]
            others = [e for e in self.catalog.get(manifest.id) if e != manifest.engine]
            if others:
                steps.append(f"Or connect {', '.join(PROVIDER_NAMES.get(e, e) for e in others)} in Setup "
                             "to run the preset's remote variant.")  # fmt: skip
            raise AInfError(
                ErrorCode.DEPENDENCY_MISSING,
                f"Preset {manifest.id!r} needs models that are not installed: {names}.",
                remediation=steps,
                detail={"missing_models": missing},
            )

    def bind(
        self, preset_id: str, request: RunRequest
    ) -> tuple[PresetVariant, dict[str, Any], dict[str, Any]]:
        """Validate the request and return (variant, bound UI graph, checked inputs); writes nothing."""
        variant = self.choose_variant(preset_id, request.engine)
        manifest = variant.manifest
        if request.character_id is not None:
            if self.consent_log is None:
                raise AInfError(ErrorCode.CHARACTER_NOT_FOUND, detail={"character_id": request.character_id})
            character = self.consent_log.require_character(request.character_id)
            accepted = {i.name for i in manifest.inputs}
            inputs = with_character_references(request.inputs, accepted, character)
            request = request.model_copy(update={"inputs": inputs})
        unknown = sorted(set(request.inputs) - {i.name for i in manifest.inputs})
        if unknown:
            raise AInfError(
                ErrorCode.VALIDATION_ERROR,
                f"Unknown input(s) {unknown} for preset {preset_id!r}.",
                detail={"unknown": unknown, "accepted": [i.name for i in manifest.inputs]},
            )
        missing = [i.name for i in manifest.inputs if i.required and i.name not in request.inputs]
        if missing:
            raise AInfError(
                ErrorCode.VALIDATION_ERROR,
                f"Missing required input(s) {missing} for preset {preset_id!r}.",
                detail={"missing": missing},
            )
        if self._identity_run(manifest, request) and not request.consent_given:
            raise AInfError(ErrorCode.CONSENT_MISSING, detail={"preset_id": preset_id})
        others = [PROVIDER_NAMES.get(e, e) for e in self.catalog.get(preset_id) if e != manifest.engine]
        require_node_packs(self.node_packs, variant.graph, self.host.node_definitions(), others)
        checked = {
            i.name: self._check_input(i, request.inputs[i.name])
            for i in manifest.inputs
            if i.name in request.inputs
        }
        self._check_models(manifest)

        defs = self.host.node_definitions()
        graph = copy.deepcopy(variant.graph)
        level = manifest.quality_levels[request.quality_level or manifest.default_quality]
        for override in level.overrides:
            set_widget(graph, defs, override.node_id, override.input, override.value)
        for spec in manifest.inputs:
            if spec.name in checked:
                set_widget(graph, defs, spec.bind.node_id, spec.bind.input, checked[spec.name])
        skipped = set(level.bypass)
        skipped.update(
            n for spec in manifest.inputs if spec.name not in checked for n in spec.bypass_when_absent
        )
        for node in graph.get("nodes", []):
            if str(node.get("id")) in skipped:
                node["mode"] = BYPASSED  # the editor's bypass: the node's input passes through to its output
        if request.seed is not None:
            for node_id, name in seed_targets(graph, defs):
                set_widget(graph, defs, node_id, name, fit_seed(request.seed, defs, graph, node_id, name))
        return variant, graph, checked

    def _plan_steps(
        self, manifest: WorkflowPreset, prompt: dict[str, Any], quality: str
    ) -> tuple[StepPrice, ...]:
        """The remote steps of a bound prompt with their prices (empty without remote nodes or a ledger)."""
        if self.remote is None:
            return ()
        planned = self.remote.plan(prompt, quality, list(manifest.engine_preference))
        return tuple(StepPrice(*step) for step in planned)

    def _price(self, manifest: WorkflowPreset, quality: str, steps: tuple[StepPrice, ...]) -> float:
        """Credits of a run: the sum of its remote steps when it has any, else the preset's cost-table row."""
        if steps:
            return round(sum(step.credits for step in steps), 3)
        return self.costs.estimate(manifest, quality)

    def _prepare(self, preset_id: str, request: RunRequest, job_id: str) -> RunPlan:
        """Bind, name outputs after the job, convert and price one run (writes nothing).

        A run without a seed is a new take: it gets a random seed, recorded on the job so the run can be
        reproduced, which reaches every seed and take input, so no node's cached result is returned.
        """
        if request.seed is None:
            request = request.model_copy(update={"seed": fresh_seed()})
        variant, graph, checked = self.bind(preset_id, request)
        manifest = variant.manifest
        quality = request.quality_level or manifest.default_quality
        defs = self.host.node_definitions()
        for (node_id, name), prefix in job_prefixes(graph, defs, manifest, preset_id, job_id).items():
            set_widget(graph, defs, node_id, name, prefix)
        prompt = ui_to_api(graph, defs)
        steps = self._plan_steps(manifest, prompt, quality)
        return RunPlan(
            preset_id=preset_id,
            variant=variant,
            graph=graph,
            prompt=prompt,
            inputs=checked,
            requested_inputs=request.inputs,
            quality=quality,
            seed=request.seed,
            consent_given=request.consent_given,
            character_id=request.character_id,
            steps=steps,
            cost=self._price(manifest, quality, steps),
            time=self.timing.estimate(manifest, quality, checked)
            if self.timing is not None
            else manifest_estimate(manifest, quality),
        )

    def estimate(self, preset_id: str, request: RunRequest) -> dict[str, Any]:
        """Credits, time and engine a run would use, before anything runs (a repair: of the run it makes)."""
        if preset_id == REPAIR_PRESET:
            repair, request = self._repair_run(request)
            return {**self.estimate(repair.preset_id, request), "repair_of": repair.repair_of}
        plan = self._prepare(preset_id, request, "job_estimate")
        return {
            "credits": plan.cost,
            "estimated_time_seconds": plan.estimated_time_seconds,
            "time_basis": plan.time.basis,
            "long_run": plan.time.long,
            "time_note": plan.time.note,
            "engine": plan.engine,
            "steps": [step._asdict() for step in plan.steps],
        }

    # running -------------------------------------------------------------------------------------
    def _reserve(self, job_id: str, plan: RunPlan | BatchPlan) -> bool:
        """Hold the run's credits before queueing (INSUFFICIENT_FUNDS: nothing recorded); True if held."""
        if plan.cost <= 0:
            return False
        if self.credits is None:
            raise AInfError(ErrorCode.DEPENDENCY_MISSING, "Paid runs need the credit ledger.")
        if plan.steps:
            self.credits.reserve_steps(job_id, list(plan.steps))
        else:
            self.credits.reserve(job_id, plan.cost, plan.lead.engine)
        return True

    def _release(self, job_id: str, plan: RunPlan | BatchPlan, reason: str) -> None:
        if self.credits is None:  # nothing was reserved without a ledger
            return
        for step_id in [step.step_id for step in plan.steps] or ["run"]:
            self.credits.void(job_id, step_id, reason=reason)

    async def execute_preset(
        self, preset_id: str, request: RunRequest, source: str = "api"
    ) -> dict[str, Any]:
        """Validate, bind, convert, validate with ComfyUI, record and queue; returns the job summary."""
        if preset_id == REPAIR_PRESET:
            return await self.execute_repair(request, source)
        job_id = f"job_{uuid.uuid4().hex}"
        plan = self._prepare(preset_id, request, job_id)
        return await self._validate_record_and_queue(job_id, plan, source)

    def _repair_run(self, request: RunRequest) -> tuple[RepairPlan, RunRequest]:
        """The repair of the failed job a repair_pipeline_v1 request names, and the run request it makes."""
        repair = plan_repair(self.store, self.catalog, self.engines, request.inputs, self.models)
        accepted = {i.name for i in self.choose_variant(repair.preset_id, repair.engine).manifest.inputs}
        run = RunRequest(
            inputs={k: v for k, v in repair.inputs.items() if k in accepted},  # another engine's inputs only
            quality_level=repair.quality_level,
            engine=repair.engine,
            seed=repair.seed,
            consent_given=repair.consent_given,
            character_id=repair.character_id,
        )
        return repair, run

    async def execute_repair(self, request: RunRequest, source: str = "api") -> dict[str, Any]:
        """repair_pipeline_v1: the failed job's preset, inputs and seed again; its finished steps reused."""
        repair, run = self._repair_run(request)
        job_id = f"job_{uuid.uuid4().hex}"
        plan = replace(self._prepare(repair.preset_id, run, job_id), repair_of=repair.repair_of)
        summary = await self._validate_record_and_queue(job_id, plan, source)
        self.store.log(job_id, "info", f"repairs job {repair.repair_of}", repair_of=repair.repair_of,
                       engine=plan.engine, quality_level=plan.quality, shots=repair.shots)  # fmt: skip
        return {**summary, "repair_of": repair.repair_of, "shots": repair.shots}

    async def execute_batch(
        self, preset_id: str, requests: list[RunRequest], source: str = "api"
    ) -> dict[str, Any]:
        """Several runs of one preset merged into ONE ComfyUI prompt, so their remote waits overlap.

        ComfyUI executes one prompt at a time but awaits async nodes concurrently inside a prompt; run number
        k (from 0) gets node ids `(k + 1) * 10000 + <id>`, so artifacts say which run they belong to.
        """
        if not 1 <= len(requests) <= MAX_BATCH:
            raise AInfError(
                ErrorCode.VALIDATION_ERROR,
                f"A batch holds 1 to {MAX_BATCH} runs.",
                detail={"runs": len(requests), "max": MAX_BATCH},
            )
        job_id = f"job_{uuid.uuid4().hex}"
        batch = merge_runs([self._prepare(preset_id, r, job_id) for r in requests])
        summary = await self._validate_record_and_queue(job_id, batch, source)
        return {**summary, "items": len(batch.runs)}

    async def _validate_record_and_queue(
        self, job_id: str, plan: RunPlan | BatchPlan, source: str
    ) -> dict[str, Any]:
        """Let ComfyUI validate the prompt, then reserve, record the job and queue it."""
        prompt_id = str(uuid.uuid4())
        outputs, _node_errors = await self.host.validate(prompt_id, plan.prompt)
        lead = plan.lead
        reserved = self._reserve(job_id, plan)
        try:
            consent_id = None
            if lead.consent_given and self.consent_log is not None:
                consent_id = self.consent_log.record_run_consent(job_id, lead.character_id, source)
            self.store.create(
                job_id=job_id,
                source=source,
                preset_id=lead.preset_id,
                inputs=plan.job_inputs(consent_id),
                quality_level=lead.quality,
                engine=lead.engine,
                prompt_id=prompt_id,
                consent_given=lead.consent_given,
                credit_cost=plan.cost,
            )
            for note in licence_warnings(self.node_packs, lead.graph):
                self.store.log(job_id, "warning", note)  # the licence trap travels with the run
            extra = {"extra_pnginfo": {"workflow": lead.graph}}
            if self.remote is not None:
                self.remote.save_prompt(job_id, plan.prompt, extra, outputs)
        except Exception:
            if reserved:
                self._release(job_id, plan, "the job could not be recorded")
            raise
        try:
            self.host.enqueue(prompt_id, plan.prompt, extra, outputs)
        except Exception as exc:
            error = AInfError(ErrorCode.ENGINE_OFFLINE, "ComfyUI did not accept the job.", detail=str(exc))
            if reserved:  # nothing was submitted anywhere: the held credits go back now
                self._release(job_id, plan, "ComfyUI did not accept the job")
            self.store.finish(job_id, "failed", error)
            raise error from exc
        return {
            "job_id": job_id,
            "status": QUEUED,
            "preset_id": lead.preset_id,
            "estimated_time_seconds": lead.estimated_time_seconds,
        }

    def get_job_status(self, job_id: str) -> dict[str, Any]:
        """The job as the spec's run history gives it (with its redacted log lines), plus progress.

        While a streamed video pass runs, progress adds its frames done / total and the ETA at its pace.
        """
        job = self.store.get(job_id)
        frames = frame_fields(self.tracker.live_frames(job_id))
        return {**job, **frames, "logs": [log_line(entry) for entry in self.store.read_logs(job_id)]}

    def cancel_job(self, job_id: str) -> dict[str, Any]:
        """Cancel a queued or running job; a finished job is returned unchanged."""
        job = self.store.get(job_id)
        if job["status"] in FINAL_STATES:
            return job
        if job["prompt_id"]:
            self.tracker.request_cancel(job["prompt_id"])
            outcome = self.host.cancel(job["prompt_id"])
            self.store.log(job_id, "info", "cancel requested", outcome=outcome)
            if outcome == "gone":
                self.store.finish(job_id, "cancelled")
        else:
            self.store.finish(job_id, "cancelled")
        return self.store.get(job_id)
