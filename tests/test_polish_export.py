"""Social export and BS.1770 loudness: the MP4 probes as 1080x1920 H.264 yuv420p BT.709 CFR + AAC 48 kHz at
-14 +- 1 LUFS; limits are checked with clear errors and nothing is left behind."""

from __future__ import annotations

import dataclasses
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
import torch
from ainfluencer.comfy_nodes.polish import social_export
from ainfluencer.comfy_nodes.polish.loudness import (
    integrated_loudness,
    k_weighting,
    normalize_loudness,
    true_peak_db,
)
from ainfluencer.comfy_nodes.polish.social_export import export_social, fit_frames
from ainfluencer.comfy_nodes.polish.synth import make_frames, make_tone, write_clip
from ainfluencer.sidecar.core.errors import AInfError, ErrorCode

RATE = 48000


def _sine(db: float, seconds: float = 3.0, freq: float = 997.0, channels: int = 2) -> np.ndarray:
    t = np.arange(int(seconds * RATE)) / RATE
    return np.repeat((10 ** (db / 20) * np.sin(2 * np.pi * freq * t))[None], channels, axis=0)


def test_k_weighting_matches_the_bs1770_48k_coefficients() -> None:
    (shelf_b, shelf_a), (hp_b, hp_a) = k_weighting(48000)
    np.testing.assert_allclose(shelf_b, [1.53512485958697, -2.69169618940638, 1.19839281085285], atol=1e-8)
    np.testing.assert_allclose(shelf_a, [1.0, -1.69065929318241, 0.73248077421585], atol=1e-8)
    np.testing.assert_allclose(hp_b, [1.0, -2.0, 1.0])
    np.testing.assert_allclose(hp_a, [1.0, -1.99004745483398, 0.99007225036621], atol=1e-8)


def test_loudness_calibration_and_gating() -> None:
    assert integrated_loudness(_sine(0.0, channels=1), RATE) == pytest.approx(-3.01, abs=0.05)
    assert integrated_loudness(_sine(-20.0), RATE) == pytest.approx(-20.0, abs=0.05)
    assert integrated_loudness(np.zeros((2, RATE)), RATE) == float("-inf")
    with_silence = np.concatenate([_sine(-20.0), np.zeros((2, 3 * RATE))], axis=1)
    # the silent half is gated out (ungated it would read -23); only the edge blocks count, a little lower
    assert integrated_loudness(with_silence, RATE) == pytest.approx(-20.0, abs=0.3)


