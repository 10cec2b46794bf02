"""Frame interpolation: DIS-flow midpoints beat blending, cuts are not morphed, 2x fps keeps the duration."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import pytest
import torch
from ainfluencer.comfy_nodes.polish.interpolate import (
    FrameInterpolator,
    interpolate_frames,
    interpolate_video,
    midpoint_frame,
)
from ainfluencer.comfy_nodes.polish.synth import make_frames, make_tone, write_clip
from ainfluencer.comfy_nodes.polish.video_probe import probe_video
from ainfluencer.sidecar.core.errors import AInfError, ErrorCode


def _psnr(a: torch.Tensor, b: torch.Tensor) -> float:
    return float(-10 * torch.log10(((a - b) ** 2).mean()))


def test_flow_midpoint_beats_a_plain_blend_on_motion() -> None:
    frames = make_frames(3, 96, 128, motion=10)
    mid = midpoint_frame(frames[0], frames[2])
    blend = 0.5 * (frames[0] + frames[2])
    assert _psnr(mid, frames[1]) > _psnr(blend, frames[1]) + 2.0
    assert mid.shape == frames[1].shape and mid.device == frames.device


def test_doubles_the_frame_count_and_keeps_the_originals() -> None:
    frames = make_frames(6, 32, 48, motion=4)
    out = interpolate_frames(frames)
    assert out.shape == (12, 32, 48, 3)
    assert torch.equal(out[0::2], frames)
    assert torch.equal(out[-1], frames[-1])  # the last frame is held so the duration is unchanged


def test_a_cut_repeats_the_frame_instead_of_morphing() -> None:
    first = make_frames(4, 48, 64, pattern=0, level=0.3)
    second = make_frames(4, 48, 64, pattern=1, level=0.6, seed=1)
    out = interpolate_frames(torch.cat([first, second]))
    assert torch.equal(out[7], first[-1])  # between the last frame of shot 1 and the first of shot 2


def test_streaming_equals_the_batch_result() -> None:
    frames = make_frames(9, 32, 48, motion=4)
    whole = interpolate_frames(frames)
    engine = FrameInterpolator()
    parts = [engine.push(c) for c in frames.split(4)]
    tail = engine.flush()
    assert tail is not None
    assert torch.allclose(torch.cat([*parts, tail]), whole, atol=1e-6)


def test_video_doubles_fps_and_keeps_duration_and_audio(tmp_path: Path) -> None:
    src = write_clip(tmp_path / "in.mp4", make_frames(24, 48, 64, motion=4), 24, audio=make_tone(1.0))
    out = interpolate_video(src, tmp_path / "out.mp4")
    before, after = probe_video(src), probe_video(out)
    assert after.fps == Fraction(48) and after.frame_count == 48
    assert abs(after.frame_count / float(after.fps) - before.frame_count / float(before.fps)) < 1e-9

    def audio_seconds(path: Path) -> float:
        with av.open(str(path)) as container:
            stream = container.streams.audio[0]
            return float(stream.duration * stream.time_base)

    assert abs(audio_seconds(out) - audio_seconds(src)) < 0.03


def test_bad_input_is_a_validation_error() -> None:
    with pytest.raises(AInfError) as caught:
        interpolate_frames(torch.rand(3, 8, 8, 4))
    assert caught.value.code == ErrorCode.VALIDATION_ERROR
