"""How far a job is: each node's share of the run, and the frames of a streamed video pass with its ETA.

A streamed video preset does its work in one node: the VIDEO look nodes (grade, grain, tone map, deflicker,
upscale, interpolation) only append a pass and finish at once, and the node that writes the clip (the signed
save, the social export, core's Save Video) decodes, processes and encodes every frame. Counting nodes
would put such a job at 80 % before the first frame and leave it there, so those nodes together carry
FRAME_SHARE of the job's progress, moved by their frames done / total (ComfyUI's progress bar of the node).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from .timing import human_duration

# the nodes that render a streamed VIDEO frame by frame (comfy_nodes/streamed_video.py render_plan and the
# social export): their progress bar counts frames
FRAME_PASS_NODES = frozenset({"AInfluencerSaveVideo", "AInfluencerSocialExport", "SaveVideo"})
FRAME_SHARE = 0.9  # of a job's progress, for its frame passes together
MIN_RATE_SPAN_S = 0.5  # the pace is measured over at least this long before an ETA is given


def frame_pass_nodes(prompt: dict[str, Any]) -> frozenset[str]:
    """The ids of an API prompt's nodes that render a streamed video frame by frame."""
    return frozenset(
        str(node_id)
        for node_id, node in prompt.items()
        if isinstance(node, dict) and node.get("class_type") in FRAME_PASS_NODES
    )


def node_weights(prompt: dict[str, Any]) -> dict[str, float]:
    """Each node's share of a job's progress (summing to 1): frame passes FRAME_SHARE, the others the rest."""
    ids = [str(node_id) for node_id, node in prompt.items() if isinstance(node, dict)]
    frame_nodes = frame_pass_nodes(prompt)
    passes = [i for i in ids if i in frame_nodes]
    others = [i for i in ids if i not in passes]
    if not passes or not others:
        return {i: 1.0 / len(ids) for i in ids} if ids else {}
    return {
        **{i: (1.0 - FRAME_SHARE) / len(others) for i in others},
        **{i: FRAME_SHARE / len(passes) for i in passes},
    }


@dataclass(frozen=True)
class FrameProgress:
    """A streamed pass under way: frames done of total and, once its pace is known, the seconds it needs."""

    node_id: str
    done: int
    total: int
    eta_seconds: float | None

    def text(self) -> str:
        """`frame 120 of 300, about 12 s left` (the job's progress text while the pass runs)."""
        left = f", about {human_duration(self.eta_seconds)} left" if self.eta_seconds is not None else ""
        return f"node {self.node_id}: frame {self.done} of {self.total}{left}"


@dataclass
class FramePass:
    """The frames a node reported so far, with when its first report came (the pace is measured from it)."""

    node_id: str
    first_done: int
    first_at: float
    done: int
    total: int
    at: float

    @classmethod
    def start(cls, node_id: str, done: int, total: int, now: float | None = None) -> FramePass:
        """A pass seen for the first time at `done` of `total` frames."""
        now = time.monotonic() if now is None else now
        return cls(node_id, done, now, done, total, now)

    def update(self, done: int, total: int, now: float | None = None) -> None:
        """Record the pass's latest frame count."""
        self.done, self.total, self.at = done, total, time.monotonic() if now is None else now

    def progress(self) -> FrameProgress:
        """Frames done / total and the ETA at the pace since the first report (None until it is measured)."""
        span, frames = self.at - self.first_at, self.done - self.first_done
        eta = None
        if span >= MIN_RATE_SPAN_S and frames > 0:
            eta = max(0.0, (self.total - self.done) * span / frames)
        return FrameProgress(self.node_id, self.done, self.total, eta)


def frame_fields(frames: FrameProgress | None) -> dict[str, Any]:
    """The frame fields of a job answer and event: `frames_done`, `frames_total`, `eta_seconds` (or None)."""
    if frames is None:
        return {"frames_done": None, "frames_total": None, "eta_seconds": None}
    eta = round(frames.eta_seconds, 1) if frames.eta_seconds is not None else None
    return {"frames_done": frames.done, "frames_total": frames.total, "eta_seconds": eta}
