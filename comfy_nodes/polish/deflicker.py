"""Temporal deflicker (pure torch): per-frame gains towards a centred sliding-window mean, reset at cuts.

Each frame's mean luma (or per-channel means in colour mode) is compared with a weighted mean over a window
of ``size`` frames centred on it (ffmpeg's ``deflicker`` takes a plain mean of the frame and the ones after
it), and the frame is scaled by the ratio. What flicker is left after the correction is the frame-to-frame
change of that windowed mean; with parabolic (Epanechnikov) weights it is about a third smaller than a plain
mean's over the same frames, https://en.wikipedia.org/wiki/Kernel_(statistics)#Kernel_functions_in_common_use.
The window never crosses a scene cut: cuts are detected on gain-normalised thumbnails, so a flicker (a global
gain) is not mistaken for a cut while a real change of content is, and no frame borrows brightness from
another shot (no ghosting). ``Deflicker`` streams: it holds only ``size // 2`` frames of look-ahead.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
import torch
import torch.nn.functional as F

from ...sidecar.core.errors import AInfError, ErrorCode
from .video_stream import process_batch, process_video

__all__ = [
    "LUMA_WEIGHTS",
    "Deflicker",
    "check_frames",
    "cut_scores",
    "deflicker_frames",
    "deflicker_video",
    "luma_signatures",
]

LUMA_WEIGHTS = (0.2126, 0.7152, 0.0722)  # BT.709
THUMB = 64
BINS = 24
MAX_GAIN = 2.0


def check_frames(frames: torch.Tensor, what: str = "images", allow_uint8: bool = False) -> torch.Tensor:
    """Validate an IMAGE batch: float ``[B,H,W,3]`` with at least one frame (VALIDATION_ERROR otherwise)."""
    if frames.ndim != 4 or frames.shape[0] == 0:
        raise AInfError(
            ErrorCode.VALIDATION_ERROR,
            f"The {what} must be a non-empty [frames, height, width, 3] batch; got {tuple(frames.shape)}.",
        )
    channels = frames.shape[-1]
    if channels != 3:
        kind = {1: "grayscale", 2: "grayscale with alpha", 4: "RGBA"}.get(channels, f"{channels}-channel")
        raise AInfError(
            ErrorCode.VALIDATION_ERROR,
            f"The {what} are {kind}; this pass needs RGB (3 channels).",
            remediation=["Convert the images to RGB first (drop the alpha channel or expand grayscale)."],
            detail={"channels": channels},
        )
    if not frames.is_floating_point() and not (allow_uint8 and frames.dtype == torch.uint8):
        raise AInfError(ErrorCode.VALIDATION_ERROR, f"The {what} must be float 0..1, not {frames.dtype}.")
    return frames


def thumb_step(height: int, width: int) -> int:
    """The sparse grid the statistics sample 8-bit frames on (every 4th pixel at 1080p)."""
    return max(1, min(height, width) // (THUMB * 4))


def _pooled(frames: torch.Tensor) -> torch.Tensor:
    """``[B,3,THUMB,THUMB]`` block means in 0..1: the only full-resolution pass the statistics need.

    8-bit frames are sampled on a sparse grid first (every 4th pixel at 1080p), so the conversion to float
    touches a sixteenth of the frame.
    """
    if frames.dtype == torch.uint8:
        step = thumb_step(frames.shape[1], frames.shape[2])
        frames = frames[:, ::step, ::step].float().div_(255.0)
    return F.adaptive_avg_pool2d(frames.permute(0, 3, 1, 2), (THUMB, THUMB))


def _thumbs(frames: torch.Tensor, pooled: torch.Tensor | None = None) -> torch.Tensor:
    """Per-frame cut signatures ``[B, BINS+1]`` of RGB frames (see :func:`luma_signatures`)."""
    pooled = _pooled(frames) if pooled is None else pooled
    weights = torch.tensor(LUMA_WEIGHTS, device=frames.device, dtype=pooled.dtype).view(1, 3, 1, 1)
    return luma_signatures((pooled * weights).sum(1).flatten(1))


def luma_signatures(small: torch.Tensor) -> torch.Tensor:
    """Cut signatures ``[B, BINS+1]`` of thumbnail luma ``[B, N]``: mean-normalised histogram, then log mean.

    The histogram ignores motion and a global brightness change (flicker); the log mean catches a cut
    between shots of similar texture but very different brightness.
    """
    mean = small.mean(1, keepdim=True).clamp_min(1e-3)
    bins = (small / mean * (BINS / 3.0)).long().clamp_(0, BINS - 1)
    hist = torch.zeros((small.shape[0], BINS), device=small.device, dtype=small.dtype)
    hist.scatter_add_(1, bins, torch.ones_like(small))
    return torch.cat([hist / small.shape[1], mean.log()], dim=1)


def cut_scores(previous: torch.Tensor | None, thumbs: torch.Tensor) -> torch.Tensor:
    """Cut score of each frame against the one before (0 for the very first frame); above ~0.2 is a cut.

    The score is the larger of the histogram distance (0..1, half the L1 norm) and half the absolute
    log-brightness jump (a jump of 1.5x or more scores about 0.2).
    """
    if previous is not None:
        sequence = torch.cat([previous.unsqueeze(0), thumbs])
    else:
        sequence = torch.cat([thumbs[:1], thumbs])
    diff = sequence[1:] - sequence[:-1]
    hist = diff[:, :-1].abs().sum(1) * 0.5
    jump = diff[:, -1].abs() * 0.5
    return torch.maximum(hist, jump)


class Deflicker:
    """Streaming deflicker: ``push`` chunks, get back the frames whose look-ahead is known, then ``flush``."""

    def __init__(
        self,
        size: int = 9,
        strength: float = 1.0,
        colour: bool = False,
        cut_threshold: float = 0.2,
        inplace: bool = False,
    ) -> None:
        if size < 2 or size > 129:
            raise AInfError(ErrorCode.VALIDATION_ERROR, f"Window size must be 2..129 frames, not {size}.")
        if not 0.0 <= strength <= 1.0:
            raise AInfError(ErrorCode.VALIDATION_ERROR, f"Strength must be 0..1, not {strength}.")
        self.radius = size // 2
        offsets = torch.arange(-self.radius, self.radius + 1, dtype=torch.float64)
        self.weights = (self.radius + 1) ** 2 - offsets**2  # parabolic: the smoothest target per window
        self.strength = strength
        self.colour = colour
        self.cut_threshold = cut_threshold
        self.inplace = inplace  # scale the pushed tensors themselves (the streaming path owns its chunks)
        self.means: list[torch.Tensor] = []  # per frame: [1] luma or [3] channel means (small, kept)
        self.segment: list[int] = []  # per frame: index of the first frame of its shot
        self.pending: torch.Tensor | None = None  # frames not yet emitted
        self.emitted = 0
        self.last_thumb: torch.Tensor | None = None

    def _measure(self, frames: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Cut signatures ``[B, BINS+1]`` and brightness means ``[B, 1 or 3]`` (0..1) of a chunk."""
        pooled = _pooled(frames)
        means = pooled.mean((2, 3))  # [B, 3] channel means
        if not self.colour:
            weights = torch.tensor(LUMA_WEIGHTS, device=frames.device, dtype=pooled.dtype)
            means = (means * weights).sum(-1, keepdim=True)
        return _thumbs(frames, pooled), means

    def _stats(self, frames: torch.Tensor) -> None:
        thumbs, means = self._measure(frames)
        scores = cut_scores(self.last_thumb, thumbs).tolist()
        self.last_thumb = thumbs[-1]
        for index, score in enumerate(scores):
            number = len(self.means)
            start = number if number == 0 or score > self.cut_threshold else self.segment[-1]
            self.segment.append(start)
            self.means.append(means[index])

    def _gains(self, first: int, last: int, known: int) -> torch.Tensor:
        """Gains for frames ``first..last-1`` given that ``known`` frames have statistics."""
        means = torch.stack(self.means[:known])  # [N, C]
        segment = torch.tensor(self.segment[:known], device=means.device)
        index = torch.arange(first, last, device=means.device)
        starts = segment[index]
        # the end of each frame's shot: the frame before the next shot starts (or the last known frame)
        next_start = torch.full((known,), known, device=means.device, dtype=torch.long)
        is_start = torch.zeros(known, dtype=torch.bool, device=means.device)
        is_start[segment.unique()] = True
        positions = torch.nonzero(is_start).flatten()
        shot_of = torch.bucketize(torch.arange(known, device=means.device), positions, right=True) - 1
        ends_by_shot = torch.cat([positions[1:], positions.new_tensor([known])])
        next_start = ends_by_shot[shot_of]
        lo = torch.maximum(index - self.radius, starts)
        hi = torch.minimum(index + self.radius + 1, next_start[index])
        total = means.new_zeros(index.shape[0], means.shape[1])
        weight = means.new_zeros(index.shape[0], 1)
        for offset, w in enumerate(self.weights.tolist(), start=-self.radius):
            inside = ((index + offset >= lo) & (index + offset < hi)).to(means.dtype).unsqueeze(-1) * w
            total += inside * means[(index + offset).clamp(0, known - 1)]
            weight += inside
        gains = total / weight / means[index].clamp_min(1e-4)
        gains = gains.clamp(1.0 / MAX_GAIN, MAX_GAIN)
        return 1.0 + self.strength * (gains - 1.0)

    def _emit(self, count: int) -> torch.Tensor:
        assert self.pending is not None
        ready, self.pending = self.pending[:count], self.pending[count:]
        gains = self._gains(self.emitted, self.emitted + count, len(self.means))
        self.emitted += count
        return self._apply(ready, gains)

    def _apply(self, ready: torch.Tensor, gains: torch.Tensor) -> torch.Tensor:
        """Scale each frame by its gains (``[B, 1 or 3]``)."""
        if ready.dtype == torch.uint8:
            return _apply_gains_uint8(ready, gains, self.inplace)
        gains = gains.view(ready.shape[0], 1, 1, -1).to(ready.dtype)
        out = ready.mul_(gains) if self.inplace else ready.mul(gains)
        return out.clamp_(0.0, 1.0)

    def push(self, frames: torch.Tensor) -> torch.Tensor:
        """Add a chunk; return the frames whose full window has been seen."""
        self._check(frames)
        self._stats(frames)
        self.pending = frames if self.pending is None else torch.cat([self.pending, frames])
        ready = max(0, len(self.means) - self.radius - self.emitted)
        return self._emit(ready) if ready else frames[:0]

    def _check(self, frames: torch.Tensor) -> None:
        check_frames(frames, "frames", allow_uint8=True)

    def flush(self) -> torch.Tensor | None:
        """Return the frames held back for look-ahead."""
        if self.pending is None or self.pending.shape[0] == 0:
            return None
        return self._emit(self.pending.shape[0])


