"""Tone mapping for display-referred IMAGE batches (pure torch, no ComfyUI imports).

IMAGE values are sRGB-encoded, so every operator runs in linear light: decode (sRGB EOTF) -> multiply by
``2 ** exposure`` -> curve -> encode. Operators (x linear, L Rec.709 luminance):

* ``reinhard`` (default): extended Reinhard on luminance, ``L_d = L (1 + L / Lw^2) / (1 + L)`` with white
  point ``Lw`` (the smallest luminance mapped to 1); RGB is scaled by ``L_d / L`` so hue is kept. With
  ``Lw = 1`` and 0 EV the curve is the identity on 0..1 (presets use that to switch tone mapping off);
* ``hable``: Hable's filmic curve per channel, ``f(2x) / f(11.2)`` with
  ``f(x) = (x(Ax+CB)+DE) / (x(Ax+B)+DF) - E/F``, A=0.15, B=0.50, C=0.10, D=0.20, E=0.02, F=0.30;
* ``aces``: Narkowicz's ACES fit per channel on ``0.6 x``: ``x(2.51x+0.03) / (x(2.43x+0.59)+0.14)``;
* ``agx``: minimal AgX: inset matrix -> log2 in [-12.47393, 4.026069] EV -> 6th-order sigmoid fit ->
  outset (the inset's inverse) -> power 2.2 back to linear.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch

from .colour import LUMA_WEIGHTS, check_images, chunk_plan, linear_to_srgb, srgb_to_linear

__all__ = [
    "DEFAULT_WHITE_POINT",
    "TONEMAP_OPERATORS",
    "aces_fit",
    "agx",
    "apply_tonemap",
    "hable",
    "is_identity",
    "reinhard_extended",
    "tonemap_rgb",
]

TONEMAP_OPERATORS: tuple[str, ...] = ("reinhard", "hable", "aces", "agx")
# Linear luminance that maps to display white for Reinhard (after exposure).
DEFAULT_WHITE_POINT = 4.0
MAX_EXPOSURE_EV = 8.0

_HABLE = (0.15, 0.50, 0.10, 0.20, 0.02, 0.30)
HABLE_EXPOSURE_BIAS = 2.0
HABLE_WHITE = 11.2
ACES_EXPOSURE = 0.6
AGX_MIN_EV = -12.47393
AGX_MAX_EV = 4.026069
_AGX_INSET = (
    (0.842479062253094, 0.0784335999999992, 0.0792237451477643),
    (0.0423282422610123, 0.878468636469772, 0.0791661274605434),
    (0.0423756549057051, 0.0784336, 0.879142973793104),
)
_AGX_POLY = (-0.00232, 0.1191, 0.4298, -6.868, 31.96, -40.14, 15.5)  # c0 + c1 x + ... + c6 x^6


def reinhard_extended(rgb: torch.Tensor, white_point: float = DEFAULT_WHITE_POINT) -> torch.Tensor:
    """Extended Reinhard on Rec.709 luminance of linear RGB ``[..., 3]``, hue-preserving; linear out."""
    if not (math.isfinite(white_point) and white_point > 0.0):
        raise ValueError(f"white_point must be a finite number > 0, got {white_point}")
    rgb = rgb.clamp_min(0.0)
    lum = (rgb * torch.tensor(LUMA_WEIGHTS, dtype=rgb.dtype, device=rgb.device)).sum(-1, keepdim=True)
    mapped = lum * (1.0 + lum / (white_point * white_point)) / (1.0 + lum)
    scale = torch.where(lum > 0.0, mapped / lum.clamp_min(1e-12), torch.ones_like(lum))
    return (rgb * scale).clamp_(0.0, 1.0)


def _hable_curve(x: torch.Tensor) -> torch.Tensor:
    a, b, c, d, e, f = _HABLE
    return (x * (a * x + c * b) + d * e) / (x * (a * x + b) + d * f) - e / f


def hable(rgb: torch.Tensor) -> torch.Tensor:
    """Hable (Uncharted 2) filmic curve per channel of linear RGB: ``f(2x) / f(11.2)``; linear out."""
    white = _hable_curve(torch.tensor(HABLE_WHITE, dtype=torch.float64)).item()
    return (_hable_curve(rgb.clamp_min(0.0) * HABLE_EXPOSURE_BIAS) / white).clamp_(0.0, 1.0)


def aces_fit(rgb: torch.Tensor) -> torch.Tensor:
    """Narkowicz's ACES filmic fit per channel of linear RGB (input scaled by 0.6); linear out."""
    x = rgb.clamp_min(0.0) * ACES_EXPOSURE
    return (x * (2.51 * x + 0.03) / (x * (2.43 * x + 0.59) + 0.14)).clamp_(0.0, 1.0)


