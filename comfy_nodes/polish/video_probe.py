"""Probing a clip: its stream parameters without decoding it; INVALID_MEDIA for files that are not video."""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av

from ...sidecar.core.errors import AInfError, ErrorCode

__all__ = ["VideoInfo", "invalid_media", "probe_video", "video_start"]


@dataclass(frozen=True)
class VideoInfo:
    """What a probe learns about a clip without decoding it."""

    width: int
    height: int
    fps: Fraction
    frame_count: int
    duration: float
    has_audio: bool
    audio_codec: str | None
    audio_rate: int | None
    audio_channels: int | None


def invalid_media(
    path: Path, why: str, what: str = "video", fix: str = "Re-export the clip as MP4 (H.264) or WEBM"
) -> AInfError:
    """INVALID_MEDIA for a file that is not a usable ``what``, with the re-export step."""
    return AInfError(
        ErrorCode.INVALID_MEDIA,
        f"{path.name} is not a usable {what}: {why}.",
        remediation=[f"{fix} and upload it again."],
        detail={"file": path.name},
    )


def probe_video(path: str | Path) -> VideoInfo:
    """Open a clip and read its stream parameters (INVALID_MEDIA when it is not a decodable video)."""
    path = Path(path)
    if not path.is_file():
        raise AInfError(ErrorCode.FILE_NOT_FOUND, f"{path.name} does not exist.", detail={"file": path.name})
    if path.stat().st_size == 0:
        raise invalid_media(path, "the file is empty")
    try:
        with av.open(str(path)) as container:
            if not container.streams.video:
                raise invalid_media(path, "it has no video stream")
            vs = container.streams.video[0]
            fps = vs.average_rate or vs.guessed_rate or vs.base_rate
            if not fps or fps <= 0:
                raise invalid_media(path, "its frame rate is unknown")
            duration = 0.0
            if vs.duration is not None and vs.time_base is not None:
                duration = float(vs.duration * vs.time_base)
            elif container.duration is not None:
                duration = container.duration / av.time_base
            frames = vs.frames or round(duration * float(fps))
            audio = container.streams.audio[0] if container.streams.audio else None
            info = VideoInfo(
                width=vs.codec_context.width,
                height=vs.codec_context.height,
                fps=Fraction(fps).limit_denominator(1001 * 1000),
                frame_count=int(frames),
                duration=duration,
                has_audio=audio is not None,
                audio_codec=audio.codec_context.name if audio is not None else None,
                audio_rate=audio.codec_context.sample_rate if audio is not None else None,
                audio_channels=audio.codec_context.channels if audio is not None else None,
            )
    except AInfError:
        raise
    except (av.FFmpegError, ValueError, OSError) as exc:
        raise invalid_media(path, "it could not be opened (corrupt or truncated)") from exc
    if info.width <= 0 or info.height <= 0:
        raise invalid_media(path, "its frame size is unknown")
    if info.frame_count <= 0 and info.duration <= 0:
        raise invalid_media(path, "it has no frames")
    return info


def video_start(path: Path) -> float:
    """Seconds at which the first video stream starts (its audio is shifted by the same offset)."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        if stream.start_time is None:
            return 0.0
        return float(stream.start_time * stream.time_base)
