"""The lazy video chain: a plan (source + pass specs) renders in one streamed pass, equal to running its steps
one after another, the same on every render and in any chunking; awkward inputs are normalised or refused.
"""

from __future__ import annotations

import logging
import shutil
import subprocess
import threading
from pathlib import Path

import av
import numpy as np
import pytest
import torch
from ainfluencer.comfy_nodes.polish.deflicker import Deflicker
from ainfluencer.comfy_nodes.polish.frame_source import source_format
from ainfluencer.comfy_nodes.polish.grade import GradeAdjust, apply_grade
from ainfluencer.comfy_nodes.polish.grain import apply_film_grain
from ainfluencer.comfy_nodes.polish.passes import (
    DeflickerPass,
    GradePass,
    GrainPass,
    InterpolatePass,
    ToneMapPass,
    UpscalePass,
)
from ainfluencer.comfy_nodes.polish.stream_plan import StreamPlan, chain_processor
from ainfluencer.comfy_nodes.polish.synth import make_frames, make_tone, write_clip
from ainfluencer.comfy_nodes.polish.tonemap import apply_tonemap
from ainfluencer.comfy_nodes.polish.video_probe import probe_video
from ainfluencer.comfy_nodes.polish.video_stream import iter_frame_chunks
from ainfluencer.sidecar.core.errors import AInfError, ErrorCode

CPU = torch.device("cpu")
FFMPEG = shutil.which("ffmpeg") or "ffmpeg (apt-get install ffmpeg)"
LOOK = (
    GradePass("cinematic", 0.8, GradeAdjust(temperature=0.1)),
    ToneMapPass("reinhard", 0.35, 1.2746),
    GrainPass(0.3, 1.0, 0.0, 7),
)


def _u8(frames: torch.Tensor) -> torch.Tensor:
    return frames.mul(255.0).round_().clamp_(0, 255).to(torch.uint8)


def _run_chain(passes: tuple, frames: torch.Tensor, chunk: int) -> torch.Tensor:
    engine = chain_processor(passes, frames.shape[2], frames.shape[1], CPU)
    parts = [engine.push(frames[i : i + chunk].clone()) for i in range(0, frames.shape[0], chunk)]
    tail = engine.flush()
    return torch.cat([*parts, *([tail] if tail is not None else [])])


def _ffmpeg(*args: str) -> None:
    subprocess.run([FFMPEG, "-v", "error", "-y", *args], check=True, capture_output=True, timeout=120)


@pytest.fixture(scope="module")
def frames() -> torch.Tensor:
    return _u8(make_frames(12, 72, 96, seed=3))


def test_the_chain_equals_running_each_step_after_the_other_within_rounding(frames):
    passes = (*LOOK, DeflickerPass(5, 1.0, False, 0.2))
    got = _run_chain(passes, frames, chunk=5).float()
    x = frames.float().div(255.0)
    x = apply_grade(x, "cinematic", 0.8, adjust=GradeAdjust(temperature=0.1))
    x = apply_tonemap(x, "reinhard", 0.35, 1.2746)
    x = _u8(x)  # the steps as separate video nodes would each write 8-bit frames
    x = apply_film_grain(x, 0.3, 1.0, 0.0, 7)
    engine = Deflicker(5, 1.0, False, 0.2)
    want = torch.cat([engine.push(x.clone()), engine.flush()]).float()
    diff = (got - want).abs()
    assert got.shape == want.shape
    assert diff.mean() < 0.6 and diff.max() <= 4, (diff.mean(), diff.max())


def test_chunking_never_changes_the_result(frames):
    passes = (*LOOK, DeflickerPass(5, 1.0, True, 0.2), InterpolatePass("fast"))
    whole = _run_chain(passes, frames, chunk=frames.shape[0])
    assert torch.equal(_run_chain(passes, frames, chunk=1), whole)
    assert torch.equal(_run_chain(passes, frames, chunk=5), whole)
    assert whole.shape[0] == 2 * frames.shape[0]


def test_colour_steps_are_fused_into_one_table_and_grain_rides_along_on_packed_pixels(frames):
    engine = chain_processor(LOOK, frames.shape[2], frames.shape[1], CPU)
    (run,) = engine.stages  # grade + tone map as one 8-bit table, the grain added in the same strips
    assert len(run.steps) == 2


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("plan")
    return write_clip(folder / "clip.mp4", make_frames(20, 96, 128, seed=1), 24, audio=make_tone(20 / 24))


def _decoded(path: Path) -> torch.Tensor:
    return torch.cat(list(iter_frame_chunks(path, 16, uint8=True)))


def test_a_plan_renders_the_same_clip_every_time_and_consumes_nothing(clip, tmp_path):
    plan = StreamPlan(clip).then(LOOK[0]).then(LOOK[1]).then(LOOK[2])
    first = plan.render(tmp_path / "a.mp4")
    second = plan.render(tmp_path / "b.mp4")
    assert torch.equal(_decoded(first), _decoded(second))
    assert plan.passes == LOOK and StreamPlan(clip).passes == ()


def test_the_shape_is_known_before_rendering_and_matches_the_render(clip, tmp_path):
    plan = StreamPlan(clip, (DeflickerPass(5, 1.0, False, 0.2), UpscalePass(2, 0.3, 0.4), InterpolatePass()))
    shape = plan.shape()
    info = probe_video(plan.render(tmp_path / "out.mp4"))
    assert (shape.width, shape.height, shape.fps, shape.frame_count) == (256, 192, 48, 40)
    assert (info.width, info.height, info.fps, info.frame_count) == (256, 192, 48, 40)
    assert abs(info.duration - 20 / 24) < 0.05


