"""Social export (pure PyAV + torch): TikTok / Reels / Shorts MP4s — 1080x1920 9:16 by crop, pad or blur-fill,
H.264 yuv420p BT.709 at a constant frame rate, AAC 48 kHz stereo normalised to -14 LUFS / -1 dBTP.

Duration is checked before anything is written; the size limit after encoding (the file is deleted when it
is over). Video streams chunk by chunk; the audio (seconds of samples) is normalised in memory.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from ...sidecar.core.errors import AInfError, ErrorCode
from .loudness import integrated_loudness, normalize_loudness, true_peak_db
from .passes import NO_TICK, Tick
from .stream_plan import StreamPlan
from .video_audio import read_audio
from .video_writer import VideoWriter

__all__ = ["FIT_MODES", "PLATFORMS", "ExportReport", "PlatformTarget", "export_social", "fit_frames"]

FIT_MODES = ("blur", "crop", "pad")
AUDIO_RATE = 48000


@dataclass(frozen=True)
class PlatformTarget:
    """One platform's delivery spec (limits as the platforms documented them in 2025)."""

    label: str
    width: int
    height: int
    max_seconds: float
    max_bytes: int
    max_fps: int = 60
    target_lufs: float = -14.0
    peak_dbtp: float = -1.0
    max_bitrate: str = "12M"


PLATFORMS: dict[str, PlatformTarget] = {
    "tiktok": PlatformTarget("TikTok", 1080, 1920, max_seconds=600, max_bytes=287_600_000),
    "reels": PlatformTarget("Instagram Reels", 1080, 1920, max_seconds=180, max_bytes=1_000_000_000),
    "shorts": PlatformTarget("YouTube Shorts", 1080, 1920, max_seconds=180, max_bytes=2_000_000_000),
}


@dataclass(frozen=True)
class ExportReport:
    """What an export did: the file, its frame rate, and the loudness before and after."""

    path: Path
    fps: Fraction
    frames: int
    loudness_before: float
    loudness_after: float
    true_peak_dbtp: float
    size_bytes: int


def _resize(x: torch.Tensor, height: int, width: int) -> torch.Tensor:
    return F.interpolate(x, size=(height, width), mode="bilinear", antialias=True, align_corners=False)


