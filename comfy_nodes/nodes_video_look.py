"""VIDEO variants of the look nodes (colour grade, tone map, film grain); imported only inside ComfyUI.

Same widgets as the IMAGE nodes (the schema code is shared), but they take and return a VIDEO: each one
appends its pass to a lazily streamed clip (``StreamedVideo``) and returns at once. The save node (or any
consumer) then runs grade -> tone map -> grain in one streamed pass with one encode, so a clip of any
length fits in memory and nothing is re-encoded between steps.
"""

from __future__ import annotations

from typing import Any

from comfy_api.latest import io

from .node_helpers import node_schema
from .nodes_polish import (
    NO_LUT,
    FilmGrainNode,
    ToneMapNode,
    grade_inputs,
    grain_inputs,
    resolve_lut,
    tonemap_inputs,
    validate_grade,
)
from .polish.grade import GradeAdjust
from .polish.passes import GradePass, GrainPass, ToneMapPass
from .streamed_video import StreamedVideo

__all__ = ["LOOK_VIDEO_NODES", "ColorGradeVideoNode", "FilmGrainVideoNode", "ToneMapVideoNode"]

CATEGORY = "AInfluencer/polish"
_STREAMED = " Streams with the other video steps: one decode, one encode, flat memory at any clip length."


def _clip_in(what: str) -> io.Video.Input:
    return io.Video.Input("video", tooltip=f"The clip to {what}; its audio passes through untouched.")


class ColorGradeVideoNode(io.ComfyNode):
    """Colour grade a clip, streamed (the VIDEO twin of AInfluencer Colour Grade)."""

    @classmethod
    def define_schema(cls) -> io.Schema:
        """Describe the node: video + the grade's widgets -> video."""
        return node_schema(
            "AInfluencerColorGradeVideo",
            "AInfluencer Colour Grade (video)",
            CATEGORY,
            "Primary colour grade of a clip, blended with the input by intensity." + _STREAMED,
            inputs=[_clip_in("grade"), *grade_inputs()],
            outputs=[io.Video.Output("graded_video", display_name="video")],
        )

    @classmethod
    def validate_inputs(cls, style: str | None = None, look_lut: str | None = None) -> bool | str:
        """Reject unknown styles and LUTs (V3 combos skip core's list check)."""
        return validate_grade(style, look_lut)

    @classmethod
    def execute(
        cls, video: Any, style: str, intensity: float, look_lut: str = NO_LUT, **trims: float
    ) -> io.NodeOutput:
        """Append the grade to the clip's passes (nothing is decoded here)."""
        # The trim inputs (temperature, tint, saturation, lift, gamma, gain) are GradeAdjust's fields.
        look = None if look_lut == NO_LUT else resolve_lut(look_lut)
        spec = GradePass(style, intensity, GradeAdjust(**trims), look)
        return io.NodeOutput(StreamedVideo.chained(video, spec))


class ToneMapVideoNode(io.ComfyNode):
    """Tone-map a clip in linear light, streamed (the VIDEO twin of AInfluencer Tone Map)."""

    @classmethod
    def define_schema(cls) -> io.Schema:
        """Describe the node: video + the tone map's widgets -> video."""
        return node_schema(
            "AInfluencerToneMapVideo",
            "AInfluencer Tone Map (video)",
            CATEGORY,
            "Filmic highlight roll-off in linear light (exposure, then the curve)." + _STREAMED,
            inputs=[_clip_in("tone-map"), *tonemap_inputs()],
            outputs=[io.Video.Output("tonemapped_video", display_name="video")],
        )

    @classmethod
    def validate_inputs(cls, operator: str | None = None) -> bool | str:
        """Reject an unknown operator."""
        return ToneMapNode.validate_inputs(operator=operator)

    @classmethod
    def execute(cls, video: Any, operator: str, exposure: float, white_point: float) -> io.NodeOutput:
        """Append the tone map to the clip's passes."""
        return io.NodeOutput(StreamedVideo.chained(video, ToneMapPass(operator, exposure, white_point)))


class FilmGrainVideoNode(io.ComfyNode):
    """Film grain on a clip, fresh every frame, streamed (the VIDEO twin of AInfluencer Film Grain)."""

    @classmethod
    def define_schema(cls) -> io.Schema:
        """Describe the node: video + the grain's widgets -> video."""
        return node_schema(
            "AInfluencerFilmGrainVideo",
            "AInfluencer Film Grain (video)",
            CATEGORY,
            "Mean-preserving film grain, strongest in the mid-tones, fresh on every frame." + _STREAMED,
            inputs=[_clip_in("add grain to"), *grain_inputs()],
            outputs=[io.Video.Output("grained_video", display_name="video")],
        )

    @classmethod
    def validate_inputs(cls, look: str | None = None) -> bool | str:
        """Reject an unknown film look."""
        return FilmGrainNode.validate_inputs(look=look)

    @classmethod
    def execute(
        cls, video: Any, strength: float, size: float, chroma: float, seed: int, look: str = "custom"
    ) -> io.NodeOutput:
        """Append the grain to the clip's passes."""
        return io.NodeOutput(StreamedVideo.chained(video, GrainPass(strength, size, chroma, seed, look)))


LOOK_VIDEO_NODES: list[type[io.ComfyNode]] = [ColorGradeVideoNode, ToneMapVideoNode, FilmGrainVideoNode]
