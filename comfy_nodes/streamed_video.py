"""``StreamedVideo``: the lazy VIDEO value the pack's video polish nodes pass along.

A node appends its pass to the plan and returns at once; nothing is decoded or encoded until a consumer
(the signed save node, the social export, or any core node through ``VideoInput``'s methods) asks for
frames, and then the whole chain runs in one streamed pass with one final encode. ComfyUI caches node
outputs, so the value is pure (source file + pass specs) and can be rendered any number of times; the
node cache key still follows the source because LoadVideo's own key hashes the file.
Imported only inside ComfyUI.
"""

from __future__ import annotations

import json
from fractions import Fraction
from pathlib import Path
from typing import IO, Any

import comfy.model_management
from comfy_api.latest import Input, InputImpl
from comfy_api.util import VideoCodec, VideoComponents, VideoContainer

from .node_helpers import device, progress_callback, temp_video_path, video_path
from .polish.passes import PassSpec
from .polish.stream_plan import ClipShape, StreamPlan

__all__ = ["StreamedVideo", "plan_of", "render_plan"]


def render_plan(plan: StreamPlan, dst: Path, metadata: dict[str, str] | None = None) -> Path:
    """Render ``plan`` into ``dst`` with ComfyUI's progress bar (frames) and interrupt check per chunk."""
    return plan.render(
        dst,
        device=device(),
        tick=comfy.model_management.throw_exception_if_processing_interrupted,
        on_frames=progress_callback(),
        metadata=metadata,
    )


def plan_of(video: Any) -> StreamPlan:
    """The stream plan behind a VIDEO input: a StreamedVideo's own, or a plan with no passes yet."""
    if isinstance(video, StreamedVideo):
        return video.plan
    return StreamPlan(video_path(video))


def _tags(metadata: dict | None) -> dict[str, str] | None:
    """Container tags the way core's save does: strings as they are, anything else as JSON."""
    if not metadata:
        return None
    return {k: v if isinstance(v, str) else json.dumps(v) for k, v in metadata.items()}


class StreamedVideo(Input.Video):
    """A source clip plus the passes still to run on it; rendered on demand, never consumed."""

    def __init__(self, plan: StreamPlan) -> None:
        self.plan = plan

    @classmethod
    def chained(cls, video: Any, spec: PassSpec) -> StreamedVideo:
        """``video`` with ``spec`` appended (no decode, no encode)."""
        return cls(plan_of(video).then(spec))

    def _shape(self) -> ClipShape:
        return self.plan.shape()

    def _render_temp(self, tag: str = "streamed") -> Path:
        return render_plan(self.plan, temp_video_path(tag))

    def save_to(
        self,
        path: str | IO[bytes],
        format: VideoContainer = VideoContainer.AUTO,
        codec: VideoCodec = VideoCodec.AUTO,
        metadata: dict | None = None,
    ) -> None:
        """Render straight into ``path`` when it is an MP4/H.264 file, else render and let core convert."""
        # VideoContainer and VideoCodec are str enums: "auto" == VideoContainer.AUTO
        direct = format in ("auto", "mp4") and codec in ("auto", "h264")
        if isinstance(path, str) and direct:
            render_plan(self.plan, Path(path), _tags(metadata))
            return
        rendered = self._render_temp()
        try:
            if direct and metadata is None and not isinstance(path, str):
                path.write(rendered.read_bytes())
                return
            rendered_video = InputImpl.VideoFromFile(str(rendered))
            rendered_video.save_to(path, format=format, codec=codec, metadata=metadata)
        finally:
            rendered.unlink(missing_ok=True)

    def get_components(self) -> VideoComponents:
        """Every frame in memory (what core's image nodes need): rendered, then decoded by core."""
        rendered = self._render_temp("components")
        try:
            return InputImpl.VideoFromFile(str(rendered)).get_components()
        finally:
            rendered.unlink(missing_ok=True)

    def get_stream_source(self) -> str:
        """A rendered file (never the source: the passes must run)."""
        return str(self._render_temp("stream"))

    def get_dimensions(self) -> tuple[int, int]:
        """(width, height) after the passes, from the source's probe."""
        shape = self._shape()
        return shape.width, shape.height

    def get_duration(self) -> float:
        """Seconds (the passes keep the duration)."""
        return self._shape().duration

    def get_frame_count(self) -> int:
        """Frames after the passes (interpolation doubles them)."""
        return self._shape().frame_count

    def get_frame_rate(self) -> Fraction:
        """Constant output frame rate."""
        return self._shape().fps

    def get_container_format(self) -> str:
        """Always rendered as MP4."""
        return "mp4"
