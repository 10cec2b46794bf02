"""Grain fields: periodic templates, their weighted windows (banks), and one frame's tiling of them.

A template is zero-mean, unit-variance AR-filtered noise (the AV1 grain model); every frame tiles it at
fresh random offsets in two half-block-shifted layers, cross-faded so no seam shows. Pure torch.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch

from .grain_stock import (
    AR_DEFAULT,
    BANK_POSITIONS,
    CHROMA_SIZE_FACTOR,
    FIELD_CLIP,
    FIELD_ONE,
    GRAIN_LOOKS,
    MASK64,
    MAX_TEMPLATE,
    MIN_TEMPLATE,
    REFERENCE_SHORT_SIDE,
    TEMPLATE_CLAMP,
    GrainResponse,
    chroma_seed,
    frame_seed,
    grain_response,
    grain_sigma_px,
    splitmix64,
)

__all__ = [
    "STRIP_PIXELS",
    "BlockBank",
    "GrainField",
    "GrainPlan",
    "GrainWorkspace",
    "grain_fields",
    "grain_plan",
    "grain_template",
    "strip_rows",
]


def _template_size(sigma: float, spacing: float) -> int:
    """Periodic template side (power of two) large enough for the grain's correlation length."""
    needed = 32.0 * max(sigma, spacing, 1.0)
    return min(MAX_TEMPLATE, max(MIN_TEMPLATE, 1 << math.ceil(math.log2(needed))))


@functools.lru_cache(maxsize=64)
def _template_cpu(
    seed: int, size: int, sigma: float, spacing: float, ar: tuple[tuple[int, int, float], ...]
) -> torch.Tensor:
    """A zero-mean, unit-variance periodic grain template ``[size, size]`` (float32, CPU).

    White noise is shaped by a Gaussian low-pass of ``sigma`` px (autocorrelation exp(-d^2 / 4 sigma^2))
    and by the causal autoregressive filter n = sum a_k n(x - spacing * d_k) + z, solved on the periodic
    domain as 1 / (1 - A(w)) in the frequency domain (the AR recursion, vectorised and seamless).
    """
    generator = torch.Generator().manual_seed(seed)
    white = torch.randn((size, size), generator=generator, dtype=torch.float64)
    w = 2.0 * math.pi * torch.fft.fftfreq(size, dtype=torch.float64)
    wy, wx = w.view(-1, 1), w.view(1, -1)
    response = torch.exp(-0.5 * sigma * sigma * (wx.square() + wy.square())).to(torch.complex128)
    if ar:
        a_w = torch.zeros((size, size), dtype=torch.complex128)
        for dx, dy, coefficient in ar:
            a_w = a_w + coefficient * torch.exp(-1j * spacing * (wx * dx + wy * dy))
        response = response / (1.0 - a_w)
    field = torch.fft.ifft2(torch.fft.fft2(white) * response).real
    field = field - field.mean()
    return (field / field.std()).to(torch.float32)


def grain_template(
    seed: int,
    sigma: float,
    spacing: float = 1.0,
    ar: tuple[tuple[int, int, float], ...] = AR_DEFAULT,
    device: torch.device | str = "cpu",
) -> torch.Tensor:
    """The periodic grain template for a seed and grain shape, synthesised once and cached."""
    size = _template_size(sigma, spacing)
    return _template_cpu(int(seed), size, round(float(sigma), 6), round(float(spacing), 6), ar).to(device)