def fit_frames(frames: torch.Tensor, width: int, height: int, mode: str = "blur") -> torch.Tensor:
    """Fit ``[B,H,W,3]`` frames to ``width x height`` by crop (cover), pad (black bars) or blur fill."""
    if mode not in FIT_MODES:
        raise AInfError(
            ErrorCode.VALIDATION_ERROR, f"Fit must be one of {', '.join(FIT_MODES)}, not {mode!r}."
        )
    x = frames.permute(0, 3, 1, 2)
    src_h, src_w = x.shape[2], x.shape[3]
    cover = max(width / src_w, height / src_h)
    contain = min(width / src_w, height / src_h)

    def covered() -> torch.Tensor:
        h, w = max(height, round(src_h * cover)), max(width, round(src_w * cover))
        big = _resize(x, h, w)
        top, left = (h - height) // 2, (w - width) // 2
        return big[:, :, top : top + height, left : left + width]

    if mode == "crop":
        out = covered()
    else:
        h, w = min(height, round(src_h * contain)), min(width, round(src_w * contain))
        inner = _resize(x, h, w)
        if mode == "pad":
            canvas = x.new_zeros((x.shape[0], 3, height, width))
        else:
            small = _resize(covered(), max(1, height // 24), max(1, width // 24))
            small = F.avg_pool2d(F.pad(small, (2, 2, 2, 2), mode="replicate"), 5, stride=1)
            canvas = _resize(small, height, width) * 0.6
        top, left = (height - h) // 2, (width - w) // 2
        canvas[:, :, top : top + h, left : left + w] = inner
        out = canvas
    return out.clamp(0.0, 1.0).permute(0, 2, 3, 1).contiguous()


def _output_fps(source: Fraction, requested: float, max_fps: int) -> Fraction:
    """The constant output frame rate: the source rate (capped at the platform maximum) or a lower one."""
    if requested > 0:
        target = Fraction(requested).limit_denominator(1001)
        if target > source:
            raise AInfError(
                ErrorCode.VALIDATION_ERROR,
                f"Requested {float(target):g} fps is above the source's {float(source):g} fps.",
                remediation=["Use 0 to keep the source frame rate, or interpolate the clip first."],
            )
    else:
        target = source
    return min(target, Fraction(max_fps))


def _pick(first: int, count: int, ratio: Fraction, emitted: int) -> list[int]:
    """Chunk-local indices of the source frames shown by output frames ``emitted, emitted+1, ...``.

    Output frame k shows source frame floor(k * ratio) (ratio = source fps / output fps >= 1), so frames
    are dropped evenly and timestamps stay on the constant-rate grid.
    """
    picks = []
    k = emitted
    while (source := math.floor(k * ratio)) < first + count:
        picks.append(source - first)
        k += 1
    return picks


def export_social(
    src: str | Path | StreamPlan,
    dst: str | Path,
    platform: str = "tiktok",
    fit: str = "blur",
    *,
    fps: float = 0.0,
    crf: int = 20,
    chunk_size: int = 8,
    device: torch.device | str = "cpu",
    on_chunk: Callable[[int, int], None] | None = None,
    tick: Tick = NO_TICK,
) -> ExportReport:
    """Export a clip (a file, or a lazily streamed plan) as a platform-ready MP4 at ``dst``.

    A plan's passes run in the same streamed pass as the export (one decode, one encode); limits are
    checked before anything is written and nothing is left behind on failure.
    """
    if platform not in PLATFORMS:
        raise AInfError(
            ErrorCode.VALIDATION_ERROR, f"Platform must be one of {', '.join(PLATFORMS)}, not {platform!r}."
        )
    if fit not in FIT_MODES:
        raise AInfError(
            ErrorCode.VALIDATION_ERROR, f"Fit must be one of {', '.join(FIT_MODES)}, not {fit!r}."
        )
    target = PLATFORMS[platform]
    plan = src if isinstance(src, StreamPlan) else StreamPlan(Path(src))
    dst = Path(dst)
    shape = plan.shape()
    duration = shape.duration
    if duration > target.max_seconds:
        raise AInfError(
            ErrorCode.VALIDATION_ERROR,
            f"The clip is {duration:.1f} s; {target.label} accepts at most {target.max_seconds:g} s.",
            remediation=[f"Trim the clip to {target.max_seconds:g} s or less, or pick another platform."],
            detail={"duration_s": round(duration, 3), "max_s": target.max_seconds, "platform": platform},
        )
    out_fps = _output_fps(shape.fps, fps, target.max_fps)
    ratio = shape.fps / out_fps
    seconds = math.ceil(shape.frame_count / ratio) / float(out_fps)
    audio = _loud_audio(plan.source, seconds, target)
    writer = VideoWriter(
        dst,
        target.width,
        target.height,
        out_fps,
        audio_samples=audio.samples,
        audio_rate=AUDIO_RATE,
        crf=crf,
        preset="veryfast",
        extra_options={
            "maxrate": target.max_bitrate,
            "bufsize": str(int(target.max_bitrate[:-1]) * 2) + "M",
            "profile": "high",
            "x264-params": "colorprim=bt709:transfer=bt709:colormatrix=bt709",
        },
    )
    index = 0
    try:
        for chunk in plan.frames(device=device, tick=tick, on_frames=on_chunk, chunk_size=chunk_size):
            picks = _pick(index, chunk.shape[0], ratio, writer.frames)
            index += chunk.shape[0]
            chunk = chunk[torch.tensor(picks, dtype=torch.long, device=chunk.device)]
            if chunk.shape[0]:
                frames = chunk.float().div_(255.0)
                writer.write(fit_frames(frames, target.width, target.height, fit))
    except BaseException:
        writer.abort()
        raise
    path = writer.close()
    size = path.stat().st_size
    if size > target.max_bytes:
        path.unlink(missing_ok=True)
        raise AInfError(
            ErrorCode.PAYLOAD_TOO_LARGE,
            f"The export is {size / 1e6:.1f} MB; {target.label} allows {target.max_bytes / 1e6:.0f} MB.",
            remediation=["Raise the CRF (smaller file), lower the frame rate, or trim the clip."],
            detail={"size_bytes": size, "max_bytes": target.max_bytes, "platform": platform},
        )
    return ExportReport(
        path=path,
        fps=out_fps,
        frames=writer.frames,
        loudness_before=audio.before,
        loudness_after=audio.after
        if math.isfinite(audio.after)
        else integrated_loudness(audio.samples, AUDIO_RATE),
        true_peak_dbtp=true_peak_db(audio.samples),
        size_bytes=size,
    )


@dataclass(frozen=True)
class _LoudAudio:
    samples: np.ndarray
    before: float
    after: float


def _loud_audio(source: Path, seconds: float, target: PlatformTarget) -> _LoudAudio:
    """The source's audio (or silence) cut or padded to ``seconds``, normalised to the platform's loudness."""
    audio = read_audio(source, AUDIO_RATE, "stereo")
    samples = round(seconds * AUDIO_RATE)
    if audio is None:
        audio = np.zeros((2, samples), dtype=np.float32)
    audio = audio[:, :samples]
    if audio.shape[1] < samples:
        audio = np.pad(audio, ((0, 0), (0, samples - audio.shape[1])))
    audio, before, after = normalize_loudness(audio, AUDIO_RATE, target.target_lufs, target.peak_dbtp)
    return _LoudAudio(audio, before, after)
