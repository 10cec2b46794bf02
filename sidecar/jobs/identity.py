"""Identity, measured: how far each output face is from the reference face, and the warning when it drifts.

Distances are Euclidean between 128-d face embeddings (dlib's ResNet face descriptor). dlib documents 0.6
as the decision threshold: two faces closer than 0.6 are the same person with 99.38% accuracy on the LFW
benchmark (http://dlib.net/face_recognition.py.html). Pure logic: no model, no ComfyUI.
"""

from __future__ import annotations

import itertools
import json
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any, Literal

import numpy as np
from sqlalchemy import Column, Float, ForeignKey, Integer, String, Text, insert, select
from sqlalchemy.engine import Engine

from ..core.storage import numbered_table

DEFAULT_THRESHOLD = 0.6
Subject = Literal["shot", "frame"]

identity_checks = numbered_table(
    "identity_checks",
    Column("job_id", String(64), ForeignKey("jobs.job_id", ondelete="CASCADE"), index=True, nullable=False),
    Column("node_id", String(64)),
    Column("report_json", Text, nullable=False),
    Column("drifted", Integer, nullable=False),  # 1 when any shot or frame is past the threshold
    Column("created_at", Float, nullable=False),
)


@dataclass(frozen=True)
class IdentityReport:
    """The distance of each shot or frame to the nearest reference face, and what that says."""

    subject: Subject
    labels: tuple[int, ...]  # shot numbers (from 1) or frame indices, one per measured item
    distances: tuple[float | None, ...]  # None: no face found in that shot or frame
    frame_spread: float | None  # the largest embedding step between neighbouring measured items
    threshold: float = DEFAULT_THRESHOLD

    @property
    def measured(self) -> list[float]:
        """The distances of the items where a face was found."""
        return [d for d in self.distances if d is not None]

    @property
    def mean(self) -> float | None:
        """The mean distance over items with a face."""
        return round(float(np.mean(self.measured)), 4) if self.measured else None

    @property
    def worst(self) -> float | None:
        """The largest distance over items with a face."""
        return round(max(self.measured), 4) if self.measured else None

    @property
    def drifted(self) -> tuple[int, ...]:
        """Labels of the items past the threshold or without a face."""
        return tuple(
            label
            for label, d in zip(self.labels, self.distances, strict=True)
            if d is None or d > self.threshold
        )

    @property
    def warning(self) -> str | None:
        """The job's warning, e.g. "identity drift in shots 3 and 7"; None when every item holds."""
        if not self.drifted:
            return None
        plural = self.subject + ("s" if len(self.drifted) > 1 else "")
        return f"identity drift in {plural} {_and_list(self.drifted)} (face distance above {self.threshold})"

    @property
    def summary(self) -> str:
        """One line: the warning, or the mean and worst distance."""
        return self.warning or (
            f"identity holds: mean distance {self.mean}, worst {self.worst} (threshold {self.threshold})"
        )

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready record: every distance plus mean, worst, spread, drifted items and the warning."""
        return {
            **asdict(self),
            "mean": self.mean,
            "worst": self.worst,
            "drifted": list(self.drifted),
            "warning": self.warning,
        }


def _and_list(labels: Sequence[int]) -> str:
    words = [str(label) for label in labels]
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " and " + words[-1]


def face_distance(reference: Sequence[np.ndarray], embedding: np.ndarray) -> float:
    """Distance of one face embedding to the nearest of 1–3 reference embeddings."""
    return float(min(np.linalg.norm(np.asarray(ref) - np.asarray(embedding)) for ref in reference))


def measure(
    reference: Sequence[np.ndarray],
    outputs: Sequence[np.ndarray | None],
    *,
    subject: Subject,
    labels: Sequence[int] | None = None,
    threshold: float = DEFAULT_THRESHOLD,
) -> IdentityReport:
    """Compare each output embedding (None: no face) with the references and summarise the drift."""
    if not reference:
        raise ValueError("at least one reference face is needed")
    labels = tuple(labels) if labels is not None else tuple(range(1, len(outputs) + 1))
    if len(labels) != len(outputs):
        raise ValueError("one label per output")
    distances = tuple(None if e is None else round(face_distance(reference, e), 4) for e in outputs)
    found = [np.asarray(e) for e in outputs if e is not None]
    steps = [float(np.linalg.norm(b - a)) for a, b in itertools.pairwise(found)]
    spread = round(max(steps), 4) if steps else None
    return IdentityReport(subject, labels, distances, spread, threshold)


class IdentityRecords:
    """The identity checks recorded on jobs (one row per measuring node run)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        identity_checks.create(engine, checkfirst=True)

    def record(self, job_id: str, node_id: str | None, report: IdentityReport) -> None:
        """Store one report on a job."""
        with self.engine.begin() as conn:
            conn.execute(
                insert(identity_checks).values(
                    job_id=job_id,
                    node_id=node_id,
                    report_json=json.dumps(report.to_dict()),
                    drifted=int(bool(report.drifted)),
                    created_at=time.time(),
                )
            )

    def for_job(self, job_id: str) -> list[dict[str, Any]]:
        """Every report recorded on a job, oldest first, each with the node that measured it."""
        query = (
            select(identity_checks).where(identity_checks.c.job_id == job_id).order_by(identity_checks.c.id)
        )
        with self.engine.connect() as conn:
            return [{"node_id": r.node_id, **json.loads(r.report_json)} for r in conn.execute(query)]


def identity_summary(reports: list[dict[str, Any]]) -> dict[str, Any] | None:
    """What a job answer shows: the reports and their warnings (None when nothing was measured)."""
    if not reports:
        return None
    return {"checks": reports, "warnings": [r["warning"] for r in reports if r.get("warning")]}
