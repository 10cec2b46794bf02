"""Streaming video I/O (pure PyAV + torch): decode -> process in chunks -> encode, audio passed through.

Memory stays flat whatever the clip length: at most one chunk of decoded frames (plus a processor's small
look-ahead) is alive at a time. Output is H.264 ``yuv420p`` tagged BT.709, constant frame rate; the source's
audio packets are copied untouched (or transcoded to AAC when MP4 cannot carry the codec) and interleaved
by time so they stay in sync. Files are written to a temporary name and renamed only on success, so a
failed run leaves nothing behind.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Protocol

import av
import numpy as np
import torch

from ...sidecar.core.errors import AInfError, ErrorCode
from ...sidecar.core.partial_files import partial_path, publish
from .colour import YuvColour

__all__ = [
    "MP4_COPY_AUDIO_CODECS",
    "ChunkProcessor",
    "FunctionProcessor",
    "VideoInfo",
    "VideoWriter",
    "invalid_media",
    "iter_frame_chunks",
    "iter_rgb_batches",
    "probe_video",
    "process_batch",
    "process_video",
    "read_audio",
]

# Audio codecs the MP4 muxer carries as-is; anything else is transcoded to AAC.
MP4_COPY_AUDIO_CODECS = frozenset({"aac", "mp3", "alac", "ac3", "eac3", "opus", "flac"})
AVCOL_SPC_BT709 = 1
AVCOL_PRI_BT709 = 1
AVCOL_TRC_BT709 = 1
AVCOL_RANGE_MPEG = 1

OnChunk = Callable[[int, int], None]


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


def _frame_to_rgb(frame: av.VideoFrame) -> np.ndarray:
    if frame.colorspace == AVCOL_SPC_BT709:
        frame = frame.reformat(format="rgb24", src_colorspace="ITU709")
    return frame.to_ndarray(format="rgb24")


def iter_rgb_batches(
    path: Path, chunk_size: int, convert: Callable[[av.VideoFrame], np.ndarray] | None = None
) -> Iterator[list[np.ndarray]]:
    """Decode ``path`` into lists of up to ``chunk_size`` RGB24 frames (INVALID_MEDIA when decoding fails).

    ``convert`` replaces the RGB24 conversion (e.g. to read the decoded planes as they are).
    """
    convert = convert or _frame_to_rgb
    buffer: list[np.ndarray] = []
    produced = 0
    try:
        with av.open(str(path)) as container:
            stream = container.streams.video[0]
            stream.thread_type = "AUTO"
            for frame in container.decode(stream):
                buffer.append(convert(frame))
                if len(buffer) == chunk_size:
                    produced += len(buffer)
                    yield buffer
                    buffer = []
    except av.FFmpegError as exc:
        raise invalid_media(path, "decoding failed part-way (corrupt or truncated)") from exc
    if buffer:
        produced += len(buffer)
        yield buffer
    if produced == 0:
        raise invalid_media(path, "it has no decodable frames")


def iter_frame_chunks(
    path: str | Path, chunk_size: int = 16, device: torch.device | str = "cpu", *, uint8: bool = False
) -> Iterator[torch.Tensor]:
    """Yield the clip's frames as ``[B,H,W,3]`` chunks on ``device`` (INVALID_MEDIA if bad).

    Float 0..1 by default; ``uint8=True`` yields the decoded bytes as they are (no conversion pass), for
    passes that work on 8-bit frames directly.
    """
    path = Path(path)
    probe_video(path)
    for frames in iter_rgb_batches(path, chunk_size):
        yield _to_tensor(frames, device, uint8)


def _to_tensor(frames: list[np.ndarray], device: torch.device | str, uint8: bool = False) -> torch.Tensor:
    batch = torch.from_numpy(np.stack(frames)).to(device)
    return batch if uint8 else batch.float().div_(255.0)


class ChunkProcessor(Protocol):
    """A streaming pass: ``push`` returns the frames that are ready, ``flush`` the rest at the end."""

    def push(self, frames: torch.Tensor) -> torch.Tensor:
        """Accept a chunk and return the output frames that are complete (possibly none)."""
        ...

    def flush(self) -> torch.Tensor | None:
        """Return the remaining output frames once the input is exhausted."""
        ...


def process_batch(engine: ChunkProcessor, frames: torch.Tensor) -> torch.Tensor:
    """A streaming pass over one in-memory batch: what ``push`` returns, then what ``flush`` holds back."""
    head = engine.push(frames)
    tail = engine.flush()
    return head if tail is None else torch.cat([head, tail])


class FunctionProcessor:
    """Adapts a stateless per-chunk function to the ``ChunkProcessor`` protocol."""

    def __init__(self, fn: Callable[[torch.Tensor], torch.Tensor]) -> None:
        self.fn = fn

    def push(self, frames: torch.Tensor) -> torch.Tensor:
        """Process a chunk in one call."""
        return self.fn(frames)

    def flush(self) -> torch.Tensor | None:
        """Nothing is buffered."""
        return None


class _AudioPass:
    """Copies (or transcodes to AAC) the source's first audio stream into the output, interleaved by time."""

    def __init__(self, source: Path, output: av.container.OutputContainer, offset: float) -> None:
        self.input = av.open(str(source))
        self.in_stream = self.input.streams.audio[0]
        self.copy = self.in_stream.codec_context.name in MP4_COPY_AUDIO_CODECS
        self.offset = offset
        if self.copy:
            self.out_stream = output.add_stream_from_template(self.in_stream)
        else:
            rate = self.in_stream.codec_context.sample_rate or 48000
            self.out_stream = output.add_stream("aac", rate=rate)
            self.out_stream.layout = "stereo" if (self.in_stream.codec_context.channels or 2) > 1 else "mono"
            self.resampler = av.AudioResampler(format="fltp", layout=self.out_stream.layout, rate=rate)
        self.output = output
        self.packets = self.input.demux(self.in_stream)
        self.pending: av.Packet | None = None
        self.done = False

    def _mux(self, packet: av.Packet) -> None:
        if self.copy:
            if packet.pts is not None and self.offset:
                shift = round(self.offset / float(packet.time_base))
                packet.pts -= shift
                if packet.dts is not None:
                    packet.dts -= shift
            packet.stream = self.out_stream
            self.output.mux(packet)
            return
        for frame in packet.decode():
            frame.pts = None
            for converted in self.resampler.resample(frame):
                self.output.mux(self.out_stream.encode(converted))

    def feed_until(self, seconds: float) -> None:
        """Mux every audio packet that starts before ``seconds`` of output time."""
        while not self.done:
            packet = self.pending or next(self.packets, None)
            self.pending = None
            if packet is None:
                self.done = True
                break
            if packet.size == 0:  # demuxer flush packet
                continue
            start = float(packet.pts * packet.time_base) - self.offset if packet.pts is not None else 0.0
            if start > seconds:
                self.pending = packet
                break
            self._mux(packet)

    def close(self) -> None:
        """Mux the rest of the audio and flush the encoder."""
        self.feed_until(float("inf"))
        if not self.copy:
            for converted in self.resampler.resample(None):
                self.output.mux(self.out_stream.encode(converted))
            self.output.mux(self.out_stream.encode(None))
        self.input.close()


