"""Deflicker: >= 80% less frame-to-frame luma variance, mean kept, no ghosting across cuts, beats ffmpeg."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import torch
from ainfluencer.comfy_nodes.polish.deflicker import (
    LUMA_WEIGHTS,
    Deflicker,
    _thumbs,
    cut_scores,
    deflicker_frames,
    deflicker_video,
)
from ainfluencer.comfy_nodes.polish.synth import make_frames, make_tone, write_clip
from ainfluencer.comfy_nodes.polish.video_probe import probe_video
from ainfluencer.comfy_nodes.polish.video_stream import iter_frame_chunks
from ainfluencer.sidecar.core.errors import AInfError, ErrorCode


def _luma(frames: torch.Tensor) -> torch.Tensor:
    return (frames * torch.tensor(LUMA_WEIGHTS, dtype=frames.dtype)).sum(-1).mean((1, 2))


def _flicker(frames: torch.Tensor, amount: float = 0.15, seed: int = 3) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    gains = 1 + amount * (torch.rand(frames.shape[0], generator=gen) * 2 - 1)
    return (frames * gains.view(-1, 1, 1, 1)).clamp(0, 1)


def _step_variance(frames: torch.Tensor) -> float:
    return float(_luma(frames).diff().var())


def _two_shots(frames: int = 30, levels: tuple[float, float] = (0.3, 0.6)) -> torch.Tensor:
    first = make_frames(frames, 48, 64, pattern=0, level=levels[0])
    second = make_frames(frames, 48, 64, pattern=1, level=levels[1], seed=1)
    return torch.cat([first, second])


def test_flicker_variance_drops_by_80_percent_and_mean_brightness_is_kept() -> None:
    clean = make_frames(60, 48, 64, level=0.45)
    flickering = _flicker(clean)
    out = deflicker_frames(flickering)
    assert _step_variance(out) <= 0.2 * _step_variance(flickering)
    assert abs(float(_luma(out).mean() - _luma(flickering).mean())) < 0.003
    assert abs(float(_luma(out).mean() - _luma(clean).mean())) < 0.01


def test_colour_mode_removes_a_channel_flicker_luma_mode_leaves_hue() -> None:
    clean = make_frames(40, 32, 48, level=0.4)
    gen = torch.Generator().manual_seed(5)
    red = 1 + 0.2 * (torch.rand(40, generator=gen) * 2 - 1)
    flickering = clean.clone()
    flickering[..., 0] = (clean[..., 0] * red.view(-1, 1, 1)).clamp(0, 1)
    colour = deflicker_frames(flickering, colour=True)
    before = float(flickering[..., 0].mean((1, 2)).diff().var())
    assert float(colour[..., 0].mean((1, 2)).diff().var()) <= 0.2 * before
    luma_only = deflicker_frames(flickering, colour=False)
    ratio = lambda x: x[..., 0].mean((1, 2)) / x[..., 1].mean((1, 2))  # noqa: E731
    assert torch.allclose(ratio(luma_only), ratio(flickering), atol=1e-3)  # one gain per frame


def test_no_ghosting_across_a_cut() -> None:
    clip = _two_shots()
    out = deflicker_frames(clip, size=15)
    # without flicker every frame is left as it is, even right next to the dark -> bright cut
    assert (out - clip).abs().max() < 0.01
    flickering = _flicker(clip)
    out = deflicker_frames(flickering, size=15)
    luma_in, luma_out = _luma(clip), _luma(out)
    # frames next to the cut keep their own shot's brightness instead of being pulled towards the other
    assert torch.allclose(luma_out[24:30], luma_in[24:30], rtol=0.08)
    assert torch.allclose(luma_out[30:36], luma_in[30:36], rtol=0.08)
    assert _step_variance(out[:30]) <= 0.2 * _step_variance(flickering[:30])


def test_cuts_are_found_but_flicker_and_motion_are_not_cuts() -> None:
    scores = cut_scores(None, _thumbs(_flicker(_two_shots())))
    assert int(scores.argmax()) == 30 and float(scores[30]) > 0.2
    assert float(torch.cat([scores[:30], scores[31:]]).max()) < 0.2
    moving = make_frames(20, 64, 96, motion=8)
    assert float(cut_scores(None, _thumbs(moving)).max()) < 0.2


def test_streaming_in_any_chunk_size_equals_the_batch_result() -> None:
    flickering = _flicker(_two_shots(20))
    whole = deflicker_frames(flickering, size=7)
    for chunk in (1, 3, 16):
        engine = Deflicker(size=7)
        parts = [engine.push(c) for c in flickering.split(chunk)]
        tail = engine.flush()
        streamed = torch.cat([*parts, tail] if tail is not None else parts)
        assert torch.allclose(streamed, whole, atol=1e-6), chunk


def test_8bit_frames_go_through_lookup_tables_and_match_the_float_path() -> None:
    flickering = _flicker(make_frames(30, 48, 64))
    as_bytes = flickering.mul(255).add(0.5).to(torch.uint8)
    for colour in (False, True):
        engine = Deflicker(colour=colour, inplace=True)
        head = engine.push(as_bytes.clone())
        tail = engine.flush()
        assert tail is not None
        out = torch.cat([head, tail])
        reference = deflicker_frames(flickering, colour=colour) * 255
        assert out.dtype == torch.uint8 and float((out.float() - reference).abs().max()) <= 1.5


def test_output_follows_the_input_dtype_and_device() -> None:
    frames = _flicker(make_frames(12, 16, 16)).double()
    out = deflicker_frames(frames)
    assert out.dtype == torch.float64 and out.device == frames.device and out.shape == frames.shape


def test_bad_images_and_settings_are_validation_errors() -> None:
    for bad in (torch.rand(4, 8, 8, 4), torch.rand(4, 8, 8, 1), torch.rand(0, 8, 8, 3), torch.rand(8, 8, 3)):
        with pytest.raises(AInfError) as caught:
            deflicker_frames(bad)
        assert caught.value.code == ErrorCode.VALIDATION_ERROR
    with pytest.raises(AInfError) as caught:
        deflicker_frames(torch.rand(4, 8, 8, 4))
    assert "RGBA" in caught.value.message
    with pytest.raises(AInfError):
        Deflicker(size=1)


def test_video_deflicker_streams_with_audio(tmp_path: Path) -> None:
    src = write_clip(tmp_path / "in.mp4", _flicker(make_frames(48, 48, 64)), 24, audio=make_tone(2.0))
    out = deflicker_video(src, tmp_path / "out.mp4", chunk_size=5)
    info = probe_video(out)
    assert info.frame_count == 48 and info.has_audio and info.audio_codec == "aac"
    frames = torch.cat(list(iter_frame_chunks(out)))
    source = torch.cat(list(iter_frame_chunks(src)))
    assert _step_variance(frames) <= 0.2 * _step_variance(source)


def _ffmpeg() -> str:
    path = shutil.which("ffmpeg")
    if path is None:
        pytest.fail("ffmpeg is not installed (apt-get install -y ffmpeg); the deflicker comparison needs it.")
    return path


def test_at_least_as_strong_as_ffmpeg_deflicker(tmp_path: Path) -> None:
    ffmpeg = _ffmpeg()
    src = write_clip(tmp_path / "in.mp4", _flicker(make_frames(60, 48, 64)), 24, crf=0)
    theirs = tmp_path / "ffmpeg.mp4"
    command = [ffmpeg, "-v", "error", "-y", "-i", str(src), "-vf", "deflicker=s=5"]
    subprocess.run([*command, "-c:v", "libx264", "-crf", "0", str(theirs)], check=True)
    ours = deflicker_video(src, tmp_path / "ours.mp4")
    decoded = {p.name: torch.cat(list(iter_frame_chunks(p))) for p in (src, theirs, ours)}
    before = _step_variance(decoded["in.mp4"])
    ffmpeg_residual = _step_variance(decoded["ffmpeg.mp4"])
    our_residual = _step_variance(decoded["ours.mp4"])
    assert our_residual <= ffmpeg_residual < before
