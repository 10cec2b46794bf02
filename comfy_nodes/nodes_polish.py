"""V3 ComfyUI nodes for the polish passes (grade, LUT, tone map, grain); imported only inside ComfyUI.

The classes are thin: they validate, report progress per chunk through ``comfy.utils.ProgressBar`` (whose
hook also honours interrupts) and call the pure torch functions in ``.polish``.
"""

from __future__ import annotations

import functools
import os

import folder_paths
import torch
from comfy_api.latest import io

from .node_helpers import float_input, node_schema, progress_callback
from .polish.grade import GRADE_STYLES, GradeAdjust, apply_grade, grade_lut
from .polish.grain import GRAIN_LOOK_NAMES, apply_film_grain
from .polish.lut import Lut3D, LutError, apply_lut, load_cube
from .polish.tonemap import DEFAULT_WHITE_POINT, TONEMAP_OPERATORS, apply_tonemap

__all__ = [
    "POLISH_NODES",
    "ApplyLUTNode",
    "ColorGradeNode",
    "FilmGrainNode",
    "ToneMapNode",
    "grade_inputs",
    "grain_inputs",
    "lut_options",
    "resolve_lut",
    "tonemap_inputs",
    "validate_grade",
]

CATEGORY = "AInfluencer/polish"
GRADE_STYLE_NAMES: list[str] = list(GRADE_STYLES)
SEED_MAX = 2**32 - 1
LUT_FOLDER = "luts"
NO_LUT = "none"
# Built-in looks (our grade styles baked to 33^3 LUTs), listed before the user's .cube files.
BUILTIN_PREFIX = "builtin/"
_LUT_BLEND_TIP = "Blend between the original (0) and the LUT's result (1)."
_WHITE_POINT_TIP = "Reinhard only: linear luminance (after exposure) that maps to white."


def _register_lut_folder() -> None:
    """Register ComfyUI's ``models/luts`` folder for ``.cube`` files (idempotent)."""
    default = os.path.join(folder_paths.models_dir, LUT_FOLDER)
    if LUT_FOLDER not in folder_paths.folder_names_and_paths:
        folder_paths.folder_names_and_paths[LUT_FOLDER] = ([default], {".cube"})
    else:
        folder_paths.folder_names_and_paths[LUT_FOLDER][1].add(".cube")


_register_lut_folder()


def lut_options(include_none: bool) -> list[str]:
    """LUT choices: optionally ``none``, the built-in looks, then ``.cube`` files in the luts folder."""
    files = sorted(f for f in folder_paths.get_filename_list(LUT_FOLDER) if f.lower().endswith(".cube"))
    builtin = [BUILTIN_PREFIX + name for name in GRADE_STYLE_NAMES]
    return ([NO_LUT] if include_none else []) + builtin + files


@functools.lru_cache(maxsize=8)
def _cached_cube(path: str, mtime: float) -> Lut3D:
    return load_cube(path)


def resolve_lut(name: str) -> Lut3D:
    """The LUT for a combo choice: a baked built-in look or a parsed ``.cube`` file (cached by mtime)."""
    if name.startswith(BUILTIN_PREFIX) and name[len(BUILTIN_PREFIX) :] in GRADE_STYLES:
        return grade_lut(name[len(BUILTIN_PREFIX) :])
    path = folder_paths.get_full_path(LUT_FOLDER, name)
    if path is None:
        raise LutError("LUT_NOT_FOUND", f"LUT {name!r} not found in the {LUT_FOLDER} models folder")
    return _cached_cube(path, os.path.getmtime(path))


def _check_lut_choice(name: str | None, include_none: bool) -> bool | str:
    if name is None or name in lut_options(include_none):
        return True
    return f"Unknown LUT {name!r}; put .cube files in ComfyUI's models/{LUT_FOLDER} folder."


def _images_in(what: str) -> io.Image.Input:
    """An IMAGE input whose tooltip says what it takes and where a long clip belongs instead."""
    tip = f"{what}; for clips longer than a few seconds use the (video) node, which streams them."
    return io.Image.Input("images", tooltip=tip)


def grade_inputs() -> list[io.Input]:
    """The grade's widgets, shared by the IMAGE and VIDEO nodes."""
    return [
        io.Combo.Input(
            "style",
            options=GRADE_STYLE_NAMES,
            default="cinematic",
            tooltip=(
                "Look: neutral (clean contrast), warm (golden), cool (daylight blue), "
                "cinematic (teal shadows, orange highlights and skin, gentle S-curve)."
            ),
        ),
        float_input(
            "intensity", 0.7, 0.0, 1.0, 0.01, "Blend between the original (0) and the full look (1)."
        ),
        float_input(
            "temperature",
            0.0,
            -1.0,
            1.0,
            0.01,
            "White balance trim in linear light: < 0 cooler (blue), > 0 warmer (amber).",
        ),
        float_input("tint", 0.0, -1.0, 1.0, 0.01, "< 0 greener, > 0 more magenta."),
        float_input("saturation", 1.0, 0.0, 2.0, 0.01, "Multiplies the style's."),
        float_input("lift", 0.0, -0.5, 0.5, 0.005, "Raises (> 0) or sinks blacks."),
        float_input("gamma", 1.0, 0.2, 5.0, 0.01, "> 1 brightens the mid-tones."),
        float_input("gain", 1.0, 0.2, 2.0, 0.01, "Scales the highlights."),
        io.Combo.Input(
            "look_lut",
            options=lut_options(include_none=True),
            default=NO_LUT,
            tooltip=(
                "Optional LUT applied after the grade; grade and LUT are baked into one LUT and "
                "applied in a single pass."
            ),
        ),
    ]


