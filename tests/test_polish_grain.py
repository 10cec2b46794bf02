"""Specification of the film-grain polish pass (pure torch, no ComfyUI)."""

from __future__ import annotations

import pytest
import torch
from ainfluencer.comfy_nodes.polish.colour import pack_rgb24, unpack_rgb24
from ainfluencer.comfy_nodes.polish.grain import (
    GRAIN_LOOK_NAMES,
    GRAIN_LOOKS,
    LUMA_STRENGTH_CURVE,
    PackedGrain,
    apply_film_grain,
    grain_packed,
    grain_sigma_px,
    grain_template,
    piecewise_linear,
)


def _grey(level: float, frames: int = 8, size: int = 256) -> torch.Tensor:
    return torch.full((frames, size, size, 3), level)


def _grain(images: torch.Tensor, **kwargs: float | str) -> torch.Tensor:
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


def test_named_looks_are_offered_with_custom_first() -> None:
    assert GRAIN_LOOK_NAMES == ("custom", "35mm fine", "16mm", "8mm")


@pytest.mark.parametrize("look", ["35mm fine", "16mm", "8mm"])
def test_looks_preserve_the_mean_and_vary_every_frame(look: str) -> None:
    for level in (0.05, 0.5, 0.95):
        images = _grey(level, frames=6)
        out = apply_film_grain(images, 0.6, 1.0, 0.0, seed=3, look=look)
        assert abs(out.mean().item() - level) < 0.5 / 255, (look, level)
        for c in range(3):
            assert abs(out[..., c].mean().item() - level) < 0.5 / 255
    noise = _grain(_grey(0.5, frames=6), strength=0.6, look=look)[..., 1]
    for i in range(noise.shape[0] - 1):
        assert abs(_corr(noise[i], noise[i + 1])) < 0.1


def test_looks_order_from_fine_to_coarse() -> None:
    images = _grey(0.5, frames=2, size=384)
    fine = _grain(images, strength=0.5, look="35mm fine")[..., 0]
    medium = _grain(images, strength=0.5, look="16mm")[..., 0]
    coarse = _grain(images, strength=0.5, look="8mm")[..., 0]
    assert _lag1_autocorr(fine) < _lag1_autocorr(medium) < _lag1_autocorr(coarse)
    assert fine.std() < medium.std() < coarse.std()
    # 16mm and 8mm carry some colour grain; 35mm fine stays monochrome.
    assert torch.equal(fine, _grain(images, strength=0.5, look="35mm fine")[..., 2])
    assert not torch.equal(medium, _grain(images, strength=0.5, look="16mm")[..., 2])


def test_looks_shape_the_luma_response() -> None:
    # 8mm keeps more grain in the shadows relative to the mid-tones than 35mm fine (weak enough grain
    # that the headroom cap does not decide).
    def shadow_ratio(look: str) -> float:
        dark = _grain(_grey(0.15), strength=0.2, look=look).std().item()
        mid = _grain(_grey(0.5), strength=0.2, look=look).std().item()
        return dark / mid

    assert shadow_ratio("8mm") > 1.5 * shadow_ratio("35mm fine")
    assert all(GRAIN_LOOKS[name].curve for name in GRAIN_LOOK_NAMES)


def test_unknown_look_is_refused() -> None:
    with pytest.raises(ValueError, match="35mm fine"):
        apply_film_grain(torch.rand((1, 8, 8, 3)), 0.5, 1.0, 0.0, 0, look="super8")


def test_templates_are_periodic_unit_variance_autoregressive_fields_cached_per_seed() -> None:
    template = grain_template(5, 0.6, 1.0)
    assert template.shape[0] == template.shape[1] and template.shape[0] >= 256
    assert abs(template.mean().item()) < 1e-5 and template.std().item() == pytest.approx(1.0, abs=1e-4)
    assert grain_template(5, 0.6, 1.0) is not None and torch.equal(grain_template(5, 0.6, 1.0), template)
    assert not torch.equal(grain_template(6, 0.6, 1.0), template)
    # The causal AR terms (left and upper neighbours) add positive short-range correlation.
    plain = grain_template(5, 0.6, 1.0, ar=())
    assert _lag1_autocorr(template) > _lag1_autocorr(plain) + 0.05
    # Periodic: the wrap-around neighbour correlates like any other neighbour (seamless tiling).
    wrap = _corr(template[:, 0], template[:, -1])
    inner = _corr(template[:, 1:], template[:, :-1])
    assert wrap == pytest.approx(inner, abs=0.1)


def test_no_block_seams_grain_variance_is_uniform_across_the_frame() -> None:
    noise = _grain(_grey(0.5, frames=16, size=256), strength=1.0)[..., 0]
    per_column = noise.std(dim=(0, 1))
    per_row = noise.std(dim=(0, 2))
    for profile in (per_column, per_row):
        assert (profile.max() / profile.min()).item() < 1.35


@pytest.mark.parametrize("look", GRAIN_LOOK_NAMES)
def test_device_placement_follows_the_input(look: str) -> None:
    out = apply_film_grain(torch.empty((2, 40, 40, 3), device="meta"), 0.5, 1.0, 0.3, 1, look=look)
    assert out.device.type == "meta" and out.shape == (2, 40, 40, 3)


