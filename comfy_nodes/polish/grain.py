"""Film grain for ComfyUI IMAGE batches, AV1-style (pure torch, no ComfyUI imports).

Model: ``out = x + f(Y) * n`` (per channel for colour grain), where

* ``n`` comes from grain *templates*: periodic, zero-mean, unit-variance fields synthesised once per
  seed and grain shape (cached) as autoregressive filtered noise, i.e. white noise run through a causal
  AR filter (the AV1 grain model, solved on the periodic domain in the frequency domain) and a Gaussian
  low-pass whose radius is a fraction of the frame's short side, with AR lags scaled the same way, so
  grain looks alike at 720p, 1080p and 4K;
* every frame tiles the frame with template blocks at fresh random offsets (seeded by
  ``hash(seed, frame index)``), cross-faded between two half-block-shifted tilings with
  variance-preserving weights so no block seams show: deterministic for a seed, uncorrelated between
  frames, and independent of how the batch is chunked. Offsets lie on a 32 x 32 grid of the template
  (16 x 16 for the largest templates), so the weighted windows are precomputed once (int16 fixed point,
  2^11 per sigma) and a frame's field is two row gathers and a sum; the field is clipped to
  +-HEADROOM_SIGMAS sigma, so with the headroom cap below monochrome grain never clips;
* ``f(Y)`` is a piecewise-linear function of the sRGB-encoded Rec.709 luma (the AV1 scaling function),
  scaled by ``strength`` and capped by each pixel's headroom to 0 and 1 so clipping cannot bias the mean;
  grain is added in the sRGB-encoded domain, where equal code steps are perceptually even;
* monochrome grain is shared by R, G and B; ``chroma`` adds independent, coarser per-channel fields;
* named looks (35mm fine, 16mm, 8mm) scale size and strength, add colour grain, and set the AR texture
  and luma curve; ``custom`` uses the explicit parameters as given.

uint8 frames (video) keep uint8: monochrome grain runs in integer arithmetic on pixels packed into one
int32 each (:class:`PackedGrain`), with the amplitude read from a per-colour table, strip by strip so the
work stays in cache; it equals the float path rounded to 8 bits within one code (fixed-point grain).
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from .colour import check_images, chunk_plan, pack_rgb24, unpack_rgb24
from .grain_field import (
    GrainField,
    GrainPlan,
    GrainWorkspace,
    grain_fields,
    grain_plan,
    grain_template,
    strip_rows,
)
from .grain_packed import PackedGrain, grain_packed
from .grain_stock import (
    DEFAULT_CHUNK_FRAMES,
    GRAIN_LOOK_NAMES,
    GRAIN_LOOKS,
    LUMA_STRENGTH_CURVE,
    GrainLook,
    check_grain_parameters,
    chroma_seed,
    frame_seed,
    grain_amplitude,
    grain_sigma_px,
    piecewise_linear,
)

__all__ = [
    "DEFAULT_CHUNK_FRAMES",
    "GRAIN_LOOKS",
    "GRAIN_LOOK_NAMES",
    "LUMA_STRENGTH_CURVE",
    "GrainField",
    "GrainLook",
    "GrainPlan",
    "GrainWorkspace",
    "PackedGrain",
    "apply_film_grain",
    "chroma_seed",
    "frame_seed",
    "grain_packed",
    "grain_plan",
    "grain_sigma_px",
    "grain_template",
    "piecewise_linear",
    "strip_rows",
]


def _amplitude(x: torch.Tensor, plan: GrainPlan) -> torch.Tensor:
    """Grain standard deviation per pixel ``[n, 1, H, W]`` for channel-first frames ``x`` in 0..1."""
    return grain_amplitude(x[:, 0], x[:, 1], x[:, 2], plan).unsqueeze(1)


@torch.no_grad()
def apply_film_grain(
    images: torch.Tensor,
    strength: float,
    size: float,
    chroma: float,
    seed: int,
    frame_offset: int = 0,
    *,
    look: str = "custom",
    chunk_size: int | None = None,
    on_chunk: Callable[[int, int], None] | None = None,
) -> torch.Tensor:
    """Add luma-dependent, per-frame film grain to an IMAGE batch ``[B,H,W,C]``; mean-preserving.

    Float frames (0..1) give float frames. uint8 frames (video) give uint8 frames: monochrome grain runs in
    integer arithmetic on packed pixels (:func:`grain_packed`), equal to the float path rounded to 8 bits
    up to the fixed-point grain (at most one code step); colour grain goes through the float path.
    """
    strength, size, chroma = check_grain_parameters(strength, size, chroma, look)
    is_u8 = isinstance(images, torch.Tensor) and images.dtype == torch.uint8
    if is_u8:
        if images.ndim != 4 or images.shape[-1] not in (3, 4):
            raise ValueError(f"images must be [B,H,W,3] (or RGBA [B,H,W,4]), got shape {tuple(images.shape)}")
    else:
        check_images(images)
    if strength == 0.0 or images.shape[0] == 0:
        return images

    frames, height, width = images.shape[0], images.shape[1], images.shape[2]
    device = images.device
    step, total = chunk_plan(images, chunk_size)
    plan = grain_plan(strength, size, chroma, seed, look, height, width, device)
    out = torch.empty_like(images)
    for index, start in enumerate(range(0, frames, step)):
        stop = min(start + step, frames)
        chunk = images[start:stop]
        if is_u8 and plan.chroma == 0.0:
            packed = grain_packed(pack_rgb24(chunk), strength, size, seed, frame_offset + start, look=look)
            unpack_rgb24(packed, out[start:stop, ..., :3])
        elif is_u8:
            grained = _grain_float(chunk.to(torch.float32).div_(255.0), plan, seed, frame_offset + start)
            out[start:stop, ..., :3] = grained.mul_(255.0).round_().permute(0, 2, 3, 1)
        else:
            grained = _grain_float(chunk, plan, seed, frame_offset + start)
            out[start:stop, ..., :3] = grained.permute(0, 2, 3, 1)
        if images.shape[-1] > 3:
            out[start:stop, ..., 3:] = chunk[..., 3:]
        if on_chunk is not None:
            on_chunk(index + 1, total)
    return out


def _grain_float(chunk: torch.Tensor, plan: GrainPlan, seed: int, first_frame: int) -> torch.Tensor:
    """Grain float frames ``[n,H,W,C]`` (0..1); returns channel-first ``[n, 3, H, W]`` in 0..1."""
    seeds = [frame_seed(seed, first_frame + f) for f in range(chunk.shape[0])]
    height, width = chunk.shape[1], chunk.shape[2]
    work_dtype = torch.promote_types(chunk.dtype, torch.float32)
    # Channel-first working copy [n, 3, H, W]: per-channel ops then run over contiguous planes.
    x = chunk[..., :3].permute(0, 3, 1, 2).to(work_dtype, memory_format=torch.contiguous_format, copy=True)
    x.clamp_(0.0, 1.0)
    amplitude = _amplitude(x, plan)  # [n, 1, H, W]
    # Monochrome grain: one field, added identically to R, G and B.
    x.add_(grain_fields(seeds, plan.mono, height, width).to(work_dtype).unsqueeze(1).mul_(amplitude))
    for c, bank in enumerate(plan.colour):
        colour_seeds = [chroma_seed(s, c) for s in seeds]
        field = grain_fields(colour_seeds, bank, height, width).to(work_dtype)
        x[:, c].addcmul_(field, amplitude[:, 0], value=plan.chroma)
    return x.clamp_(0.0, 1.0)
