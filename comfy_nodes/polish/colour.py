"""Shared colour helpers for the polish passes (pure torch, no ComfyUI imports).

ComfyUI IMAGE tensors are display-referred sRGB in 0..1; operations that model light (white balance, tone
mapping) decode to linear light first and re-encode afterwards with these IEC 61966-2-1 transfer functions.
"""

from __future__ import annotations

import math
import sys
from dataclasses import dataclass

import torch

__all__ = [
    "LUMA_WEIGHTS",
    "YuvColour",
    "check_images",
    "check_unit_interval",
    "chunk_frames",
    "chunk_plan",
    "linear_to_srgb",
    "luma",
    "pack_rgb24",
    "srgb_to_linear",
    "unpack_rgb24",
]

# Rec.709 / sRGB luma weights.
LUMA_WEIGHTS: tuple[float, float, float] = (0.2126, 0.7152, 0.0722)
# At most this many frames per chunk; fewer for large frames (see PIXEL_BUDGET).
DEFAULT_CHUNK_FRAMES = 16
# Pixels (frames x height x width) processed at once; keeps 4K batches bounded too.
PIXEL_BUDGET = 16 * 1024 * 1024


def srgb_to_linear(x: torch.Tensor) -> torch.Tensor:
    """Decode sRGB-encoded values (IEC 61966-2-1) to linear light; input is clamped to 0..1."""
    x = x.clamp(0.0, 1.0)
    curve = x.add(0.055).div_(1.055).pow_(2.4)
    return torch.where(x <= 0.04045, x / 12.92, curve)


def linear_to_srgb(x: torch.Tensor) -> torch.Tensor:
    """Encode linear-light values to sRGB (IEC 61966-2-1); input is clamped to 0..1."""
    x = x.clamp(0.0, 1.0)
    curve = x.pow(1.0 / 2.4).mul_(1.055).sub_(0.055)
    return torch.where(x <= 0.0031308, x * 12.92, curve)


def luma(rgb: torch.Tensor, dim: int = -1) -> torch.Tensor:
    """Rec.709 luma of RGB values laid out along ``dim`` (that dimension is removed)."""
    r, g, b = rgb.unbind(dim)
    return r * LUMA_WEIGHTS[0] + g * LUMA_WEIGHTS[1] + b * LUMA_WEIGHTS[2]


def check_images(images: torch.Tensor) -> None:
    """Raise a clear TypeError/ValueError unless ``images`` is a float IMAGE batch ``[B,H,W,3|4]``."""
    if not isinstance(images, torch.Tensor):
        raise TypeError(f"images must be a torch.Tensor, got {type(images).__name__}")
    if images.ndim != 4 or images.shape[-1] not in (3, 4):
        raise ValueError(f"images must be [B,H,W,3] (or RGBA [B,H,W,4]), got shape {tuple(images.shape)}")
    if not images.is_floating_point():
        raise ValueError(f"images must be a floating-point tensor, got {images.dtype}")


