"""Pass specs: what one polish step does to a streamed clip, as a small frozen value.

A spec builds a fresh :class:`ChunkProcessor` over uint8 ``[B,H,W,3]`` frames each time a clip is
materialised (so a cached lazy video can be rendered twice), and says how it changes the frame size and
rate. Colour specs (grade, tone map) are per-pixel functions: a run of them is baked into one 3D LUT and
applied as a single gather from its exact 8-bit table (see ``stream_plan``).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
import torch

from .deflicker import Deflicker
from .grade import GradeAdjust, apply_grade_style, resolve_style
from .grain import GRAIN_LOOKS, PackedGrain, apply_film_grain
from .interpolate import PRESETS as FLOW_PRESETS
from .interpolate import FrameInterpolator
from .lut import ColourFn, Lut3D
from .tonemap import is_identity, tonemap_rgb
from .upscale import upscale_frame_cpu, upscale_images
from .video_stream import ChunkProcessor

__all__ = [
    "ColourPass",
    "DeflickerPass",
    "GradePass",
    "GrainPass",
    "InterpolatePass",
    "PassSpec",
    "Tick",
    "ToneMapPass",
    "UpscalePass",
]

Tick = Callable[[], None]  # called often during a pass; raises to stop it (ComfyUI's interrupt)


def _no_tick() -> None:
    return None


class PassSpec(Protocol):
    """One step of a streamed clip."""

    fps_factor: int

    def output_size(self, width: int, height: int) -> tuple[int, int]:
        """The frame size this pass produces from ``width`` x ``height`` frames."""
        ...

    def build(self, width: int, height: int, device: torch.device, tick: Tick) -> ChunkProcessor:
        """A fresh processor for uint8 frames of this size on ``device``."""
        ...


class _SameSize:
    fps_factor = 1

    def output_size(self, width: int, height: int) -> tuple[int, int]:
        """Unchanged."""
        return width, height


class ColourPass(_SameSize, ABC):
    """A per-pixel colour function (sRGB 0..1 in and out); consecutive ones are baked together."""

    @abstractmethod
    def colour_ops(self) -> list[ColourFn]:
        """The functions this pass applies, in order (empty when it changes nothing)."""

    def build(self, width: int, height: int, device: torch.device, tick: Tick) -> ChunkProcessor:
        """This pass alone, baked (the plan normally fuses it with its colour neighbours)."""
        from .stream_plan import LutProcessor

        return LutProcessor.baked(self.colour_ops(), device)


@dataclass(frozen=True)
class GradePass(ColourPass):
    """Colour grade: a named style with trims, mixed with the input by ``intensity``; optional look LUT."""

    style: str
    intensity: float
    adjust: GradeAdjust = field(default_factory=GradeAdjust)
    look: Lut3D | None = None

    def __post_init__(self) -> None:
        resolve_style(self.style, self.adjust)
        if not 0.0 <= self.intensity <= 1.0:
            raise ValueError(f"intensity must be in [0, 1], got {self.intensity}")

    def colour_ops(self) -> list[ColourFn]:
        """The graded look (then the look LUT)."""
        params, amount = resolve_style(self.style, self.adjust), float(self.intensity)

        def grade(rgb: torch.Tensor) -> torch.Tensor:
            return rgb.clamp(0.0, 1.0).lerp(apply_grade_style(rgb, params), amount)

        ops: list[ColourFn] = [grade] if amount > 0.0 else []
        return [*ops, self.look] if self.look is not None else ops


@dataclass(frozen=True)
class ToneMapPass(ColourPass):
    """Tone mapping in linear light (exposure, then the operator's curve)."""

    operator: str
    exposure: float
    white_point: float

    def __post_init__(self) -> None:
        tonemap_rgb(torch.zeros(1, 3), self.operator, self.exposure, self.white_point)  # validates

    def colour_ops(self) -> list[ColourFn]:
        """The curve, or nothing for the identity settings."""
        if is_identity(self.operator, self.exposure, self.white_point):
            return []
        return [lambda rgb: tonemap_rgb(rgb, self.operator, self.exposure, self.white_point)]


@dataclass(frozen=True)
class GrainPass(_SameSize):
    """Film grain, a fresh pattern per frame derived from ``seed`` and the frame's index in the clip."""

    strength: float
    size: float
    chroma: float
    seed: int
    look: str = "custom"

    def __post_init__(self) -> None:
        frame = torch.zeros(1, 4, 4, 3)
        apply_film_grain(frame, self.strength, self.size, self.chroma, self.seed, look=self.look)  # validates

    @property
    def monochrome(self) -> bool:
        """True when the grain is the same on R, G and B (the packed 8-bit path applies)."""
        stock = GRAIN_LOOKS.get(self.look)
        return self.chroma == 0.0 and (stock is None or stock.chroma_add == 0.0)

    def packed(self, width: int, height: int, device: torch.device) -> PackedGrain | None:
        """The packed-pixel grain for frames of this size (None when there is nothing to add)."""
        if self.strength == 0.0:
            return None
        return PackedGrain(
            self.strength, self.size, self.seed, look=self.look, height=height, width=width, device=device
        )

    def build(self, width: int, height: int, device: torch.device, tick: Tick) -> ChunkProcessor:
        """Grain by absolute frame index, so chunking never changes the pattern."""
        return _GrainProcessor(self)


class _GrainProcessor:
    def __init__(self, spec: GrainPass) -> None:
        self.spec = spec
        self.frames = 0

    def push(self, frames: torch.Tensor) -> torch.Tensor:
        s = self.spec
        out = apply_film_grain(
            frames, s.strength, s.size, s.chroma, s.seed, self.frames, look=s.look, chunk_size=frames.shape[0]
        )
        self.frames += frames.shape[0]
        return out

    def flush(self) -> torch.Tensor | None:
        return None


@dataclass(frozen=True)
class DeflickerPass(_SameSize):
    """Brightness (and optionally colour) deflicker over a centred window, reset at scene cuts."""

    window_size: int
    strength: float
    colour: bool
    cut_threshold: float

    def __post_init__(self) -> None:
        Deflicker(self.window_size, self.strength, self.colour, self.cut_threshold)  # validates

    def build(self, width: int, height: int, device: torch.device, tick: Tick) -> ChunkProcessor:
        """Scales the chunks it is handed in place (the stream owns them)."""
        return Deflicker(self.window_size, self.strength, self.colour, self.cut_threshold, inplace=True)


@dataclass(frozen=True, eq=False)
class UpscalePass:
    """Denoise + 2x/4x upscale + sharpen, tile by tile (an upscale model, or weight-free Lanczos)."""

    scale: int
    denoise: float
    sharpen: float
    model: Any | None = None
    tile: int = 256
    fps_factor: int = 1

    def output_size(self, width: int, height: int) -> tuple[int, int]:
        """``scale`` times larger."""
        return width * self.scale, height * self.scale

    def build(self, width: int, height: int, device: torch.device, tick: Tick) -> ChunkProcessor:
        """One frame at a time into a uint8 frame; ``tick`` after every tile."""
        return _UpscaleProcessor(self, tick)


class _UpscaleProcessor:
    def __init__(self, spec: UpscalePass, tick: Tick) -> None:
        self.spec = spec
        self.tick = tick

    def push(self, frames: torch.Tensor) -> torch.Tensor:
        s = self.spec
        if s.model is None and frames.device.type == "cpu":
            out = []
            for frame in frames.numpy():
                out.append(upscale_frame_cpu(frame, s.scale, s.denoise, s.sharpen))
                self.tick()
            return torch.from_numpy(np.stack(out))
        batch, height, width, _ = frames.shape
        size = (batch, height * s.scale, width * s.scale, 3)
        out = torch.empty(size, dtype=torch.uint8, device=frames.device)
        for index in range(batch):
            upscale_images(
                frames[index : index + 1].float().div_(255.0),
                s.scale,
                s.denoise,
                s.sharpen,
                model=s.model,
                tile=s.tile,
                out=out[index : index + 1],
                on_tile=lambda done, total: self.tick(),
            )
        return out

    def flush(self) -> torch.Tensor | None:
        return None


@dataclass(frozen=True)
class InterpolatePass(_SameSize):
    """2x frame rate by optical-flow midpoints (same duration, so the audio stays in sync)."""

    flow_quality: str = "fast"
    fps_factor: int = 2

    def __post_init__(self) -> None:
        if self.flow_quality not in FLOW_PRESETS:
            raise ValueError(f"unknown flow quality {self.flow_quality!r}; valid: {', '.join(FLOW_PRESETS)}")

    def build(self, width: int, height: int, device: torch.device, tick: Tick) -> ChunkProcessor:
        """The float interpolator behind an 8-bit adapter."""
        return _FloatAdapter(FrameInterpolator(self.flow_quality))


class _FloatAdapter:
    """Runs a float-frame processor on uint8 chunks (0..255 <-> 0..1, rounded back)."""

    def __init__(self, inner: ChunkProcessor) -> None:
        self.inner = inner

    @staticmethod
    def _u8(frames: torch.Tensor | None) -> torch.Tensor | None:
        if frames is None:
            return None
        return frames.mul(255.0).add_(0.5).clamp_(0, 255).to(torch.uint8)

    def push(self, frames: torch.Tensor) -> torch.Tensor:
        out = self._u8(self.inner.push(frames.float().div_(255.0)))
        assert out is not None
        return out

    def flush(self) -> torch.Tensor | None:
        return self._u8(self.inner.flush())


NO_TICK: Tick = _no_tick
