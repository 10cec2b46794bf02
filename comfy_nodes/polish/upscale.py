"""Upscale + denoise (pure torch): weight-free Lanczos-3 + guided-filter denoise + edge-aware sharpening,
or an upscale model (a spandrel-style descriptor: ``model(x[B,3,h,w]) -> [B,3,h*s,w*s]`` with ``.scale``).

Everything runs tile by tile into one preallocated output, so peak working memory is bounded by the tile
size whatever the frame size (4x of 1080p needs about 0.15 GB of working memory per 256-pixel tile besides
the output itself; see ``tile_working_bytes``). The weight-free passes are local, so with ``overlap`` larger
than their reach the tiled result equals the untiled one.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from ...sidecar.core.errors import AInfError, ErrorCode
from .deflicker import LUMA_WEIGHTS, check_frames
from .video_probe import probe_video
from .video_stream import FunctionProcessor, process_video

__all__ = [
    "edge_aware_sharpen",
    "guided_denoise",
    "guided_denoise_cpu",
    "lanczos_resize",
    "load_rgb_image",
    "sharpen_luma_cpu",
    "tile_working_bytes",
    "upscale_frame_cpu",
    "upscale_image_file",
    "upscale_images",
    "upscale_tile",
    "upscale_video",
]

LANCZOS_A = 3
# Output rows sharpened at a time on the CPU video path (a 4K band's float temporaries stay in cache).
SHARPEN_BAND = 32
WEIGHT_FREE_OVERLAP = 8  # input pixels: Lanczos reach 3 + denoise radius 2 + sharpen reach / scale
MODEL_OVERLAP = 16
VIDEO_CHUNK_BYTES = 256 * 1024 * 1024  # uint8 output frames held per chunk when upscaling a video
OnTile = Callable[[int, int], None]


def _lanczos_taps(in_size: int, out_size: int, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """Source indices and normalised Lanczos-3 weights ``[out_size, taps]`` (edge pixels replicated)."""
    ratio = in_size / out_size
    support = LANCZOS_A * max(ratio, 1.0)
    taps = math.ceil(support) * 2 + 1
    centre = (torch.arange(out_size, device=device, dtype=torch.float64) + 0.5) * ratio - 0.5
    first = torch.floor(centre - support + 1)
    index = first.unsqueeze(1) + torch.arange(taps, device=device, dtype=torch.float64)
    distance = (index - centre.unsqueeze(1)) / max(ratio, 1.0)
    weight = torch.sinc(distance) * torch.sinc(distance / LANCZOS_A)
    weight = torch.where(distance.abs() < LANCZOS_A, weight, torch.zeros_like(weight))
    weight = weight / weight.sum(1, keepdim=True)
    return index.clamp(0, in_size - 1).long(), weight.float()


def _resize_axis(x: torch.Tensor, out_size: int, dim: int) -> torch.Tensor:
    index, weight = _lanczos_taps(x.shape[dim], out_size, x.device)
    moved = x.movedim(dim, -1)
    gathered = moved[..., index]  # [..., out, taps]
    out = (gathered * weight.to(x.dtype)).sum(-1)
    return out.movedim(-1, dim)


def lanczos_resize(x: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """Separable Lanczos-3 resize of a ``[B,C,H,W]`` tensor (on its own device)."""
    return _resize_axis(_resize_axis(x, width, 3), height, 2)


def _box(x: torch.Tensor, radius: int) -> torch.Tensor:
    padded = F.pad(x, (radius,) * 4, mode="replicate")
    return F.avg_pool2d(padded, 2 * radius + 1, stride=1)


def guided_denoise(x: torch.Tensor, strength: float, radius: int = 2) -> torch.Tensor:
    """Edge-preserving denoise: a self-guided filter per channel (He et al.), ``strength`` 0..1."""
    if strength <= 0:
        return x
    eps = (0.02 + 0.1 * strength) ** 2
    mean = _box(x, radius)
    var = (_box(x * x, radius) - mean * mean).clamp_min(0)
    a = var / (var + eps)
    b = mean - a * mean
    smoothed = _box(a, radius) * x + _box(b, radius)
    return torch.lerp(x, smoothed, min(strength * 1.5, 1.0))


def _gaussian(x: torch.Tensor, sigma: float) -> torch.Tensor:
    radius = max(1, math.ceil(3 * sigma))
    grid = torch.arange(-radius, radius + 1, device=x.device, dtype=x.dtype)
    kernel = torch.exp(-(grid**2) / (2 * sigma * sigma))
    kernel = kernel / kernel.sum()
    channels = x.shape[1]
    padded = F.pad(x, (radius, radius, radius, radius), mode="replicate")
    out = F.conv2d(padded, kernel.view(1, 1, 1, -1).repeat(channels, 1, 1, 1), groups=channels)
    return F.conv2d(out, kernel.view(1, 1, -1, 1).repeat(channels, 1, 1, 1), groups=channels)


def edge_aware_sharpen(x: torch.Tensor, amount: float, sigma: float = 1.0) -> torch.Tensor:
    """Unsharp mask weighted by edge strength (flat areas and noise untouched) with halo clamping."""
    if amount <= 0:
        return x
    detail = x - _gaussian(x, sigma)
    weights = torch.tensor(LUMA_WEIGHTS, device=x.device, dtype=x.dtype).view(1, 3, 1, 1)
    luma = (x * weights).sum(1, keepdim=True)
    gy = F.pad(luma[:, :, 2:, :] - luma[:, :, :-2, :], (0, 0, 1, 1), mode="replicate")
    gx = F.pad(luma[:, :, :, 2:] - luma[:, :, :, :-2], (1, 1, 0, 0), mode="replicate")
    edge = (gx * gx + gy * gy).sqrt()
    knee = 0.02
    gate = edge * edge / (edge * edge + knee * knee)
    sharpened = x + amount * 1.5 * gate * detail
    local_max = F.max_pool2d(F.pad(x, (1, 1, 1, 1), mode="replicate"), 3, stride=1)
    local_min = -F.max_pool2d(F.pad(-x, (1, 1, 1, 1), mode="replicate"), 3, stride=1)
    margin = 0.02
    return torch.minimum(torch.maximum(sharpened, local_min - margin), local_max + margin)


def upscale_tile(
    tile: torch.Tensor, scale: int, denoise: float, sharpen: float, model: Any | None = None
) -> torch.Tensor:
    """Upscale one ``[B,3,h,w]`` tile: denoise -> (model or Lanczos) -> sharpen, on the tile's device."""
    height, width = tile.shape[2] * scale, tile.shape[3] * scale
    tile = guided_denoise(tile, denoise)
    if model is None:
        out = lanczos_resize(tile, height, width)
    else:
        dtype = getattr(model, "dtype", None) or tile.dtype
        out = model(tile.to(dtype)).to(tile.dtype)
        if out.shape[2:] != (height, width):
            out = F.interpolate(
                out, size=(height, width), mode="bicubic", antialias=True, align_corners=False
            )
    out = edge_aware_sharpen(out, sharpen, sigma=0.5 * scale)
    return out.clamp_(0.0, 1.0)


