"""Time estimates from the work rate measured on this machine, per preset, engine, quality level and unit.

A finished job records how much work its input was (video: frames × megapixels; image: megapixels;
otherwise one run) and how long it took; the estimate for the next input of the same kind is that
input's work divided by the recorded rate. Until a run of that kind has finished, the estimate is the
manifest's figure, which is made for the sample input its graph ships with, scaled by how much more (or
less) work this input is than that sample (a 60 s 4K clip is about 125 times a 9 s 720x720 one), and says
it is the preset's default.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, NamedTuple

from sqlalchemy import select
from sqlalchemy.engine import Engine

from ..core.errors import AInfError
from ..core.media import probe
from ..core.paths import resolve_inside
from ..core.storage import jobs, throughput
from ..jobs.presets import PresetCatalog, PresetVariant, WorkflowPreset
from ..jobs.store import COMPLETED

# Past two minutes a person wants to know before starting (a 4K upscale on CPU runs for many minutes).
LONG_RUN_SECONDS = 120.0
# Weight of the newest run in the recorded rate: recent runs count most, one odd run does not rule.
NEWEST_WEIGHT = 0.5

WorkUnit = Literal["frame_megapixels", "megapixels", "runs"]
TimeBasis = Literal["measured", "manifest default"]


class Work(NamedTuple):
    """How much work an input is, in the unit its kind is measured in."""

    unit: WorkUnit
    amount: float


@dataclass(frozen=True)
class TimeEstimate:
    """Expected seconds of a run, whether they were measured here, and a plain warning for long runs."""

    seconds: float
    basis: TimeBasis

    @property
    def long(self) -> bool:
        """True when the run is expected to take longer than LONG_RUN_SECONDS."""
        return self.seconds > LONG_RUN_SECONDS

    @property
    def note(self) -> str | None:
        """The sentence to show before a long run starts; None for a short one."""
        if not self.long:
            return None
        where = "measured on this machine" if self.basis == "measured" else "the preset's default estimate"
        return f"This run will take about {human_duration(self.seconds)} ({where})."


def human_duration(seconds: float) -> str:
    """`45 s`, `6 min 34 s` or `1 h 05 min`."""
    whole = round(seconds)
    if whole < 60:
        return f"{whole} s"
    if whole < 3600:
        return f"{whole // 60} min {whole % 60:02d} s"
    return f"{whole // 3600} h {whole % 3600 // 60:02d} min"


def manifest_estimate(manifest: WorkflowPreset, quality: str, scale: float = 1.0) -> TimeEstimate:
    """The quality level's figure (made for the sample input) times ``scale``, when nothing was measured."""
    return TimeEstimate(
        round(manifest.quality_levels[quality].estimated_time_seconds * scale, 1), "manifest default"
    )


def sample_inputs(manifest: WorkflowPreset, graph: dict[str, Any], input_dir: Path) -> dict[str, str]:
    """The media a preset's graph ships with, by input name: the file its bound load node names.

    The manifest's time figures are made for these files, so an input's work relative to them scales
    the figure to that input.
    """
    nodes = {str(node.get("id")): node for node in graph.get("nodes", [])}
    samples: dict[str, str] = {}
    for spec in manifest.inputs:
        node = nodes.get(spec.bind.node_id) if spec.type in ("video", "image") else None
        names = [value for value in (node or {}).get("widgets_values") or [] if isinstance(value, str)]
        found = next((name for name in names if name and (input_dir / name).is_file()), None)
        if found is not None:
            samples[spec.name] = found
    return samples


def work_of(manifest: WorkflowPreset, inputs: dict[str, Any], input_dir: Path) -> Work:
    """The work of a run's inputs: its first video input in frame-megapixels, else its first image's."""
    for kind in ("video", "image"):
        for spec in manifest.inputs:
            name = inputs.get(spec.name)
            if spec.type != kind or not isinstance(name, str) or not name:
                continue
            try:
                info = probe(resolve_inside(input_dir, *name.replace("\\", "/").split("/")))
            except AInfError:
                info = None
            if info is None or not info.width:
                continue
            megapixels = info.width * info.height / 1e6
            if kind == "video":
                return Work("frame_megapixels", max(1, info.frames) * megapixels)
            return Work("megapixels", megapixels)
    return Work("runs", 1.0)