def test_normalisation_reaches_minus_14_lufs_under_a_minus_1_dbtp_ceiling() -> None:
    rng = np.random.default_rng(0)
    peaky = rng.standard_normal((2, 4 * RATE)) * 0.03
    peaky[:, :: RATE // 10] = 0.95
    out, before, after = normalize_loudness(peaky, RATE)
    assert before < -20 and after == pytest.approx(-14.0, abs=0.2)
    assert integrated_loudness(out, RATE) == pytest.approx(-14.0, abs=0.2)
    assert true_peak_db(out) <= -1.0


def test_fit_modes() -> None:
    frames = torch.full((2, 90, 160, 3), 0.8)
    for mode in ("crop", "pad", "blur"):
        assert fit_frames(frames, 108, 192, mode).shape == (2, 192, 108, 3)
    padded = fit_frames(frames, 108, 192, "pad")
    assert float(padded[:, :40].max()) == 0.0 and float(padded[:, 96].mean()) == pytest.approx(0.8, abs=1e-3)
    assert float(fit_frames(frames, 108, 192, "crop").min()) == pytest.approx(0.8, abs=1e-3)
    blurred = fit_frames(frames, 108, 192, "blur")
    assert 0.3 < float(blurred[:, :40].mean()) < 0.8  # a dimmed fill, not black bars
    with pytest.raises(AInfError):
        fit_frames(frames, 108, 192, "stretch")


def _probe(path: Path) -> dict[str, object]:
    with av.open(str(path)) as container:
        video, audio = container.streams.video[0], container.streams.audio[0]
        ctx = video.codec_context
        pcm = np.concatenate([f.to_ndarray() for f in container.decode(audio)], axis=-1)
        return {
            "size": (video.width, video.height),
            "codec": ctx.name,
            "pix_fmt": ctx.pix_fmt,
            "bt709": (ctx.colorspace, ctx.color_primaries, ctx.color_trc),
            "fps": video.average_rate,
            "audio": (audio.codec_context.name, audio.sample_rate, audio.channels),
            "lufs": integrated_loudness(pcm, audio.sample_rate),
            "audio_s": pcm.shape[1] / audio.sample_rate,
        }


def test_export_probes_as_a_platform_ready_mp4(tmp_path: Path) -> None:
    src = write_clip(
        tmp_path / "land.mp4", make_frames(10, 72, 128), 10, audio=make_tone(1.0, amplitude=0.02)
    )
    report = export_social(src, tmp_path / "tiktok.mp4", "tiktok", "blur")
    probe = _probe(report.path)
    assert probe["size"] == (1080, 1920)
    assert (probe["codec"], probe["pix_fmt"], probe["bt709"]) == ("h264", "yuv420p", (1, 1, 1))
    assert probe["fps"] == Fraction(10) and report.frames == 10
    assert probe["audio"] == ("aac", 48000, 2)
    assert probe["lufs"] == pytest.approx(-14.0, abs=1.0)
    assert probe["audio_s"] == pytest.approx(1.0, abs=0.05)
    assert report.loudness_before < -30 and report.true_peak_dbtp <= -1.0


def test_a_clip_without_audio_gets_a_silent_aac_track_and_fps_can_be_lowered(tmp_path: Path) -> None:
    src = write_clip(tmp_path / "mute.mp4", make_frames(12, 64, 36), 24)
    report = export_social(src, tmp_path / "out.mp4", "reels", "crop", fps=12)
    probe = _probe(report.path)
    assert probe["audio"] == ("aac", 48000, 2) and probe["fps"] == Fraction(12) and report.frames == 6


def test_frame_rate_conversion_drops_frames_evenly_onto_a_constant_grid(tmp_path: Path) -> None:
    src = write_clip(tmp_path / "ten.mp4", make_frames(10, 32, 32), 10)
    report = export_social(src, tmp_path / "out.mp4", "tiktok", "pad", fps=8, chunk_size=3)
    assert report.fps == Fraction(8) and report.frames == 8
    assert social_export._pick(0, 10, Fraction(5, 4), 0) == [0, 1, 2, 3, 5, 6, 7, 8]


def test_too_long_is_refused_before_anything_is_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    short = dataclasses.replace(social_export.PLATFORMS["shorts"], max_seconds=0.5)
    monkeypatch.setitem(social_export.PLATFORMS, "shorts", short)
    src = write_clip(tmp_path / "in.mp4", make_frames(24, 32, 32), 24)
    with pytest.raises(AInfError) as caught:
        export_social(src, tmp_path / "out.mp4", "shorts")
    assert caught.value.code == ErrorCode.VALIDATION_ERROR and "1.0 s" in caught.value.message
    assert "YouTube Shorts" in caught.value.message and not (tmp_path / "out.mp4").exists()


def test_too_large_is_payload_too_large_and_the_file_is_removed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    tiny = dataclasses.replace(social_export.PLATFORMS["tiktok"], max_bytes=1000)
    monkeypatch.setitem(social_export.PLATFORMS, "tiktok", tiny)
    src = write_clip(tmp_path / "in.mp4", make_frames(4, 32, 32), 24)
    with pytest.raises(AInfError) as caught:
        export_social(src, tmp_path / "out.mp4", "tiktok", "pad")
    assert caught.value.code == ErrorCode.PAYLOAD_TOO_LARGE and "TikTok" in caught.value.message
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.mp4"]


def test_bad_input_and_settings_are_refused_with_nothing_written(tmp_path: Path) -> None:
    corrupt = tmp_path / "corrupt.mp4"
    corrupt.write_bytes(b"\x00\x00\x00\x18ftypmp42" + bytes(2000))
    with pytest.raises(AInfError) as caught:
        export_social(corrupt, tmp_path / "out.mp4")
    assert caught.value.code == ErrorCode.INVALID_MEDIA
    src = write_clip(tmp_path / "ok.mp4", make_frames(4, 32, 32), 24)
    for kwargs in ({"platform": "myspace"}, {"fit": "stretch"}, {"fps": 60.0}):
        with pytest.raises(AInfError) as caught:
            export_social(src, tmp_path / "out.mp4", **kwargs)  # type: ignore[arg-type]
        assert caught.value.code == ErrorCode.VALIDATION_ERROR
    assert sorted(p.name for p in tmp_path.iterdir()) == ["corrupt.mp4", "ok.mp4"]