def grain_inputs() -> list[io.Input]:
    """The film grain's widgets, shared by the IMAGE and VIDEO nodes."""
    return [
        float_input(
            "strength",
            0.3,
            0.0,
            1.0,
            0.01,
            "Grain amount; 0 leaves the frames untouched, 1 is heavy grain.",
        ),
        float_input(
            "size",
            1.0,
            0.5,
            4.0,
            0.05,
            "Grain size relative to the frame height; larger is coarser, softer grain.",
        ),
        float_input(
            "chroma",
            0.0,
            0.0,
            1.0,
            0.01,
            "Colour grain on top of the monochrome grain; 0 is monochrome film grain.",
        ),
        io.Int.Input(
            "seed",
            default=0,
            min=0,
            max=SEED_MAX,
            control_after_generate=True,
            tooltip="Grain pattern seed; each frame derives its own pattern from it.",
        ),
        io.Combo.Input(
            "look",
            options=list(GRAIN_LOOK_NAMES),
            default="custom",
            tooltip=(
                "Film stock: custom uses the parameters as given; 35mm fine, 16mm and 8mm scale "
                "size and strength, add colour grain and set the grain texture and luma response."
            ),
        ),
    ]


def tonemap_inputs() -> list[io.Input]:
    """The tone map's widgets, shared by the IMAGE and VIDEO nodes."""
    return [
        io.Combo.Input(
            "operator",
            options=list(TONEMAP_OPERATORS),
            default="reinhard",
            tooltip=(
                "reinhard: extended Reinhard on luminance, keeps hue (safest); hable: filmic, "
                "a little darker; aces: punchy, crushes deep shadows; agx: soft, bright skin, flat."
            ),
        ),
        float_input(
            "exposure",
            0.0,
            -4.0,
            4.0,
            0.05,
            "Exposure in stops applied in linear light before the curve.",
        ),
        float_input("white_point", DEFAULT_WHITE_POINT, 0.1, 64.0, 0.05, _WHITE_POINT_TIP),
    ]


def validate_grade(style: str | None, look_lut: str | None) -> bool | str:
    """The grade nodes' combo check: a known style and an installed (or built-in) LUT."""
    if style is not None and style not in GRADE_STYLES:
        return f"Unknown colour grade style {style!r}; valid styles: {', '.join(GRADE_STYLE_NAMES)}."
    return _check_lut_choice(look_lut, include_none=True)


class ColorGradeNode(io.ComfyNode):
    """Apply a named primary colour grade to an image batch."""

    @classmethod
    def define_schema(cls) -> io.Schema:
        """Describe the node: images, style, intensity -> images."""
        return node_schema(
            "AInfluencerColorGrade",
            "AInfluencer Colour Grade",
            CATEGORY,
            (
                "Primary colour grade (white balance, saturation, S-curve contrast, lift/gamma/gain) "
                "blended with the input by intensity."
            ),
            inputs=[
                _images_in("Frames to grade (IMAGE batch, sRGB 0..1)"),
                *grade_inputs(),
            ],
            # Output ids must differ from input ids; the graph and UI see the name "images".
            outputs=[io.Image.Output("graded_images", display_name="images", tooltip="The graded frames.")],
        )

    @classmethod
    def validate_inputs(cls, style: str | None = None, look_lut: str | None = None) -> bool | str:
        """Reject unknown styles and LUTs (V3 combos skip core's list check)."""
        return validate_grade(style, look_lut)

    @classmethod
    def execute(
        cls, images: torch.Tensor, style: str, intensity: float, look_lut: str = NO_LUT, **trims: float
    ) -> io.NodeOutput:
        """Grade the batch chunk by chunk (one baked LUT when a look LUT is chosen)."""
        # The trim inputs (temperature, tint, saturation, lift, gamma, gain) are GradeAdjust's fields.
        adjust = GradeAdjust(**trims)
        look = None if look_lut == NO_LUT else resolve_lut(look_lut)
        return io.NodeOutput(
            apply_grade(images, style, intensity, adjust=adjust, look=look, on_chunk=progress_callback())
        )


