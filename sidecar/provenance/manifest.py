"""What a manifest says about one output: typed records in, the C2PA manifest definition out.

Actions and digital source types follow the C2PA 2.1 actions assertion
(https://spec.c2pa.org/specifications/specifications/2.1/specs/C2PA_Specification.html#_actions) and the
IPTC digital source type vocabulary (https://cv.iptc.org/newscodes/digitalsourcetype/). Nothing here holds a
local path or a user name: ingredients are named by file name, hash and format only.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

IPTC = "http://cv.iptc.org/newscodes/digitalsourcetype/"
GENERATED = IPTC + "trainedAlgorithmicMedia"
TRANSFORMED = IPTC + "compositeWithTrainedAlgorithmicMedia"
GENERATOR_NAME = "AInfluencer"
JOB_ASSERTION = "org.ainfluencer.job"

MIME_TYPES = {
    ".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".webp": "image/webp",
    ".mp4": "video/mp4", ".mov": "video/quicktime", ".wav": "audio/wav", ".mp3": "audio/mpeg",
    ".m4a": "audio/mp4", ".flac": "audio/flac", ".webm": "video/webm",
}  # fmt: skip


def mime_type(path: str | Path) -> str:
    """The media type C2PA names a file's format by (application/octet-stream when unknown)."""
    return MIME_TYPES.get(Path(path).suffix.lower(), "application/octet-stream")


@dataclass(frozen=True)
class Engine:
    """What made a step: a local model file (name + sha256) or a provider's model id."""

    local_model: str | None = None
    local_model_sha256: str | None = None
    provider: str | None = None
    model_id: str | None = None

    def as_parameters(self) -> dict[str, str]:
        """The engine as action parameters (only the fields that are known)."""
        return {name: value for name, value in asdict(self).items() if value}


@dataclass(frozen=True)
class Step:
    """One action the output went through: the C2PA action, the node that did it, and its engine."""

    action: str
    node_type: str
    step: str
    engine: Engine | None  # what made the picture, for steps a model did
    source_type: str | None  # the IPTC digital source type, for steps a model did


@dataclass(frozen=True)
class Ingredient:
    """An input or an earlier output of the job; `embed` (an earlier signed output) carries its manifest."""

    title: str
    media_type: str
    sha256: str
    relationship: str = "inputTo"
    embed: Path | None = None


@dataclass(frozen=True)
class ConsentRef:
    """The consent record an identity run was given: its id and the hash of the record, never the person."""

    consent_id: str
    sha256: str


@dataclass(frozen=True)
class OutputRecord:
    """Everything one output's manifest states."""

    title: str
    media_type: str
    pack_version: str
    steps: tuple[Step, ...]
    ingredients: tuple[Ingredient, ...] = ()
    preset_id: str | None = None
    quality_level: str | None = None
    job_id: str | None = None
    consent: ConsentRef | None = None
    extra: dict[str, str] = field(default_factory=dict)


def _action(step: Step, record: OutputRecord, parameters: dict[str, Any]) -> dict[str, Any]:
    params: dict[str, Any] = {"node_type": step.node_type, "step": step.step, **parameters}
    if record.preset_id:
        params["preset_id"] = record.preset_id
    if record.quality_level:
        params["quality_level"] = record.quality_level
    if step.engine is not None:
        params["engine"] = step.engine.as_parameters()
    action: dict[str, Any] = {
        "action": step.action,
        "softwareAgent": {"name": GENERATOR_NAME, "version": record.pack_version},
        "parameters": params,
    }
    if step.source_type:
        action["digitalSourceType"] = step.source_type
    return action


def _first_action(record: OutputRecord) -> list[dict[str, Any]]:
    """C2PA requires the first action to be `c2pa.created` or `c2pa.opened` (the parent ingredient)."""
    if record.steps and record.steps[0].action == "c2pa.created":
        return []
    parent = next((i for i in record.ingredients if i.relationship == "parentOf"), None)
    source = TRANSFORMED if any(s.source_type for s in record.steps) else None
    opened = Step("c2pa.opened" if parent else "c2pa.created", "input", "input", None, source)
    # the builder links an action to its ingredient through `ingredientIds` (the ingredient's instance id)
    link = {"ingredientIds": [f"sha256:{parent.sha256}"]} if parent else {}
    return [_action(opened, record, link)]


def manifest_definition(record: OutputRecord) -> dict[str, Any]:
    """The C2PA manifest definition of an output (the embedded ingredients are added by the signer)."""
    actions = _first_action(record) + [_action(s, record, {}) for s in record.steps]
    job: dict[str, Any] = {
        "preset_id": record.preset_id,
        "quality_level": record.quality_level,
        "job_id": record.job_id,
        "ingredients": [
            {"title": i.title, "format": i.media_type, "sha256": i.sha256, "relationship": i.relationship}
            for i in record.ingredients
        ],
        **record.extra,
    }
    if record.consent is not None:
        job["consent"] = {"consent_id": record.consent.consent_id, "sha256": record.consent.sha256}
    return {
        "claim_generator_info": [{"name": GENERATOR_NAME, "version": record.pack_version}],
        "title": record.title,
        "format": record.media_type,
        "assertions": [
            {"label": "c2pa.actions.v2", "data": {"actions": actions}},
            {"label": JOB_ASSERTION, "data": {k: v for k, v in job.items() if v is not None}},
        ],
        "ingredients": [_ingredient_definition(i) for i in record.ingredients if i.embed is None],
    }


def _ingredient_definition(ingredient: Ingredient) -> dict[str, Any]:
    return {
        "title": ingredient.title,
        "format": ingredient.media_type,
        "relationship": ingredient.relationship,
        "instance_id": f"sha256:{ingredient.sha256}",
    }


def embedded_ingredient_definition(ingredient: Ingredient) -> dict[str, Any]:
    """The definition passed with an embedded ingredient's stream (its own manifest comes along)."""
    return _ingredient_definition(ingredient)