# --- uint8 frames (video): integer grain on packed pixels ---


def _grey_u8(code: int, frames: int = 8, size: int = 256) -> torch.Tensor:
    return torch.full((frames, size, size, 3), code, dtype=torch.uint8)


def _grain_u8(images: torch.Tensor, **kwargs: float | str) -> torch.Tensor:
    params = {"strength": 0.5, "size": 1.0, "chroma": 0.0, "seed": 0} | kwargs
    return apply_film_grain(images, **params).double() - images.double()


@pytest.mark.parametrize(("strength", "size"), [(1.0, 1.0), (0.3, 0.5), (0.6, 2.0)])
def test_uint8_mean_preserved_on_mid_grey(strength: float, size: float) -> None:
    images = _grey_u8(128)
    out = apply_film_grain(images, strength, size, 0.0, seed=11)
    assert out.dtype == torch.uint8 and out.shape == images.shape
    for c in range(3):
        assert abs(out[..., c].double().mean().item() - 128) < 0.5


@pytest.mark.parametrize("code", [2, 10, 245, 253])
def test_uint8_mean_preserved_near_black_and_white_without_clipping(code: int) -> None:
    noise = _grain_u8(_grey_u8(code), strength=1.0)
    assert abs(noise.mean().item()) < 0.5
    # Monochrome grain is bounded by the headroom: it never reaches 0 or 255, so it is never clipped.
    assert (noise + code).min() >= 0 and (noise + code).max() <= 255
    assert noise.abs().max() <= min(code, 255 - code)


def test_uint8_grain_is_luma_dependent_and_uncorrelated_between_frames() -> None:
    mid = _grain_u8(_grey_u8(128), strength=1.0)[..., 0]
    assert mid.std().item() > 10
    assert mid.std() > 2.0 * _grain_u8(_grey_u8(8), strength=1.0).std()
    assert mid.std() > 2.0 * _grain_u8(_grey_u8(247), strength=1.0).std()
    for i in range(mid.shape[0] - 1):
        assert abs(_corr(mid[i], mid[i + 1])) < 0.1
    # Monochrome: the same noise on every channel.
    full = _grain_u8(_grey_u8(128, frames=2), strength=1.0)
    assert torch.equal(full[..., 0], full[..., 1]) and torch.equal(full[..., 1], full[..., 2])


@pytest.mark.parametrize("look", ["custom", "35mm fine"])
def test_uint8_grain_equals_the_float_path_rounded_to_one_code(look: str) -> None:
    gen = torch.Generator().manual_seed(4)
    images = torch.randint(0, 256, (3, 70, 90, 3), dtype=torch.uint8, generator=gen)
    fast = apply_film_grain(images, 0.8, 1.5, 0.0, seed=9, look=look).int()
    exact = apply_film_grain(images.float().div(255.0), 0.8, 1.5, 0.0, seed=9, look=look)
    diff = (fast - exact.mul(255.0).round().int()).abs()
    assert diff.max().item() <= 1
    assert diff.float().mean().item() < 0.01


def test_uint8_grain_is_deterministic_and_independent_of_chunks_and_strips() -> None:
    images = torch.randint(
        0, 256, (6, 40, 50, 3), dtype=torch.uint8, generator=torch.Generator().manual_seed(5)
    )
    whole = apply_film_grain(images, 0.7, 1.0, 0.0, seed=3)
    assert torch.equal(whole, apply_film_grain(images, 0.7, 1.0, 0.0, seed=3, chunk_size=4))
    assert torch.equal(whole[4:], apply_film_grain(images[4:], 0.7, 1.0, 0.0, seed=3, frame_offset=4))
    assert not torch.equal(whole, apply_film_grain(images, 0.7, 1.0, 0.0, seed=4))
    # Strip by strip (any strip height) gives the same frames as grain_packed.
    packed = grain_packed(pack_rgb24(images), 0.7, 1.0, 3)
    assert torch.equal(unpack_rgb24(packed), whole)
    grain = PackedGrain(0.7, 1.0, 3, height=40, width=50)
    strips = pack_rgb24(images)
    for f in range(6):
        grain.start_frame(f)
        for row in range(0, 40, 7):
            grain.add(strips[f, row : row + 7], row)
    assert torch.equal(strips, packed)


def test_uint8_colour_grain_and_alpha() -> None:
    rgba = torch.randint(
        40, 200, (2, 32, 32, 4), dtype=torch.uint8, generator=torch.Generator().manual_seed(6)
    )
    out = apply_film_grain(rgba, 0.8, 1.0, 0.6, seed=1)
    assert out.dtype == torch.uint8 and torch.equal(out[..., 3], rgba[..., 3])
    noise = out[..., :3].double() - rgba[..., :3].double()
    assert not torch.equal(noise[..., 0], noise[..., 1])
    assert torch.equal(apply_film_grain(rgba, 0.0, 1.0, 0.6, seed=1), rgba)
    with pytest.raises(ValueError):
        PackedGrain(0.5, 1.0, 0, look="8mm", height=8, width=8)
