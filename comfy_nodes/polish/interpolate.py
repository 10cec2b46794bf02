"""Weight-free 2x frame interpolation: OpenCV DIS optical flow (both directions), torch warping to t=0.5 and
an occlusion-aware blend. Scene cuts repeat the frame instead of morphing across the cut. Streams with one
frame of look-ahead; N input frames give 2N output frames at twice the fps, so the duration (and with it the
audio sync) is unchanged.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
import torch
import torch.nn.functional as F

from .deflicker import LUMA_WEIGHTS, _thumbs, check_frames, cut_scores
from .video_stream import process_batch, process_video

__all__ = ["FrameInterpolator", "flow_dis", "interpolate_frames", "interpolate_video", "midpoint_frame"]

PRESETS = {
    "fast": cv2.DISOPTICAL_FLOW_PRESET_FAST,
    "medium": cv2.DISOPTICAL_FLOW_PRESET_MEDIUM,
}
FLOW_MAX_SIDE = 960  # flow is estimated at most at this size (about 4x cheaper than 1080p) and upscaled


def _gray_u8(frames: torch.Tensor) -> np.ndarray:
    weights = torch.tensor(LUMA_WEIGHTS, device=frames.device, dtype=frames.dtype)
    luma = (frames * weights).sum(-1)
    return luma.mul(255).add_(0.5).clamp_(0, 255).to(torch.uint8).cpu().numpy()


def flow_dis(first: np.ndarray, second: np.ndarray, preset: str = "fast") -> np.ndarray:
    """Dense flow ``[H,W,2]`` (x, y in pixels) from ``first`` to ``second`` (uint8 grayscale) with DIS."""
    dis = cv2.DISOpticalFlow_create(PRESETS[preset])
    return dis.calc(first, second, None)


def _warp(image: torch.Tensor, flow: torch.Tensor) -> torch.Tensor:
    """Sample ``image [1,C,H,W]`` at ``x + flow`` (flow ``[1,2,H,W]`` in pixels), border-clamped."""
    _, _, height, width = image.shape
    ys, xs = torch.meshgrid(
        torch.arange(height, device=image.device, dtype=image.dtype),
        torch.arange(width, device=image.device, dtype=image.dtype),
        indexing="ij",
    )
    gx = (xs + flow[:, 0]) * (2.0 / max(width - 1, 1)) - 1.0
    gy = (ys + flow[:, 1]) * (2.0 / max(height - 1, 1)) - 1.0
    grid = torch.stack([gx, gy], dim=-1)
    return F.grid_sample(image, grid, mode="bilinear", padding_mode="border", align_corners=True)


def midpoint_frame(a: torch.Tensor, b: torch.Tensor, preset: str = "fast") -> torch.Tensor:
    """The frame halfway between ``a`` and ``b`` (``[H,W,3]`` float), on their device."""
    height, width = a.shape[:2]
    factor = min(1.0, FLOW_MAX_SIDE / max(height, width))
    pair = torch.stack([a, b])
    if factor < 1.0:
        small = F.interpolate(pair.permute(0, 3, 1, 2), scale_factor=factor, mode="area").permute(0, 2, 3, 1)
    else:
        small = pair
    gray = _gray_u8(small)
    fab = torch.from_numpy(flow_dis(gray[0], gray[1], preset)).permute(2, 0, 1).unsqueeze(0)
    fba = torch.from_numpy(flow_dis(gray[1], gray[0], preset)).permute(2, 0, 1).unsqueeze(0)
    flows = torch.cat([fab, fba]).to(device=a.device, dtype=a.dtype)
    if factor < 1.0:
        flows = F.interpolate(flows, size=(height, width), mode="bilinear", align_corners=False) / factor
    fab, fba = flows[:1], flows[1:]
    ia, ib = a.permute(2, 0, 1).unsqueeze(0), b.permute(2, 0, 1).unsqueeze(0)
    # backward warps to t=0.5, approximating the flow at the midpoint by the flow at the same pixel
    from_a = _warp(ia, -0.5 * fab)
    from_b = _warp(ib, -0.5 * fba)
    # forward-backward consistency: large where a pixel is occluded in the other frame
    err_a = (fab + _warp(fba, fab)).pow(2).sum(1, keepdim=True)
    err_b = (fba + _warp(fab, fba)).pow(2).sum(1, keepdim=True)
    wa = 1.0 / (1.0 + err_a)
    wb = 1.0 / (1.0 + err_b)
    mid = (wa * from_a + wb * from_b) / (wa + wb)
    return mid[0].permute(1, 2, 0).clamp_(0.0, 1.0)


class FrameInterpolator:
    """Streaming 2x interpolator: ``push`` chunks, ``flush`` at the end (emits 2 frames per input frame)."""

    def __init__(self, preset: str = "fast", cut_threshold: float = 0.2) -> None:
        if preset not in PRESETS:
            raise ValueError(f"unknown DIS preset {preset!r}")
        self.preset = preset
        self.cut_threshold = cut_threshold
        self.last: torch.Tensor | None = None
        self.last_thumb: torch.Tensor | None = None

    def push(self, frames: torch.Tensor) -> torch.Tensor:
        """Return each previous frame followed by its midpoint with the next one."""
        check_frames(frames, "frames")
        thumbs = _thumbs(frames)
        scores = cut_scores(self.last_thumb, thumbs)
        self.last_thumb = thumbs[-1]
        sequence = frames if self.last is None else torch.cat([self.last.unsqueeze(0), frames])
        offset = 0 if self.last is None else 1
        out: list[torch.Tensor] = []
        for index in range(sequence.shape[0] - 1):
            a, b = sequence[index], sequence[index + 1]
            cut = scores[index + 1 - offset].item() > self.cut_threshold
            out += [a, a if cut else midpoint_frame(a, b, self.preset)]
        self.last = sequence[-1]
        return torch.stack(out) if out else frames[:0]

    def flush(self) -> torch.Tensor | None:
        """The last frame, held twice so the output keeps the input's duration."""
        if self.last is None:
            return None
        return torch.stack([self.last, self.last])


def interpolate_frames(frames: torch.Tensor, preset: str = "fast") -> torch.Tensor:
    """Double an IMAGE batch's frame count (``[B,H,W,3]`` -> ``[2B,H,W,3]``) with flow-based midpoints."""
    check_frames(frames)
    return process_batch(FrameInterpolator(preset), frames)


def interpolate_video(
    src: str | Path,
    dst: str | Path,
    preset: str = "fast",
    *,
    chunk_size: int = 8,
    device: torch.device | str = "cpu",
    on_chunk: Callable[[int, int], None] | None = None,
) -> Path:
    """Write ``src`` at twice its frame rate (same duration, audio copied and in sync)."""
    engine = FrameInterpolator(preset)
    return process_video(
        src, dst, engine, chunk_size=chunk_size, fps_factor=2, device=device, on_chunk=on_chunk
    )
