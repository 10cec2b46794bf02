"""Streaming video I/O (pure PyAV + torch): decode -> process in chunks -> encode, audio passed through.

Memory stays flat whatever the clip length: at most one chunk of decoded frames (plus a processor's small
look-ahead) is alive at a time. Output is written by ``video_writer.VideoWriter`` (H.264, audio copied and
interleaved by time); a failed run leaves nothing behind.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Protocol

import av
import numpy as np
import torch

from .colour import AVCOL_SPC_BT709
from .video_probe import invalid_media, probe_video, video_start
from .video_writer import VideoWriter

__all__ = [
    "ChunkProcessor",
    "FunctionProcessor",
    "iter_frame_chunks",
    "iter_rgb_batches",
    "process_batch",
    "process_video",
]

OnChunk = Callable[[int, int], None]


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
    offset = video_start(src) if keep_audio and info.has_audio else 0.0

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