@functools.lru_cache(maxsize=16)
def _blend_weights_cpu(height: int, width: int, block: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Variance-preserving cross-fade weights for the aligned and half-block-shifted tilings."""

    def tent(length: int, shift: int) -> torch.Tensor:
        pos = (torch.arange(length, dtype=torch.float32) + shift) % block
        return 1.0 - (2.0 * (pos + 0.5) / block - 1.0).abs()

    half = block // 2
    w_a = torch.minimum(tent(height, 0).view(-1, 1), tent(width, 0).view(1, -1)).clamp_min_(1e-3)
    w_b = torch.minimum(tent(height, half).view(-1, 1), tent(width, half).view(1, -1)).clamp_min_(1e-3)
    norm = (w_a.square() + w_b.square()).sqrt_()
    return w_a / norm, w_b / norm


@dataclass(frozen=True)
class BlockBank:
    """Template windows pre-multiplied by their cross-fade weight, fixed point (``FIELD_ONE`` = 1 sigma).

    ``rows`` is ``[positions^2 * block, block]`` int16: window ``k`` (offset ``(k // positions,
    k % positions) * step`` in the periodic template) occupies rows ``k * block .. k * block + block - 1``.
    """

    rows: torch.Tensor
    positions: int
    block: int


@functools.lru_cache(maxsize=16)
def _block_bank_cpu(
    seed: int, size: int, sigma: float, spacing: float, ar: tuple[tuple[int, int, float], ...]
) -> BlockBank:
    """Weighted template windows for a seed and grain shape (CPU, cached)."""
    template = _template_cpu(seed, size, sigma, spacing, ar)
    block = size // 4
    positions = BANK_POSITIONS if size <= 512 else BANK_POSITIONS // 2
    step = size // positions
    padded = torch.cat([template, template[:, :block]], dim=1)
    padded = torch.cat([padded, padded[:block]], dim=0)
    windows = padded.unfold(0, block, step).unfold(1, block, step)[:positions, :positions]
    # Both tilings see the same weight pattern in their own block coordinates (the cross-fade is symmetric
    # under the half-block shift), so each window is weighted once here instead of every frame.
    weight = _blend_weights_cpu(block, block, block)[0]
    fixed = (windows * weight).mul_(FIELD_ONE).round_().clamp_(-TEMPLATE_CLAMP, TEMPLATE_CLAMP)
    return BlockBank(fixed.to(torch.int16).reshape(-1, block).contiguous(), positions, block)


@functools.lru_cache(maxsize=8)
def _bank_on(
    seed: int, size: int, sigma: float, spacing: float, ar: tuple[tuple[int, int, float], ...], device: str
) -> BlockBank:
    bank = _block_bank_cpu(seed, size, sigma, spacing, ar)
    return BlockBank(bank.rows.to(device), bank.positions, bank.block)


def _block_bank(
    seed: int, sigma: float, spacing: float, ar: tuple[tuple[int, int, float], ...], device: torch.device
) -> BlockBank:
    size = _template_size(sigma, spacing)
    return _bank_on(int(seed), size, round(float(sigma), 6), round(float(spacing), 6), ar, str(device))


def _layer_rows(bank: BlockBank, seed: int, shift: int, height: int, width: int) -> torch.Tensor:
    """Bank row for every (layer row, block column) of one frame's tiling: int32 ``[by * B, bx]``."""
    block = bank.block
    by, bx = math.ceil((height + shift) / block), math.ceil((width + shift) / block)
    generator = torch.Generator().manual_seed(splitmix64(seed ^ (shift + 1)) >> 1)
    picks = torch.randint(0, bank.positions * bank.positions, (by, bx), generator=generator)
    device = bank.rows.device
    first = picks.to(device=device, dtype=torch.int32).mul_(block)
    steps = torch.arange(block, dtype=torch.int32, device=device).view(1, -1, 1)
    return (first.unsqueeze(1) + steps).reshape(by * block, bx)


def _tiled_layer(
    bank: BlockBank, frame_seeds: Sequence[int], shift: int, height: int, width: int
) -> torch.Tensor:
    """One tiling of ``[n]`` frames with weighted windows at fresh random offsets; int16 ``[n, H, W]``."""
    rows = torch.stack([_layer_rows(bank, seed, shift, height, width) for seed in frame_seeds])
    field = bank.rows.index_select(0, rows.reshape(-1)).view(*rows.shape[:2], -1)
    return field[:, shift : shift + height, shift : shift + width]


class GrainWorkspace:
    """Reusable buffers for per-frame work: fresh multi-MB temporaries cost page faults every frame."""

    def __init__(self) -> None:
        self.buffers: dict[str, torch.Tensor] = {}

    def get(
        self, name: str, shape: tuple[int, ...], dtype: torch.dtype, device: torch.device
    ) -> torch.Tensor:
        """A contiguous tensor of this shape and type, backed by a buffer reused across calls."""
        numel = math.prod(shape)
        buffer = self.buffers.get(name)
        if buffer is None or buffer.numel() < numel or buffer.dtype != dtype or buffer.device != device:
            buffer = torch.empty(numel, dtype=dtype, device=device)
            self.buffers[name] = buffer
        return buffer[:numel].view(shape)


def grain_fields_fixed(frame_seeds: Sequence[int], bank: BlockBank, height: int, width: int) -> torch.Tensor:
    """Grain ``[n, H, W]`` as int32 in units of 1 / FIELD_ONE sigma, clipped to +-HEADROOM_SIGMAS sigma.

    Two tilings (aligned and half-block shifted) of weighted template windows at random offsets, summed:
    the variance-preserving cross-fade hides block seams. The clip lets the headroom cap guarantee that
    monochrome grain never clips.
    """
    aligned = _tiled_layer(bank, frame_seeds, 0, height, width)
    shifted = _tiled_layer(bank, frame_seeds, bank.block // 2, height, width)
    field = torch.empty(aligned.shape, dtype=torch.int32, device=aligned.device)
    torch.add(aligned, shifted, out=field)  # |sum| < 2^15 by TEMPLATE_CLAMP, so int16 arithmetic is exact
    return field.clamp_(-FIELD_CLIP, FIELD_CLIP)


def grain_fields(frame_seeds: Sequence[int], bank: BlockBank, height: int, width: int) -> torch.Tensor:
    """Unit-variance grain ``[n, H, W]`` (float32): template windows at fresh random offsets every frame."""
    return grain_fields_fixed(frame_seeds, bank, height, width).to(torch.float32).mul_(1.0 / FIELD_ONE)


@dataclass(frozen=True)
class GrainPlan(GrainResponse):
    """Everything a call needs besides the frames: the resolved look's amplitude parameters and banks."""

    mono: BlockBank
    colour: tuple[BlockBank, ...]


def grain_plan(
    strength: float,
    size: float,
    chroma: float,
    seed: int,
    look: str,
    height: int,
    width: int,
    device: torch.device,
) -> GrainPlan:
    """Validate the parameters and resolve the look into banks and amplitude parameters."""
    stock = GRAIN_LOOKS[look]
    response = grain_response(strength, chroma, look)
    size *= stock.size_scale
    sigma_mono = grain_sigma_px(size, height, width)
    spacing = size * min(height, width) / REFERENCE_SHORT_SIDE
    mono = _block_bank(seed, sigma_mono, spacing, stock.ar, device)
    colour = []
    if response.chroma > 0.0:
        for c in range(3):
            colour_seed = chroma_seed(seed & MASK64, c)
            sigma = sigma_mono * CHROMA_SIZE_FACTOR
            colour.append(_block_bank(colour_seed, sigma, spacing * CHROMA_SIZE_FACTOR, stock.ar, device))
    return GrainPlan(**vars(response), mono=mono, colour=tuple(colour))


class GrainField:
    """One frame's grain field strip by strip: int32 in 1 / FIELD_ONE sigma, clipped to +-HEADROOM_SIGMAS.

    Two tilings of the bank's weighted windows at the frame's random offsets, summed.
    """

    def __init__(self, bank: BlockBank, seed: int, height: int, width: int) -> None:
        self.bank, self.seed, self.height, self.width = bank, int(seed), int(height), int(width)
        self._work = GrainWorkspace()
        self._layers: tuple[tuple[int, torch.Tensor], ...] | None = None

    def start_frame(self, frame: int, seed: int | None = None) -> None:
        """Draw frame ``frame``'s block offsets (from ``seed``, by default the field's own)."""
        frame_rng = frame_seed(self.seed, frame) if seed is None else seed
        self._layers = tuple(
            (shift, _layer_rows(self.bank, frame_rng, shift, self.height, self.width))
            for shift in (0, self.bank.block // 2)
        )

    def strip(self, rows: int, row: int) -> torch.Tensor:
        """The field of rows ``row .. row + rows`` ``[rows, W]``, in a buffer the next call reuses."""
        if self._layers is None:
            raise RuntimeError("call start_frame() first")
        bank, width, device = self.bank, self.width, self.bank.rows.device
        layers = []
        for name, (shift, index) in zip(("aligned", "shifted"), self._layers, strict=True):
            # Only this strip's rows of the tiling: the windows stay in cache.
            strip = index[row + shift : row + shift + rows].reshape(-1)
            cells = self._work.get(name, (strip.numel(), bank.block), bank.rows.dtype, device)
            torch.index_select(bank.rows, 0, strip, out=cells)
            layers.append(cells.view(rows, -1)[:, shift : shift + width])
        field = self._work.get("field", (rows, width), torch.int32, device)
        torch.add(layers[0], layers[1], out=field)  # exact: |sum| < 2^15 by TEMPLATE_CLAMP
        return field.clamp_(-FIELD_CLIP, FIELD_CLIP)


# Pixels per strip on the packed paths: every int32 temporary of a strip (1 MB) stays in L2.
STRIP_PIXELS = 1 << 18


def strip_rows(width: int) -> int:
    """Rows per cache-sized strip for frames ``width`` pixels wide."""
    return max(1, STRIP_PIXELS // max(1, width))
