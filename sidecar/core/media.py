"""Probe media files so a non-video is never passed on as a video (PyAV for AV, Pillow for images)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from .errors import AInfError, ErrorCode

VIDEO_SUFFIXES = frozenset({".mp4", ".mov", ".webm", ".mkv", ".m4v", ".avi", ".gif"})
IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".webp", ".bmp", ".tif", ".tiff"})
AUDIO_SUFFIXES = frozenset({".wav", ".mp3", ".flac", ".m4a", ".aac", ".ogg", ".opus"})


@dataclass(frozen=True)
class MediaInfo:
    """What a file holds."""

    kind: str  # video | image | audio
    width: int = 0
    height: int = 0
    frames: int = 0
    duration_s: float = 0.0
    has_audio: bool = False


def kind_for_suffix(name: str) -> str | None:
    """The media kind a file name claims by its suffix."""
    suffix = Path(name).suffix.lower()
    if suffix in VIDEO_SUFFIXES:
        return "video"
    if suffix in IMAGE_SUFFIXES:
        return "image"
    if suffix in AUDIO_SUFFIXES:
        return "audio"
    return None


def _probe_av(path: Path) -> MediaInfo | None:
    import av

    try:
        with av.open(str(path)) as container:
            video = next(iter(container.streams.video), None)
            audio = next(iter(container.streams.audio), None)
            duration = float(container.duration or 0) / 1_000_000
            if video is not None and video.codec_context.width:
                frames = video.frames or round(duration * float(video.average_rate or 0))
                return MediaInfo(
                    "video",
                    video.codec_context.width,
                    video.codec_context.height,
                    frames,
                    duration,
                    audio is not None,
                )
            if audio is not None:
                return MediaInfo("audio", duration_s=duration, has_audio=True)
    except (av.FFmpegError, OSError, ValueError):
        return None
    return None


def _probe_image(path: Path) -> MediaInfo | None:
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as img:
            img.verify()
            return MediaInfo("image", img.width, img.height, 1)
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError):
        return None


def probe(path: Path) -> MediaInfo | None:
    """What the file holds, judged by decoding its header, or None when it is no media we read."""
    claimed = kind_for_suffix(path.name)
    if claimed == "image":
        return _probe_image(path)
    if claimed in ("video", "audio"):
        return _probe_av(path)
    return None


def require_media(path: Path, kind: str, input_name: str) -> MediaInfo:
    """Probe `path` and insist it is `kind`, or raise INVALID_MEDIA naming the input."""
    info = probe(path)
    if info is None or info.kind != kind:
        found = info.kind if info else "no readable media"
        raise AInfError(
            ErrorCode.INVALID_MEDIA,
            f"Input {input_name!r} needs a {kind} file, but {path.name!r} holds {found}.",
            detail={"input": input_name, "file": path.name, "expected": kind, "found": found},
        )
    return info
