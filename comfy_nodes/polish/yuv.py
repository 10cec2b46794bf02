"""The YUV-native stream: plans made only of colour passes and grain run on the decoder's yuv420p planes.

Decoding to RGB and encoding back costs two colour conversions per frame (swscale), more than the passes
themselves. For a plan of colour passes (grade, tone map, LUT) and grain, the frames stay in Y'CbCr:

- the fused colour function is baked once on a 65^3 lattice of Y'CbCr codes (codes -> R'G'B' with the
  source's matrix and range, the passes, back to codes) and spread by separable linear interpolation into
  one table over every 8-bit (Y, Cb, Cr): luma goes through it with its co-sited chroma, chroma with the
  mean of its 2x2 luma;
- monochrome grain adds the same offset to R', G' and B', which leaves Cb and Cr unchanged, so it is added
  to Y' only, with the RGB path's amplitude (luma curve, headroom cap) read from a second table keyed the
  same way; colour grain (independent fields on R', G', B') becomes independent fields on Cb and Cr with
  the variances those fields give there, and its small luma share widens the luma grain accordingly;
- the planes go to the encoder as they are, tagged with the source's matrix and range.
Everything else (deflicker, upscale, interpolation) keeps the RGB path.
"""

from __future__ import annotations

import functools
import math
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import torch

from .colour import YuvColour
from .grain_field import GrainField, GrainPlan, GrainWorkspace, grain_plan, strip_rows
from .grain_stock import (
    AMP_BITS,
    FIELD_BITS,
    FIELD_ONE,
    GrainResponse,
    chroma_seed,
    frame_seed,
    grain_amplitude,
    grain_response,
)
from .lut import ColourFn
from .passes import NO_TICK, ColourPass, GrainPass, PassSpec, Tick

__all__ = ["YUV_LATTICE", "YuvRun", "YuvTables", "response_of", "yuv_passes", "yuv_tables"]

YUV_LATTICE = 65  # lattice nodes per axis: a node every 4 codes
# Frames processed at once: two lanes keep up with x264 on a small machine without crowding it.
LANES = min(2, os.cpu_count() or 1)
_SLAB = 16  # Cr levels filled per step (16 x 65536 entries x 4 channels of float32: 16 MiB)


@dataclass(frozen=True)
class YuvTables:
    """Per 8-bit (Y, Cb, Cr), index ``y | cb << 8 | cr << 16``: graded codes and grain amplitude."""

    colour: torch.Tensor | None  # int32 ``y' | cb' << 8 | cr' << 16``; None when no pass changes colour
    amplitude: torch.Tensor | None  # int32 luma grain sigma in 1 / 2^AMP_BITS codes; None without grain
    chroma_gains: tuple[float, float]  # Cb, Cr grain sigma per unit of ``amplitude`` (0 without colour grain)


def yuv_passes(passes: tuple[PassSpec, ...]) -> tuple[tuple[ColourPass, ...], GrainPass | None] | None:
    """Split a plan into its colour run and its grain, or None when it has other passes (RGB path).

    Grain must come last (colour passes after grain would grade the grain, which the tables cannot do),
    and there is at most one grain pass.
    """
    colour = tuple(spec for spec in passes if isinstance(spec, ColourPass))
    grains = [spec for spec in passes if isinstance(spec, GrainPass) and spec.strength > 0.0]
    others = [spec for spec in passes if not isinstance(spec, ColourPass | GrainPass)]
    if others or len(grains) > 1:
        return None
    if grains and any(isinstance(spec, ColourPass) for spec in passes[passes.index(grains[0]) :]):
        return None
    return colour, (grains[0] if grains else None)


def response_of(grain: GrainPass | None) -> GrainResponse | None:
    """What a grain pass's amplitude tables depend on (None without grain)."""
    return None if grain is None else grain_response(grain.strength, grain.chroma, grain.look)


def _grain_plan(grain: GrainPass, height: int, width: int) -> GrainPlan:
    return grain_plan(grain.strength, grain.size, grain.chroma, grain.seed, grain.look, height, width, "cpu")


