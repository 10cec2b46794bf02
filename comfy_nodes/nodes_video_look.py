"""VIDEO variants of the look nodes (colour grade, tone map, film grain); imported only inside ComfyUI.

Same widgets as the IMAGE nodes (the schema code is shared), but they take and return a VIDEO: each one
appends its pass to a lazily streamed clip (``StreamedVideo``) and returns at once. The save node (or any
consumer) then runs grade -> tone map -> grain in one streamed pass with one encode, so a clip of any
length fits in memory and nothing is re-encoded between steps.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from comfy_api.latest import io

from .node_helpers import node_schema
from .nodes_polish import (
    NO_LUT,
    ColorGradeNode,
    FilmGrainNode,
    ToneMapNode,
    grade_inputs,
    grain_inputs,
    resolve_lut,
    tonemap_inputs,
)
from .polish.grade import GradeAdjust
from .polish.passes import GradePass, GrainPass, PassSpec, ToneMapPass
from .streamed_video import StreamedVideo

__all__ = ["LOOK_VIDEO_NODES", "ColorGradeVideoNode", "FilmGrainVideoNode", "ToneMapVideoNode"]

CATEGORY = "AInfluencer/polish"
_STREAMED = " Streams with the other video steps: one decode, one encode, flat memory at any clip length."


def _look_schema(kind: str, parts: dict[str, Any]) -> io.Schema:
    """A look node's schema; its id and name are literals here so every node id stays greppable."""
    if kind == "grade":
        return node_schema(
            "AInfluencerColorGradeVideo", "AInfluencer Colour Grade (video)", CATEGORY, **parts
        )
    if kind == "tonemap":
        return node_schema("AInfluencerToneMapVideo", "AInfluencer Tone Map (video)", CATEGORY, **parts)
    return node_schema("AInfluencerFilmGrainVideo", "AInfluencer Film Grain (video)", CATEGORY, **parts)


class _ChainedLookNode(io.ComfyNode):
    """A look step on a VIDEO: the IMAGE node's widgets; executing appends its pass to the clip."""

    KIND = DESCRIPTION = VERB = OUTPUT_ID = ""
    WIDGETS: staticmethod  # () -> the IMAGE node's widget inputs
    PASS: Callable[..., PassSpec]  # the pass spec, built from the widget values by name

    @classmethod
    def spec(cls, **widgets: Any) -> PassSpec:
        """The pass for these widget values."""
        return cls.PASS(**widgets)

    @classmethod
    def define_schema(cls) -> io.Schema:
        """Describe the node: video + the IMAGE node's widgets -> video."""
        clip = io.Video.Input("video", tooltip=f"The clip to {cls.VERB}; its audio passes through untouched.")
        parts = {
            "description": cls.DESCRIPTION + _STREAMED,
            "inputs": [clip, *cls.WIDGETS()],
            "outputs": [io.Video.Output(cls.OUTPUT_ID, display_name="video")],
        }
        return _look_schema(cls.KIND, parts)

    @classmethod
    def execute(cls, video: Any, **widgets: Any) -> io.NodeOutput:
        """Append this step's pass to the clip's passes (nothing is decoded here)."""
        return io.NodeOutput(StreamedVideo.chained(video, cls.spec(**widgets)))


class ColorGradeVideoNode(_ChainedLookNode):
    """Colour grade a clip, streamed (the VIDEO twin of AInfluencer Colour Grade)."""

    KIND, VERB, OUTPUT_ID = "grade", "grade", "graded_video"
    DESCRIPTION = "Primary colour grade of a clip, blended with the input by intensity."

    WIDGETS = staticmethod(grade_inputs)
    validate_inputs = ColorGradeNode.validate_inputs  # the same combo checks as the IMAGE node

    @classmethod
    def spec(cls, style: str, intensity: float, look_lut: str = NO_LUT, **trims: float) -> PassSpec:
        """The grade; the trim inputs (temperature, tint, saturation, ...) are GradeAdjust's fields."""
        look = None if look_lut == NO_LUT else resolve_lut(look_lut)
        return GradePass(style, intensity, GradeAdjust(**trims), look)


def _look_node(
    name: str, twin: type[io.ComfyNode], ids: str, description: str, widgets: Any, spec: Any
) -> type:
    """A look node class from ``ids`` ("kind|verb|output id"); ``twin`` is the IMAGE node."""
    kind, verb, output_id = ids.split("|")
    body = {
        "__doc__": f"{description} (the VIDEO twin of {twin.__name__}).",
        "KIND": kind, "VERB": verb, "OUTPUT_ID": output_id,
        "DESCRIPTION": description, "WIDGETS": staticmethod(widgets), "PASS": spec,
        "validate_inputs": twin.validate_inputs,  # the same combo checks (its signature names the combos)
    }  # fmt: skip
    return type(name, (_ChainedLookNode,), body)


ToneMapVideoNode, FilmGrainVideoNode = (
    _look_node(*row)
    for row in [
        ("ToneMapVideoNode", ToneMapNode, "tonemap|tone-map|tonemapped_video",
         "Filmic highlight roll-off in linear light (exposure, then the curve).",
         tonemap_inputs, ToneMapPass),
        ("FilmGrainVideoNode", FilmGrainNode, "grain|add grain to|grained_video",
         "Mean-preserving film grain, strongest in the mid-tones, fresh on every frame.",
         grain_inputs, GrainPass),
    ]
)  # fmt: skip


LOOK_VIDEO_NODES: list[type[io.ComfyNode]] = [ColorGradeVideoNode, ToneMapVideoNode, FilmGrainVideoNode]
