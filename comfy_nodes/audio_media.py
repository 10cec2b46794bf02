"""Core AUDIO values ↔ audio files and the WAV bytes remote providers take (no ComfyUI imports).

ComfyUI's AUDIO value is a dict ``{"waveform": float tensor [B, C, T] in -1..1, "sample_rate": int}``
(``comfy_api/latest/_io.py`` ``Audio``; ``comfy_extras/nodes_audio.py`` builds it the same way). Inside the
pack it travels as an :class:`AudioClip`; the dict exists only at the node boundary.
"""

from __future__ import annotations

import io
import wave
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import av
import numpy as np
import torch

from ..sidecar.core.errors import AInfError
from .polish.video_audio import read_audio
from .polish.video_probe import invalid_media

__all__ = ["AudioClip", "load_audio"]

_PCM16_MAX = 32767


@dataclass(frozen=True)
class AudioClip:
    """Float32 ``[channels, samples]`` audio in -1..1 at ``rate`` Hz."""

    samples: np.ndarray
    rate: int

    @classmethod
    def from_comfy(cls, value: dict[str, Any]) -> AudioClip:
        """The first clip of a core AUDIO value's batch."""
        waveform = value["waveform"]
        if waveform.ndim == 3:
            waveform = waveform[0]
        samples = waveform.detach().to("cpu", torch.float32).numpy()
        return cls(np.ascontiguousarray(samples.reshape(-1, samples.shape[-1])), int(value["sample_rate"]))

    def to_comfy(self) -> dict[str, Any]:
        """The core AUDIO value (a batch of one)."""
        return {"waveform": torch.from_numpy(self.samples.copy()).unsqueeze(0), "sample_rate": self.rate}

    def wav_bytes(self) -> bytes:
        """A 16-bit PCM WAV file of the clip (interleaved channels, clipped to -1..1)."""
        pcm = np.round(np.clip(self.samples, -1.0, 1.0) * _PCM16_MAX).astype("<i2")
        out = io.BytesIO()
        with wave.open(out, "wb") as wav:
            wav.setnchannels(pcm.shape[0])
            wav.setsampwidth(2)
            wav.setframerate(self.rate)
            wav.writeframes(np.ascontiguousarray(pcm.T).tobytes())
        return out.getvalue()


def _unusable(path: Path, why: str) -> AInfError:
    return invalid_media(path, why, "audio file", "Export the audio as WAV, MP3 or M4A")


def load_audio(path: str | Path) -> AudioClip:
    """Decode a file's first audio stream at its own rate and channel layout (PyAV)."""
    path = Path(path)
    try:
        with av.open(str(path)) as container:
            if not container.streams.audio:
                raise _unusable(path, "it has no audio stream")
            codec = container.streams.audio[0].codec_context
            rate, layout = codec.sample_rate, codec.layout.name
    except av.FFmpegError as exc:
        raise _unusable(path, "it could not be opened (corrupt or truncated)") from exc
    samples = read_audio(path, rate, layout)
    if samples is None or samples.shape[-1] == 0:
        raise _unusable(path, "it holds no audio samples")
    return AudioClip(samples, rate)
