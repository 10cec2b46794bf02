"""The "cinematic finish" pass: film grain -> tone map -> colour grade (pure torch, no ComfyUI imports).

Tone mapping and the grade are per-pixel colour functions, so they are baked into one 3D LUT once and
applied with a single tetrahedral lookup per pixel after the grain, instead of running one after another.

uint8 frames (video) take the integer fast path: pixels are packed into one int32 each, monochrome grain
is added to the packed value (:func:`grain_packed`), and the LUT is one gather from its exact 8-bit table
(:func:`lut_table_u8`); the result equals the float path rounded to 8 bits, except that the grained
frame is itself 8-bit before the LUT (as it is when the passes run as separate video nodes).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch

from .colour import check_images, chunk_plan, pack_rgb24, unpack_rgb24
from .grade import GradeAdjust, grade_lut
from .grain import GRAIN_LOOKS, GrainWorkspace, PackedGrain, apply_film_grain, strip_rows
from .lut import DEFAULT_BAKE_SIZE, Lut3D, apply_lut, lut_table_u8
from .tonemap import is_identity, tonemap_rgb

__all__ = ["FinishSettings", "apply_cinematic_finish", "finish_lut"]


@dataclass(frozen=True)
class FinishSettings:
    """Parameters of the finish; the defaults are the preset's standard level."""

    grain_strength: float = 0.25
    grain_size: float = 1.0
    grain_chroma: float = 0.0
    grain_look: str = "custom"
    tonemap_operator: str = "reinhard"
    exposure: float = 0.25
    white_point: float = 1.1892
    style: str = "cinematic"
    intensity: float = 0.7
    adjust: GradeAdjust | None = None


def finish_lut(
    settings: FinishSettings, size: int = DEFAULT_BAKE_SIZE, device: torch.device | str | None = None
) -> Lut3D:
    """Tone map then grade, baked into one 3D LUT."""
    before = []
    if not is_identity(settings.tonemap_operator, settings.exposure, settings.white_point):

        def tonemap(rgb: torch.Tensor) -> torch.Tensor:
            return tonemap_rgb(rgb, settings.tonemap_operator, settings.exposure, settings.white_point)

        before.append(tonemap)
    return grade_lut(
        settings.style, settings.intensity, adjust=settings.adjust, before=before, size=size, device=device
    )


def _film_grain(chunk: torch.Tensor, settings: FinishSettings, seed: int, frame_offset: int) -> torch.Tensor:
    """The finish's grain on one chunk (in one piece: the caller already sized the chunk)."""
    return apply_film_grain(
        chunk,
        settings.grain_strength,
        settings.grain_size,
        settings.grain_chroma,
        seed,
        frame_offset,
        look=settings.grain_look,
        chunk_size=chunk.shape[0],
    )


@torch.no_grad()
def apply_cinematic_finish(
    images: torch.Tensor,
    settings: FinishSettings,
    seed: int,
    frame_offset: int = 0,
    *,
    lut: Lut3D | None = None,
    chunk_size: int | None = None,
    on_chunk: Callable[[int, int], None] | None = None,
) -> torch.Tensor:
    """Grain, then the baked tone-map + grade LUT, chunk by chunk; ``lut`` reuses a :func:`finish_lut`.

    Float IMAGE batches stay float; uint8 frames ``[B,H,W,3|4]`` return uint8 via the integer fast path.
    """
    if isinstance(images, torch.Tensor) and images.dtype == torch.uint8:
        return _finish_u8(images, settings, seed, frame_offset, lut, chunk_size, on_chunk)
    check_images(images)
    if images.shape[0] == 0:
        return images
    lut = lut if lut is not None else finish_lut(settings)
    step, total = chunk_plan(images, chunk_size)
    out = torch.empty(images.shape, dtype=images.dtype, device=images.device)
    for index, start in enumerate(range(0, images.shape[0], step)):
        chunk = images[start : start + step]
        grained = _film_grain(chunk, settings, seed, frame_offset + start)
        out[start : start + step] = apply_lut(grained, lut, 1.0, chunk_size=step)
        if on_chunk is not None:
            on_chunk(index + 1, total)
    return out


def _finish_u8(
    images: torch.Tensor,
    settings: FinishSettings,
    seed: int,
    frame_offset: int,
    lut: Lut3D | None,
    chunk_size: int | None,
    on_chunk: Callable[[int, int], None] | None,
) -> torch.Tensor:
    """The finish on uint8 frames: packed integer grain, then one gather from the LUT's 8-bit table."""
    if images.ndim != 4 or images.shape[-1] not in (3, 4):
        raise ValueError(f"images must be [B,H,W,3] (or RGBA [B,H,W,4]), got shape {tuple(images.shape)}")
    if images.shape[0] == 0:
        return images
    lut = lut if lut is not None else finish_lut(settings, device=images.device)
    table = lut_table_u8(lut, device=images.device)
    frames, height, width = images.shape[0], images.shape[1], images.shape[2]
    step, total = chunk_plan(images, chunk_size)
    packed_grain = settings.grain_chroma == 0.0 and GRAIN_LOOKS.get(settings.grain_look) is not None
    packed_grain = packed_grain and GRAIN_LOOKS[settings.grain_look].chroma_add == 0.0
    grain = None
    if packed_grain and settings.grain_strength > 0.0:
        grain = PackedGrain(
            settings.grain_strength,
            settings.grain_size,
            seed,
            look=settings.grain_look,
            height=height,
            width=width,
            device=images.device,
        )
    # Strip by strip: pack, grain, LUT gather and unpack all work on cache-sized buffers.
    rows = strip_rows(width) if images.device.type == "cpu" else height  # accelerators: whole frames
    work = GrainWorkspace()
    out = torch.empty(images.shape, dtype=torch.uint8, device=images.device)
    for index, start in enumerate(range(0, frames, step)):
        chunk = images[start : start + step]
        if not packed_grain:
            chunk = _film_grain(chunk, settings, seed, frame_offset + start)
        for f in range(chunk.shape[0]):
            if grain is not None:
                grain.start_frame(frame_offset + start + f)
            for row in range(0, height, rows):
                source = chunk[f, row : row + rows]
                packed = pack_rgb24(
                    source, out=work.get("packed", source.shape[:2], torch.int32, images.device)
                )
                if grain is not None:
                    grain.add(packed, row)
                looked = work.get("looked", packed.shape, torch.int32, images.device)
                torch.index_select(table, 0, packed.view(-1), out=looked.view(-1))
                unpack_rgb24(looked, out[start + f, row : row + rows, :, :3])
        if images.shape[-1] > 3:
            out[start : start + step, ..., 3:] = images[start : start + step, ..., 3:]
        if on_chunk is not None:
            on_chunk(index + 1, total)
    return out
