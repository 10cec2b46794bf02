"""Decoding a clip for a streamed pass: its upright, even-sized 8-bit frames, decoded ahead in a thread.

What a phone or an editor hands over is normalised here, once, for every streamed pass:

- rotation metadata (a display matrix) is applied, as ffmpeg's autorotate does, so a portrait phone clip
  comes out portrait;
- odd dimensions are cropped by one pixel (the last column or row): H.264 ``yuv420p`` needs an even width
  and height, and a one-pixel crop is invisible where a resize would soften every frame;
- 10-bit HDR (PQ or HLG transfer) is refused with INVALID_MEDIA: the passes work on 8-bit SDR values, and
  squashing HDR into them without tone mapping the clip's own metadata would wash it out;
- a variable frame rate clip is read frame by frame and written at its average rate (constant frame rate),
  which keeps its duration and frame count; see https://trac.ffmpeg.org/wiki/ChangingFrameRate.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Iterator
from contextlib import closing
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import torch

from ...sidecar.core.errors import AInfError
from .colour import AVCOL_RANGE_JPEG, YuvColour
from .video_probe import invalid_media, probe_video
from .video_stream import iter_rgb_batches

__all__ = ["HDR_TRANSFERS", "SourceFormat", "decode_ahead", "source_format"]

LOG = logging.getLogger(__name__)
# AVColorTransferCharacteristic values of HDR video: SMPTE ST 2084 (PQ) and ARIB STD-B67 (HLG),
# https://ffmpeg.org/doxygen/trunk/pixfmt_8h.html
HDR_TRANSFERS = {16: "PQ (SMPTE ST 2084)", 18: "HLG (ARIB STD-B67)"}
# 8-bit 4:2:0 layouts whose planes the YUV-native path reads as they are (full range for the "j" one).
PLANAR_420 = {"yuv420p": False, "yuvj420p": True}
_END = object()


@dataclass(frozen=True)
class SourceFormat:
    """A clip as the streamed passes see it: upright, even-sized frames at a constant rate."""

    path: Path
    width: int
    height: int
    fps: Fraction
    frame_count: int
    rotation: int  # counter-clockwise quarter turns applied to each decoded frame (0..3)
    cropped: bool  # one column and/or row was dropped to make the size even
    has_audio: bool
    planar: YuvColour | None = None  # the 8-bit 4:2:0 encoding when frames can be read as planes as they are

    @property
    def duration(self) -> float:
        """Seconds at the constant output rate."""
        return self.frame_count / float(self.fps)


def _first_frame_rotation(container: av.container.InputContainer) -> int:
    """Counter-clockwise quarter turns from the first frame's display matrix (0 when there is none)."""
    for frame in container.decode(container.streams.video[0]):
        return round((getattr(frame, "rotation", 0) or 0) / 90) % 4
    return 0


def source_format(path: str | Path) -> SourceFormat:
    """Probe ``path`` for a streamed pass (INVALID_MEDIA for HDR or undecodable clips)."""
    path = Path(path)
    info = probe_video(path)
    try:
        with av.open(str(path)) as container:
            context = container.streams.video[0].codec_context
            transfer = HDR_TRANSFERS.get(int(context.color_trc or 0))
            if transfer is not None:
                pixels = context.format.name if context.format else "unknown pixel format"
                raise invalid_media(
                    path,
                    f"it is HDR video ({transfer} transfer, {pixels})",
                    fix="Export an SDR (BT.709, 8-bit) version of the clip, e.g. with your phone's "
                    "'most compatible' setting or ffmpeg's zscale+tonemap filters,",
                )
            quarter_turns = _first_frame_rotation(container)
            pixels = context.format.name if context.format else ""
            colour = YuvColour.of_stream(
                int(context.colorspace or 0),
                AVCOL_RANGE_JPEG if PLANAR_420.get(pixels) else int(context.color_range or 0),
                info.height,
            )
    except AInfError:
        raise
    except (av.FFmpegError, ValueError, OSError) as exc:
        raise invalid_media(path, "it could not be decoded (corrupt or truncated)") from exc
    width, height = (info.height, info.width) if quarter_turns % 2 else (info.width, info.height)
    even_w, even_h = width - width % 2, height - height % 2
    if even_w < 2 or even_h < 2:
        raise invalid_media(path, f"its frames are {width}x{height} pixels, too small to encode")
    if (even_w, even_h) != (width, height):
        LOG.warning(
            "%s is %dx%d; H.264 yuv420p needs an even size, so it is cropped to %dx%d (the last %s dropped)",
            path.name, width, height, even_w, even_h,
            "column and row" if even_w != width and even_h != height else
            "column" if even_w != width else "row",
        )  # fmt: skip
    return SourceFormat(
        path=path,
        width=even_w,
        height=even_h,
        fps=info.fps,
        frame_count=max(1, info.frame_count),
        rotation=quarter_turns,
        cropped=(even_w, even_h) != (width, height),
        has_audio=info.has_audio,
        planar=colour
        if pixels in PLANAR_420 and not quarter_turns and (even_w, even_h) == (width, height)
        else None,
    )


