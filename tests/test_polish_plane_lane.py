"""Deflicker + upscale on yuv420p planes: which plans take that lane, agreement with RGB, flicker removal."""

from __future__ import annotations

import dataclasses
import shutil
import subprocess
from pathlib import Path

import pytest
import torch
from ainfluencer.comfy_nodes.polish.deflicker import LUMA_WEIGHTS
from ainfluencer.comfy_nodes.polish.frame_source import source_format
from ainfluencer.comfy_nodes.polish.passes import DeflickerPass, InterpolatePass, UpscalePass
from ainfluencer.comfy_nodes.polish.plane_lane import PlaneDeflicker, PlaneDetail, plane_lane
from ainfluencer.comfy_nodes.polish.stream_plan import StreamPlan
from ainfluencer.comfy_nodes.polish.synth import make_frames, write_clip
from ainfluencer.comfy_nodes.polish.video_stream import iter_frame_chunks
from ainfluencer.comfy_nodes.polish.video_writer import VideoWriter

CPU = torch.device("cpu")
DEFLICKER = DeflickerPass(5, 1.0, False, 0.2)
UPSCALE = UpscalePass(2, 0.0, 0.3)


def _flickering(count: int = 36, height: int = 72, width: int = 96, amount: float = 0.10) -> torch.Tensor:
    """A test card with frame gains of +-``amount``."""
    gains = 1 + amount * (torch.rand(count, generator=torch.Generator().manual_seed(7)) * 2 - 1)
    return (make_frames(count, height, width, level=0.45) * gains.view(-1, 1, 1, 1)).clamp(0, 1)


@pytest.fixture
def card(tmp_path: Path) -> Path:
    return write_clip(tmp_path / "card.mp4", _flickering(), 24, crf=0)


def _decoded(path: Path) -> torch.Tensor:
    return torch.cat(list(iter_frame_chunks(path)))


def _luma_steps(frames: torch.Tensor) -> float:
    luma = (frames * torch.tensor(LUMA_WEIGHTS)).sum(-1).mean((1, 2))
    return float(luma.diff().var())


def test_luma_deflicker_and_a_final_weight_free_upscale_run_on_the_planes(card):
    fmt = source_format(card)
    lane = plane_lane((DEFLICKER, UPSCALE), fmt, CPU)
    assert lane is not None and lane.resize_from == (fmt.width, fmt.height)
    assert [type(stage) for stage in lane.stages] == [PlaneDeflicker, PlaneDetail]
    sharp_free = plane_lane((DEFLICKER, UpscalePass(2, 0.0, 0.0)), fmt, CPU)
    assert sharp_free is not None and [type(stage) for stage in sharp_free.stages] == [PlaneDeflicker]
    alone = plane_lane((DEFLICKER,), fmt, CPU)
    assert alone is not None and alone.resize_from is None


def test_colour_deflicker_models_interpolation_accelerators_and_rgb_sources_keep_the_rgb_path(card):
    fmt = source_format(card)
    colour = DeflickerPass(5, 1.0, True, 0.2)
    for passes in [
        (colour, UPSCALE),
        (DEFLICKER, UpscalePass(2, 0.0, 0.3, model=object())),
        (DEFLICKER, UPSCALE, InterpolatePass()),
        (UPSCALE, DEFLICKER),
        (),
    ]:
        assert plane_lane(passes, fmt, CPU) is None, passes
    assert plane_lane((DEFLICKER, UPSCALE), fmt, torch.device("cuda")) is None
    assert plane_lane((DEFLICKER, UPSCALE), dataclasses.replace(fmt, planar=None), CPU) is None


@pytest.mark.parametrize("upscale", [UPSCALE, UpscalePass(2, 0.3, 0.4)], ids=["low", "standard"])
def test_the_plane_lane_matches_the_rgb_path_on_a_test_card(card, tmp_path, upscale):
    plan = StreamPlan(card, (DEFLICKER, upscale))
    planes = _decoded(plan.render(tmp_path / "planes.mp4", crf=0))
    shape = plan.shape()
    writer = VideoWriter(tmp_path / "rgb.mp4", shape.width, shape.height, shape.fps, crf=0)
    for chunk in plan.frames():  # the RGB path: RGB frames, OpenCV Lanczos, sharpen on the output
        writer.write(chunk)
    rgb = _decoded(writer.close())
    assert planes.shape == rgb.shape == (36, 144, 192, 3)
    difference = (planes - rgb).abs()
    assert float(difference.mean()) < 2.0 / 255
    mse = float(difference.square().mean())
    assert 10 * torch.log10(torch.tensor(1.0 / mse)) > 40.0  # PSNR in dB
    per_frame = (planes.mean((1, 2, 3)) - rgb.mean((1, 2, 3))).abs()
    assert float(per_frame.max()) < 2.0 / 255  # the same gain on every frame


def test_deflicker_on_the_planes_removes_a_synthetic_flicker_as_well_as_the_rgb_path_and_ffmpeg(
    card, tmp_path
):
    source = _decoded(card)
    planes = _decoded(StreamPlan(card, (DEFLICKER,)).render(tmp_path / "planes.mp4", crf=0))
    rgb = torch.cat(list(StreamPlan(card, (DEFLICKER,)).frames())).float() / 255
    ffmpeg = shutil.which("ffmpeg")
    if ffmpeg is None:
        pytest.fail("ffmpeg is not installed (apt-get install -y ffmpeg); the comparison needs it.")
    theirs = tmp_path / "ffmpeg.mp4"
    subprocess.run(
        [ffmpeg, "-v", "error", "-y", "-i", str(card), "-vf", "deflicker=s=5", "-crf", "0", str(theirs)],
        check=True,
    )
    before = _luma_steps(source)
    ours = _luma_steps(planes)
    assert ours <= 0.1 * before
    assert ours <= 1.05 * _luma_steps(rgb)
    assert ours <= _luma_steps(_decoded(theirs))
    assert abs(float(planes.mean() - source.mean())) < 2 / 255  # brightness kept


def test_the_encoder_runs_x264_on_frame_threads_as_ffmpeg_does(card, tmp_path):
    out = StreamPlan(card, (DEFLICKER,)).render(tmp_path / "out.mp4")
    settings = out.read_bytes().split(b"x264 - core", 1)[1][:2000]
    assert b"sliced_threads=0" in settings