def tile_working_bytes(tile: int, scale: int, overlap: int = WEIGHT_FREE_OVERLAP, channels: int = 3) -> int:
    """Upper bound of float32 working memory for one tile (gather intermediates + filters), in bytes."""
    side_out = (tile + 2 * overlap) * scale
    _, weights = _lanczos_taps(tile + 2 * overlap, side_out, torch.device("cpu"))
    taps = weights.shape[1]
    # largest live set: the H-pass gather (taps planes) + its input, output, detail, gate and clamp planes
    return 4 * channels * side_out * side_out * (taps + 8)


def upscale_images(
    images: torch.Tensor,
    scale: int = 2,
    denoise: float = 0.3,
    sharpen: float = 0.4,
    *,
    model: Any | None = None,
    tile: int = 256,
    overlap: int | None = None,
    out: torch.Tensor | None = None,
    on_tile: OnTile | None = None,
) -> torch.Tensor:
    """Tiled upscale of an IMAGE batch ``[B,H,W,3]`` into ``[B,H*s,W*s,3]`` (float, or ``out``'s dtype)."""
    check_frames(images)
    if scale not in (1, 2, 3, 4):
        raise AInfError(ErrorCode.VALIDATION_ERROR, f"Scale must be 1, 2, 3 or 4, not {scale}.")
    if tile < 32:
        raise AInfError(ErrorCode.VALIDATION_ERROR, f"Tile size must be at least 32 pixels, not {tile}.")
    if model is not None and hasattr(model, "to"):
        model.to(images.device)
    overlap = (
        overlap if overlap is not None else (MODEL_OVERLAP if model is not None else WEIGHT_FREE_OVERLAP)
    )
    batch, height, width, _ = images.shape
    if out is None:
        out = torch.empty((batch, height * scale, width * scale, 3), dtype=images.dtype, device=images.device)
    rows = list(range(0, height, tile))
    cols = list(range(0, width, tile))
    total = len(rows) * len(cols)
    done = 0
    with torch.inference_mode():
        for top in rows:
            for left in cols:
                bottom, right = min(top + tile, height), min(left + tile, width)
                t0, l0 = max(0, top - overlap), max(0, left - overlap)
                t1, l1 = min(height, bottom + overlap), min(width, right + overlap)
                piece = images[:, t0:t1, l0:l1, :].permute(0, 3, 1, 2).float()
                result = upscale_tile(piece, scale, denoise, sharpen, model)
                crop = result[
                    :,
                    :,
                    (top - t0) * scale : (bottom - t0) * scale,
                    (left - l0) * scale : (right - l0) * scale,
                ].permute(0, 2, 3, 1)
                if out.dtype == torch.uint8:
                    crop = crop.mul(255.0).add_(0.5).clamp_(0, 255)
                out[:, top * scale : bottom * scale, left * scale : right * scale, :] = crop.to(out.dtype)
                done += 1
                if on_tile is not None:
                    on_tile(done, total)
    return out


