"""Primary colour grading for ComfyUI IMAGE batches (pure torch, no ComfyUI imports).

A grade is a fixed chain of primary corrections, each driven by one field of :class:`GradeStyle`:

1. white balance: a von Kries diagonal (temperature/tint gains) applied in *linear* light;
2. saturation about Rec.709 luma, with optional extra desaturation of deep shadows and bright highlights;
3. contrast: a gentle S-curve about mid-grey in the sRGB-encoded domain, endpoints pinned;
4. per-channel lift/gamma/gain, ``out = gain * (x + lift * (1 - x)) ** (1 / gamma)``; different lift
   and gain per channel give split toning (e.g. teal shadows, orange highlights).

``apply_grade`` blends the graded result with the input linearly by ``intensity``. Frames are processed
in chunks so memory stays bounded, on whatever device the input tensor lives on.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

import torch

from .colour import check_images, chunk_plan, linear_to_srgb, srgb_to_linear
from .lut import DEFAULT_BAKE_SIZE, Lut3D, apply_lut, bake

__all__ = [
    "DEFAULT_CHUNK_FRAMES",
    "GRADE_STYLES",
    "GradeAdjust",
    "GradeStyle",
    "apply_grade",
    "apply_grade_style",
    "grade_lut",
    "linear_to_srgb",
    "resolve_style",
    "srgb_to_linear",
]

RGB = tuple[float, float, float]

# Rec.709 / sRGB luma weights.
LUMA_WEIGHTS: RGB = (0.2126, 0.7152, 0.0722)
# Natural-log gain per unit of temperature (red up, blue down) and tint (green down).
TEMPERATURE_STRENGTH = 0.2
TINT_STRENGTH = 0.1
# At most this many frames per chunk (shared with the other polish passes).
DEFAULT_CHUNK_FRAMES = 16


@dataclass(frozen=True)
class GradeStyle:
    """Parameters of one look; the defaults are the identity grade."""

    temperature: float = 0.0  # -1 (cool/blue) .. +1 (warm/amber); white balance in linear light
    tint: float = 0.0  # -1 (green) .. +1 (magenta)
    lift: RGB = (0.0, 0.0, 0.0)  # per channel; moves blacks, pins white
    gamma: RGB = (1.0, 1.0, 1.0)  # per channel; > 1 brightens mid-tones
    gain: RGB = (1.0, 1.0, 1.0)  # per channel; scales highlights, pins black
    contrast: float = 0.0  # S-curve amount in [-1, 1]; 0 = none, > 0 = more contrast
    saturation: float = 1.0  # 1 = unchanged, 0 = greyscale
    extreme_desaturation: float = 0.0  # 0..1; extra desaturation towards black and white

    def __post_init__(self) -> None:
        if not -1.0 <= self.contrast <= 1.0:
            raise ValueError(f"contrast must be in [-1, 1], got {self.contrast}")
        if self.saturation < 0.0:
            raise ValueError(f"saturation must be >= 0, got {self.saturation}")
        if not 0.0 <= self.extreme_desaturation <= 1.0:
            raise ValueError(f"extreme_desaturation must be in [0, 1], got {self.extreme_desaturation}")
        if any(g <= 0.0 for g in self.gamma):
            raise ValueError(f"gamma values must be > 0, got {self.gamma}")

    def white_balance_gains(self) -> RGB:
        """Linear-light RGB gains for temperature/tint, normalised to keep grey's luminance."""
        r = math.exp(TEMPERATURE_STRENGTH * self.temperature)
        g = math.exp(-TINT_STRENGTH * self.tint)
        b = math.exp(-TEMPERATURE_STRENGTH * self.temperature)
        norm = LUMA_WEIGHTS[0] * r + LUMA_WEIGHTS[1] * g + LUMA_WEIGHTS[2] * b
        return (r / norm, g / norm, b / norm)


