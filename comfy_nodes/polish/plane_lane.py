"""Deflicker and weight-free upscale on the decoder's yuv420p planes: no RGB round trip at any size.

On a CPU, decoding to RGB, filtering in float and converting back costs more than the filters; at 4K it
costs more than ffmpeg's whole ``deflicker,scale`` chain. A plan made of luma deflicker and a final
weight-free upscale stays in Y'CbCr instead:

- deflicker measures each frame's brightness on the Y plane (Y' is the same BT.709-weighted R'G'B' sum the
  RGB path measures) and applies its gain as two 256-entry tables: Y' around black and Cb/Cr around grey,
  which is what scaling R', G' and B' by that gain does to the codes;
- the upscale's denoise runs on each plane and its sharpen on luma only, both at the source size, and the
  resize itself is libswscale's Lanczos on the planes as they are encoded (``VideoWriter.resize_from``),
  the filter behind ffmpeg's ``scale=...:flags=lanczos``.
Colour deflicker, upscale models and passes that need RGB (interpolation) keep the RGB path; so does an
accelerator, where the torch upscale runs on the device.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
import torch
import torch.nn.functional as F

from .colour import YuvColour
from .deflicker import THUMB, Deflicker, luma_signatures, thumb_step
from .frame_source import SourceFormat
from .passes import DeflickerPass, PassSpec, UpscalePass
from .upscale import guided_denoise_cpu, sharpen_luma_cpu
from .video_stream import ChunkProcessor

__all__ = ["PlaneDeflicker", "PlaneDetail", "PlaneLane", "plane_lane"]


@dataclass(frozen=True)
class PlaneLane:
    """The stages of a plan on yuv420p planes at the source size, and the size its encoder resizes from."""

    stages: tuple[ChunkProcessor, ...]
    resize_from: tuple[int, int] | None  # (width, height) of the planes when the plan ends in an upscale


def plane_lane(passes: tuple[PassSpec, ...], source: SourceFormat, device: torch.device) -> PlaneLane | None:
    """The plan on planes, or None when it needs RGB frames (or an accelerator runs it, or it is empty).

    Fits: luma deflicker passes, then at most one weight-free upscale as the last pass.
    """
    if device.type != "cpu" or source.planar is None or not passes:
        return None
    stages: list[ChunkProcessor] = []
    for spec in passes[:-1]:
        if not isinstance(spec, DeflickerPass) or spec.colour:
            return None
        stages.append(PlaneDeflicker(spec, source.planar, source.height))
    last = passes[-1]
    if isinstance(last, DeflickerPass) and not last.colour:
        return PlaneLane((*stages, PlaneDeflicker(last, source.planar, source.height)), None)
    if not isinstance(last, UpscalePass) or last.model is not None:
        return None
    if last.denoise > 0 or last.sharpen > 0:
        stages.append(PlaneDetail(last, source.planar, source.height))
    return PlaneLane(tuple(stages), (source.width, source.height))


def _luma_codes(colour: YuvColour) -> tuple[float, float]:
    """(code of black, codes per unit of Y')."""
    return (0.0 if colour.full_range else 16.0), colour.scales[0]


class PlaneDeflicker(Deflicker):
    """Luma deflicker on yuv420p frames ``[B, H * 3 / 2, W]`` (uint8), in place."""

    def __init__(self, spec: DeflickerPass, colour: YuvColour, height: int) -> None:
        super().__init__(spec.window_size, spec.strength, False, spec.cut_threshold, inplace=True)
        self.height = height
        self.black, self.y_scale = _luma_codes(colour)

    def _check(self, frames: torch.Tensor) -> None:
        if frames.ndim != 3 or frames.dtype != torch.uint8 or frames.shape[1] != self.height * 3 // 2:
            raise ValueError(f"expected yuv420p frames of height {self.height}, got {tuple(frames.shape)}")

    def _measure(self, frames: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Y' thumbnails (sampled sparsely, as the RGB path samples) into signatures and means."""
        luma = frames[:, : self.height]
        step = thumb_step(luma.shape[1], luma.shape[2])
        sampled = luma[:, ::step, ::step].float().sub_(self.black).div_(self.y_scale)
        small = F.adaptive_avg_pool2d(sampled.unsqueeze(1), (THUMB, THUMB)).flatten(1)
        return luma_signatures(small), small.mean(1, keepdim=True)

    def _apply(self, ready: torch.Tensor, gains: torch.Tensor) -> torch.Tensor:
        """Each frame through its Y' table (around black) and its Cb/Cr table (around grey)."""
        levels = np.arange(256, dtype=np.float64)
        for frame, gain in zip(ready.numpy(), gains[:, 0].tolist(), strict=True):
            luma_table = np.clip(self.black + (levels - self.black) * gain + 0.5, 0, 255).astype(np.uint8)
            chroma_table = np.clip(128.0 + (levels - 128.0) * gain + 0.5, 0, 255).astype(np.uint8)
            cv2.LUT(frame[: self.height], luma_table, dst=frame[: self.height])
            cv2.LUT(frame[self.height :], chroma_table, dst=frame[self.height :])
        return ready


def _codes(values: np.ndarray, scale: float, offset: float) -> np.ndarray:
    """Float plane values back to rounded, clipped 8-bit codes."""
    return np.clip(values * np.float32(scale) + np.float32(offset + 0.5), 0, 255).astype(np.uint8)


class PlaneDetail:
    """The upscale's denoise (every plane) and sharpen (luma) at the source size, before the resize."""

    def __init__(self, spec: UpscalePass, colour: YuvColour, height: int) -> None:
        self.spec = spec
        self.height = height
        self.black, self.y_scale = _luma_codes(colour)
        self.c_scale = colour.scales[1]

    def push(self, frames: torch.Tensor) -> torch.Tensor:
        """Denoise and sharpen each frame in place, with OpenCV on this thread only.

        The filters run on bands of a few dozen rows while x264 has every core; spread over OpenCV's pool,
        each waits for workers the encoder has preempted, which costs more CPU time than it saves.
        """
        threads = cv2.getNumThreads()
        cv2.setNumThreads(1)
        try:
            self._frames(frames)
        finally:
            cv2.setNumThreads(threads)
        return frames

    def _frames(self, frames: torch.Tensor) -> None:
        s, height = self.spec, self.height
        for frame in frames.numpy():
            luma = (frame[:height].astype(np.float32) - np.float32(self.black)) * np.float32(1 / self.y_scale)
            luma = sharpen_luma_cpu(guided_denoise_cpu(luma, s.denoise), s.sharpen, s.scale)
            frame[:height] = _codes(luma, self.y_scale, self.black)
            if s.denoise > 0:
                quarter = frame[height:].reshape(2, height // 2, -1)  # Cb, Cr
                for plane in quarter:
                    chroma = (plane.astype(np.float32) - np.float32(128.0)) * np.float32(1 / self.c_scale)
                    chroma = guided_denoise_cpu(chroma + np.float32(0.5), s.denoise) - np.float32(0.5)
                    plane[:] = _codes(chroma, self.c_scale, 128.0)

    def flush(self) -> torch.Tensor | None:
        """Nothing is held back."""
        return None