def _kind(manifest: WorkflowPreset, quality: str, unit: WorkUnit) -> dict[str, str]:
    """The throughput row a run of this preset variant, quality level and work unit belongs to."""
    return {"preset_id": manifest.id, "engine": manifest.engine, "quality_level": quality, "unit": unit}


class ThroughputLog:
    """Records the work rate of finished jobs and answers time estimates from it."""

    def __init__(self, engine: Engine, catalog: PresetCatalog, input_dir: Path) -> None:
        self.engine = engine
        self.catalog = catalog
        self.input_dir = Path(input_dir)
        self._sample_work: dict[tuple[str, str], Work] = {}  # each variant's sample input, probed once

    def _variant(self, preset_id: str, engine: str) -> PresetVariant | None:
        return self.catalog.variants.get(preset_id, {}).get(engine)

    def _manifest(self, preset_id: str, engine: str) -> WorkflowPreset | None:
        variant = self._variant(preset_id, engine)
        return variant.manifest if variant is not None else None

    def on_final(self, job_id: str, status: str) -> None:
        """Job store hook: a completed preset job's work rate joins the recorded one."""
        if status != COMPLETED:
            return
        with self.engine.connect() as conn:
            job = conn.execute(select(jobs).where(jobs.c.job_id == job_id)).mappings().first()
        if job is None or not job["started_at"] or not job["finished_at"] or not job["quality_level"]:
            return
        manifest = self._manifest(job["preset_id"] or "", job["engine"] or "")
        inputs = json.loads(job["inputs_json"] or "{}")
        seconds = job["finished_at"] - job["started_at"]
        if manifest is None or "batch" in inputs or seconds <= 0:
            return  # editor graphs without a manifest and merged batches have no single input's work
        self.record(manifest, job["quality_level"], work_of(manifest, inputs, self.input_dir), seconds)

    def record(self, manifest: WorkflowPreset, quality: str, work: Work, seconds: float) -> None:
        """Fold one run's rate (work per second) into the recorded rate of its kind."""
        key = _kind(manifest, quality, work.unit)
        rate = work.amount / seconds
        with self.engine.begin() as conn:
            row = conn.execute(select(throughput).filter_by(**key)).mappings().first()
            if row is None:
                conn.execute(
                    throughput.insert().values(
                        **key, units_per_second=rate, samples=1, updated_at=time.time()
                    )
                )
                return
            blended = NEWEST_WEIGHT * rate + (1 - NEWEST_WEIGHT) * row["units_per_second"]
            conn.execute(
                throughput.update()
                .filter_by(**key)
                .values(units_per_second=blended, samples=row["samples"] + 1, updated_at=time.time())
            )

    def estimate(self, manifest: WorkflowPreset, quality: str, inputs: dict[str, Any]) -> TimeEstimate:
        """Seconds for these inputs at the recorded rate, else the quality level's manifest figure."""
        work = work_of(manifest, inputs, self.input_dir)
        key = _kind(manifest, quality, work.unit)
        with self.engine.connect() as conn:
            rate = conn.execute(select(throughput.c.units_per_second).filter_by(**key)).scalar()
        if rate:
            return TimeEstimate(round(work.amount / rate, 1), "measured")
        return manifest_estimate(manifest, quality, self._scale_to_sample(manifest, work))

    def _scale_to_sample(self, manifest: WorkflowPreset, work: Work) -> float:
        """``work`` over the work of the preset's sample input (1 when they cannot be compared)."""
        if work.unit == "runs":
            return 1.0
        sample = self._sample(manifest)
        if sample is None or sample.unit != work.unit or sample.amount <= 0:
            return 1.0
        return work.amount / sample.amount

    def _sample(self, manifest: WorkflowPreset) -> Work | None:
        """The work of the variant's sample input, probed once it is there (None without a variant)."""
        key = (manifest.id, manifest.engine)
        if key not in self._sample_work:
            variant = self._variant(*key)
            if variant is None:
                return None
            sample = work_of(manifest, sample_inputs(manifest, variant.graph, self.input_dir), self.input_dir)
            if sample.unit == "runs":
                return sample  # the sample file is not in the input folder yet: look again next time
            self._sample_work[key] = sample
        return self._sample_work[key]