@dataclass(frozen=True)
class GradeAdjust:
    """User trims on top of a style; the defaults change nothing.

    ``temperature``/``tint`` add to the style's, ``saturation`` multiplies it, master ``lift`` adds to every
    channel's lift, master ``gamma`` and ``gain`` multiply every channel's.
    """

    temperature: float = 0.0
    tint: float = 0.0
    saturation: float = 1.0
    lift: float = 0.0
    gamma: float = 1.0
    gain: float = 1.0

    def __post_init__(self) -> None:
        values = (self.temperature, self.tint, self.saturation, self.lift, self.gamma, self.gain)
        if not all(math.isfinite(v) for v in values):
            raise ValueError("grade adjustments must be finite numbers")
        if not (-1.0 <= self.temperature <= 1.0 and -1.0 <= self.tint <= 1.0):
            raise ValueError("temperature and tint adjustments must be in [-1, 1]")
        if self.gamma <= 0.0 or self.gain <= 0.0:
            raise ValueError(f"gamma and gain must be > 0, got {self.gamma}, {self.gain}")
        if not -0.5 <= self.lift <= 0.5:
            raise ValueError(f"lift must be in [-0.5, 0.5], got {self.lift}")

    def is_identity(self) -> bool:
        """True when applying these trims leaves any style unchanged."""
        return self == GradeAdjust()

    def on(self, style: GradeStyle) -> GradeStyle:
        """The style with these trims applied."""
        if self.is_identity():
            return style
        return replace(
            style,
            temperature=max(-1.0, min(1.0, style.temperature + self.temperature)),
            tint=max(-1.0, min(1.0, style.tint + self.tint)),
            saturation=style.saturation * self.saturation,
            lift=tuple(v + self.lift for v in style.lift),  # type: ignore[arg-type]
            gamma=tuple(v * self.gamma for v in style.gamma),  # type: ignore[arg-type]
            gain=tuple(v * self.gain for v in style.gain),  # type: ignore[arg-type]
        )


GRADE_STYLES: dict[str, GradeStyle] = {
    # Clean polish: a touch of contrast and saturation, no colour shift (grey stays grey).
    "neutral": GradeStyle(contrast=0.12, saturation=1.04),
    # Golden-hour warmth; a hint of magenta keeps skin from turning yellow-green.
    "warm": GradeStyle(temperature=0.45, tint=0.06, contrast=0.1, saturation=1.05),
    # Daylight-blue coolness, slightly restrained saturation.
    "cool": GradeStyle(temperature=-0.45, tint=-0.02, contrast=0.1, saturation=0.97),
    # Teal-orange split: teal lift in the shadows, orange gain/gamma for highlights and skin,
    # a gentle S-curve and desaturated extremes.
    "cinematic": GradeStyle(
        temperature=0.05,
        lift=(-0.035, 0.01, 0.035),
        gamma=(1.03, 1.0, 0.97),
        gain=(1.05, 1.0, 0.92),
        contrast=0.3,
        saturation=0.95,
        extreme_desaturation=0.35,
    ),
}


def _per_channel(values: RGB, planar: torch.Tensor) -> torch.Tensor:
    """A ``[3, 1, ...]`` tensor broadcasting ``values`` over a channel-first tensor."""
    shape = (3,) + (1,) * (planar.ndim - 1)
    return torch.tensor(values, dtype=planar.dtype, device=planar.device).view(shape)


def _grade_planar_(x: torch.Tensor, style: GradeStyle) -> torch.Tensor:
    """Grade channel-first RGB ``[3, ...]`` at full strength, reusing ``x``'s storage where possible."""
    x.clamp_(0.0, 1.0)

    # 1. White balance (von Kries diagonal in linear light).
    if style.temperature != 0.0 or style.tint != 0.0:
        x = linear_to_srgb(srgb_to_linear(x).mul_(_per_channel(style.white_balance_gains(), x)))

    # 2. Saturation about luma; extremes optionally desaturated further.
    if style.saturation != 1.0 or style.extreme_desaturation != 0.0:
        w_r, w_g, w_b = LUMA_WEIGHTS
        luma = x[0] * w_r + x[1] * w_g + x[2] * w_b
        if style.extreme_desaturation != 0.0:
            # extremeness = (2Y - 1)^2: 0 at mid-grey, 1 at black and white.
            sat = (luma * 2.0 - 1.0).square_().mul_(-style.extreme_desaturation).add_(1.0)
            sat.mul_(style.saturation)
        else:
            sat = style.saturation
        x.sub_(luma).mul_(sat).add_(luma).clamp_(0.0, 1.0)

    # 3. Contrast: blend towards smoothstep x^2 (3 - 2x); monotonic for contrast in [-1, 1], 0 and 1 fixed.
    if style.contrast != 0.0:
        s_curve = (x * -2.0).add_(3.0).mul_(x).mul_(x)
        x.add_(s_curve.sub_(x).mul_(style.contrast))

    # 4. Lift / gamma / gain per channel: gain * (x + lift * (1 - x)) ** (1 / gamma).
    if style.lift != (0.0, 0.0, 0.0) or style.gamma != (1.0, 1.0, 1.0) or style.gain != (1.0, 1.0, 1.0):
        lift = _per_channel(style.lift, x)
        x.mul_(1.0 - lift).add_(lift).clamp_min_(0.0)
        if style.gamma != (1.0, 1.0, 1.0):
            x.pow_(_per_channel(tuple(1.0 / g for g in style.gamma), x))
        x.mul_(_per_channel(style.gain, x))

    return x.clamp_(0.0, 1.0)