def _apply_gains_uint8(frames: torch.Tensor, gains: torch.Tensor, inplace: bool) -> torch.Tensor:
    """Scale 8-bit frames through per-frame 256-entry tables (rounded, clipped); no float copy is made."""
    levels = torch.arange(256, device=gains.device, dtype=gains.dtype)
    tables = (levels.view(1, 256, 1) * gains.view(gains.shape[0], 1, -1)).add_(0.5).clamp_(0, 255)
    tables = tables.to(torch.uint8).expand(-1, -1, 3)  # [B, 256, 3]
    out = frames if inplace else frames.clone()
    if out.device.type == "cpu":
        for frame, table in zip(out.numpy(), tables.numpy(), strict=True):
            cv2.LUT(frame, np.ascontiguousarray(table.reshape(256, 1, 3)), dst=frame)
        return out
    index = out.long() + torch.arange(3, device=out.device) * 256
    flat = tables.transpose(1, 2).reshape(out.shape[0], 1, 1, 768).expand(-1, out.shape[1], out.shape[2], -1)
    return torch.gather(flat, 3, index)


def deflicker_frames(
    frames: torch.Tensor,
    size: int = 9,
    strength: float = 1.0,
    colour: bool = False,
    cut_threshold: float = 0.2,
) -> torch.Tensor:
    """Deflicker a whole IMAGE batch ``[B,H,W,3]`` (same device and dtype out)."""
    check_frames(frames)
    return process_batch(Deflicker(size, strength, colour, cut_threshold), frames)


def deflicker_video(
    src: str | Path,
    dst: str | Path,
    size: int = 9,
    strength: float = 1.0,
    colour: bool = False,
    cut_threshold: float = 0.2,
    *,
    chunk_size: int = 16,
    device: torch.device | str = "cpu",
    preset: str = "veryfast",
    on_chunk: Callable[[int, int], None] | None = None,
) -> Path:
    """Deflicker a video file chunk by chunk into an MP4 (audio kept and in sync; x264 ``preset``)."""
    engine = Deflicker(size, strength, colour, cut_threshold, inplace=True)
    return process_video(
        src, dst, engine, chunk_size=chunk_size, device=device, preset=preset, uint8=True, on_chunk=on_chunk
    )