def _interpolation(levels: int = 256, nodes: int = YUV_LATTICE) -> tuple[torch.Tensor, torch.Tensor]:
    """Per code of ``levels``: the node below it and its weight towards the node above."""
    position = torch.arange(levels, dtype=torch.float64) * ((nodes - 1) / (levels - 1))
    low = position.floor().clamp_(max=nodes - 2)
    return low.long(), (position - low).to(torch.float32)


def _spread(values: torch.Tensor, dim: int, low: torch.Tensor, frac: torch.Tensor) -> torch.Tensor:
    """Linear interpolation of ``values`` along ``dim`` from the lattice nodes to every 8-bit code."""
    shape = [1] * values.ndim
    shape[dim] = -1
    below = values.index_select(dim, low)
    return below.lerp_(values.index_select(dim, low + 1), frac.view(shape))


def _lattice(
    ops: list[ColourFn], grain: GrainResponse | None, colour: YuvColour
) -> tuple[torch.Tensor, tuple[float, float]]:
    """Graded codes (and the luma grain amplitude) at every lattice node ``[Cr, Cb, Y, 3|4]``."""
    steps = torch.linspace(0.0, 255.0, YUV_LATTICE, dtype=torch.float32)
    cr, cb, y = torch.meshgrid(steps, steps, steps, indexing="ij")
    rgb = colour.to_rgb(torch.stack([y, cb, cr], dim=-1)).clamp_(0.0, 1.0)
    for op in ops:
        rgb = op(rgb)
    rgb = rgb.clamp(0.0, 1.0)
    channels = [colour.from_rgb(rgb)]
    gains = (0.0, 0.0)
    if grain is not None:
        amplitude = grain_amplitude(*rgb.unbind(-1), grain)
        luma_gain, pb_gain, pr_gain = colour.chroma_noise_gains()
        y_scale, c_scale = colour.scales
        # Colour grain's share of luma variance widens the luma grain, so Y' carries what R'G'B' would.
        unit = y_scale * math.sqrt(1.0 + (grain.chroma * luma_gain) ** 2) * (1 << AMP_BITS)
        channels.append(amplitude.mul_(unit).unsqueeze(-1))
        per_unit = grain.chroma * c_scale / unit
        gains = (per_unit * pb_gain, per_unit * pr_gain)
    return torch.cat(channels, dim=-1), gains


@functools.lru_cache(maxsize=2)
def yuv_tables(
    colour_run: tuple[ColourPass, ...], grain: GrainResponse | None, colour: YuvColour
) -> YuvTables:
    """The tables of a plan's colour run and grain response (the last two are kept for the next runs).

    Keyed by values only (no seed, no frame size: neither changes a table), so a preset run again, at
    any clip size or grain seed, reuses its tables instead of building 128 MiB again.
    """
    ops = [op for spec in colour_run for op in spec.colour_ops()]
    if not ops and grain is None:
        return YuvTables(None, None, (0.0, 0.0))
    lattice, gains = _lattice(ops, grain, colour)
    low, frac = _interpolation()
    # Separable, channel by channel (contiguous planes): along Y, then Cb, then Cr slab by slab.
    planes = lattice.permute(3, 0, 1, 2).contiguous()
    along_cb = _spread(_spread(planes, 3, low, frac), 2, low, frac)
    table = torch.empty(1 << 24, dtype=torch.int32) if ops else None
    amplitude = torch.empty(1 << 24, dtype=torch.int32) if grain is not None else None
    for start in range(0, 256, _SLAB):
        part = slice(start, start + _SLAB)
        slab = _spread(along_cb, 1, low[part], frac[part]).round_().reshape(planes.shape[0], -1)
        rows = slice(start << 16, (start + _SLAB) << 16)
        if table is not None:
            codes = slab[:3].clamp_(0.0, 255.0).to(torch.int32)
            table[rows] = codes[0].add_(codes[1], alpha=1 << 8).add_(codes[2], alpha=1 << 16)
        if amplitude is not None:
            amplitude[rows] = slab[3].to(torch.int32)
    return YuvTables(table, amplitude, gains)