def apply_grade_style(rgb: torch.Tensor, style: GradeStyle) -> torch.Tensor:
    """Apply a full-strength grade to RGB values ``[..., 3]`` in 0..1; returns a new clamped tensor."""
    work_dtype = torch.promote_types(rgb.dtype, torch.float32)
    planar = rgb.movedim(-1, 0).to(work_dtype, memory_format=torch.contiguous_format, copy=True)
    return _grade_planar_(planar, style).movedim(0, -1).to(rgb.dtype)


def resolve_style(style: str | GradeStyle, adjust: GradeAdjust | None = None) -> GradeStyle:
    """A named style (or a GradeStyle) with optional trims applied; unknown names raise ValueError."""
    if isinstance(style, str):
        if style not in GRADE_STYLES:
            valid = ", ".join(GRADE_STYLES)
            raise ValueError(f"unknown grade style {style!r}; valid styles: {valid}")
        style = GRADE_STYLES[style]
    return adjust.on(style) if adjust is not None else style


def grade_lut(
    style: str | GradeStyle,
    intensity: float = 1.0,
    *,
    adjust: GradeAdjust | None = None,
    before: Sequence[Callable[[torch.Tensor], torch.Tensor]] = (),
    after: Sequence[Callable[[torch.Tensor], torch.Tensor]] = (),
    size: int = DEFAULT_BAKE_SIZE,
    device: torch.device | str | None = None,
) -> Lut3D:
    """Bake ``before`` ops, the (trimmed) style mixed by intensity, then ``after`` ops into one 3D LUT."""
    graded_style = resolve_style(style, adjust)
    intensity = float(intensity)
    if not 0.0 <= intensity <= 1.0:
        raise ValueError(f"intensity must be in [0, 1], got {intensity}")

    def grade(rgb: torch.Tensor) -> torch.Tensor:
        return rgb.clamp(0.0, 1.0).lerp(apply_grade_style(rgb, graded_style), intensity)

    name = style if isinstance(style, str) else "custom"
    return bake(
        [*before, grade, *after], size, title=f"AInfluencer grade {name} {intensity:g}", device=device
    )


@torch.no_grad()
def apply_grade(
    images: torch.Tensor,
    style: str | GradeStyle,
    intensity: float,
    *,
    adjust: GradeAdjust | None = None,
    look: Lut3D | None = None,
    chunk_size: int | None = None,
    on_chunk: Callable[[int, int], None] | None = None,
) -> torch.Tensor:
    """Grade an IMAGE batch ``[B,H,W,C]`` with a style, mixed linearly with the input by intensity.

    With a ``look`` LUT, grade and look are composed into one baked LUT and applied in a single pass.
    """
    params = resolve_style(style, adjust)
    intensity = float(intensity)
    if not 0.0 <= intensity <= 1.0:
        raise ValueError(f"intensity must be in [0, 1], got {intensity}")
    check_images(images)
    if look is not None:
        size = max(DEFAULT_BAKE_SIZE, look.size)
        lut = grade_lut(params, intensity, after=[look], size=size, device=look.table.device)
        return apply_lut(images, lut, 1.0, chunk_size=chunk_size, on_chunk=on_chunk)
    if intensity == 0.0 or images.shape[0] == 0:
        return images

    frames = images.shape[0]
    step, total = chunk_plan(images, chunk_size)
    work_dtype = torch.promote_types(images.dtype, torch.float32)
    out = torch.empty_like(images)
    for index, start in enumerate(range(0, frames, step)):
        chunk = images[start : start + step]
        # Channel-first working copy: per-channel ops then run over contiguous planes.
        source = (
            chunk[..., :3]
            .permute(3, 0, 1, 2)
            .to(work_dtype, memory_format=torch.contiguous_format, copy=True)
        )
        graded = _grade_planar_(source.clone() if intensity != 1.0 else source, params)
        if intensity != 1.0:
            graded = source.lerp_(graded, intensity).clamp_(0.0, 1.0)
        out[start : start + step, ..., :3] = graded.permute(1, 2, 3, 0)
        if images.shape[-1] > 3:
            out[start : start + step, ..., 3:] = chunk[..., 3:]
        if on_chunk is not None:
            on_chunk(index + 1, total)
    return out
