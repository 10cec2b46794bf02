"""Monochrome grain on packed 8-bit pixels (int32 ``r | g << 8 | b << 16``) in integer arithmetic.

The amplitude comes from a table over every 8-bit colour, the field from ``grain_field``; strip by strip
so the work stays in cache. Equal to the float path rounded to 8 bits within one code (fixed-point grain).
"""

from __future__ import annotations

import functools

import torch

from .colour import LUMA_WEIGHTS
from .grain_field import GrainField, GrainWorkspace, grain_plan, strip_rows
from .grain_stock import (
    AMP_BITS,
    FIELD_BITS,
    GRAIN_LOOKS,
    GRAIN_SIGMA_AT_FULL_STRENGTH,
    HEADROOM_SIGMAS_INT,
    check_grain_parameters,
    piecewise_linear,
)

__all__ = ["PackedGrain", "grain_packed"]


# 64 MiB each: keep the last two parameter sets.
@functools.lru_cache(maxsize=2)
def _amplitude_table(curve: tuple[tuple[float, float], ...], strength: float, device: str) -> torch.Tensor:
    """Monochrome grain amplitude for every 8-bit colour: int32 ``[2^24]`` in 1 / 2^AMP_BITS codes.

    Index ``r | g << 8 | b << 16``. The curve part is the float path's amplitude (of ``x / 255``) rounded;
    the headroom cap is ``floor(headroom_codes * 2^AMP_BITS / HEADROOM_SIGMAS)``, so a grain value clipped
    to +-HEADROOM_SIGMAS sigma never takes a channel past 0 or 255.
    """
    levels = torch.arange(256, dtype=torch.uint8).to(torch.float32).div_(255.0)
    codes = torch.arange(256, dtype=torch.int32)
    g, r = torch.meshgrid(levels, levels, indexing="ij")
    gi, ri = torch.meshgrid(codes, codes, indexing="ij")
    # int32, not int16: the per-pixel product with the int32 field then stays on the vectorised path.
    table = torch.empty(1 << 24, dtype=torch.int32)
    unit = float(1 << AMP_BITS)
    for b in range(256):
        x = torch.stack([r, g, levels[b].expand(256, 256)]).unsqueeze(0)  # [1, 3, 256(g), 256(r)]
        luma = x[0, 0] * LUMA_WEIGHTS[0] + x[0, 1] * LUMA_WEIGHTS[1] + x[0, 2] * LUMA_WEIGHTS[2]
        curve_amp = piecewise_linear(luma, curve).mul_(GRAIN_SIGMA_AT_FULL_STRENGTH * strength)
        curve_q = curve_amp.mul_(255.0 * unit).round_().clamp_(max=32767.0).to(torch.int32)
        lowest = torch.minimum(torch.minimum(ri, gi), torch.full_like(ri, b))
        highest = torch.maximum(torch.maximum(ri, gi), torch.full_like(ri, b))
        headroom = torch.minimum(lowest, 255 - highest)
        cap_q = torch.div(headroom * (1 << AMP_BITS), HEADROOM_SIGMAS_INT, rounding_mode="floor")
        table[b << 16 : (b + 1) << 16] = torch.minimum(curve_q, cap_q).reshape(-1)
    return table.to(device)


class PackedGrain:
    """Monochrome grain for packed 8-bit frames (int32 ``r | g << 8 | b << 16``), added strip by strip.

    Integer arithmetic: ``x + round(field * amplitude)`` per channel, never clipping (the field is clipped to
    +-HEADROOM_SIGMAS sigma and the amplitude capped by the headroom), so adding ``noise * 0x010101`` to the
    packed word is exact. Call :meth:`start_frame` once per frame, then :meth:`add` on row strips small
    enough to stay in cache; the result does not depend on the strip size.
    """

    def __init__(
        self,
        strength: float,
        size: float,
        seed: int,
        *,
        look: str = "custom",
        height: int,
        width: int,
        device: torch.device | str = "cpu",
    ) -> None:
        strength, size, _ = check_grain_parameters(strength, size, 0.0, look)
        if GRAIN_LOOKS[look].chroma_add > 0.0:
            raise ValueError(f"look {look!r} has colour grain; packed grain is monochrome only")
        self.device = torch.device(device)
        self.seed, self.height, self.width = int(seed), int(height), int(width)
        self.active = strength > 0.0
        self._plan = grain_plan(strength, size, 0.0, self.seed, look, self.height, self.width, self.device)
        self._amplitude = _amplitude_table(self._plan.curve, self._plan.strength, str(self.device))
        self._field = GrainField(self._plan.mono, self.seed, self.height, self.width)
        self._work = GrainWorkspace()
        self._half = torch.tensor(1 << (FIELD_BITS + AMP_BITS - 1), dtype=torch.int32, device=self.device)

    def start_frame(self, frame: int) -> None:
        """Draw this frame's block offsets (absolute frame index, as ``frame_offset + i``)."""
        self._field.start_frame(frame)

    def add(self, packed: torch.Tensor, row: int = 0) -> torch.Tensor:
        """Add the current frame's grain to packed rows ``[rows, W]`` from frame row ``row``; in place."""
        rows, width = packed.shape[0], self.width
        field = self._field.strip(rows, row)
        gathered = self._work.get("gathered", (rows, width), torch.int32, self.device)
        torch.index_select(self._amplitude, 0, packed.reshape(-1), out=gathered.view(-1))
        shift = FIELD_BITS + AMP_BITS
        # field * amplitude + half, one op; then an arithmetic shift: round half up.
        torch.addcmul(self._half, field, gathered, out=field).bitwise_right_shift_(shift)
        return packed.add_(field, alpha=0x010101)


def grain_packed(
    packed: torch.Tensor,
    strength: float,
    size: float,
    seed: int,
    frame_offset: int = 0,
    *,
    look: str = "custom",
) -> torch.Tensor:
    """Add monochrome grain to packed 8-bit frames ``[n, H, W]`` (int32) in place (:class:`PackedGrain`)."""
    frames, height, width = packed.shape
    grain = PackedGrain(strength, size, seed, look=look, height=height, width=width, device=packed.device)
    if not grain.active or frames == 0:
        return packed
    step = strip_rows(width) if packed.device.type == "cpu" else height  # accelerators: whole frames
    for f in range(frames):
        grain.start_frame(frame_offset + f)
        for row in range(0, height, step):
            grain.add(packed[f, row : row + step], row)
    return packed