class _Decoder(threading.Thread):
    """Decodes ``source`` into uint8 chunks on a bounded queue until done, failed or told to stop."""

    def __init__(self, source: SourceFormat, chunk_size: int, depth: int, planes: bool) -> None:
        super().__init__(name=f"decode {source.path.name}", daemon=True)
        self.source = source
        self.planes = planes
        self.chunk_size = chunk_size
        self.chunks: queue.Queue[object] = queue.Queue(maxsize=depth)
        self.stop = threading.Event()

    def _put(self, item: object) -> bool:
        while not self.stop.is_set():
            try:
                self.chunks.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def _chunk(self, frames: list[np.ndarray]) -> torch.Tensor:
        batch = torch.from_numpy(np.stack(frames))
        if self.planes:
            return batch
        if self.source.rotation:
            batch = torch.rot90(batch, self.source.rotation, dims=(1, 2))
        return batch[:, : self.source.height, : self.source.width].contiguous()

    def run(self) -> None:
        """Decode and queue chunks; an error is queued in place of the next chunk.

        Frames are decoded one at a time so a stop is seen within one frame's decode.
        """
        buffer: list[np.ndarray] = []
        try:
            planes = _frame_planes if self.planes else None
            with closing(iter_rgb_batches(self.source.path, 1, planes)) as frames:
                for frame in frames:
                    if self.stop.is_set():
                        return
                    buffer += frame
                    if len(buffer) == self.chunk_size:
                        if not self._put(self._chunk(buffer)):
                            return
                        buffer = []
            if buffer and not self._put(self._chunk(buffer)):
                return
            self._put(_END)
        except BaseException as exc:  # handed to the consuming thread, which raises it
            self._put(exc)


def _frame_planes(frame: av.VideoFrame) -> np.ndarray:
    """A 4:2:0 frame's planes as decoded (no conversion): ``[H * 3 / 2, W]``, Y then Cb then Cr."""
    return frame.to_ndarray()


def decode_ahead(
    source: SourceFormat, chunk_size: int = 8, depth: int = 3, *, planes: bool = False
) -> Iterator[torch.Tensor]:
    """Yield ``source``'s frames as uint8 ``[B,H,W,3]`` chunks decoded by a thread ``depth`` chunks ahead.

    With ``planes`` (only when ``source.planar``), the decoded yuv420p planes ``[B, H * 3 / 2, W]`` as
    they are. Closing the generator early (an interrupt, a failing pass) stops the thread within a chunk.
    """
    if planes and source.planar is None:
        raise ValueError(f"{source.path.name} is not 8-bit 4:2:0 video that can be read as planes")
    decoder = _Decoder(source, chunk_size, depth, planes)
    decoder.start()
    try:
        while True:
            item = decoder.chunks.get()
            if item is _END:
                return
            if isinstance(item, BaseException):
                raise item
            assert isinstance(item, torch.Tensor)
            yield item
    finally:
        decoder.stop.set()
        decoder.join(timeout=5)