@functools.lru_cache(maxsize=2)
def _subsampled_scale(grain: GrainPass, height: int, width: int) -> float:
    """How much of the RGB path's colour grain survives 4:2:0 subsampling (its 2x2 mean), in sigmas.

    Measured once per setting and size (the lanes share it) on one full-size field: the grain is correlated
    over a pixel or two, so the mean of four neighbours keeps more than half of its standard deviation.
    """
    bank = _grain_plan(grain, height, width).colour[1]
    field = GrainField(bank, grain.seed, height, width)
    field.start_frame(0)
    full = field.strip(height, 0).to(torch.float32)
    return float(full.view(height // 2, 2, width // 2, 2).mean(dim=(1, 3)).std() / full.std())


class _ChromaGrain:
    """Colour grain on the Cb and Cr planes: two independent fields at chroma resolution per frame."""

    def __init__(self, grain: GrainPass, height: int, width: int) -> None:
        plan = _grain_plan(grain, height, width)
        self.seed = grain.seed
        self.fields = tuple(GrainField(bank, grain.seed, height, width) for bank in plan.colour[1:3])
        self.height = height
        self.scale = _subsampled_scale(grain, height * 2, width * 2) / FIELD_ONE

    def planes(self, frame: int) -> tuple[torch.Tensor, torch.Tensor]:
        """This frame's Cb and Cr fields ``[H/2, W/2]`` in sigmas (float32)."""
        rng = frame_seed(self.seed, frame)
        out = []
        for channel, field in enumerate(self.fields, start=1):
            field.start_frame(frame, chroma_seed(rng, channel))
            out.append(field.strip(self.height, 0).to(torch.float32).mul_(self.scale))
        return out[0], out[1]


class _Lane:
    """One worker's buffers and per-frame grain state (frames are independent, so lanes run in parallel)."""

    def __init__(self, tables: YuvTables, grain: GrainPass | None, width: int, height: int) -> None:
        self.work = GrainWorkspace()
        self.mono: GrainField | None = None
        self.chroma: _ChromaGrain | None = None
        if grain is not None and tables.amplitude is not None:
            self.mono = GrainField(_grain_plan(grain, height, width).mono, grain.seed, height, width)
            if tables.chroma_gains != (0.0, 0.0):
                self.chroma = _ChromaGrain(grain, height // 2, width // 2)


class YuvRun:
    """The colour table and grain on yuv420p frames ``[B, H * 3 / 2, W]`` (uint8, PyAV's layout), in place."""

    def __init__(
        self, tables: YuvTables, grain: GrainPass | None, width: int, height: int, tick: Tick = NO_TICK
    ) -> None:
        self.tables, self.width, self.height, self.tick = tables, width, height, tick
        self.rows = max(2, strip_rows(width) // 2 * 2)
        self.frames = 0
        self.lanes = [_Lane(tables, grain, width, height) for _ in range(LANES)]
        self.half = torch.tensor(1 << (FIELD_BITS + AMP_BITS - 1), dtype=torch.int32)

    def push(self, frames: torch.Tensor) -> torch.Tensor:
        """Grade and grain every frame of the chunk, the frames shared out over the lanes."""
        if len(self.lanes) == 1 or frames.shape[0] == 1:
            self._frames(self.lanes[0], frames, range(frames.shape[0]), threaded=False)
        else:
            with ThreadPoolExecutor(len(self.lanes), thread_name_prefix="yuv lane") as pool:
                lanes = [
                    pool.submit(self._frames, lane, frames, range(first, frames.shape[0], len(self.lanes)))
                    for first, lane in enumerate(self.lanes)
                ]
                for lane in lanes:
                    lane.result()
        self.frames += frames.shape[0]
        return frames

    def _frames(self, lane: _Lane, frames: torch.Tensor, indices: range, threaded: bool = True) -> None:
        """One lane's share of a chunk (its own buffers and grain state; torch on one thread)."""
        if threaded:
            torch.set_num_threads(1)  # this thread's intra-op pool: the lanes are the parallelism
        height, width = self.height, self.width
        with torch.inference_mode():
            for index in indices:
                self.tick()
                flat = frames[index].view(-1)
                luma = flat[: height * width].view(height, width)
                quarter = height * width // 4
                cb = flat[height * width : height * width + quarter].view(height // 2, width // 2)
                cr = flat[height * width + quarter :].view(height // 2, width // 2)
                if lane.mono is not None:
                    lane.mono.start_frame(self.frames + index)
                noise = lane.chroma.planes(self.frames + index) if lane.chroma is not None else None
                for row in range(0, height, self.rows):
                    rows = min(self.rows, height - row)
                    half = slice(row // 2, (row + rows) // 2)
                    self._strip(lane, luma[row : row + rows], cb[half], cr[half], row, noise)

    def _strip(
        self,
        lane: _Lane,
        luma: torch.Tensor,
        cb: torch.Tensor,
        cr: torch.Tensor,
        row: int,
        noise: tuple[torch.Tensor, torch.Tensor] | None,
    ) -> None:
        rows, width = luma.shape
        pairs, half_width = rows // 2, width // 2
        work, table, amplitude = lane.work, self.tables.colour, self.tables.amplitude
        chroma = work.get("chroma", (pairs, half_width), torch.int32, luma.device)
        chroma.copy_(cr).mul_(256).add_(cb).mul_(256)  # cb << 8 | cr << 16
        index = work.get("index", (rows, width), torch.int32, luma.device)
        quad = (pairs, 2, half_width, 2)
        index.view(quad).copy_(chroma.view(pairs, 1, half_width, 1).expand(quad))  # same-type copy: fastest
        index.add_(luma)
        if table is not None or noise is not None:
            # Chroma goes through the table with the mean of its four luma samples.
            pair = index.view(pairs, 2, half_width, 2)
            rows_sum = work.get("rows_sum", (pairs, half_width, 2), torch.int32, luma.device)
            torch.add(pair[:, 0], pair[:, 1], out=rows_sum)
            keyed = work.get("keyed", (pairs, half_width), torch.int32, luma.device)
            torch.add(rows_sum[..., 0], rows_sum[..., 1], out=keyed)
            keyed.sub_(chroma, alpha=4).add_(2).bitwise_right_shift_(2).add_(chroma)
            graded = table.index_select(0, keyed.view(-1)).view(keyed.shape) if table is not None else keyed
            for plane, shift, channel in ((cb, 8, 0), (cr, 16, 1)):
                codes = graded.bitwise_right_shift(shift).bitwise_and_(255)
                if noise is not None and amplitude is not None:
                    sigma = amplitude.index_select(0, keyed.view(-1)).view(keyed.shape).to(torch.float32)
                    sigma.mul_(noise[channel][row // 2 : row // 2 + pairs])
                    codes.add_(sigma.mul_(self.tables.chroma_gains[channel]).round_().to(torch.int32))
                plane.copy_(codes.clamp_(0, 255))
        out = work.get("out", (rows, width), torch.int32, luma.device)
        if table is not None:
            torch.index_select(table, 0, index.view(-1), out=out.view(-1))
            out.bitwise_and_(255)
        else:
            out.copy_(luma)
        if lane.mono is not None and amplitude is not None:
            field = lane.mono.strip(rows, row)
            gathered = work.get("amplitude", (rows, width), torch.int32, luma.device)
            torch.index_select(amplitude, 0, index.view(-1), out=gathered.view(-1))
            # field * amplitude + half, one op; then an arithmetic shift: round half up (as PackedGrain).
            torch.addcmul(self.half, field, gathered, out=field).bitwise_right_shift_(FIELD_BITS + AMP_BITS)
            out.add_(field).clamp_(0, 255)
        luma.copy_(out)

    def flush(self) -> torch.Tensor | None:
        """Nothing is held back."""
        return None
