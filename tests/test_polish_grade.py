"""Specification of the colour-grade polish pass (pure torch, no ComfyUI)."""

from __future__ import annotations

import pytest
import torch
from ainfluencer.comfy_nodes.polish.grade import (
    GRADE_STYLES,
    GradeAdjust,
    GradeStyle,
    apply_grade,
    apply_grade_style,
    grade_lut,
)
from ainfluencer.comfy_nodes.polish.lut import Lut3D, apply_lut, bake

STYLES = ["neutral", "warm", "cool", "cinematic"]


def _natural_batch(frames: int = 4, size: int = 32, seed: int = 0) -> torch.Tensor:
    """A smooth, moderately saturated test batch in 0.1..0.9."""
    gen = torch.Generator().manual_seed(seed)
    return 0.1 + 0.8 * torch.rand((frames, size, size, 3), generator=gen)


def _grey(level: float, frames: int = 1, size: int = 8) -> torch.Tensor:
    return torch.full((frames, size, size, 3), level)


def _rb_ratio(images: torch.Tensor) -> float:
    return (images[..., 0].mean() / images[..., 2].mean()).item()


def test_styles_are_the_documented_four_in_order() -> None:
    assert list(GRADE_STYLES) == STYLES
    assert all(isinstance(style, GradeStyle) for style in GRADE_STYLES.values())


@pytest.mark.parametrize("style", STYLES)
def test_zero_intensity_returns_input_exactly(style: str) -> None:
    images = _natural_batch()
    out = apply_grade(images, style, 0.0)
    assert torch.equal(out, images)


@pytest.mark.parametrize("style", STYLES)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float16])
def test_shape_dtype_device_and_range_preserved(style: str, dtype: torch.dtype) -> None:
    images = torch.rand((3, 17, 23, 3), generator=torch.Generator().manual_seed(1)).to(dtype)
    images[0, 0, 0] = torch.tensor([0.0, 0.0, 0.0])
    images[0, 0, 1] = torch.tensor([1.0, 1.0, 1.0])
    out = apply_grade(images, style, 1.0)
    assert out.shape == images.shape
    assert out.dtype == dtype
    assert out.device == images.device
    assert torch.isfinite(out).all()
    assert out.min() >= 0.0 and out.max() <= 1.0


def test_input_is_not_modified() -> None:
    images = _natural_batch()
    before = images.clone()
    apply_grade(images, "cinematic", 1.0)
    assert torch.equal(images, before)


def test_out_of_range_input_is_clamped() -> None:
    images = _natural_batch()
    images[0, 0, 0] = torch.tensor([-0.2, 1.3, 0.5])
    out = apply_grade(images, "warm", 0.5)
    assert out.min() >= 0.0 and out.max() <= 1.0


def test_unknown_style_rejected_with_valid_names() -> None:
    with pytest.raises(ValueError) as excinfo:
        apply_grade(_natural_batch(), "sepia", 1.0)
    message = str(excinfo.value)
    assert "sepia" in message
    for style in STYLES:
        assert style in message


@pytest.mark.parametrize("intensity", [-0.1, 1.5, float("nan")])
def test_intensity_out_of_range_rejected(intensity: float) -> None:
    with pytest.raises(ValueError):
        apply_grade(_natural_batch(), "warm", intensity)


@pytest.mark.parametrize("bad_shape", [(4, 4, 3), (1, 4, 4, 1), (1, 4, 4, 5)])
def test_bad_image_shapes_rejected(bad_shape: tuple[int, ...]) -> None:
    with pytest.raises(ValueError):
        apply_grade(torch.rand(bad_shape), "warm", 1.0)


@pytest.mark.parametrize("style", STYLES)
def test_intensity_mixes_linearly(style: str) -> None:
    images = _natural_batch()
    full = apply_grade(images, style, 1.0)
    for t in (0.25, 0.5, 0.7):
        mixed = apply_grade(images, style, t)
        torch.testing.assert_close(mixed, images + t * (full - images), atol=1e-6, rtol=0)