def chunk_frames(height: int, width: int, chunk_size: int | None) -> int:
    """Frames per chunk: ``chunk_size`` when given (>= 1), else bounded by the pixel budget."""
    if chunk_size is not None:
        if chunk_size < 1:
            raise ValueError(f"chunk_size must be >= 1, got {chunk_size}")
        return chunk_size
    return max(1, min(DEFAULT_CHUNK_FRAMES, PIXEL_BUDGET // max(1, height * width)))


def chunk_plan(images: torch.Tensor, chunk_size: int | None) -> tuple[int, int]:
    """Frames per chunk and the number of chunks for a batch ``[B,H,W,C]`` (see :func:`chunk_frames`)."""
    step = chunk_frames(images.shape[1], images.shape[2], chunk_size)
    return step, math.ceil(images.shape[0] / step)


def check_unit_interval(name: str, value: float) -> float:
    """Return ``value`` as a float, raising ValueError unless it is a finite number in [0, 1]."""
    value = float(value)
    if not (math.isfinite(value) and 0.0 <= value <= 1.0):
        raise ValueError(f"{name} must be in [0, 1], got {value}")
    return value


# 8-bit RGB frames are packed into one int32 per pixel, r | g << 8 | b << 16 (the byte order of a
# little-endian RGB0 word), which is also the flat index of that colour in a [256(b), 256(g), 256(r)] table.
_LITTLE_ENDIAN = sys.byteorder == "little"


def pack_rgb24(frames: torch.Tensor, out: torch.Tensor | None = None) -> torch.Tensor:
    """Pack uint8 RGB ``[..., 3]`` (or RGBA, alpha ignored) into int32 ``r | g << 8 | b << 16`` ``[...]``."""
    if frames.dtype != torch.uint8 or frames.shape[-1] not in (3, 4):
        raise ValueError(f"expected uint8 [..., 3|4] frames, got {frames.dtype} {tuple(frames.shape)}")
    shape = frames.shape[:-1]
    if out is None:
        out = torch.empty(shape, dtype=torch.int32, device=frames.device)
    if out.dtype != torch.int32 or out.shape != shape or not out.is_contiguous():
        raise ValueError(f"out must be a contiguous int32 tensor of shape {tuple(shape)}")
    if _LITTLE_ENDIAN and frames.device.type != "meta":
        # One narrow copy into the bytes of an RGB0 word; its int32 value is the packed colour.
        # Per-channel byte copies into an RGB0 word (long strided loops beat one [..., 3] narrow copy).
        out.zero_()
        target = out.view(torch.uint8).view(*shape, 4)
        for c in range(3):
            target[..., c].copy_(frames[..., c])
        return out
    wide = frames[..., :3].to(torch.int32)
    return torch.bitwise_or(wide[..., 0], wide[..., 1] << 8, out=out).bitwise_or_(wide[..., 2] << 16)


def unpack_rgb24(packed: torch.Tensor, out: torch.Tensor | None = None) -> torch.Tensor:
    """Unpack int32 ``r | g << 8 | b << 16`` ``[...]`` into uint8 RGB ``[..., 3]`` (into ``out`` if given)."""
    if out is None:
        out = torch.empty((*packed.shape, 3), dtype=torch.uint8, device=packed.device)
    if _LITTLE_ENDIAN and packed.device.type != "meta":
        source = packed.contiguous().view(torch.uint8).view(*packed.shape, 4)
        for c in range(3):
            out[..., c].copy_(source[..., c])
    else:
        for c in range(3):
            out[..., c] = (packed >> (8 * c)) & 0xFF
    return out


# AVColorSpace / AVColorPrimaries / AVColorTransferCharacteristic / AVColorRange codes
# (https://ffmpeg.org/doxygen/trunk/pixfmt_8h.html).
AVCOL_PRI_BT709 = 1
AVCOL_TRC_BT709 = 1
AVCOL_SPC_BT709 = 1
AVCOL_SPC_UNSPECIFIED = 2
AVCOL_SPC_BT470BG = 5
AVCOL_SPC_SMPTE170M = 6
AVCOL_RANGE_MPEG = 1
AVCOL_RANGE_JPEG = 2
# Luma coefficients (Kr, Kb) of the Y'CbCr matrices, ITU-R BT.709-6 and BT.601-7.
_MATRICES = {"bt709": (0.2126, 0.0722), "bt601": (0.299, 0.114)}


@dataclass(frozen=True)
class YuvColour:
    """How 8-bit Y'CbCr codes encode R'G'B': the matrix (BT.709 or BT.601) and the code range."""

    matrix: str
    full_range: bool

    @classmethod
    def of_stream(cls, colorspace: int, color_range: int, height: int) -> YuvColour | None:
        """The stream's encoding; untagged clips are BT.709 when HD, BT.601 when SD (None: another matrix).

        Untagged matrices follow ffmpeg's and players' convention of guessing from the frame height.
        """
        if colorspace == AVCOL_SPC_BT709:
            matrix = "bt709"
        elif colorspace in (AVCOL_SPC_BT470BG, AVCOL_SPC_SMPTE170M):
            matrix = "bt601"
        elif colorspace in (0, AVCOL_SPC_UNSPECIFIED):
            matrix = "bt709" if height > 576 else "bt601"
        else:
            return None
        return cls(matrix, color_range == AVCOL_RANGE_JPEG)

    @property
    def colorspace(self) -> int:
        """The AVColorSpace code to tag an output with."""
        return AVCOL_SPC_BT709 if self.matrix == "bt709" else AVCOL_SPC_SMPTE170M

    @property
    def color_range(self) -> int:
        """The AVColorRange code to tag an output with."""
        return AVCOL_RANGE_JPEG if self.full_range else AVCOL_RANGE_MPEG

    @property
    def scales(self) -> tuple[float, float]:
        """Code steps per unit of Y' and of Cb/Cr (219 and 224 in limited range, 255 in full range)."""
        return (255.0, 255.0) if self.full_range else (219.0, 224.0)

    def to_rgb(self, yuv: torch.Tensor) -> torch.Tensor:
        """Codes ``[..., 3]`` (Y, Cb, Cr; 0..255, float) to R'G'B' in 0..1 (not clamped)."""
        kr, kb = _MATRICES[self.matrix]
        kg = 1.0 - kr - kb
        y_scale, c_scale = self.scales
        y = (yuv[..., 0] - (0.0 if self.full_range else 16.0)) / y_scale
        pb, pr = (yuv[..., 1] - 128.0) / c_scale, (yuv[..., 2] - 128.0) / c_scale
        r = y + 2.0 * (1.0 - kr) * pr
        b = y + 2.0 * (1.0 - kb) * pb
        g = (y - kr * r - kb * b) / kg
        return torch.stack([r, g, b], dim=-1)

    def from_rgb(self, rgb: torch.Tensor) -> torch.Tensor:
        """R'G'B' ``[..., 3]`` in 0..1 to Y, Cb, Cr codes (float, not rounded)."""
        kr, kb = _MATRICES[self.matrix]
        y_scale, c_scale = self.scales
        r, g, b = rgb.unbind(-1)
        y = kr * r + (1.0 - kr - kb) * g + kb * b
        pb, pr = 0.5 * (b - y) / (1.0 - kb), 0.5 * (r - y) / (1.0 - kr)
        offset = 0.0 if self.full_range else 16.0
        return torch.stack([y * y_scale + offset, pb * c_scale + 128.0, pr * c_scale + 128.0], dim=-1)

    def chroma_noise_gains(self) -> tuple[float, float, float]:
        """Standard deviations of (Y', Pb, Pr) from independent unit noise on R', G' and B'."""
        kr, kb = _MATRICES[self.matrix]
        kg = 1.0 - kr - kb
        luma = math.sqrt(kr * kr + kg * kg + kb * kb)
        pb = 0.5 / (1.0 - kb) * math.sqrt(kr * kr + kg * kg + (1.0 - kb) ** 2)
        pr = 0.5 / (1.0 - kr) * math.sqrt((1.0 - kr) ** 2 + kg * kg + kb * kb)
        return luma, pb, pr
