"""Film grain for ComfyUI IMAGE batches (pure torch, no ComfyUI imports).

Model (AV1-style, simplified): ``out = x + f(Y) * n``, where

* ``n`` is zero-mean, unit-variance Gaussian noise, spatially correlated by a separable blur that gives
  it a Gaussian autocorrelation whose radius is a fraction of the frame's short side (so grain looks
  alike at 720p and 1080p, sub-pixel radii included). One monochrome field is shared by R, G and B;
  ``chroma`` adds independent, slightly coarser per-channel fields;
* ``f(Y)`` is a piecewise-linear function of the sRGB-encoded Rec.709 luma (weak in deep shadows and
  bright highlights, strongest in the mid-tones), scaled by ``strength`` and capped by each pixel's
  headroom to 0 and 1 so clipping cannot bias the mean;
* every frame draws from its own generator seeded with ``hash(seed, frame index)``: deterministic for a
  seed, independent between frames, and independent of how the batch is chunked.
"""

from __future__ import annotations

import functools
import itertools
import math
from collections.abc import Callable, Sequence

import torch

__all__ = [
    "DEFAULT_CHUNK_FRAMES",
    "LUMA_STRENGTH_CURVE",
    "apply_film_grain",
    "frame_seed",
    "grain_sigma_px",
    "piecewise_linear",
]

# Rec.709 / sRGB luma weights.
LUMA_WEIGHTS = (0.2126, 0.7152, 0.0722)
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
# At most this many frames per chunk; fewer for large frames (see PIXEL_BUDGET).
DEFAULT_CHUNK_FRAMES = 16
# Pixels (frames x height x width) processed at once; keeps 4K batches bounded too.
PIXEL_BUDGET = 16 * 1024 * 1024

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


@functools.lru_cache(maxsize=32)
def _grain_kernel_cpu(sigma: float) -> torch.Tensor:
    # The field should have the autocorrelation of continuous white noise blurred by a Gaussian of
    # ``sigma``, sampled at integer lags: R(d) = exp(-d^2 / (4 sigma^2)). A sampled Gaussian kernel gets
    # this badly wrong below ~1 px (it collapses to a delta), which would make grain look finer at 720p
    # than at 1080p. Instead take the kernel whose self-convolution is R: the square root of R's spectrum.
    radius = max(1, math.ceil(3.0 * sigma))
    n = 1 << max(6, (16 * radius).bit_length())
    lags = torch.arange(n, dtype=torch.float64)
    lags = torch.minimum(lags, n - lags)
    autocorr = torch.exp(-(lags**2) / (4.0 * max(sigma, 1e-3) ** 2))
    spectrum = torch.fft.fft(autocorr).real.clamp_min(0.0)
    kernel = torch.fft.ifft(spectrum.sqrt()).real
    kernel = torch.cat([kernel[n - radius :], kernel[: radius + 1]])
    return (kernel / kernel.sum()).to(torch.float32)


def _grain_taps(sigma: float) -> list[float]:
    """Taps ``[k0, k1, ..., kr]`` of the symmetric 1-D grain kernel for correlation radius ``sigma``."""
    kernel = _grain_kernel_cpu(float(sigma))
    radius = (kernel.numel() - 1) // 2
    return kernel[radius:].tolist()


def _symmetric_filter(x: torch.Tensor, taps: Sequence[float], dim: int) -> torch.Tensor:
    """'Valid' filtering of ``x`` along ``dim`` with a symmetric kernel (length shrinks by 2r)."""
    radius = len(taps) - 1
    length = x.shape[dim] - 2 * radius
    out = x.narrow(dim, radius, length) * taps[0]
    pair = torch.empty_like(out)
    for i in range(1, radius + 1):
        # Plain add/mul (no fused multiply-add) keeps results bit-identical however frames are chunked.
        torch.add(x.narrow(dim, radius - i, length), x.narrow(dim, radius + i, length), out=pair)
        out.add_(pair.mul_(taps[i]))
    return out


def _white_noise(
    seeds: Sequence[int], channels: int, height: int, width: int, device: torch.device
) -> torch.Tensor:
    """Unit Gaussian noise ``[len(seeds) * channels, height, width]``, one generator per frame seed."""
    white = torch.empty((len(seeds) * channels, height, width), device=device)
    for index, seed in enumerate(seeds):
        generator = torch.Generator(device=device)
        generator.manual_seed(seed)
        white[index * channels : (index + 1) * channels].normal_(generator=generator)
    return white