class FilmGrainNode(io.ComfyNode):
    """Add luma-dependent, per-frame film grain to an image batch."""

    @classmethod
    def define_schema(cls) -> io.Schema:
        """Describe the node: images, strength, size, chroma, seed -> images."""
        return node_schema(
            "AInfluencerFilmGrain",
            "AInfluencer Film Grain",
            CATEGORY,
            (
                "Mean-preserving film grain, strongest in the mid-tones, fresh on every frame and "
                "sized relative to the frame so it looks alike at 720p and 1080p."
            ),
            inputs=[
                _images_in("Frames to add grain to (IMAGE batch, sRGB 0..1)"),
                *grain_inputs(),
            ],
            # Output ids must differ from input ids; the graph and UI see the name "images".
            outputs=[
                io.Image.Output("grained_images", display_name="images", tooltip="The frames with grain.")
            ],
        )

    @classmethod
    def validate_inputs(cls, look: str | None = None) -> bool | str:
        """Reject an unknown film look."""
        if look is not None and look not in GRAIN_LOOK_NAMES:
            return f"Unknown grain look {look!r}; valid looks: {', '.join(GRAIN_LOOK_NAMES)}."
        return True

    @classmethod
    def execute(
        cls,
        images: torch.Tensor,
        strength: float,
        size: float,
        chroma: float,
        seed: int,
        look: str = "custom",
    ) -> io.NodeOutput:
        """Add grain to the batch chunk by chunk."""
        return io.NodeOutput(
            apply_film_grain(images, strength, size, chroma, seed, look=look, on_chunk=progress_callback())
        )


class ToneMapNode(io.ComfyNode):
    """Tone-map an image batch in linear light (Reinhard, Hable, ACES fit or AgX)."""

    @classmethod
    def define_schema(cls) -> io.Schema:
        """Describe the node: images, operator, exposure, white_point -> images."""
        return node_schema(
            "AInfluencerToneMap",
            "AInfluencer Tone Map",
            CATEGORY,
            (
                "Filmic highlight roll-off: decodes sRGB to linear light, applies exposure and the curve, "
                "and re-encodes."
            ),
            inputs=[
                _images_in("Frames to tone-map (IMAGE batch, sRGB 0..1)"),
                *tonemap_inputs(),
            ],
            outputs=[io.Image.Output("tonemapped_images", display_name="images", tooltip="The frames.")],
        )

    @classmethod
    def validate_inputs(cls, operator: str | None = None) -> bool | str:
        """Reject an unknown operator."""
        if operator is not None and operator not in TONEMAP_OPERATORS:
            return f"Unknown tone-mapping operator {operator!r}; valid: {', '.join(TONEMAP_OPERATORS)}."
        return True

    @classmethod
    def execute(
        cls, images: torch.Tensor, operator: str, exposure: float, white_point: float
    ) -> io.NodeOutput:
        """Tone-map the batch chunk by chunk."""
        return io.NodeOutput(
            apply_tonemap(images, operator, exposure, white_point, on_chunk=progress_callback())
        )


class ApplyLUTNode(io.ComfyNode):
    """Apply a 3D LUT (.cube or a built-in look) with tetrahedral interpolation."""

    @classmethod
    def define_schema(cls) -> io.Schema:
        """Describe the node: images, lut, intensity -> images."""
        return node_schema(
            "AInfluencerApplyLUT",
            "AInfluencer Apply LUT",
            CATEGORY,
            (
                "Applies a .cube 3D LUT from ComfyUI's models/luts folder (or a built-in look) with "
                "tetrahedral interpolation, blended with the input by intensity."
            ),
            inputs=[
                io.Image.Input(
                    "images",
                    tooltip=(
                        "Frames to grade (IMAGE batch, sRGB 0..1); for long clips use Colour Grade (video) "
                        "with look_lut, which streams them."
                    ),
                ),
                io.Combo.Input(
                    "lut",
                    options=lut_options(include_none=False),
                    tooltip="A .cube file in models/luts, or builtin/<style> (our grade styles as LUTs).",
                ),
                float_input("intensity", 1.0, 0.0, 1.0, 0.01, _LUT_BLEND_TIP),
            ],
            outputs=[io.Image.Output("graded_images", display_name="images", tooltip="The graded frames.")],
        )

    @classmethod
    def validate_inputs(cls, lut: str | None = None) -> bool | str:
        """Reject a LUT that is not in the luts folder."""
        return _check_lut_choice(lut, include_none=False)

    @classmethod
    def execute(cls, images: torch.Tensor, lut: str, intensity: float) -> io.NodeOutput:
        """Load (cached) and apply the LUT chunk by chunk."""
        return io.NodeOutput(apply_lut(images, resolve_lut(lut), intensity, on_chunk=progress_callback()))


POLISH_NODES: list[type[io.ComfyNode]] = [ColorGradeNode, FilmGrainNode, ToneMapNode, ApplyLUTNode]
