"""From a job and a file to a signed output: the job's context, the ingredients, the record, the signature."""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..jobs.characters import CharacterStore
from ..jobs.store import JobStore
from .certificates import signing_credentials
from .image_marks import mark_file, watermark_enabled
from .manifest import ConsentRef, Ingredient, OutputRecord, Step, mime_type
from .sign import can_sign, file_sha256, sign_file
from .watermark import Payload

VISUAL = ("image/", "video/")


@dataclass(frozen=True)
class JobContext:
    """What the job adds to each manifest: preset, quality, consent reference and its earlier outputs."""

    job_id: str | None
    preset_id: str | None
    quality_level: str | None
    consent: ConsentRef | None
    earlier_outputs: tuple[Path, ...]


# an output no job tracks (a graph run outside the pack's jobs): no preset, no consent, no chain
UNTRACKED = JobContext(None, None, None, None, ())


def consent_ref(records: Sequence[dict[str, Any]]) -> ConsentRef | None:
    """The latest consent record as its id + the sha256 of the record (who gave it stays here)."""
    if not records:
        return None
    latest = records[-1]
    digest = hashlib.sha256(json.dumps(latest, sort_keys=True, default=str).encode()).hexdigest()
    return ConsentRef(consent_id=str(latest["consent_id"]), sha256=digest)


def job_context(
    store: JobStore, characters: CharacterStore | None, job_id: str, upstream_nodes: Iterable[str]
) -> JobContext:
    """The job's context for an output made by `upstream_nodes` (only their earlier outputs count)."""
    job = store.get(job_id)
    nodes = set(upstream_nodes)
    earlier = tuple(
        Path(a["path"])
        for a in job.get("artifacts") or []
        if a.get("node_id") in nodes and can_sign(a["path"]) and Path(a["path"]).is_file()
    )
    consent = consent_ref(characters.consents_for_job(job_id)) if characters is not None else None
    return JobContext(job_id, job.get("preset_id"), job.get("quality_level"), consent, earlier)


def _ingredient(path: Path, relationship: str, embed: bool) -> Ingredient:
    return Ingredient(
        title=path.name,
        media_type=mime_type(path),
        sha256=file_sha256(path),
        relationship=relationship,
        embed=path if embed and can_sign(path) else None,
    )


def output_record(
    path: Path,
    steps: Sequence[Step],
    inputs: Sequence[Path],
    context: JobContext,
    pack_version: str,
    parent: Path | None = None,
) -> OutputRecord:
    """The record of one output: earlier outputs are embedded (their manifests chain), inputs named by hash.

    With no `c2pa.created` step the output was opened from a parent: `parent`, else the job's latest earlier
    output, else the first image or video input.
    """
    created = bool(steps) and steps[0].action == "c2pa.created"
    visual = [p for p in inputs if mime_type(p).startswith(VISUAL)]
    if parent is None and not created:
        parent = context.earlier_outputs[-1] if context.earlier_outputs else next(iter(visual), None)
    sources = [*context.earlier_outputs, *inputs]
    if parent is not None and parent not in sources:
        sources.insert(0, parent)
    ingredients = tuple(
        _ingredient(
            p,
            "parentOf" if p == parent else "inputTo",
            embed=p == parent or p in context.earlier_outputs,
        )
        for p in dict.fromkeys(sources)
    )
    return OutputRecord(
        title=path.name,
        media_type=mime_type(path),
        pack_version=pack_version,
        steps=tuple(steps),
        ingredients=ingredients,
        preset_id=context.preset_id,
        quality_level=context.quality_level,
        job_id=context.job_id,
        consent=context.consent,
    )


def sign_output(
    path: str | os.PathLike[str], record: OutputRecord, data_folder: str | os.PathLike[str]
) -> Path:
    """Sign an output with the configured credentials (the user's, else the per-install chain).

    With the watermark turned on an image is marked first, so the signature covers the marked pixels.
    """
    if watermark_enabled(data_folder):
        mark_file(path, Payload.for_job(record.job_id))
    return sign_file(path, record, signing_credentials(data_folder))
