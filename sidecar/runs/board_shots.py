"""A storyboard job's shot files by shot number, and the shots a drift repair keeps from the job it repairs.

A drift repair (repair_pipeline_v1 on a completed board) makes only the drifted shots again; the board it
delivers is still whole: the other shots are the repaired job's own files, listed on the repair job as
reused (metadata `reused_from`, never copied, never paid again) and laid into its contact sheet at their
numbers. Which artifacts are shots is read from the preset's graph: the saved outputs fed by the node the
`shots` input is bound to.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..core.errors import AInfError
from ..jobs.presets import PresetCatalog
from ..jobs.store import JobStore
from ..remote.recorded import REPAIR_OF
from ..remote.storyboard import MAX_SHOTS, chosen_shots

SHOTS_INPUT = "shots"  # the storyboard input naming the shot numbers to make (remote.storyboard.chosen_shots)
SHOT_KEY, REUSED_KEY = "shot", "reused_from"  # artifact metadata of a board's shot


@dataclass(frozen=True)
class BoardShot:
    """One shot file of a board job: its number, where it is, and the artifact row it came from."""

    number: int
    path: Path
    artifact: dict[str, Any]


def shot_saver_ids(catalog: PresetCatalog, preset_id: str) -> set[str]:
    """The saved outputs fed by the node the preset's `shots` input is bound to (empty: not a board)."""
    found: set[str] = set()
    for variant in catalog.get(preset_id).values():
        binding = next((i.bind.node_id for i in variant.manifest.inputs if i.name == SHOTS_INPUT), None)
        outputs = {o.node_id for o in variant.manifest.outputs}
        links = variant.graph.get("links") or []
        found |= {str(link[3]) for link in links if str(link[1]) == binding and str(link[3]) in outputs}
    return found


def board_shots(store: JobStore, catalog: PresetCatalog, job_id: str) -> list[BoardShot]:
    """A board job's shot files in shot order: reused rows carry their number, new takes follow `shots`."""
    job = store.get(job_id)
    savers = shot_saver_ids(catalog, job["preset_id"]) if job.get("preset_id") else set()
    rows = [a for a in job.get("artifacts") or [] if str(a.get("node_id")) in savers]
    kept = [r for r in rows if isinstance((r.get("metadata") or {}).get(SHOT_KEY), int)]
    made = [r for r in rows if r not in kept]
    wanted = str((job.get("inputs") or {}).get(SHOTS_INPUT) or "")
    try:
        numbers = chosen_shots(wanted, MAX_SHOTS) if wanted else list(range(1, len(made) + 1))
    except AInfError:
        numbers = []
    shots = [BoardShot(r["metadata"][SHOT_KEY], Path(r["path"]), r) for r in kept]
    shots += [BoardShot(n, Path(r["path"]), r) for n, r in zip(numbers, made, strict=False)]
    return sorted(shots, key=lambda shot: shot.number)


def kept_shots(store: JobStore, catalog: PresetCatalog, job_id: str, remade: list[int]) -> list[BoardShot]:
    """The shots of the job `job_id` repairs that it does not make again (none when it repairs nothing)."""
    repaired = (store.get(job_id).get("inputs") or {}).get(REPAIR_OF)
    if not repaired:
        return []
    return [s for s in board_shots(store, catalog, repaired) if s.number not in remade and s.path.is_file()]


def list_reused(store: JobStore, job_id: str, repaired: str, shots: list[BoardShot]) -> None:
    """List kept shots on the repair job as its artifacts, reused from the repaired job's files."""
    for shot in shots:
        store.add_artifact(
            job_id,
            shot.path,
            kind=shot.artifact.get("kind") or "image",
            filename=shot.artifact.get("filename") or shot.path.name,
            subfolder=shot.artifact.get("subfolder") or "",
            folder_type=shot.artifact.get("type") or "output",
            node_id=shot.artifact.get("node_id"),
            metadata={SHOT_KEY: shot.number, REUSED_KEY: repaired},
        )
