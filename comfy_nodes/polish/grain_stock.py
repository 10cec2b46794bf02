"""The film-grain model's parameters: named stocks, the luma response, fixed point, per-frame seeds.

Shared by the float path (``grain``), the grain fields (``grain_field``) and the packed 8-bit path
(``grain_packed``); pure torch, no ComfyUI imports.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch

from .colour import LUMA_WEIGHTS

__all__ = [
    "AMP_BITS",
    "AR_DEFAULT",
    "DEFAULT_CHUNK_FRAMES",
    "FIELD_BITS",
    "FIELD_CLIP",
    "FIELD_ONE",
    "GRAIN_LOOKS",
    "GRAIN_LOOK_NAMES",
    "GRAIN_SIGMA_AT_FULL_STRENGTH",
    "LUMA_STRENGTH_CURVE",
    "GrainLook",
    "GrainResponse",
    "check_grain_parameters",
    "chroma_seed",
    "frame_seed",
    "grain_response",
    "grain_sigma_px",
    "piecewise_linear",
    "splitmix64",
]

# (luma, relative strength) control points, luma ascending; linear in between, flat outside.
LUMA_STRENGTH_CURVE: tuple[tuple[float, float], ...] = (
    (0.0, 0.15),
    (0.08, 0.35),
    (0.35, 1.0),
    (0.65, 1.0),
    (0.92, 0.4),
    (1.0, 0.15),
)
# Standard deviation of the added grain (0..1 units) at strength 1 in the mid-tones.
GRAIN_SIGMA_AT_FULL_STRENGTH = 0.08
# Gaussian correlation radius (pixels) at size 1 on a frame whose short side is REFERENCE_SHORT_SIDE.
GRAIN_SIGMA_AT_REFERENCE = 0.6
REFERENCE_SHORT_SIDE = 1080
# Colour grain is coarser (lower-frequency) than luma grain.
CHROMA_SIZE_FACTOR = 1.5
# The grain's standard deviation never exceeds headroom / HEADROOM_SIGMAS (headroom = distance to 0 or 1).
HEADROOM_SIGMAS = 3.0
# At most this many frames per chunk (shared with the other polish passes).
DEFAULT_CHUNK_FRAMES = 16
# Periodic template side limits (pixels); blocks are a quarter of the template.
MIN_TEMPLATE = 256
MAX_TEMPLATE = 1024

# Grain fixed point: FIELD_ONE = 1 sigma; fields are clipped to +-HEADROOM_SIGMAS sigma (which bounds the
# grain by the headroom cap), template windows to +-7 sigma so two of them sum exactly in int16.
FIELD_BITS = 11
FIELD_ONE = 1 << FIELD_BITS
HEADROOM_SIGMAS_INT = int(HEADROOM_SIGMAS)
assert HEADROOM_SIGMAS_INT == HEADROOM_SIGMAS, "the integer grain path needs a whole number of sigmas"
FIELD_CLIP = HEADROOM_SIGMAS_INT * FIELD_ONE
TEMPLATE_CLAMP = 7 * FIELD_ONE
# 8-bit amplitude tables hold 1 / 2^AMP_BITS code steps (int16: up to 63 codes, above any capped amplitude).
AMP_BITS = 9
# Offsets per axis at which template windows start (a grid, so weighted windows can be precomputed).
BANK_POSITIONS = 32

MASK64 = (1 << 64) - 1
# Separates the colour-grain streams from the monochrome ones.
CHROMA_SALT = 0x5EED_C0104


def splitmix64(value: int) -> int:
    """One step of the SplitMix64 mixer (a well-mixed 64-bit value from any integer)."""
    z = (value + 0x9E3779B97F4A7C15) & MASK64
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK64
    return z ^ (z >> 31)


def frame_seed(seed: int, frame: int) -> int:
    """Derive a well-mixed 63-bit generator seed for one frame from the user seed and the frame index."""
    return splitmix64((splitmix64(seed & MASK64) + frame) & MASK64) >> 1


def chroma_seed(frame_rng: int, channel: int) -> int:
    """The seed of colour channel ``channel``'s grain from a frame's :func:`frame_seed`."""
    return splitmix64(frame_rng ^ (CHROMA_SALT + channel)) >> 1


def grain_sigma_px(size: float, height: int, width: int) -> float:
    """Gaussian correlation radius in pixels for a grain ``size`` on a ``height`` x ``width`` frame."""
    return GRAIN_SIGMA_AT_REFERENCE * size * min(height, width) / REFERENCE_SHORT_SIDE


def piecewise_linear(x: torch.Tensor, points: Sequence[tuple[float, float]]) -> torch.Tensor:
    """Evaluate a piecewise-linear curve through ``points`` (x ascending) at ``x``; flat outside."""
    if len(points) < 2:
        raise ValueError("a piecewise-linear curve needs at least two points")
    xs = [float(p[0]) for p in points]
    ys = [float(p[1]) for p in points]
    if any(x1 <= x0 for x0, x1 in itertools.pairwise(xs)):
        raise ValueError("curve points must have strictly ascending x")
    slopes = [(ys[i + 1] - ys[i]) / (xs[i + 1] - xs[i]) for i in range(len(xs) - 1)]
    # Sum of hinges: y0 + s0 (x - x0) + sum_i (s_i - s_{i-1}) max(x - x_i, 0); no gathers needed.
    xc = x.clamp(xs[0], xs[-1])
    y = (xc - xs[0]).mul_(slopes[0]).add_(ys[0])
    for i in range(1, len(xs) - 1):
        y.add_((xc - xs[i]).clamp_min_(0.0).mul_(slopes[i] - slopes[i - 1]))
    return y


@dataclass(frozen=True)
class GrainLook:
    """A named film stock: multipliers on the explicit parameters plus texture and luma response."""

    size_scale: float
    strength_scale: float
    chroma_add: float
    # Causal autoregressive coefficients {(dx, dy): a}; lags are in units of the resolution-scaled spacing.
    ar: tuple[tuple[int, int, float], ...]
    curve: tuple[tuple[float, float], ...]


AR_DEFAULT = ((-1, 0, 0.12), (0, -1, 0.12), (-1, -1, 0.04), (1, -1, 0.04))
GRAIN_LOOKS: dict[str, GrainLook] = {
    # Explicit parameters only, the default texture and luma curve.
    "custom": GrainLook(1.0, 1.0, 0.0, AR_DEFAULT, LUMA_STRENGTH_CURVE),
    # Fine modern 35mm stock: small, tight, monochrome grain that stays out of the highlights.
    "35mm fine": GrainLook(
        0.75,
        0.8,
        0.0,
        ((-1, 0, 0.08), (0, -1, 0.08), (-1, -1, 0.02), (1, -1, 0.02)),
        ((0.0, 0.1), (0.1, 0.4), (0.4, 1.0), (0.6, 1.0), (0.9, 0.3), (1.0, 0.1)),
    ),
    # 16mm: coarser, clumpier grain, stronger in the shadows, a little dye-cloud colour.
    "16mm": GrainLook(
        1.5,
        1.25,
        0.1,
        ((-1, 0, 0.18), (0, -1, 0.18), (-1, -1, 0.06), (1, -1, 0.06), (-2, 0, 0.04), (0, -2, 0.04)),
        ((0.0, 0.3), (0.08, 0.7), (0.3, 1.0), (0.7, 0.9), (0.95, 0.35), (1.0, 0.2)),
    ),
    # 8mm: heavy, blotchy grain everywhere but the brightest whites, visible colour.
    "8mm": GrainLook(
        2.4,
        1.6,
        0.25,
        (
            (-1, 0, 0.2),
            (0, -1, 0.2),
            (-1, -1, 0.08),
            (1, -1, 0.08),
            (-2, 0, 0.06),
            (0, -2, 0.06),
            (-2, -1, 0.03),
            (2, -1, 0.03),
        ),
        ((0.0, 0.45), (0.1, 0.85), (0.4, 1.0), (0.8, 0.85), (0.97, 0.4), (1.0, 0.3)),
    ),
}
GRAIN_LOOK_NAMES: tuple[str, ...] = tuple(GRAIN_LOOKS)


def check_grain_parameters(
    strength: float, size: float, chroma: float, look: str
) -> tuple[float, float, float]:
    """The parameters as floats; ValueError for a negative, non-finite or unknown one."""
    strength, size, chroma = float(strength), float(size), float(chroma)
    if not (math.isfinite(strength) and strength >= 0.0):
        raise ValueError(f"strength must be a finite number >= 0, got {strength}")
    if not (math.isfinite(size) and size > 0.0):
        raise ValueError(f"size must be a finite number > 0, got {size}")
    if not (math.isfinite(chroma) and chroma >= 0.0):
        raise ValueError(f"chroma must be a finite number >= 0, got {chroma}")
    if look not in GRAIN_LOOKS:
        raise ValueError(f"unknown grain look {look!r}; valid looks: {', '.join(GRAIN_LOOK_NAMES)}")
    return strength, size, chroma


@dataclass(frozen=True)
class GrainResponse:
    """What sets a grain's amplitude per pixel: strength, colour share, luma curve and headroom cap."""

    strength: float
    chroma: float
    curve: tuple[tuple[float, float], ...]
    cap_scale: float


