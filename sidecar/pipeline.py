"""PipelineManager: bind a preset's inputs, apply its quality level, pick the engine, validate and queue."""

from __future__ import annotations

import copy
import uuid
from pathlib import Path
from typing import Any, Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field

from .errors import AInfError, ErrorCode
from .graph_bind import seed_targets, set_widget
from .graph_convert import ui_to_api
from .jobs import FINAL_STATES, QUEUED, JobStore
from .media import require_media
from .paths import resolve_inside
from .presets import FILE_INPUT_TYPES, PresetCatalog, PresetInput, PresetVariant, WorkflowPreset
from .seams import ConsentLog, CostEstimator, CreditReservations, EngineAvailability, ModelRequirements
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
    ) -> None:
        self.catalog, self.store, self.host, self.tracker = catalog, store, host, tracker
        self.engines, self.costs, self.models = engines, costs, models
        self.credits, self.consent_log = credits, consent_log

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
                raise AInfError(ErrorCode.ENGINE_OFFLINE, f"Engine {engine!r} cannot run now: {why}.")
            return variants[engine]
        preference = self.catalog.primary(preset_id).engine_preference
        reasons = {}
        for candidate in preference:
            if candidate in variants:
                ok, why = self.engines.availability(candidate)
                if ok:
                    return variants[candidate]
                reasons[candidate] = why
        raise AInfError(ErrorCode.ENGINE_OFFLINE, "No engine for this preset can run now.", detail=reasons)

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
            raise AInfError(
                ErrorCode.DEPENDENCY_MISSING,
                f"Preset {manifest.id!r} needs models that are not installed: {names}.",
                remediation=[f"Install them from the Setup Hub's model catalog, or run: {commands}"],
                detail={"missing_models": missing},
            )

    def bind(
        self, preset_id: str, request: RunRequest
    ) -> tuple[PresetVariant, dict[str, Any], dict[str, Any]]:
        """Validate the request and return (variant, bound UI graph, checked inputs); writes nothing."""
        variant = self.choose_variant(preset_id, request.engine)
        manifest = variant.manifest
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
        if request.character_id is not None:
            if self.consent_log is None:
                raise AInfError(ErrorCode.CHARACTER_NOT_FOUND, detail={"character_id": request.character_id})
            self.consent_log.require_character(request.character_id)
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
        if request.seed is not None:
            for node_id, name in seed_targets(graph, defs):
                set_widget(graph, defs, node_id, name, request.seed)
        return variant, graph, checked

    def estimate(self, preset_id: str, request: RunRequest) -> dict[str, Any]:
        """Credits, time and engine a run would use, before anything runs."""
        variant = self.choose_variant(preset_id, request.engine)
        quality = request.quality_level or variant.manifest.default_quality
        return {
            "credits": self.costs.estimate(variant.manifest, quality),
            "estimated_time_seconds": variant.manifest.quality_levels[quality].estimated_time_seconds,
            "engine": variant.manifest.engine,
        }

    # running -------------------------------------------------------------------------------------
    async def execute_preset(
        self, preset_id: str, request: RunRequest, source: str = "api"
    ) -> dict[str, Any]:
        """Validate, bind, convert, validate with ComfyUI, record and queue; returns the job summary."""
        variant, graph, checked = self.bind(preset_id, request)
        manifest = variant.manifest
        quality = request.quality_level or manifest.default_quality
        cost = self.costs.estimate(manifest, quality)
        job_id = f"job_{uuid.uuid4().hex}"
        defs = self.host.node_definitions()
        for output in manifest.outputs:
            if output.prefix_input:
                set_widget(
                    graph, defs, output.node_id, output.prefix_input, f"ainfluencer/{job_id}/{preset_id}"
                )
        prompt = ui_to_api(graph, defs)
        prompt_id = str(uuid.uuid4())
        outputs, _node_errors = await self.host.validate(prompt_id, prompt)
        reserved = cost > 0
        if reserved:
            if self.credits is None:
                raise AInfError(ErrorCode.DEPENDENCY_MISSING, "Paid runs need the credit ledger.")
            self.credits.reserve(job_id, cost, manifest.engine)  # INSUFFICIENT_FUNDS: nothing recorded
        try:
            consent_id = None
            if request.consent_given and self.consent_log is not None:
                consent_id = self.consent_log.record_run_consent(job_id, request.character_id, source)
            self.store.create(
                job_id=job_id,
                source=source,
                preset_id=preset_id,
                inputs={
                    **checked,
                    "quality_level": quality,
                    "seed": request.seed,
                    "character_id": request.character_id,
                    "consent_id": consent_id,
                },
                quality_level=quality,
                engine=manifest.engine,
                prompt_id=prompt_id,
                consent_given=request.consent_given,
                credit_cost=cost,
            )
        except Exception:
            if reserved:
                self.credits.void(job_id, reason="the job could not be recorded")
            raise
        try:
            self.host.enqueue(prompt_id, prompt, {"extra_pnginfo": {"workflow": graph}}, outputs)
        except Exception as exc:
            error = AInfError(ErrorCode.ENGINE_OFFLINE, "ComfyUI did not accept the job.", detail=str(exc))
            self.store.finish(job_id, "failed", error)
            raise error from exc
        return {
            "job_id": job_id,
            "status": QUEUED,
            "preset_id": preset_id,
            "estimated_time_seconds": manifest.quality_levels[quality].estimated_time_seconds,
        }

    def get_job_status(self, job_id: str) -> dict[str, Any]:
        """The job record with progress and artifacts."""
        return self.store.get(job_id)

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
