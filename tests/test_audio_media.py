"""Core AUDIO values: decoded from files with PyAV at their own rate, encoded to WAV bytes for providers."""

from __future__ import annotations

import io
import wave
from pathlib import Path

import numpy as np
import pytest
import torch
from ainfluencer.comfy_nodes.audio_media import AudioClip, load_audio
from ainfluencer.comfy_nodes.polish.synth import make_frames, make_tone, write_clip
from ainfluencer.sidecar.core.errors import AInfError, ErrorCode

EXAMPLES = Path(__file__).resolve().parent.parent / "assets" / "examples"


def _pcm16_wav(path: Path, samples: np.ndarray, rate: int) -> Path:
    """Write float ``[C, T]`` samples as a 16-bit WAV with the standard library."""
    with wave.open(str(path), "wb") as wav:
        wav.setnchannels(samples.shape[0])
        wav.setsampwidth(2)
        wav.setframerate(rate)
        wav.writeframes((np.round(samples.T * 32767).astype("<i2")).tobytes())
    return path


def _read_wav(data: bytes) -> tuple[np.ndarray, int]:
    with wave.open(io.BytesIO(data), "rb") as wav:
        assert wav.getsampwidth() == 2
        frames = np.frombuffer(wav.readframes(wav.getnframes()), dtype="<i2")
        return frames.reshape(-1, wav.getnchannels()).T, wav.getframerate()


def test_an_audio_value_becomes_a_16_bit_wav_of_its_first_clip_at_its_own_rate():
    tone = torch.from_numpy(make_tone(0.5, rate=22050, channels=2))
    value = {"waveform": torch.stack([tone, torch.zeros_like(tone)]), "sample_rate": 22050}
    pcm, rate = _read_wav(AudioClip.from_comfy(value).wav_bytes())
    assert rate == 22050 and pcm.shape == (2, tone.shape[1])
    np.testing.assert_allclose(pcm / 32767, tone.numpy(), atol=1 / 32767)


def test_wav_encoding_clips_out_of_range_samples_instead_of_wrapping():
    clip = AudioClip(np.array([[2.0, -2.0, 0.5]], dtype=np.float32), 8000)
    pcm, _ = _read_wav(clip.wav_bytes())
    assert pcm.tolist() == [[32767, -32767, 16384]]


def test_a_wav_file_loads_as_a_core_audio_value_at_its_own_rate_and_channels(tmp_path):
    mono = make_tone(0.25, rate=16000, channels=1)
    clip = load_audio(_pcm16_wav(tmp_path / "speech.wav", mono, 16000))
    assert clip.rate == 16000 and clip.samples.shape == mono.shape
    np.testing.assert_allclose(clip.samples, mono, atol=2 / 32767)
    value = clip.to_comfy()
    assert value["sample_rate"] == 16000
    assert value["waveform"].shape == (1, 1, mono.shape[1]) and value["waveform"].dtype == torch.float32
    assert AudioClip.from_comfy(value).wav_bytes() == clip.wav_bytes()


def test_the_audio_track_of_a_clip_loads_too(tmp_path):
    path = write_clip(
        tmp_path / "clip.mp4", make_frames(12, 32, 32), 24, audio=make_tone(0.5), audio_rate=44100
    )
    clip = load_audio(path)
    assert clip.rate == 44100 and clip.samples.shape[0] == 2
    assert abs(clip.samples.shape[1] - 22050) < 2048  # AAC priming and padding


def test_a_file_without_audio_or_not_media_at_all_is_invalid_media(tmp_path):
    silent = write_clip(tmp_path / "silent.mp4", make_frames(4, 32, 32), 24)
    junk = tmp_path / "junk.wav"
    junk.write_bytes(b"not audio at all" * 64)
    for path in (silent, junk):
        with pytest.raises(AInfError) as caught:
            load_audio(path)
        assert caught.value.code == ErrorCode.INVALID_MEDIA and path.name in str(caught.value)


@pytest.mark.skipif(not (EXAMPLES / "speech.wav").is_file(), reason="example speech not shipped")
def test_the_example_speech_round_trips_through_wav():
    clip = load_audio(EXAMPLES / "speech.wav")
    pcm, rate = _read_wav(clip.wav_bytes())
    assert rate == clip.rate and pcm.shape == clip.samples.shape