def grain_response(strength: float, chroma: float, look: str) -> GrainResponse:
    """The look's multipliers applied; the cap keeps the total (mono + colour) deviation in the headroom."""
    stock = GRAIN_LOOKS[look]
    chroma += stock.chroma_add
    cap_scale = 1.0 / (HEADROOM_SIGMAS * math.sqrt(1.0 + chroma * chroma))
    return GrainResponse(strength * stock.strength_scale, chroma, stock.curve, cap_scale)


def grain_amplitude(
    red: torch.Tensor, green: torch.Tensor, blue: torch.Tensor, response: GrainResponse
) -> torch.Tensor:
    """Grain standard deviation per pixel for sRGB-encoded channels in 0..1 (the shape of ``red``)."""
    # Strength follows the sRGB-encoded luma; grain is added in the encoded (perceptual) domain, where
    # equal steps look equally grainy, instead of over-graining the shadows in linear light.
    luma = red * LUMA_WEIGHTS[0] + green * LUMA_WEIGHTS[1] + blue * LUMA_WEIGHTS[2]
    amplitude = piecewise_linear(luma, response.curve).mul_(GRAIN_SIGMA_AT_FULL_STRENGTH * response.strength)
    lowest = torch.minimum(torch.minimum(red, green), blue)
    highest = torch.maximum(torch.maximum(red, green), blue)
    headroom = torch.minimum(lowest, highest.neg_().add_(1.0))
    return torch.minimum(amplitude, headroom.mul_(response.cap_scale))
