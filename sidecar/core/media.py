"""Probe media files by decoding them, and hold each kind to the limits the presets can handle.

A file is accepted as a video or audio only when a frame of it decodes (a container header alone proves
nothing: a truncated MP4 or a PNG renamed `.mp4` opens fine), and as an image only when its header is
within the pixel limit before any pixel is decoded (a 69-byte PNG can declare 12000×12000).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path

from .errors import AInfError, ErrorCode

VIDEO_SUFFIXES = frozenset({".mp4", ".mov", ".webm", ".mkv", ".m4v", ".avi", ".gif"})
IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".webp", ".bmp", ".tif", ".tiff"})
AUDIO_SUFFIXES = frozenset({".wav", ".mp3", ".flac", ".m4a", ".aac", ".ogg", ".opus"})
# demuxers FFmpeg uses for single still images; a "video" from one of them is a renamed picture
STILL_IMAGE_FORMATS = frozenset(
    {"image2", "png_pipe", "jpeg_pipe", "webp_pipe", "bmp_pipe", "tiff_pipe", "gif_pipe", "j2k_pipe"}
)


@dataclass(frozen=True)
class MediaLimits:
    """The largest input of each kind the presets handle on a 24 GB machine."""

    # 50 Mpx covers a 48 MP phone photo (8064 × 6048 is 48.8 Mpx); a 4× upscale of it is already 780 Mpx
    image_pixels: int = 50_000_000
    # 4096 × 2304 is DCI 4K widened to 16:9; larger frames are cinema cameras, not creator clips
    video_frame_pixels: int = 4096 * 2304
    # ten minutes at 60 fps: long enough for any social clip, short enough to render in a day on CPU
    video_seconds: float = 600.0
    video_frames: int = 36_000
    audio_seconds: float = 600.0

    def refuse(self, info: MediaInfo, name: str) -> None:
        """INVALID_MEDIA naming the limit when `info` exceeds one."""
        if info.kind == "image" and info.width * info.height > self.image_pixels:
            _too_large(
                name, f"{info.width}×{info.height} pixels", f"{self.image_pixels / 1e6:.0f} megapixels"
            )
        if info.kind == "video":
            if info.width * info.height > self.video_frame_pixels:
                _too_large(
                    name, f"{info.width}×{info.height} frames", f"{self.video_frame_pixels:,} pixels a frame"
                )
            if info.duration_s > self.video_seconds:
                _too_large(name, f"{info.duration_s:.0f} s long", f"{self.video_seconds:.0f} s")
            if info.frames > self.video_frames:
                _too_large(name, f"{info.frames} frames", f"{self.video_frames} frames")
        if info.kind == "audio" and info.duration_s > self.audio_seconds:
            _too_large(name, f"{info.duration_s:.0f} s long", f"{self.audio_seconds:.0f} s")


LIMITS = MediaLimits()


@dataclass(frozen=True)
class MediaInfo:
    """What a file holds."""

    kind: str  # video | image | audio
    width: int = 0
    height: int = 0
    frames: int = 0
    duration_s: float = 0.0
    has_audio: bool = False


def _too_large(name: str, found: str, limit: str) -> None:
    raise AInfError(
        ErrorCode.INVALID_MEDIA,
        f"{name!r} is too large for the presets: it is {found}; the limit is {limit}.",
        detail={"file": name, "found": found, "limit": limit},
        remediation=["Resize or trim the file and upload it again."],
    )


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


def _decodes(container, stream) -> bool:
    """True when at least one frame of `stream` decodes."""
    for _frame in container.decode(stream):
        return True
    return False


def _probe_av(path: Path) -> MediaInfo | None:
    import av

    try:
        with av.open(str(path)) as container:
            video = next(iter(container.streams.video), None)
            audio = next(iter(container.streams.audio), None)
            duration = float(container.duration or 0) / 1_000_000
            if video is not None and video.codec_context.width:
                if container.format.name in STILL_IMAGE_FORMATS:
                    return MediaInfo("image", video.codec_context.width, video.codec_context.height, 1)
                if not _decodes(container, video):
                    return None
                frames = video.frames or round(duration * float(video.average_rate or 0))
                return MediaInfo(
                    "video",
                    video.codec_context.width,
                    video.codec_context.height,
                    frames,
                    duration,
                    audio is not None,
                )
            if audio is not None and _decodes(container, audio):
                return MediaInfo("audio", duration_s=duration, has_audio=True)
    except (av.FFmpegError, OSError, ValueError, StopIteration):
        return None
    return None


def _probe_image(path: Path) -> MediaInfo | None:
    from PIL import Image, UnidentifiedImageError

    try:
        with warnings.catch_warnings():  # our own limit below is the one that counts
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            img = Image.open(path)  # reads the header only; pixels are never decoded here
        with img:
            info = MediaInfo("image", img.width, img.height, 1)
            LIMITS.refuse(info, path.name)
            img.verify()
            return info
    except Image.DecompressionBombError:  # the header declares more than twice Pillow's own limit
        _too_large(path.name, "larger than Pillow will open", f"{LIMITS.image_pixels / 1e6:.0f} megapixels")
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError):
        return None
    return None


def probe(path: Path) -> MediaInfo | None:
    """What the file holds, judged by decoding it, or None when it is no media we read.

    Raises INVALID_MEDIA when the file is media beyond the limits the presets handle.
    """
    claimed = kind_for_suffix(path.name)
    if claimed == "image":
        return _probe_image(path)
    if claimed in ("video", "audio"):
        info = _probe_av(path)
        if info is not None:
            LIMITS.refuse(info, path.name)
        return info
    return None


def duration_of(data: bytes) -> float | None:
    """Seconds of an audio or video held in memory (the container's duration), or None when unreadable."""
    import io

    import av

    try:
        with av.open(io.BytesIO(data)) as container:
            if container.duration:
                return float(container.duration) / 1_000_000
            stream = next(iter(container.streams.audio), None) or next(iter(container.streams.video), None)
            if stream is not None and stream.duration and stream.time_base:
                return float(stream.duration * stream.time_base)
    except (av.FFmpegError, OSError, ValueError):
        return None
    return None


def require_media(path: Path, kind: str, input_name: str) -> MediaInfo:
    """Probe `path` and insist it is `kind` within the limits, or raise INVALID_MEDIA naming the input."""
    info = probe(path)
    if info is None or info.kind != kind:
        found = info.kind if info else "no readable media"
        raise AInfError(
            ErrorCode.INVALID_MEDIA,
            f"Input {input_name!r} needs a {kind} file, but {path.name!r} holds {found}.",
            detail={"input": input_name, "file": path.name, "expected": kind, "found": found},
        )
    return info