def read_audio(path: str | Path, rate: int = 48000, layout: str = "stereo") -> np.ndarray | None:
    """Decode the first audio stream as float32 ``[channels, samples]`` at ``rate`` (None if absent)."""
    path = Path(path)
    parts: list[np.ndarray] = []
    try:
        with av.open(str(path)) as container:
            if not container.streams.audio:
                return None
            resampler = av.AudioResampler(format="fltp", layout=layout, rate=rate)
            for frame in container.decode(container.streams.audio[0]):
                frame.pts = None
                parts += [f.to_ndarray() for f in resampler.resample(frame)]
            parts += [f.to_ndarray() for f in resampler.resample(None)]
    except av.FFmpegError as exc:
        raise invalid_media(path, "its audio could not be decoded (corrupt or truncated)") from exc
    if not parts:
        return np.zeros((len(av.AudioLayout(layout).channels), 0), dtype=np.float32)
    return np.concatenate(parts, axis=-1).astype(np.float32)


class _AudioEncode:
    """Encodes in-memory float ``[C,T]`` audio to AAC, interleaved by time like ``_AudioPass``."""

    FRAME = 1024

    def __init__(self, samples: np.ndarray, rate: int, output: av.container.OutputContainer) -> None:
        self.samples = np.ascontiguousarray(samples, dtype=np.float32)
        self.rate = rate
        self.output = output
        self.out_stream = output.add_stream("aac", rate=rate)
        self.out_stream.layout = "stereo" if self.samples.shape[0] == 2 else "mono"
        self.out_stream.options = {"b": "192k"} if self.samples.shape[0] == 2 else {"b": "128k"}
        self.position = 0

    def feed_until(self, seconds: float) -> None:
        """Encode every whole AAC frame that starts before ``seconds``."""
        limit = min(self.samples.shape[1], int(seconds * self.rate) if math.isfinite(seconds) else 1 << 62)
        while self.position < limit:
            part = np.ascontiguousarray(self.samples[:, self.position : self.position + self.FRAME])
            frame = av.AudioFrame.from_ndarray(part, format="fltp", layout=self.out_stream.layout)
            frame.sample_rate = self.rate
            frame.pts = self.position
            self.position += part.shape[1]
            self.output.mux(self.out_stream.encode(frame))

    def close(self) -> None:
        """Encode the rest and flush."""
        self.feed_until(float("inf"))
        self.output.mux(self.out_stream.encode(None))


