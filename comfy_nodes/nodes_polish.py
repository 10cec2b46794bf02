"""V3 ComfyUI nodes for the polish passes (colour grade, film grain); imported only inside ComfyUI.

The classes are thin: they validate, report progress per chunk through ``comfy.utils.ProgressBar`` (whose
hook also honours interrupts) and call the pure torch functions in ``.polish``.
"""

from __future__ import annotations

from collections.abc import Callable

import comfy.utils
import torch
from comfy_api.latest import io

from .polish.grade import GRADE_STYLES, apply_grade
from .polish.grain import apply_film_grain

__all__ = ["POLISH_NODES", "ColorGradeNode", "FilmGrainNode"]

CATEGORY = "AInfluencer/polish"
GRADE_STYLE_NAMES: list[str] = list(GRADE_STYLES)
SEED_MAX = 2**32 - 1


def _progress_callback() -> Callable[[int, int], None]:
    """Return an ``on_chunk(done, total)`` callback driving a ProgressBar (created on first call)."""
    bar: comfy.utils.ProgressBar | None = None

    def on_chunk(done: int, total: int) -> None:
        nonlocal bar
        if bar is None:
            bar = comfy.utils.ProgressBar(total)
        bar.update_absolute(done, total)

    return on_chunk


class ColorGradeNode(io.ComfyNode):
    """Apply a named primary colour grade to an image batch."""

    @classmethod
    def define_schema(cls) -> io.Schema:
        """Describe the node: images, style, intensity -> images."""
        return io.Schema(
            node_id="AInfluencerColorGrade",
            display_name="AInfluencer Colour Grade",
            category=CATEGORY,
            description=(
                "Primary colour grade (white balance, saturation, S-curve contrast, lift/gamma/gain) "
                "blended with the input by intensity."
            ),
            inputs=[
                io.Image.Input("images", tooltip="Frames to grade (IMAGE batch, sRGB 0..1)."),
                io.Combo.Input(
                    "style",
                    options=GRADE_STYLE_NAMES,
                    default="cinematic",
                    tooltip=(
                        "Look: neutral (clean contrast), warm (golden), cool (daylight blue), "
                        "cinematic (teal shadows, orange highlights and skin, gentle S-curve)."
                    ),
                ),
                io.Float.Input(
                    "intensity",
                    default=0.7,
                    min=0.0,
                    max=1.0,
                    step=0.01,
                    tooltip="Blend between the original (0) and the full look (1).",
                ),
            ],
            # Output ids must differ from input ids; the graph and UI see the name "images".
            outputs=[io.Image.Output("graded_images", display_name="images", tooltip="The graded frames.")],
        )

    @classmethod
    def validate_inputs(cls, style: str | None = None) -> bool | str:
        """Reject a style that is not one of the known looks (V3 combos skip core's list check)."""
        if style is None:  # linked from another node: checked again at run time
            return True
        if style not in GRADE_STYLES:
            return f"Unknown colour grade style {style!r}; valid styles: {', '.join(GRADE_STYLE_NAMES)}."
        return True

    @classmethod
    def execute(cls, images: torch.Tensor, style: str, intensity: float) -> io.NodeOutput:
        """Grade the batch chunk by chunk."""
        graded = apply_grade(images, style, intensity, on_chunk=_progress_callback())
        return io.NodeOutput(graded)


class FilmGrainNode(io.ComfyNode):
    """Add luma-dependent, per-frame film grain to an image batch."""

    @classmethod
    def define_schema(cls) -> io.Schema:
        """Describe the node: images, strength, size, chroma, seed -> images."""
        return io.Schema(
            node_id="AInfluencerFilmGrain",
            display_name="AInfluencer Film Grain",
            category=CATEGORY,
            description=(
                "Mean-preserving film grain, strongest in the mid-tones, fresh on every frame and "
                "sized relative to the frame so it looks alike at 720p and 1080p."
            ),
            inputs=[
                io.Image.Input("images", tooltip="Frames to add grain to (IMAGE batch, sRGB 0..1)."),
                io.Float.Input(
                    "strength",
                    default=0.3,
                    min=0.0,
                    max=1.0,
                    step=0.01,
                    tooltip="Grain amount; 0 leaves the frames untouched, 1 is heavy grain.",
                ),
                io.Float.Input(
                    "size",
                    default=1.0,
                    min=0.5,
                    max=4.0,
                    step=0.05,
                    tooltip="Grain size relative to the frame height; larger is coarser, softer grain.",
                ),
                io.Float.Input(
                    "chroma",
                    default=0.0,
                    min=0.0,
                    max=1.0,
                    step=0.01,
                    tooltip="Colour grain on top of the monochrome grain; 0 is monochrome film grain.",
                ),
                io.Int.Input(
                    "seed",
                    default=0,
                    min=0,
                    max=SEED_MAX,
                    control_after_generate=True,
                    tooltip="Grain pattern seed; each frame derives its own pattern from it.",
                ),
            ],
            # Output ids must differ from input ids; the graph and UI see the name "images".
            outputs=[
                io.Image.Output("grained_images", display_name="images", tooltip="The frames with grain.")
            ],
        )

    @classmethod
    def execute(
        cls, images: torch.Tensor, strength: float, size: float, chroma: float, seed: int
    ) -> io.NodeOutput:
        """Add grain to the batch chunk by chunk."""
        grained = apply_film_grain(images, strength, size, chroma, seed, on_chunk=_progress_callback())
        return io.NodeOutput(grained)


POLISH_NODES: list[type[io.ComfyNode]] = [ColorGradeNode, FilmGrainNode]
