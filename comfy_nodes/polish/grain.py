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

import functools
import itertools
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch

from .colour import LUMA_WEIGHTS, check_images, chunk_plan, pack_rgb24, unpack_rgb24

__all__ = [
    "DEFAULT_CHUNK_FRAMES",
    "GRAIN_LOOKS",
    "GRAIN_LOOK_NAMES",
    "LUMA_STRENGTH_CURVE",
    "GrainField",
    "GrainLook",
    "GrainPlan",
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

_MASK64 = (1 << 64) - 1
# Separates the colour-grain streams from the monochrome ones.
_CHROMA_SALT = 0x5EED_C0104


def _splitmix64(value: int) -> int:
    z = (value + 0x9E3779B97F4A7C15) & _MASK64
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _MASK64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _MASK64
    return z ^ (z >> 31)


def frame_seed(seed: int, frame: int) -> int:
    """Derive a well-mixed 63-bit generator seed for one frame from the user seed and the frame index."""
    return _splitmix64((_splitmix64(seed & _MASK64) + frame) & _MASK64) >> 1


def chroma_seed(frame_rng: int, channel: int) -> int:
    """The seed of colour channel ``channel``'s grain from a frame's :func:`frame_seed`."""
    return _splitmix64(frame_rng ^ (_CHROMA_SALT + channel)) >> 1


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


_AR_DEFAULT = ((-1, 0, 0.12), (0, -1, 0.12), (-1, -1, 0.04), (1, -1, 0.04))
GRAIN_LOOKS: dict[str, GrainLook] = {
    # Explicit parameters only, the default texture and luma curve.
    "custom": GrainLook(1.0, 1.0, 0.0, _AR_DEFAULT, LUMA_STRENGTH_CURVE),
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
    ar: tuple[tuple[int, int, float], ...] = _AR_DEFAULT,
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
class _BlockBank:
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
) -> _BlockBank:
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
    return _BlockBank(fixed.to(torch.int16).reshape(-1, block).contiguous(), positions, block)


@functools.lru_cache(maxsize=8)
def _bank_on(
    seed: int, size: int, sigma: float, spacing: float, ar: tuple[tuple[int, int, float], ...], device: str
) -> _BlockBank:
    bank = _block_bank_cpu(seed, size, sigma, spacing, ar)
    return _BlockBank(bank.rows.to(device), bank.positions, bank.block)


def _block_bank(
    seed: int, sigma: float, spacing: float, ar: tuple[tuple[int, int, float], ...], device: torch.device
) -> _BlockBank:
    size = _template_size(sigma, spacing)
    return _bank_on(int(seed), size, round(float(sigma), 6), round(float(spacing), 6), ar, str(device))


def _layer_rows(bank: _BlockBank, seed: int, shift: int, height: int, width: int) -> torch.Tensor:
    """Bank row for every (layer row, block column) of one frame's tiling: int32 ``[by * B, bx]``."""
    block = bank.block
    by, bx = math.ceil((height + shift) / block), math.ceil((width + shift) / block)
    generator = torch.Generator().manual_seed(_splitmix64(seed ^ (shift + 1)) >> 1)
    picks = torch.randint(0, bank.positions * bank.positions, (by, bx), generator=generator)
    device = bank.rows.device
    first = picks.to(device=device, dtype=torch.int32).mul_(block)
    steps = torch.arange(block, dtype=torch.int32, device=device).view(1, -1, 1)
    return (first.unsqueeze(1) + steps).reshape(by * block, bx)


def _tiled_layer(
    bank: _BlockBank, frame_seeds: Sequence[int], shift: int, height: int, width: int
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


def _grain_fields_fixed(
    frame_seeds: Sequence[int], bank: _BlockBank, height: int, width: int
) -> torch.Tensor:
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


def _grain_fields(frame_seeds: Sequence[int], bank: _BlockBank, height: int, width: int) -> torch.Tensor:
    """Unit-variance grain ``[n, H, W]`` (float32): template windows at fresh random offsets every frame."""
    return _grain_fields_fixed(frame_seeds, bank, height, width).to(torch.float32).mul_(1.0 / FIELD_ONE)


@dataclass(frozen=True)
class GrainPlan:
    """Everything a call needs besides the frames: resolved look, banks and amplitude parameters."""

    strength: float
    chroma: float
    curve: tuple[tuple[float, float], ...]
    mono: _BlockBank
    colour: tuple[_BlockBank, ...]
    cap_scale: float


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
    strength *= stock.strength_scale
    size *= stock.size_scale
    chroma += stock.chroma_add
    sigma_mono = grain_sigma_px(size, height, width)
    spacing = size * min(height, width) / REFERENCE_SHORT_SIDE
    mono = _block_bank(seed, sigma_mono, spacing, stock.ar, device)
    colour = []
    if chroma > 0.0:
        for c in range(3):
            colour_seed = _splitmix64((seed & _MASK64) ^ (_CHROMA_SALT + c)) >> 1
            sigma = sigma_mono * CHROMA_SIZE_FACTOR
            colour.append(_block_bank(colour_seed, sigma, spacing * CHROMA_SIZE_FACTOR, stock.ar, device))
    # Headroom cap on the total standard deviation (mono + chroma fields are independent).
    cap_scale = 1.0 / (HEADROOM_SIGMAS * math.sqrt(1.0 + chroma * chroma))
    return GrainPlan(strength, chroma, stock.curve, mono, tuple(colour), cap_scale)


def _check_parameters(strength: float, size: float, chroma: float, look: str) -> tuple[float, float, float]:
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


def _amplitude(x: torch.Tensor, plan: GrainPlan) -> torch.Tensor:
    """Grain standard deviation per pixel ``[n, 1, H, W]`` for channel-first frames ``x`` in 0..1."""
    red, green, blue = x[:, 0], x[:, 1], x[:, 2]
    # Strength follows the sRGB-encoded luma; grain is added in the encoded (perceptual) domain, where
    # equal steps look equally grainy, instead of over-graining the shadows in linear light.
    luma = red * LUMA_WEIGHTS[0] + green * LUMA_WEIGHTS[1] + blue * LUMA_WEIGHTS[2]
    amplitude = piecewise_linear(luma, plan.curve).mul_(GRAIN_SIGMA_AT_FULL_STRENGTH * plan.strength)
    lowest = torch.minimum(torch.minimum(red, green), blue)
    highest = torch.maximum(torch.maximum(red, green), blue)
    headroom = torch.minimum(lowest, highest.neg_().add_(1.0))
    return torch.minimum(amplitude, headroom.mul_(plan.cap_scale)).unsqueeze(1)


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


class GrainField:
    """One frame's grain field strip by strip: int32 in 1 / FIELD_ONE sigma, clipped to +-HEADROOM_SIGMAS.

    Two tilings of the bank's weighted windows at the frame's random offsets, summed.
    """

    def __init__(self, bank: _BlockBank, seed: int, height: int, width: int) -> None:
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
        strength, size, _ = _check_parameters(strength, size, 0.0, look)
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


# Pixels per strip on the packed paths: every int32 temporary of a strip (1 MB) stays in L2.
STRIP_PIXELS = 1 << 18


def strip_rows(width: int) -> int:
    """Rows per cache-sized strip for frames ``width`` pixels wide."""
    return max(1, STRIP_PIXELS // max(1, width))


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
    strength, size, chroma = _check_parameters(strength, size, chroma, look)
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
    x.add_(_grain_fields(seeds, plan.mono, height, width).to(work_dtype).unsqueeze(1).mul_(amplitude))
    for c, bank in enumerate(plan.colour):
        colour_seeds = [chroma_seed(s, c) for s in seeds]
        field = _grain_fields(colour_seeds, bank, height, width).to(work_dtype)
        x[:, c].addcmul_(field, amplitude[:, 0], value=plan.chroma)
    return x.clamp_(0.0, 1.0)
