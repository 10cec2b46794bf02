"""The YUV-native stream: colour passes and grain on the decoded yuv420p planes give what the RGB path gives
(within a code or two on a colour test card, the same grain statistics), and a plan of them renders that way
with the source's colour tags, frames, duration and audio.
"""

from __future__ import annotations

import av
import pytest
import torch
from ainfluencer.comfy_nodes.polish.colour import YuvColour
from ainfluencer.comfy_nodes.polish.frame_source import source_format
from ainfluencer.comfy_nodes.polish.passes import DeflickerPass, GradePass, GrainPass, ToneMapPass
from ainfluencer.comfy_nodes.polish.stream_plan import StreamPlan, chain_processor
from ainfluencer.comfy_nodes.polish.synth import make_frames, make_tone, write_clip
from ainfluencer.comfy_nodes.polish.video_probe import probe_video
from ainfluencer.comfy_nodes.polish.yuv import YuvRun, response_of, yuv_passes, yuv_tables

CPU = torch.device("cpu")
BT709 = YuvColour("bt709", full_range=False)
COLOUR = (GradePass("cinematic", 0.85), ToneMapPass("reinhard", 0.35, 1.2746))


def _card(height: int = 96, width: int = 128) -> torch.Tensor:
    """Colour bars over the top half, smooth hue and brightness ramps below: R'G'B' ``[H, W, 3]`` in 0..1."""
    bars = torch.tensor([[0.75, 0.75, 0.75], [0.75, 0.75, 0], [0, 0.75, 0.75], [0, 0.75, 0]])
    bars = torch.cat([bars, torch.tensor([[0.75, 0, 0.75], [0.75, 0, 0], [0, 0, 0.75], [0.1, 0.1, 0.1]])])
    top = bars.repeat_interleave(width // 8, dim=0).expand(height // 2, width, 3)
    x = torch.linspace(0.0, 1.0, width).view(1, -1)
    y = torch.linspace(0.05, 0.95, height - height // 2).view(-1, 1)
    hue = torch.stack([x, 1.0 - x, (0.5 + 0.5 * torch.sin(6.0 * x))], dim=-1) * y.unsqueeze(-1)
    return torch.cat([top, hue + 0.05 * (1.0 - y.unsqueeze(-1))]).clamp(0.0, 1.0)


def _planes(rgb: torch.Tensor, colour: YuvColour) -> torch.Tensor:
    """What an encoder stores: ``[1, H * 3 / 2, W]`` yuv420p codes, chroma as the mean of each 2x2."""
    height, width, _ = rgb.shape
    yuv = colour.from_rgb(rgb.double())
    chroma = yuv[..., 1:].view(height // 2, 2, width // 2, 2, 2).mean(dim=(1, 3))
    parts = [yuv[..., 0].reshape(-1), chroma[..., 0].reshape(-1), chroma[..., 1].reshape(-1)]
    return torch.cat(parts).round().clamp(0, 255).to(torch.uint8).view(1, height * 3 // 2, width)


def _split(planes: torch.Tensor, height: int, width: int) -> tuple[torch.Tensor, ...]:
    flat, area = planes.reshape(planes.shape[0], -1).double(), height * width
    luma = flat[:, :area].view(-1, height, width)
    cb = flat[:, area : area + area // 4].view(-1, height // 2, width // 2)
    return luma, cb, flat[:, area + area // 4 :].view(-1, height // 2, width // 2)


def _decoded_rgb(planes: torch.Tensor, colour: YuvColour, height: int, width: int) -> torch.Tensor:
    """The planes as the RGB path decodes them: chroma repeated over its 2x2, converted, 8-bit."""
    luma, cb, cr = _split(planes, height, width)
    up = [c.repeat_interleave(2, dim=1).repeat_interleave(2, dim=2) for c in (cb, cr)]
    rgb = colour.to_rgb(torch.stack([luma, *up], dim=-1))
    return rgb.mul(255.0).round().clamp(0, 255).to(torch.uint8)


def _rgb_path(
    passes: tuple, planes: torch.Tensor, colour: YuvColour, height: int, width: int
) -> torch.Tensor:
    """The RGB path's result on the same planes, stored back as yuv420p."""
    frames = _decoded_rgb(planes, colour, height, width)
    out = chain_processor(passes, width, height, CPU).push(frames).double().div(255.0)
    return torch.cat([_planes(frame, colour) for frame in out])


def _yuv_path(
    passes: tuple, planes: torch.Tensor, colour: YuvColour, height: int, width: int
) -> torch.Tensor:
    split = yuv_passes(passes)
    assert split is not None
    run, grain = split
    return YuvRun(yuv_tables(run, response_of(grain), colour), grain, width, height).push(planes.clone())


@pytest.mark.parametrize("colour", [BT709, YuvColour("bt601", False), YuvColour("bt709", True)])
def test_the_colour_passes_on_planes_match_the_rgb_path_on_a_colour_test_card(colour):
    card = _planes(_card(), colour)
    got = _split(_yuv_path(COLOUR, card, colour, 96, 128), 96, 128)
    want = _split(_rgb_path(COLOUR, card, colour, 96, 128), 96, 128)
    assert not torch.equal(got[0], _split(card, 96, 128)[0])  # the grade did change the picture
    for name, a, b in zip(("Y", "Cb", "Cr"), got, want, strict=True):
        diff = (a - b).abs()
        assert diff.mean() < 0.6 and diff.max() <= 4, (name, float(diff.mean()), float(diff.max()))


def _grain_stats(planes: torch.Tensor, height: int, width: int) -> list[tuple[float, float]]:
    """(mean, standard deviation) of Y, Cb and Cr over the frames."""
    return [(float(p.mean()), float(p.std())) for p in _split(planes, height, width)]


@pytest.mark.parametrize("chroma", [0.0, 0.3])
def test_grain_on_planes_has_the_rgb_paths_strength_and_mean(chroma):
    height, width, frames = 216, 384, 4
    flat = torch.tensor([0.45, 0.5, 0.4]).expand(height, width, 3)
    card = _planes(flat, BT709).expand(frames, -1, -1).contiguous()
    passes = (GrainPass(0.5, 1.0, chroma, 11),)
    got = _grain_stats(_yuv_path(passes, card, BT709, height, width), height, width)
    want = _grain_stats(_rgb_path(passes, card, BT709, height, width), height, width)
    assert want[0][1] > 2.0  # the grain is there, a few codes strong
    for (mean_got, std_got), (mean_want, std_want) in zip(got, want, strict=True):
        assert abs(mean_got - mean_want) < 0.5
        assert abs(std_got - std_want) <= 0.12 * std_want + 0.05, (got, want)


def test_monochrome_grain_leaves_the_chroma_planes_untouched():
    height, width = 64, 96
    card = _planes(_card(height, width), BT709)
    out = _yuv_path((GrainPass(0.6, 1.0, 0.0, 3),), card, BT709, height, width)
    area = height * width
    assert torch.equal(out.view(-1)[area:], card.view(-1)[area:])
    assert not torch.equal(out.view(-1)[:area], card.view(-1)[:area])


def test_only_colour_passes_followed_by_grain_take_the_planes():
    grain = GrainPass(0.3, 1.0, 0.0, 0)
    assert yuv_passes((*COLOUR, grain)) == (COLOUR, grain)
    assert yuv_passes((grain, COLOUR[0])) is None  # grading the grain needs the RGB frames
    assert yuv_passes((*COLOUR, DeflickerPass(5, 1.0, False, 0.2))) is None


def test_untagged_clips_take_the_matrix_their_size_implies_and_full_range_is_kept():
    assert YuvColour.of_stream(2, 0, 1080) == YuvColour("bt709", False)
    assert YuvColour.of_stream(2, 0, 480) == YuvColour("bt601", False)
    assert YuvColour.of_stream(6, 2, 1080) == YuvColour("bt601", True)
    assert YuvColour.of_stream(9, 1, 1080) is None  # BT.2020: the RGB path converts it


def test_a_grade_and_grain_plan_renders_from_the_planes_keeping_frames_duration_audio_and_tags(tmp_path):
    clip = write_clip(tmp_path / "clip.mp4", make_frames(20, 96, 128, seed=1), 24, audio=make_tone(20 / 24))
    plan = StreamPlan(clip, (*COLOUR, GrainPass(0.3, 1.0, 0.15, 7)))
    assert plan.in_yuv() and not StreamPlan(clip, (DeflickerPass(5, 1.0, False, 0.2),)).in_yuv()
    out = plan.render(tmp_path / "out.mp4")
    source, info = probe_video(clip), probe_video(out)
    assert (info.width, info.height, info.frame_count, info.fps) == (128, 96, 20, 24)
    assert abs(info.duration - source.duration) < 0.05 and info.has_audio
    with av.open(str(out)) as container:
        context = container.streams.video[0].codec_context
        tagged = YuvColour.of_stream(int(context.colorspace), int(context.color_range), 96)
    assert tagged == source_format(clip).planar
