"""Specification of the film-grain polish pass (pure torch, no ComfyUI)."""

from __future__ import annotations

import pytest
import torch
from ainfluencer.comfy_nodes.polish.grain import (
    LUMA_STRENGTH_CURVE,
    apply_film_grain,
    grain_sigma_px,
    piecewise_linear,
)


def _grey(level: float, frames: int = 8, size: int = 256) -> torch.Tensor:
    return torch.full((frames, size, size, 3), level)


def _grain(images: torch.Tensor, **kwargs: float) -> torch.Tensor:
    params = {"strength": 0.5, "size": 1.0, "chroma": 0.0, "seed": 0} | kwargs
    return apply_film_grain(images, **params) - images


def _corr(a: torch.Tensor, b: torch.Tensor) -> float:
    a = a.flatten().double() - a.double().mean()
    b = b.flatten().double() - b.double().mean()
    return (a @ b / (a.norm() * b.norm())).item()


def _lag1_autocorr(field: torch.Tensor) -> float:
    """Mean horizontal/vertical lag-1 autocorrelation of a [..., H, W] field."""
    horizontal = _corr(field[..., :, 1:], field[..., :, :-1])
    vertical = _corr(field[..., 1:, :], field[..., :-1, :])
    return (horizontal + vertical) / 2


def test_zero_strength_returns_input_exactly() -> None:
    images = torch.rand((3, 16, 16, 3))
    assert torch.equal(apply_film_grain(images, 0.0, 1.0, 0.5, 7), images)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float16])
def test_shape_dtype_device_and_range_preserved(dtype: torch.dtype) -> None:
    images = torch.rand((5, 33, 47, 3), generator=torch.Generator().manual_seed(0)).to(dtype)
    out = apply_film_grain(images, 1.0, 2.0, 1.0, 123)
    assert out.shape == images.shape
    assert out.dtype == dtype
    assert out.device == images.device
    assert torch.isfinite(out).all()
    assert out.min() >= 0.0 and out.max() <= 1.0
    assert not torch.equal(out, images)


def test_input_is_not_modified() -> None:
    images = torch.rand((2, 16, 16, 3))
    before = images.clone()
    apply_film_grain(images, 1.0, 1.0, 1.0, 0)
    assert torch.equal(images, before)


@pytest.mark.parametrize(
    ("strength", "size", "chroma"), [(1.0, 1.0, 0.0), (1.0, 4.0, 1.0), (0.3, 0.5, 0.0), (0.6, 2.0, 0.5)]
)
def test_mean_preserved_on_mid_grey(strength: float, size: float, chroma: float) -> None:
    images = _grey(0.5)
    out = apply_film_grain(images, strength, size, chroma, seed=11)
    assert abs(out.mean().item() - 0.5) < 0.5 / 255
    # Per channel too (colour grain must not tint the frame).
    for c in range(3):
        assert abs(out[..., c].mean().item() - 0.5) < 0.5 / 255


@pytest.mark.parametrize("level", [0.01, 0.04, 0.96, 0.99])
def test_mean_preserved_near_black_and_white(level: float) -> None:
    images = _grey(level)
    out = apply_film_grain(images, 1.0, 1.0, 1.0, seed=5)
    assert abs(out.mean().item() - level) < 0.5 / 255


def test_grain_visible_at_full_strength() -> None:
    noise = _grain(_grey(0.5), strength=1.0)
    assert noise.std().item() > 10 / 255


def test_grain_stronger_in_midtones_than_in_deep_shadows_and_highlights() -> None:
    mid = _grain(_grey(0.5)).std().item()
    dark = _grain(_grey(0.03)).std().item()
    bright = _grain(_grey(0.97)).std().item()
    assert mid > 2.0 * dark
    assert mid > 2.0 * bright


def test_luma_curve_is_piecewise_linear_and_peaks_in_midtones() -> None:
    x = torch.tensor([0.0, 0.04, 0.08, 0.5, 0.92, 1.0, -1.0, 2.0])
    y = piecewise_linear(x, LUMA_STRENGTH_CURVE)
    points = dict(LUMA_STRENGTH_CURVE)
    assert y[0].item() == pytest.approx(points[0.0])
    assert y[1].item() == pytest.approx((points[0.0] + points[0.08]) / 2)
    assert y[3].item() == pytest.approx(max(points.values()))
    assert y[6].item() == pytest.approx(points[0.0]) and y[7].item() == pytest.approx(points[1.0])


def test_strength_scales_grain() -> None:
    weak = _grain(_grey(0.5), strength=0.2).std().item()
    strong = _grain(_grey(0.5), strength=0.8).std().item()
    assert strong == pytest.approx(4 * weak, rel=0.05)


def test_consecutive_frames_uncorrelated() -> None:
    noise = _grain(_grey(0.5), strength=1.0, size=2.0)[..., 0]
    for i in range(noise.shape[0] - 1):
        assert abs(_corr(noise[i], noise[i + 1])) < 0.1
        assert noise[i].std() > 0


