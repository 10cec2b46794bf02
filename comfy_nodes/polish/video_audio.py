"""Audio for a written clip: the source's track copied (or transcoded to AAC), or float samples encoded.

Both feed the muxer by time (``feed_until``) as the video frames are written, so the packets interleave and
stay in sync.
"""

from __future__ import annotations

import math
from pathlib import Path

import av
import numpy as np

from .video_probe import invalid_media

__all__ = ["MP4_COPY_AUDIO_CODECS", "AudioEncode", "AudioPass", "read_audio"]

# Audio codecs the MP4 muxer carries as-is; anything else is transcoded to AAC.
MP4_COPY_AUDIO_CODECS = frozenset({"aac", "mp3", "alac", "ac3", "eac3", "opus", "flac"})


class AudioPass:
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


class AudioEncode:
    """Encodes in-memory float ``[C,T]`` audio to AAC, interleaved by time like ``AudioPass``."""

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