def _correlated_noise(
    seeds: Sequence[int], channels: int, height: int, width: int, sigma: float, device: torch.device
) -> torch.Tensor:
    """Zero-mean, unit-variance, Gaussian-correlated noise ``[frames, channels, height, width]``."""
    taps = _grain_taps(sigma)
    radius = len(taps) - 1
    white = _white_noise(seeds, channels, height + 2 * radius, width + 2 * radius, device)
    # Separable blur with 'valid' padding: the margin keeps statistics uniform up to the border.
    # (Shifted-slice sums instead of conv2d: single-channel conv2d is very slow on CPU.)
    blurred = _symmetric_filter(_symmetric_filter(white, taps, dim=1), taps, dim=2)
    # Each output is a weighted sum of independent unit normals: variance = (sum k^2)^2.
    norm = taps[0] ** 2 + 2.0 * sum(t * t for t in taps[1:])
    return blurred.div_(norm).view(len(seeds), channels, height, width)


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
def apply_film_grain(
    images: torch.Tensor,
    strength: float,
    size: float,
    chroma: float,
    seed: int,
    frame_offset: int = 0,
    *,
    chunk_size: int | None = None,
    on_chunk: Callable[[int, int], None] | None = None,
) -> torch.Tensor:
    """Add luma-dependent, per-frame film grain to an IMAGE batch ``[B,H,W,C]``; mean-preserving."""
    strength, size, chroma = float(strength), float(size), float(chroma)
    if not (math.isfinite(strength) and strength >= 0.0):
        raise ValueError(f"strength must be a finite number >= 0, got {strength}")
    if not (math.isfinite(size) and size > 0.0):
        raise ValueError(f"size must be a finite number > 0, got {size}")
    if not (math.isfinite(chroma) and chroma >= 0.0):
        raise ValueError(f"chroma must be a finite number >= 0, got {chroma}")
    _check_images(images)
    if strength == 0.0 or images.shape[0] == 0:
        return images

    frames, height, width = images.shape[0], images.shape[1], images.shape[2]
    device = images.device
    step = _chunk_frames(height, width, chunk_size)
    total = math.ceil(frames / step)
    work_dtype = torch.promote_types(images.dtype, torch.float32)
    sigma_mono = grain_sigma_px(size, height, width)
    sigma_chroma = sigma_mono * CHROMA_SIZE_FACTOR
    # Headroom cap on the total standard deviation (mono + chroma fields are independent).
    cap_scale = 1.0 / (HEADROOM_SIGMAS * math.sqrt(1.0 + chroma * chroma))

    out = torch.empty_like(images)
    for index, start in enumerate(range(0, frames, step)):
        stop = min(start + step, frames)
        seeds = [frame_seed(seed, frame_offset + f) for f in range(start, stop)]
        chunk = images[start:stop]
        # Channel-first working copy [n, 3, H, W]: per-channel ops then run over contiguous planes.
        x = (
            chunk[..., :3]
            .permute(0, 3, 1, 2)
            .to(work_dtype, memory_format=torch.contiguous_format, copy=True)
        )
        x.clamp_(0.0, 1.0)
        red, green, blue = x[:, 0], x[:, 1], x[:, 2]

        luma = red * LUMA_WEIGHTS[0] + green * LUMA_WEIGHTS[1] + blue * LUMA_WEIGHTS[2]
        amplitude = piecewise_linear(luma, LUMA_STRENGTH_CURVE).mul_(GRAIN_SIGMA_AT_FULL_STRENGTH * strength)
        lowest = torch.minimum(torch.minimum(red, green), blue)
        highest = torch.maximum(torch.maximum(red, green), blue)
        headroom = torch.minimum(lowest, highest.neg_().add_(1.0))
        amplitude = torch.minimum(amplitude, headroom.mul_(cap_scale)).unsqueeze(1)  # [n, 1, H, W]

        # Monochrome grain: one field, added identically to R, G and B.
        x.add_(_correlated_noise(seeds, 1, height, width, sigma_mono, device).to(work_dtype).mul_(amplitude))
        if chroma > 0.0:
            colour_seeds = [_splitmix64(s ^ _CHROMA_SALT) >> 1 for s in seeds]
            colour = _correlated_noise(colour_seeds, 3, height, width, sigma_chroma, device).to(work_dtype)
            x.add_(colour.mul_(amplitude * chroma))
        out[start:stop, ..., :3] = x.clamp_(0.0, 1.0).permute(0, 2, 3, 1)
        if images.shape[-1] > 3:
            out[start:stop, ..., 3:] = chunk[..., 3:]
        if on_chunk is not None:
            on_chunk(index + 1, total)
    return out
