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
from collections.abc import Callable
from dataclasses import dataclass

import torch

__all__ = [
    "DEFAULT_CHUNK_FRAMES",
    "GRADE_STYLES",
    "GradeStyle",
    "apply_grade",
    "apply_grade_style",
    "linear_to_srgb",
    "srgb_to_linear",
]

RGB = tuple[float, float, float]

# Rec.709 / sRGB luma weights.
LUMA_WEIGHTS: RGB = (0.2126, 0.7152, 0.0722)
# Natural-log gain per unit of temperature (red up, blue down) and tint (green down).
TEMPERATURE_STRENGTH = 0.2
TINT_STRENGTH = 0.1
# At most this many frames per chunk; fewer for large frames (see PIXEL_BUDGET).
DEFAULT_CHUNK_FRAMES = 16
# Pixels (frames x height x width) processed at once; keeps 4K batches bounded too.
PIXEL_BUDGET = 16 * 1024 * 1024


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


def srgb_to_linear(x: torch.Tensor) -> torch.Tensor:
    """Decode sRGB-encoded values (IEC 61966-2-1) to linear light; input is clamped to 0..1."""
    x = x.clamp(0.0, 1.0)
    curve = x.add(0.055).div_(1.055).pow_(2.4)
    return torch.where(x <= 0.04045, x / 12.92, curve)


def linear_to_srgb(x: torch.Tensor) -> torch.Tensor:
    """Encode linear-light values to sRGB (IEC 61966-2-1); input is clamped to 0..1."""
    x = x.clamp(0.0, 1.0)
    curve = x.pow(1.0 / 2.4).mul_(1.055).sub_(0.055)
    return torch.where(x <= 0.0031308, x * 12.92, curve)


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


def _check_images(images: torch.Tensor) -> None:
    if not isinstance(images, torch.Tensor):
        raise TypeError(f"images must be a torch.Tensor, got {type(images).__name__}")
    if images.ndim != 4 or images.shape[-1] not in (3, 4):
        raise ValueError(f"images must be [B,H,W,3] (or RGBA [B,H,W,4]), got shape {tuple(images.shape)}")
    if not images.is_floating_point():
        raise ValueError(f"images must be a floating-point tensor, got {images.dtype}")


def _chunk_frames(height: int, width: int, chunk_size: int | None) -> int:
    if chunk_size is not None:
        if chunk_size < 1:
            raise ValueError(f"chunk_size must be >= 1, got {chunk_size}")
        return chunk_size
    return max(1, min(DEFAULT_CHUNK_FRAMES, PIXEL_BUDGET // max(1, height * width)))


@torch.no_grad()
def apply_grade(
    images: torch.Tensor,
    style: str,
    intensity: float,
    *,
    chunk_size: int | None = None,
    on_chunk: Callable[[int, int], None] | None = None,
) -> torch.Tensor:
    """Grade an IMAGE batch ``[B,H,W,C]`` with a named style, mixed linearly with the input by intensity."""
    if style not in GRADE_STYLES:
        valid = ", ".join(GRADE_STYLES)
        raise ValueError(f"unknown grade style {style!r}; valid styles: {valid}")
    intensity = float(intensity)
    if not 0.0 <= intensity <= 1.0:
        raise ValueError(f"intensity must be in [0, 1], got {intensity}")
    _check_images(images)
    if intensity == 0.0 or images.shape[0] == 0:
        return images

    params = GRADE_STYLES[style]
    frames, height, width = images.shape[0], images.shape[1], images.shape[2]
    step = _chunk_frames(height, width, chunk_size)
    total = math.ceil(frames / step)
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