class VideoWriter:
    """Encodes float ``[B,H,W,3]`` chunks to an MP4 (H.264 yuv420p BT.709, CFR), optionally with audio."""

    def __init__(
        self,
        path: str | Path,
        width: int,
        height: int,
        fps: Fraction,
        *,
        audio_from: str | Path | None = None,
        audio_offset: float = 0.0,
        audio_samples: np.ndarray | None = None,
        audio_rate: int = 48000,
        crf: int = 18,
        preset: str = "veryfast",
        extra_options: dict[str, str] | None = None,
        metadata: dict[str, str] | None = None,
        planes: YuvColour | None = None,
    ) -> None:
        if width % 2 or height % 2:
            raise AInfError(
                ErrorCode.VALIDATION_ERROR,
                f"Frames are {width}x{height}; H.264 yuv420p needs an even width and height.",
                remediation=["Crop or resize the frames to even dimensions (e.g. one pixel less)."],
                detail={"width": width, "height": height},
            )
        self.path = Path(path)
        self.tmp = partial_path(self.path)
        self.width, self.height, self.fps = width, height, Fraction(fps)
        # use_metadata_tags keeps custom keys (ComfyUI's prompt and workflow) in the MP4
        flags = "+faststart+use_metadata_tags" if metadata else "+faststart"
        self.container = av.open(str(self.tmp), "w", format="mp4", options={"movflags": flags})
        try:
            self.stream = self.container.add_stream("libx264", rate=self.fps)
            self.stream.width, self.stream.height = width, height
            self.stream.pix_fmt = "yuv420p"
            self.stream.time_base = 1 / self.fps
            ctx = self.stream.codec_context
            ctx.color_primaries, ctx.color_trc = AVCOL_PRI_BT709, AVCOL_TRC_BT709
            ctx.colorspace, ctx.color_range = AVCOL_SPC_BT709, AVCOL_RANGE_MPEG
            if planes is not None:  # planes are written as they come, in the source's matrix and range
                ctx.colorspace, ctx.color_range = planes.colorspace, planes.color_range
                if planes.matrix != "bt709":
                    ctx.color_primaries = ctx.color_trc = planes.colorspace  # SMPTE 170M: the same code, 6
            ctx.thread_count = 0  # libx264 picks its thread count from the cores (x264's "auto")
            self.stream.options = {"crf": str(crf), "preset": preset, **(extra_options or {})}
            for key, value in (metadata or {}).items():
                self.container.metadata[key] = value
            self.audio: _AudioPass | _AudioEncode | None = None
            if audio_samples is not None:
                self.audio = _AudioEncode(audio_samples, audio_rate, self.container)
            elif audio_from is not None:
                with av.open(str(audio_from)) as probe:
                    has_audio = bool(probe.streams.audio)
                if has_audio:
                    self.audio = _AudioPass(Path(audio_from), self.container, audio_offset)
        except BaseException:
            self.container.close()
            self.tmp.unlink(missing_ok=True)
            raise
        self.frames = 0

    def write(self, frames: torch.Tensor) -> None:
        """Encode a chunk of frames: float in 0..1 or uint8 in 0..255."""
        if frames.shape[1:] != (self.height, self.width, 3):
            raise AInfError(
                ErrorCode.VALIDATION_ERROR,
                f"Frame size changed mid-clip to {tuple(frames.shape[1:])}.",
                detail={"expected": [self.height, self.width, 3]},
            )
        if frames.dtype == torch.uint8:
            data = frames.cpu().numpy()
        else:
            data = frames.mul(255.0).add_(0.5).clamp_(0, 255).to(torch.uint8).cpu().numpy()
        for rgb in data:
            frame = av.VideoFrame.from_ndarray(rgb, format="rgb24")
            self._encode(frame.reformat(format="yuv420p", dst_colorspace="ITU709"))
        if self.audio is not None:
            self.audio.feed_until(self.frames / float(self.fps))

    def write_planes(self, frames: torch.Tensor) -> None:
        """Encode yuv420p frames ``[B, H * 3 / 2, W]`` (uint8, PyAV's layout) as they are."""
        if frames.shape[1:] != (self.height * 3 // 2, self.width) or frames.dtype != torch.uint8:
            raise AInfError(
                ErrorCode.VALIDATION_ERROR,
                f"yuv420p frames of {tuple(frames.shape[1:])} do not fit {self.width}x{self.height}.",
                detail={"expected": [self.height * 3 // 2, self.width]},
            )
        for planes in frames.cpu().numpy():
            self._encode(av.VideoFrame.from_ndarray(planes, format="yuv420p"))
        if self.audio is not None:
            self.audio.feed_until(self.frames / float(self.fps))

    def _encode(self, frame: av.VideoFrame) -> None:
        frame.pts = self.frames
        self.frames += 1
        for packet in self.stream.encode(frame):
            self.container.mux(packet)

    def close(self) -> Path:
        """Flush the encoders and move the finished file into place."""
        try:
            for packet in self.stream.encode(None):
                self.container.mux(packet)
            if self.audio is not None:
                self.audio.close()
            self.container.close()
        except BaseException:
            self.abort()
            raise
        if self.frames == 0:
            self.tmp.unlink(missing_ok=True)
            raise AInfError(ErrorCode.INVALID_MEDIA, "No frames were produced; nothing was written.")
        return publish(self.tmp, self.path)

    def abort(self) -> None:
        """Close and delete the partial file."""
        try:
            if isinstance(self.audio, _AudioPass):
                self.audio.input.close()
            self.container.close()
        except (av.FFmpegError, ValueError, OSError):
            pass
        self.tmp.unlink(missing_ok=True)


def _video_start(path: Path) -> float:
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        if stream.start_time is None:
            return 0.0
        return float(stream.start_time * stream.time_base)


def process_video(
    src: str | Path,
    dst: str | Path,
    processor: ChunkProcessor,
    *,
    chunk_size: int = 16,
    fps_factor: int = 1,
    device: torch.device | str = "cpu",
    keep_audio: bool = True,
    crf: int = 18,
    preset: str = "veryfast",
    uint8: bool = False,
    on_chunk: OnChunk | None = None,
) -> Path:
    """Stream ``src`` through ``processor`` into ``dst`` (MP4); the audio track is kept and in sync.

    The processor gets float 0..1 chunks, or the decoded uint8 bytes with ``uint8=True``.
    """
    src, dst = Path(src), Path(dst)
    info = probe_video(src)
    total = max(1, -(-info.frame_count // chunk_size))
    writer: VideoWriter | None = None
    offset = _video_start(src) if keep_audio and info.has_audio else 0.0

    def emit(out: torch.Tensor | None) -> None:
        nonlocal writer
        if out is None or out.shape[0] == 0:
            return
        if writer is None:
            writer = VideoWriter(
                dst,
                out.shape[2],
                out.shape[1],
                info.fps * fps_factor,
                audio_from=src if keep_audio and info.has_audio else None,
                audio_offset=offset,
                crf=crf,
                preset=preset,
            )
        writer.write(out)

    try:
        for index, chunk in enumerate(iter_frame_chunks(src, chunk_size, device, uint8=uint8)):
            emit(processor.push(chunk))
            if on_chunk is not None:
                on_chunk(min(index + 1, total), total)
        emit(processor.flush())
    except BaseException:
        if writer is not None:
            writer.abort()
        raise
    if writer is None:
        raise invalid_media(src, "it has no decodable frames")
    return writer.close()