def test_same_seed_identical_different_seed_different() -> None:
    images = torch.rand((4, 32, 32, 3), generator=torch.Generator().manual_seed(9)) * 0.6 + 0.2
    a = apply_film_grain(images, 0.5, 1.5, 0.3, seed=42)
    b = apply_film_grain(images, 0.5, 1.5, 0.3, seed=42)
    c = apply_film_grain(images, 0.5, 1.5, 0.3, seed=43)
    assert torch.equal(a, b)
    assert not torch.equal(a, c)
    assert abs(_corr(a - images, c - images)) < 0.1


def test_frame_offset_continues_the_sequence() -> None:
    images = _grey(0.5, frames=6, size=32)
    whole = apply_film_grain(images, 0.5, 1.0, 0.5, seed=3)
    tail = apply_film_grain(images[4:], 0.5, 1.0, 0.5, seed=3, frame_offset=4)
    assert torch.equal(whole[4:], tail)


def test_monochrome_by_default_colour_with_chroma() -> None:
    images = _grey(0.5, frames=2, size=64)
    mono = _grain(images, chroma=0.0)
    assert torch.equal(mono[..., 0], mono[..., 1]) and torch.equal(mono[..., 1], mono[..., 2])
    colour = _grain(images, chroma=0.5)
    assert not torch.equal(colour[..., 0], colour[..., 1])
    assert not torch.equal(colour[..., 1], colour[..., 2])
    # The monochrome component stays dominant: channels remain clearly correlated.
    assert _corr(colour[..., 0], colour[..., 2]) > 0.5


def test_mono_grain_equal_across_channels_on_coloured_pixels() -> None:
    images = torch.tensor([0.7, 0.5, 0.4]).expand(2, 64, 64, 3).contiguous()
    noise = _grain(images, strength=0.3)
    # Equal up to float rounding of (x_c + n) - x_c.
    torch.testing.assert_close(noise[..., 0], noise[..., 1], atol=1e-6, rtol=0)
    torch.testing.assert_close(noise[..., 1], noise[..., 2], atol=1e-6, rtol=0)


@pytest.mark.parametrize("chroma", [0.0, 0.7])
def test_chunking_matches_unchunked(chroma: float) -> None:
    images = torch.rand((8, 37, 41, 3), generator=torch.Generator().manual_seed(1))
    calls: list[tuple[int, int]] = []
    chunked = apply_film_grain(
        images, 0.7, 2.0, chroma, seed=5, chunk_size=3, on_chunk=lambda d, t: calls.append((d, t))
    )
    whole = apply_film_grain(images, 0.7, 2.0, chroma, seed=5, chunk_size=64)
    default = apply_film_grain(images, 0.7, 2.0, chroma, seed=5)
    assert torch.equal(chunked, whole)
    assert torch.equal(default, whole)
    assert calls == [(1, 3), (2, 3), (3, 3)]


def test_larger_size_gives_higher_spatial_autocorrelation() -> None:
    images = _grey(0.5, frames=2, size=512)
    fine = _lag1_autocorr(_grain(images, size=0.5)[..., 0])
    medium = _lag1_autocorr(_grain(images, size=1.5)[..., 0])
    coarse = _lag1_autocorr(_grain(images, size=4.0)[..., 0])
    assert fine < medium < coarse
    assert coarse > 0.5


def test_grain_size_scales_with_resolution() -> None:
    assert grain_sigma_px(1.0, 1080, 1920) == pytest.approx(1.5 * grain_sigma_px(1.0, 720, 1280))
    # Portrait and landscape frames of the same size get the same grain.
    assert grain_sigma_px(2.0, 1920, 1080) == grain_sigma_px(2.0, 1080, 1920)
    # Same relative correlation: lag-1 at 360 px ~ lag-2 at 720 px.
    small = _grain(_grey(0.5, frames=1, size=360), size=3.0)[0, ..., 0]
    large = _grain(_grey(0.5, frames=1, size=720), size=3.0)[0, ..., 0]
    lag1_small = _corr(small[:, 1:], small[:, :-1])
    lag2_large = _corr(large[:, 2:], large[:, :-2])
    assert lag1_small == pytest.approx(lag2_large, abs=0.05)


def test_alpha_channel_passes_through() -> None:
    rgba = torch.rand((2, 16, 16, 4), generator=torch.Generator().manual_seed(2)) * 0.6 + 0.2
    out = apply_film_grain(rgba, 1.0, 1.0, 0.5, 0)
    assert torch.equal(out[..., 3], rgba[..., 3])
    assert not torch.equal(out[..., :3], rgba[..., :3])


@pytest.mark.parametrize(
    "kwargs", [{"strength": -0.1}, {"size": 0.0}, {"chroma": -1.0}, {"strength": float("nan")}]
)
def test_invalid_parameters_rejected(kwargs: dict[str, float]) -> None:
    params = {"strength": 0.5, "size": 1.0, "chroma": 0.0, "seed": 0} | kwargs
    with pytest.raises(ValueError):
        apply_film_grain(torch.rand((1, 8, 8, 3)), **params)