def test_warm_raises_red_blue_ratio_and_cool_lowers_it() -> None:
    images = _natural_batch()
    base = _rb_ratio(images)
    assert _rb_ratio(apply_grade(images, "warm", 1.0)) > base * 1.05
    assert _rb_ratio(apply_grade(images, "cool", 1.0)) < base / 1.05
    # Half intensity moves half-way (roughly) in the same direction.
    assert base < _rb_ratio(apply_grade(images, "warm", 0.5)) < _rb_ratio(apply_grade(images, "warm", 1.0))


def test_neutral_keeps_grey_neutral_and_adds_contrast() -> None:
    ramp = torch.linspace(0.0, 1.0, 21).view(1, 1, 21, 1).expand(1, 1, 21, 3).contiguous()
    out = apply_grade(ramp, "neutral", 1.0)
    torch.testing.assert_close(out[..., 0], out[..., 1], atol=1e-6, rtol=0)
    torch.testing.assert_close(out[..., 1], out[..., 2], atol=1e-6, rtol=0)
    # S-curve: shadows darker, highlights brighter, mid-grey and endpoints fixed, monotonic.
    assert out[0, 0, 4, 0] < ramp[0, 0, 4, 0]
    assert out[0, 0, 16, 0] > ramp[0, 0, 16, 0]
    assert abs(out[0, 0, 10, 0].item() - 0.5) < 1e-6
    assert out[0, 0, 0, 0] == 0.0 and out[0, 0, 20, 0] == 1.0
    assert (out[0, 0, 1:, 0] >= out[0, 0, :-1, 0]).all()


def test_cinematic_shadows_teal_highlights_orange() -> None:
    shadows = apply_grade(_grey(0.12), "cinematic", 1.0)[0, 0, 0]
    highlights = apply_grade(_grey(0.8), "cinematic", 1.0)[0, 0, 0]
    r, g, b = shadows.tolist()
    assert g > r and b > r, f"shadows not teal: {shadows.tolist()}"
    r, g, b = highlights.tolist()
    assert r > g > b, f"highlights not orange: {highlights.tolist()}"


def test_cinematic_warms_skin_and_adds_contrast() -> None:
    skin = torch.tensor([0.82, 0.62, 0.52]).view(1, 1, 1, 3)
    out = apply_grade(skin, "cinematic", 1.0)[0, 0, 0]
    assert out[0] / out[2] > skin[0, 0, 0, 0] / skin[0, 0, 0, 2]
    dark = apply_grade(_grey(0.2), "cinematic", 1.0).mean()
    bright = apply_grade(_grey(0.8), "cinematic", 1.0).mean()
    assert bright - dark > 0.6  # input difference 0.6 grows under the S-curve


def test_cinematic_desaturates_extremes_more_than_midtones() -> None:
    style = GRADE_STYLES["cinematic"]
    plain = GradeStyle(saturation=style.saturation)
    extreme = GradeStyle(saturation=style.saturation, extreme_desaturation=style.extreme_desaturation)

    def chroma(rgb: torch.Tensor) -> float:
        return (rgb.amax(-1) - rgb.amin(-1)).item()

    mid = torch.tensor([0.6, 0.45, 0.4])
    dark = torch.tensor([0.12, 0.06, 0.04])
    assert abs(chroma(apply_grade_style(mid, extreme)) - chroma(apply_grade_style(mid, plain))) < 0.01
    assert chroma(apply_grade_style(dark, extreme)) < chroma(apply_grade_style(dark, plain)) * 0.85