def upscale_frame_cpu(frame: np.ndarray, scale: int, denoise: float, sharpen: float) -> np.ndarray:
    """The weight-free upscale of one uint8 ``[H,W,3]`` frame with OpenCV's vectorised filters (CPU video).

    The same steps as :func:`upscale_tile` (self-guided denoise, resize, edge-gated unsharp mask with halo
    clamping) on whole frames, but the resize is OpenCV's Lanczos-4 (8x8 taps,
    https://docs.opencv.org/4.x/da/d54/group__imgproc__transform.html) instead of the tensor Lanczos-3:
    on a CPU it is tens of times faster than gathering taps in torch, which is what decides whether a
    1080p clip upscales in minutes or in hours.
    """
    x = guided_denoise_cpu(frame.astype(np.float32) * np.float32(1.0 / 255.0), denoise)
    height, width = frame.shape[0] * scale, frame.shape[1] * scale
    x = cv2.resize(x, (width, height), interpolation=cv2.INTER_LANCZOS4)
    if sharpen <= 0:
        return cv2.convertScaleAbs(x, alpha=255.0)
    return _banded(
        x, max(1, math.ceil(1.5 * scale)) + 1, lambda rows: _sharpen_cpu(rows, 0.5 * scale, 1, sharpen)
    )


def guided_denoise_cpu(x: np.ndarray, denoise: float) -> np.ndarray:
    """:func:`guided_denoise` on a float32 ``[H,W]`` or ``[H,W,C]`` array with OpenCV's box filters."""
    if denoise <= 0:
        return x
    eps = np.float32((0.02 + 0.1 * denoise) ** 2)

    def box(v: np.ndarray) -> np.ndarray:
        return cv2.boxFilter(v, -1, (5, 5), borderType=cv2.BORDER_REPLICATE)

    mean = box(x)
    var = np.maximum(box(x * x) - mean * mean, 0, dtype=np.float32)
    a = var / (var + eps)
    b = mean - a * mean
    smoothed = box(a) * x + box(b)
    amount = min(denoise * 1.5, 1.0)
    return cv2.addWeighted(x, 1.0 - amount, smoothed, amount, 0.0)


def sharpen_luma_cpu(luma: np.ndarray, sharpen: float, scale: int) -> np.ndarray:
    """The edge-aware sharpen of :func:`upscale_frame_cpu` on a float ``[H,W]`` luma plane *before* a resize.

    Sharpening first costs a ``scale``-squared fraction of sharpening the resized frame; the blur and the
    gradient knee are measured in source pixels, so the result after the resize is the same sharpen to
    within the resize's own rounding. Returns float rows in the input's units.
    """
    if sharpen <= 0:
        return luma
    out = np.empty_like(luma)
    for top, band in _bands(luma, 2, lambda rows: _sharpen_cpu(rows, 0.5, scale, sharpen)):
        out[top : top + band.shape[0]] = band
    return out


def _bands(
    x: np.ndarray, halo: int, fn: Callable[[np.ndarray], np.ndarray]
) -> Iterator[tuple[int, np.ndarray]]:
    """``fn`` over bands of rows, each with ``halo`` rows of context either side (cropped off again)."""
    height = x.shape[0]
    for top in range(0, height, SHARPEN_BAND):
        start, stop = max(0, top - halo), min(height, top + SHARPEN_BAND + halo)
        yield top, fn(x[start:stop])[top - start : top - start + SHARPEN_BAND]


