"""Presets are saved ComfyUI graphs; `WorkflowPreset` is the manifest in each graph's `extra.ainfluencer`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from ..core.errors import AInfError, ErrorCode

InputType = Literal["video", "image", "audio", "string", "int", "float", "bool", "choice"]
FILE_INPUT_TYPES = frozenset({"video", "image", "audio"})
QUALITY_LEVELS = ("low", "standard", "pro")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Binding(_Strict):
    """A node input in the graph: node id + input name."""

    node_id: str
    input: str


class PresetInput(_Strict):
    """One input a caller may give (the product's input names: video, image, audio, prompt, …)."""

    name: str = Field(pattern=r"^[a-z][a-z0-9_]{0,63}$")
    type: InputType
    bind: Binding
    required: bool = True
    description: str = ""
    default: Any = None
    choices: list[str] | None = None
    minimum: float | None = None
    maximum: float | None = None
    # nodes bypassed when the input is not given (an optional step, e.g. lip-sync only with a voice-over)
    bypass_when_absent: list[str] = []


class Override(_Strict):
    """A fixed value set on a node input by a quality level."""

    node_id: str
    input: str
    value: Any


class QualityLevel(_Strict):
    """A quality level: input overrides plus a time estimate for the sample-sized input."""

    description: str = ""
    overrides: list[Override] = []
    bypass: list[str] = []  # nodes this level leaves out (bypassed: their input passes through)
    estimated_time_seconds: float = Field(default=30.0, ge=0)


class FailureMode(_Strict):
    """A known way the preset fails and what to do about it."""

    code: ErrorCode
    when: str
    remediation: str


class PresetOutput(_Strict):
    """A saving node whose files are the job's artifacts; `prefix_input` receives `ainfluencer/<job_id>/…`."""

    node_id: str
    kind: Literal["video", "image", "audio"]
    prefix_input: str | None = "filename_prefix"


class WorkflowPreset(_Strict):
    """The `extra.ainfluencer` manifest of a preset graph."""

    id: str = Field(pattern=r"^[a-z0-9_]{1,100}$")
    name: str = Field(min_length=1, max_length=120)
    category: str
    description: str = ""
    summary: str = Field(default="", max_length=100)  # one line: what it makes (the template card's text)
    version: int = 1
    engine: str = "local_comfy"
    engine_preference: list[str] = ["local_comfy"]
    inputs: list[PresetInput]
    quality_levels: dict[Literal["low", "standard", "pro"], QualityLevel]
    default_quality: Literal["low", "standard", "pro"] = "standard"
    outputs: list[PresetOutput]
    requires_consent: bool = False
    safety_notes: list[str] = []
    failure_modes: list[FailureMode] = []
    required_models: list[str] = []

    @model_validator(mode="after")
    def _check(self) -> WorkflowPreset:
        names = [i.name for i in self.inputs]
        if len(names) != len(set(names)):
            raise ValueError("input names must be unique")
        if self.default_quality not in self.quality_levels:
            raise ValueError("default_quality must be one of the quality levels")
        if self.engine not in self.engine_preference:
            raise ValueError("engine must appear in engine_preference")
        return self

    def input(self, name: str) -> PresetInput | None:
        """The declared input with this name."""
        return next((i for i in self.inputs if i.name == name), None)


class PresetVariant(BaseModel):
    """One engine variant of a preset: its manifest, graph and file."""

    model_config = ConfigDict(arbitrary_types_allowed=True)
    manifest: WorkflowPreset
    graph: dict[str, Any]
    path: Path


def _check_bindings(manifest: WorkflowPreset, graph: dict[str, Any], path: Path) -> None:
    node_ids = {str(n.get("id")) for n in graph.get("nodes", [])}
    bound = [i.bind.node_id for i in manifest.inputs]
    bound += [o.node_id for level in manifest.quality_levels.values() for o in level.overrides]
    bound += [o.node_id for o in manifest.outputs]
    bound += [n for i in manifest.inputs for n in i.bypass_when_absent]
    bound += [n for level in manifest.quality_levels.values() for n in level.bypass]
    missing = sorted({b for b in bound if b not in node_ids})
    if missing:
        raise ValueError(f"{path.name}: manifest names nodes not in the graph: {missing}")


def load_preset_file(path: Path) -> PresetVariant:
    """Read one graph file and validate its manifest (ValueError with the reason when it is bad)."""
    graph = json.loads(path.read_text(encoding="utf-8"))
    raw = (graph.get("extra") or {}).get("ainfluencer")
    if raw is None:
        raise ValueError(f"{path.name}: no extra.ainfluencer manifest")
    try:
        manifest = WorkflowPreset.model_validate(raw)
    except ValidationError as exc:
        raise ValueError(f"{path.name}: {exc}") from exc
    stem = path.stem.split("@", 1)
    if stem[0] != manifest.id or (len(stem) == 2 and stem[1] != manifest.engine):
        raise ValueError(f"{path.name}: file name must be <id>[@<engine>].json matching the manifest")
    _check_bindings(manifest, graph, path)
    return PresetVariant(manifest=manifest, graph=graph, path=path)


VARIANTS_FOLDER = "variants"


def preset_files(folder: Path) -> list[Path]:
    """Every graph in a presets folder: the primary ``<id>.json`` files and ``variants/<id>@<engine>.json``.

    Engine variants live in a subfolder so that ComfyUI's template browser, which lists only the top
    level of ``workflows/``, shows one card per preset.
    """
    return sorted(folder.glob("*.json")) + sorted((folder / VARIANTS_FOLDER).glob("*.json"))


class PresetCatalog:
    """All presets in a folder, grouped by id with their engine variants."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.variants: dict[str, dict[str, PresetVariant]] = {}
        for path in preset_files(folder):
            variant = load_preset_file(path)
            self.variants.setdefault(variant.manifest.id, {})[variant.manifest.engine] = variant

    def ids(self) -> list[str]:
        """Preset ids, sorted."""
        return sorted(self.variants)

    def get(self, preset_id: str) -> dict[str, PresetVariant]:
        """The variants of a preset by engine, or PRESET_NOT_FOUND."""
        if preset_id not in self.variants:
            raise AInfError(
                ErrorCode.PRESET_NOT_FOUND,
                f"No preset named {preset_id!r}.",
                detail={"preset_id": preset_id, "available": self.ids()},
            )
        return self.variants[preset_id]

    def primary(self, preset_id: str) -> WorkflowPreset:
        """The manifest of the preferred variant."""
        variants = self.get(preset_id)
        first = next(iter(variants.values())).manifest
        for engine in first.engine_preference:
            if engine in variants:
                return variants[engine].manifest
        return first

    def describe(self, preset_id: str) -> dict[str, Any]:
        """A JSON-ready description for routes and the CLI."""
        manifest = self.primary(preset_id)
        data = manifest.model_dump(mode="json")
        data["engines"] = sorted(self.get(preset_id))
        data["estimated_time_seconds"] = {
            k: v.estimated_time_seconds for k, v in manifest.quality_levels.items()
        }
        # the template browser's thumbnail beside the primary graph; the Studio shows it when present
        data["has_thumbnail"] = (self.folder / f"{preset_id}.jpg").is_file()
        return data