@pytest.mark.parametrize("style", STYLES)
def test_chunking_matches_unchunked(style: str) -> None:
    images = torch.rand((7, 37, 41, 3), generator=torch.Generator().manual_seed(4))
    calls: list[tuple[int, int]] = []
    chunked = apply_grade(images, style, 0.8, chunk_size=3, on_chunk=lambda d, t: calls.append((d, t)))
    whole = apply_grade(images, style, 0.8, chunk_size=64)
    default = apply_grade(images, style, 0.8)
    # Equal up to one float32 ulp: torch's vectorised and scalar-tail ``pow`` may round differently,
    # and where the tail falls depends on the tensor size.
    torch.testing.assert_close(chunked, whole, atol=2.5e-7, rtol=0)
    torch.testing.assert_close(default, whole, atol=2.5e-7, rtol=0)
    assert calls == [(1, 3), (2, 3), (3, 3)]


def test_alpha_channel_passes_through() -> None:
    rgba = torch.rand((2, 8, 8, 4), generator=torch.Generator().manual_seed(3))
    out = apply_grade(rgba, "cinematic", 1.0)
    assert torch.equal(out[..., 3], rgba[..., 3])
    assert not torch.equal(out[..., :3], rgba[..., :3])


def test_invalid_style_parameters_rejected() -> None:
    with pytest.raises(ValueError):
        GradeStyle(contrast=2.0)
    with pytest.raises(ValueError):
        GradeStyle(gamma=(1.0, 0.0, 1.0))


def test_adjustments_default_to_the_plain_style() -> None:
    images = _natural_batch()
    assert torch.equal(
        apply_grade(images, "warm", 0.8, adjust=GradeAdjust()), apply_grade(images, "warm", 0.8)
    )


def test_adjustments_move_white_balance_saturation_and_levels() -> None:
    images = _natural_batch()
    base = apply_grade(images, "neutral", 1.0)
    warmer = apply_grade(images, "neutral", 1.0, adjust=GradeAdjust(temperature=0.5))
    assert _rb_ratio(warmer) > _rb_ratio(base) * 1.05
    grey = apply_grade(images, "neutral", 1.0, adjust=GradeAdjust(saturation=0.0))
    torch.testing.assert_close(grey[..., 0], grey[..., 1], atol=1e-6, rtol=0)
    lifted = apply_grade(_grey(0.0), "neutral", 1.0, adjust=GradeAdjust(lift=0.1))
    assert lifted.min() > 0.05
    darker = apply_grade(_grey(0.5), "neutral", 1.0, adjust=GradeAdjust(gamma=0.7))
    assert darker.mean() < apply_grade(_grey(0.5), "neutral", 1.0).mean()
    dimmer = apply_grade(_grey(0.9), "neutral", 1.0, adjust=GradeAdjust(gain=0.8))
    assert dimmer.mean() < 0.8


@pytest.mark.parametrize(
    "kwargs",
    [{"temperature": 2.0}, {"gamma": 0.0}, {"gain": -1.0}, {"lift": 0.9}, {"saturation": float("nan")}],
)
def test_invalid_adjustments_rejected(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        GradeAdjust(**kwargs)


def test_grade_with_a_look_lut_is_one_baked_pass() -> None:
    images = _natural_batch()
    look = bake([lambda x: x.pow(1.2)], 33)
    composed = apply_grade(images, "cinematic", 0.6, look=look)
    sequential = apply_lut(apply_grade(images, "cinematic", 0.6), look)
    assert (composed - sequential).abs().max() < 2e-3
    baked = grade_lut("cinematic", 0.6, after=[look])
    torch.testing.assert_close(composed, apply_lut(images, baked), atol=1e-6, rtol=0)


@pytest.mark.parametrize("style", STYLES)
def test_device_placement_follows_the_input(style: str) -> None:
    out = apply_grade(torch.empty((2, 8, 8, 3), device="meta"), style, 0.7)
    assert out.device.type == "meta" and out.shape == (2, 8, 8, 3)
    look = bake([lambda x: x], 5)
    lut = Lut3D(look.table.to("meta"))
    out = apply_grade(torch.empty((1, 8, 8, 3), device="meta"), style, 0.7, look=lut)
    assert out.device.type == "meta"