def agx(rgb: torch.Tensor) -> torch.Tensor:
    """Minimal AgX base transform of linear Rec.709 RGB ``[..., 3]``; linear out (pre sRGB encoding)."""
    inset = torch.tensor(_AGX_INSET, dtype=torch.float64)
    outset = torch.linalg.inv(inset)
    x = rgb.clamp_min(0.0) @ inset.t().to(rgb.dtype).to(rgb.device)
    x = x.clamp_min(1e-10).log2().clamp_(AGX_MIN_EV, AGX_MAX_EV)
    x = (x - AGX_MIN_EV) / (AGX_MAX_EV - AGX_MIN_EV)
    y = torch.full_like(x, _AGX_POLY[-1])
    for coefficient in reversed(_AGX_POLY[:-1]):  # Horner
        y = y * x + coefficient
    y = y @ outset.t().to(rgb.dtype).to(rgb.device)
    return y.clamp_(0.0, 1.0).pow_(2.2)


def _operator(operator: str, white_point: float) -> Callable[[torch.Tensor], torch.Tensor]:
    if operator == "reinhard":
        return lambda x: reinhard_extended(x, white_point)
    if operator == "hable":
        return hable
    if operator == "aces":
        return aces_fit
    if operator == "agx":
        return agx
    raise ValueError(f"unknown tone-mapping operator {operator!r}; valid: {', '.join(TONEMAP_OPERATORS)}")


def is_identity(operator: str, exposure: float, white_point: float) -> bool:
    """True for settings that leave every pixel unchanged: Reinhard with white point 1 at 0 EV."""
    return operator == "reinhard" and float(exposure) == 0.0 and float(white_point) == 1.0


def _check_exposure(exposure: float) -> float:
    exposure = float(exposure)
    if not (math.isfinite(exposure) and abs(exposure) <= MAX_EXPOSURE_EV):
        raise ValueError(f"exposure must be within +-{MAX_EXPOSURE_EV} EV, got {exposure}")
    return exposure


def tonemap_rgb(
    rgb: torch.Tensor,
    operator: str = "reinhard",
    exposure: float = 0.0,
    white_point: float = DEFAULT_WHITE_POINT,
) -> torch.Tensor:
    """Tone-map sRGB-encoded RGB ``[..., 3]``: decode, exposure (EV), curve, encode; sRGB out in 0..1."""
    curve = _operator(operator, float(white_point))
    gain = 2.0 ** _check_exposure(exposure)
    work = torch.promote_types(rgb.dtype, torch.float32)
    linear = srgb_to_linear(rgb.to(work)).mul_(gain)
    return linear_to_srgb(curve(linear)).to(rgb.dtype)


@torch.no_grad()
def apply_tonemap(
    images: torch.Tensor,
    operator: str = "reinhard",
    exposure: float = 0.0,
    white_point: float = DEFAULT_WHITE_POINT,
    *,
    chunk_size: int | None = None,
    on_chunk: Callable[[int, int], None] | None = None,
) -> torch.Tensor:
    """Tone-map an IMAGE batch ``[B,H,W,C]`` in linear light, chunk by chunk; alpha passes through."""
    _operator(operator, float(white_point))  # validate before touching the frames
    _check_exposure(exposure)
    check_images(images)
    if images.shape[0] == 0 or is_identity(operator, exposure, white_point):
        return images
    frames = images.shape[0]
    step, total = chunk_plan(images, chunk_size)
    out = torch.empty_like(images)
    for index, start in enumerate(range(0, frames, step)):
        chunk = images[start : start + step]
        out[start : start + step, ..., :3] = tonemap_rgb(chunk[..., :3], operator, exposure, white_point)
        if images.shape[-1] > 3:
            out[start : start + step, ..., 3:] = chunk[..., 3:]
        if on_chunk is not None:
            on_chunk(index + 1, total)
    return out