def _banded(x: np.ndarray, halo: int, fn: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
    """``fn`` band by band into uint8 (a 4K frame's float temporaries stay in cache; same result)."""
    out = np.empty(x.shape, dtype=np.uint8)
    for top, band in _bands(x, halo, fn):
        out[top : top + band.shape[0]] = cv2.convertScaleAbs(band, alpha=255.0)
    return out


def _sharpen_cpu(x: np.ndarray, sigma: float, knee_scale: int, sharpen: float) -> np.ndarray:
    """Edge-gated unsharp mask with halo clamping on float rows ``[h, W, 3]`` or ``[h, W]`` (edges copied).

    ``knee_scale`` widens the edge knee for gradients measured over ``knee_scale`` times coarser pixels.
    """
    replicate = cv2.BORDER_REPLICATE
    radius = max(1, math.ceil(3 * sigma))
    detail = x - cv2.GaussianBlur(x, (2 * radius + 1, 2 * radius + 1), sigma, borderType=replicate)
    luma = x if x.ndim == 2 else cv2.transform(x, np.array([LUMA_WEIGHTS], dtype=np.float32))
    kernel = np.array([[-1.0, 0.0, 1.0]], dtype=np.float32)
    gx = cv2.filter2D(luma, -1, kernel, borderType=replicate)
    gy = cv2.filter2D(luma, -1, kernel.T, borderType=replicate)
    edge2 = gx * gx + gy * gy
    gate = edge2 / (edge2 + np.float32((0.02 * knee_scale) ** 2)) * np.float32(sharpen * 1.5)
    square = np.ones((3, 3), np.uint8)
    high = cv2.dilate(x, square, borderType=replicate) + np.float32(0.02)
    low = cv2.erode(x, square, borderType=replicate) - np.float32(0.02)
    x = x + detail * (gate if x.ndim == 2 else gate[..., None])
    return np.clip(x, low, high, out=x)


def load_rgb_image(path: str | Path) -> torch.Tensor:
    """Read an 8-bit RGB image file as ``[1,H,W,3]`` float; 16-bit, grayscale and RGBA are INVALID_MEDIA."""
    path = Path(path)
    if not path.is_file():
        raise AInfError(ErrorCode.FILE_NOT_FOUND, f"{path.name} does not exist.", detail={"file": path.name})
    try:
        with Image.open(path) as image:
            image.load()
            mode = image.mode
            data = np.asarray(image) if mode == "RGB" else None
    except (OSError, ValueError, Image.DecompressionBombError) as exc:
        raise AInfError(
            ErrorCode.INVALID_MEDIA, f"{path.name} is not a readable image (corrupt or truncated)."
        ) from exc
    problems = {
        "I;16": "a 16-bit grayscale image",
        "I;16B": "a 16-bit grayscale image",
        "I;16L": "a 16-bit grayscale image",
        "I": "a 16/32-bit integer image (e.g. a 16-bit PNG)",
        "F": "a 32-bit float image",
        "L": "a grayscale image",
        "LA": "a grayscale image with alpha",
        "1": "a 1-bit black-and-white image",
        "RGBA": "an RGBA image (it has an alpha channel)",
        "P": "a palette image",
    }
    if data is None:
        raise AInfError(
            ErrorCode.INVALID_MEDIA,
            f"{path.name} is {problems.get(mode, f'a {mode} image')}; upscaling needs 8-bit RGB.",
            remediation=["Export the image as an 8-bit RGB PNG or JPEG (flatten alpha, convert to colour)."],
            detail={"file": path.name, "mode": mode},
        )
    return torch.from_numpy(data.copy()).float().div_(255.0).unsqueeze(0)


def upscale_image_file(
    src: str | Path, dst: str | Path, scale: int = 2, denoise: float = 0.3, sharpen: float = 0.4, **kw: Any
) -> Path:
    """Upscale an image file to a PNG; nothing is written unless the whole pass succeeds."""
    image = load_rgb_image(src)
    result = upscale_images(image, scale, denoise, sharpen, **kw)
    data = result[0].mul(255.0).add_(0.5).clamp_(0, 255).to(torch.uint8).cpu().numpy()
    dst = Path(dst)
    tmp = dst.with_name(f".{dst.stem}.partial.png")
    try:
        Image.fromarray(data).save(tmp, format="PNG")
        tmp.replace(dst)
    finally:
        tmp.unlink(missing_ok=True)
    return dst


def upscale_video(
    src: str | Path,
    dst: str | Path,
    scale: int = 2,
    denoise: float = 0.3,
    sharpen: float = 0.4,
    *,
    model: Any | None = None,
    tile: int = 256,
    device: torch.device | str = "cpu",
    on_chunk: Callable[[int, int], None] | None = None,
) -> Path:
    """Upscale a video file chunk by chunk (uint8 output chunks sized to a fixed memory budget)."""
    info = probe_video(src)
    frame_bytes = info.width * info.height * scale * scale * 3
    chunk = max(1, min(16, VIDEO_CHUNK_BYTES // max(frame_bytes, 1)))

    def run(frames: torch.Tensor) -> torch.Tensor:
        out = torch.empty(
            (frames.shape[0], frames.shape[1] * scale, frames.shape[2] * scale, 3),
            dtype=torch.uint8,
            device=frames.device,
        )
        return upscale_images(frames, scale, denoise, sharpen, model=model, tile=tile, out=out)

    return process_video(src, dst, FunctionProcessor(run), chunk_size=chunk, device=device, on_chunk=on_chunk)