def test_the_audio_packets_are_copied_untouched(clip, tmp_path):
    out = StreamPlan(clip, LOOK).render(tmp_path / "out.mp4")

    def packets(path: Path) -> list[bytes]:
        with av.open(str(path)) as container:
            return [bytes(p) for p in container.demux(container.streams.audio[0]) if p.size]

    assert packets(out) == packets(clip)


def test_progress_counts_frames_up_to_the_total(clip, tmp_path):
    seen: list[tuple[int, int]] = []
    StreamPlan(clip, LOOK).render(
        tmp_path / "out.mp4", on_frames=lambda done, total: seen.append((done, total))
    )
    assert seen[-1] == (20, 20)
    assert [d for d, _ in seen] == sorted(d for d, _ in seen) and len(seen) >= 3


def test_an_interrupt_stops_the_pass_leaves_no_file_and_no_thread(clip, tmp_path):
    calls = []

    def tick() -> None:
        calls.append(1)
        if len(calls) == 2:
            raise InterruptedError("cancelled")

    threads = threading.active_count()
    with pytest.raises(InterruptedError):
        StreamPlan(clip, LOOK).render(tmp_path / "out.mp4", tick=tick)
    assert list(tmp_path.iterdir()) == []
    assert threading.active_count() == threads


def test_a_rotated_clip_comes_out_upright(tmp_path):
    flat = write_clip(tmp_path / "flat.mp4", make_frames(6, 48, 64, seed=2), 24)
    rotated = tmp_path / "rotated.mp4"
    _ffmpeg("-i", str(flat), "-c", "copy", "-metadata:s:v:0", "rotate=90", str(rotated))
    out = StreamPlan(rotated).render(tmp_path / "out.mp4")
    assert (probe_video(out).width, probe_video(out).height) == (48, 64)
    got = _decoded(out).float()
    upright = torch.rot90(_decoded(flat), 1, dims=(1, 2)).float()  # what ffmpeg's autorotate shows
    upside_down = torch.rot90(_decoded(flat), -1, dims=(1, 2)).float()
    assert (got - upright).abs().mean() * 3 < (got - upside_down).abs().mean()


def test_an_odd_sized_clip_is_cropped_by_one_pixel_and_says_so(tmp_path, caplog):
    odd = write_clip(tmp_path / "odd.mp4", make_frames(6, 49, 65), 24, pix_fmt="yuv444p")
    with caplog.at_level(logging.WARNING):
        out = StreamPlan(odd).render(tmp_path / "out.mp4")
    assert (probe_video(out).width, probe_video(out).height) == (64, 48)
    assert "65x49" in caplog.text and "cropped to 64x48" in caplog.text


def test_a_variable_frame_rate_clip_is_written_at_its_average_rate_keeping_frames_and_duration(tmp_path):
    vfr = tmp_path / "vfr.mp4"
    keep = "select='lt(n\\,30)+not(mod(n\\,3))'"  # 1 s at 30 fps, then 1 s at 10 fps
    _ffmpeg("-f", "lavfi", "-i", "testsrc2=size=160x120:rate=30", "-t", "2",
            "-vf", keep, "-fps_mode", "vfr", "-c:v", "libx264", str(vfr))  # fmt: skip
    out = probe_video(StreamPlan(vfr).render(tmp_path / "out.mp4"))
    assert out.frame_count == 40 and abs(out.duration - probe_video(vfr).duration) < 0.05


def test_hdr_video_is_refused_with_a_way_to_make_it_usable(tmp_path):
    hdr = tmp_path / "hdr.mp4"
    _ffmpeg("-f", "lavfi", "-i", "testsrc2=size=160x120:rate=24", "-t", "0.5", "-c:v", "libx264",
            "-pix_fmt", "yuv420p10le", "-color_primaries", "bt2020", "-color_trc", "smpte2084",
            "-colorspace", "bt2020nc", str(hdr))  # fmt: skip
    with pytest.raises(AInfError) as caught:
        StreamPlan(hdr, LOOK).render(tmp_path / "out.mp4")
    assert caught.value.code == ErrorCode.INVALID_MEDIA and "HDR" in caught.value.message
    assert "SDR" in caught.value.remediation[0]
    assert not (tmp_path / "out.mp4").exists()


def test_a_clip_with_a_broken_tail_is_refused_clearly_and_nothing_is_written(clip, tmp_path):
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(clip.read_bytes()[: clip.stat().st_size * 2 // 3])
    with pytest.raises(AInfError) as caught:
        StreamPlan(broken, LOOK).render(tmp_path / "out.mp4")
    assert caught.value.code == ErrorCode.INVALID_MEDIA and "broken.mp4" in caught.value.message
    assert sorted(p.name for p in tmp_path.iterdir()) == ["broken.mp4"]


def test_frames_are_handed_over_as_8_bit_chunks_of_the_decoded_size(clip):
    chunks = list(StreamPlan(clip).frames(chunk_size=8))
    assert [c.shape[0] for c in chunks] == [8, 8, 4]
    assert chunks[0].dtype == torch.uint8 and tuple(chunks[0].shape[1:]) == (96, 128, 3)
    assert source_format(clip).frame_count == 20
    assert np.array_equal(torch.cat(chunks).numpy(), _decoded(clip).numpy())
