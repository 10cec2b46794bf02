"""Synthetic test media (textured moving frames, tone audio) for the polish tests and benchmarks."""

from __future__ import annotations

import math
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import torch

__all__ = ["make_frames", "make_tone", "write_clip"]


def make_frames(
    count: int,
    height: int,
    width: int,
    *,
    seed: int = 0,
    pattern: int = 0,
    level: float = 0.5,
    motion: float = 1.0,
) -> torch.Tensor:
    """A textured, slowly moving ``[count,H,W,3]`` clip in 0..1 with mean brightness near ``level``."""
    gen = torch.Generator().manual_seed(seed)
    y = torch.linspace(0, 1, height).view(1, height, 1)
    x = torch.linspace(0, 1, width).view(1, 1, width)
    t = torch.arange(count, dtype=torch.float32).view(count, 1, 1) * motion * 0.5 / max(width, 1)
    freq = 3.0 + 4.0 * pattern
    u, v = (x, y) if pattern % 2 == 0 else (y, x)
    base = 0.5 + (0.25 + 0.15 * (pattern % 2)) * torch.sin(
        2 * math.pi * (freq * (u + t) + 0.5 * pattern)
    ) * torch.cos(2 * math.pi * (2.0 + pattern) * v)
    tint = torch.tensor([1.0, 0.9 - 0.2 * pattern, 0.8 + 0.1 * pattern]).clamp(0.3, 1.2)
    frames = base.unsqueeze(-1) * tint
    frames = frames + 0.02 * torch.randn(frames.shape, generator=gen)
    frames = frames * (level / frames.mean().clamp_min(1e-6))
    return frames.clamp(0, 1)


def make_tone(seconds: float, rate: int = 44100, channels: int = 2, amplitude: float = 0.1) -> np.ndarray:
    """A two-tone ``[channels, samples]`` float32 test signal with a little amplitude movement."""
    t = np.arange(round(seconds * rate), dtype=np.float64) / rate
    signal = np.sin(2 * np.pi * 440 * t) + 0.5 * np.sin(2 * np.pi * 1250 * t)
    signal *= amplitude / 1.5 * (0.8 + 0.2 * np.sin(2 * np.pi * 0.5 * t))
    return np.repeat(signal[None].astype(np.float32), channels, axis=0)


def write_clip(
    path: str | Path,
    frames: torch.Tensor,
    fps: int | Fraction = 24,
    *,
    audio: np.ndarray | None = None,
    audio_rate: int = 44100,
    pix_fmt: str = "yuv420p",
    crf: int = 12,
) -> Path:
    """Write float frames (and optional ``[C,T]`` float audio) to an H.264/AAC MP4 for tests."""
    path = Path(path)
    data = frames.mul(255).add(0.5).clamp(0, 255).to(torch.uint8).numpy()
    with av.open(str(path), "w", format="mp4") as container:
        vs = container.add_stream("libx264", rate=Fraction(fps))
        vs.width, vs.height, vs.pix_fmt = data.shape[2], data.shape[1], pix_fmt
        vs.options = {"crf": str(crf), "preset": "ultrafast"}
        astream = None
        if audio is not None:
            astream = container.add_stream("aac", rate=audio_rate)
            astream.layout = "stereo" if audio.shape[0] == 2 else "mono"
        for index, rgb in enumerate(data):
            frame = av.VideoFrame.from_ndarray(rgb, format="rgb24")
            frame.pts = index
            container.mux(vs.encode(frame))
        container.mux(vs.encode(None))
        if astream is not None and audio is not None:
            step = 1024
            planar = np.ascontiguousarray(audio.astype(np.float32))
            for start in range(0, planar.shape[1], step):
                part = np.ascontiguousarray(planar[:, start : start + step])
                aframe = av.AudioFrame.from_ndarray(part, format="fltp", layout=astream.layout)
                aframe.sample_rate = audio_rate
                aframe.pts = start
                container.mux(astream.encode(aframe))
            container.mux(astream.encode(None))
    return path
