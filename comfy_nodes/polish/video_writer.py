"""Writing a clip: H.264 ``yuv420p`` (BT.709 tags, constant frame rate) in MP4, with its audio interleaved.

The file is written under a temporary name and renamed only on success, so a failed run leaves nothing.
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import torch
from av.video.reformatter import Interpolation, VideoReformatter

from ...sidecar.core.errors import AInfError, ErrorCode
from ...sidecar.core.partial_files import partial_path, publish
from .colour import AVCOL_PRI_BT709, AVCOL_RANGE_MPEG, AVCOL_SPC_BT709, AVCOL_TRC_BT709, YuvColour
from .video_audio import AudioEncode, AudioPass

__all__ = ["VideoWriter"]


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
        resize_from: tuple[int, int] | None = None,
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
        # Planes of this (width, height) are resized to the output size as they are encoded
        self.resize_from = resize_from
        self.scaler = VideoReformatter()
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
            # Frame threads with x264's automatic count, as the ffmpeg command line runs it; PyAV's default
            # thread type (slices) makes libx264 use sliced threads, which keep fewer cores busy:
            # https://code.videolan.org/videolan/x264/-/blob/master/doc/threads.txt
            ctx.thread_type, ctx.thread_count = "FRAME", 0
            self.stream.options = {"crf": str(crf), "preset": preset, **(extra_options or {})}
            for key, value in (metadata or {}).items():
                self.container.metadata[key] = value
            self.audio: AudioPass | AudioEncode | None = None
            if audio_samples is not None:
                self.audio = AudioEncode(audio_samples, audio_rate, self.container)
            elif audio_from is not None:
                with av.open(str(audio_from)) as probe:
                    has_audio = bool(probe.streams.audio)
                if has_audio:
                    self.audio = AudioPass(Path(audio_from), self.container, audio_offset)
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
        """Encode yuv420p frames ``[B, H * 3 / 2, W]`` (uint8, PyAV's layout), resized when ``resize_from``.

        The resize is libswscale's Lanczos on the planes, what ffmpeg's ``scale=...:flags=lanczos`` does
        (https://ffmpeg.org/ffmpeg-scaler.html); one thread, as x264 already has every core.
        """
        width, height = self.resize_from or (self.width, self.height)
        if frames.shape[1:] != (height * 3 // 2, width) or frames.dtype != torch.uint8:
            raise AInfError(
                ErrorCode.VALIDATION_ERROR,
                f"yuv420p frames of {tuple(frames.shape[1:])} do not fit {width}x{height}.",
                detail={"expected": [height * 3 // 2, width]},
            )
        for planes in frames.cpu().numpy():
            frame = av.VideoFrame.from_ndarray(planes, format="yuv420p")
            if self.resize_from is not None:
                frame = self.scaler.reformat(
                    frame,
                    width=self.width,
                    height=self.height,
                    interpolation=Interpolation.LANCZOS,
                    threads=1,
                )
            self._encode(frame)
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
            if isinstance(self.audio, AudioPass):
                self.audio.input.close()
            self.container.close()
        except (av.FFmpegError, ValueError, OSError):
            pass
        self.tmp.unlink(missing_ok=True)
