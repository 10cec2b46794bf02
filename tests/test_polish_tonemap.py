"""Specification of the tone-mapping pass (pure torch, no ComfyUI)."""

from __future__ import annotations

import math

import pytest
import torch
from ainfluencer.comfy_nodes.polish.colour import linear_to_srgb, srgb_to_linear
from ainfluencer.comfy_nodes.polish.tonemap import (
    TONEMAP_OPERATORS,
    aces_fit,
    agx,
    apply_tonemap,
    hable,
    reinhard_extended,
    tonemap_rgb,
)

GREY = torch.tensor([0.02, 0.18, 0.5, 1.0, 4.0], dtype=torch.float64)


def _grey_rgb(values: torch.Tensor) -> torch.Tensor:
    return values.unsqueeze(-1).expand(-1, 3).contiguous()


def _hable_formula(x: float) -> float:
    a, b, c, d, e, f = 0.15, 0.50, 0.10, 0.20, 0.02, 0.30

    def curve(v: float) -> float:
        return (v * (a * v + c * b) + d * e) / (v * (a * v + b) + d * f) - e / f

    return curve(2.0 * x) / curve(11.2)


def test_reinhard_extended_matches_its_formula_on_luminance() -> None:
    rgb = torch.tensor([[0.9, 0.4, 0.1], [0.02, 0.05, 0.3], [1.5, 1.2, 0.8]], dtype=torch.float64)
    white = 4.0
    lum = rgb @ torch.tensor([0.2126, 0.7152, 0.0722], dtype=torch.float64)
    expected_lum = lum * (1 + lum / white**2) / (1 + lum)
    out = reinhard_extended(rgb, white)
    out_lum = out @ torch.tensor([0.2126, 0.7152, 0.0722], dtype=torch.float64)
    torch.testing.assert_close(out_lum, expected_lum, atol=1e-12, rtol=0)
    # Hue kept: every channel scaled by the same factor.
    torch.testing.assert_close(
        out / rgb, (expected_lum / lum).unsqueeze(-1).expand(-1, 3), atol=1e-12, rtol=0
    )
    # The white point maps to exactly 1; plain Reinhard is the infinite-white limit.
    assert reinhard_extended(_grey_rgb(torch.tensor([white], dtype=torch.float64)), white)[0, 0] == 1.0
    plain = reinhard_extended(_grey_rgb(GREY), 1e12)[:, 0]
    torch.testing.assert_close(plain, GREY / (1 + GREY), atol=1e-12, rtol=0)


def test_hable_matches_its_formula() -> None:
    out = hable(_grey_rgb(GREY))[:, 0]
    expected = torch.tensor([min(1.0, _hable_formula(v)) for v in GREY.tolist()], dtype=torch.float64)
    torch.testing.assert_close(out, expected, atol=1e-12, rtol=0)


def test_aces_fit_matches_narkowicz() -> None:
    x = GREY * 0.6
    expected = (x * (2.51 * x + 0.03) / (x * (2.43 * x + 0.59) + 0.14)).clamp(0, 1)
    torch.testing.assert_close(aces_fit(_grey_rgb(GREY))[:, 0], expected, atol=1e-12, rtol=0)


@pytest.mark.parametrize(
    ("curve", "expected"),
    [
        # Grey-axis figures (linear in, sRGB-encoded out) from the reference table, 3 decimals.
        (lambda v: reinhard_extended(v, 1e12), [0.150, 0.427, 0.613, 0.735, 0.906]),
        (lambda v: reinhard_extended(v, 4.0), [0.150, 0.429, 0.621, 0.756, 1.000]),
        (hable, [0.130, 0.393, 0.588, 0.731, 0.963]),
        (aces_fit, [0.060, 0.410, 0.693, 0.840, 0.971]),
    ],
)
def test_grey_axis_matches_reference_figures(curve, expected: list[float]) -> None:
    out = linear_to_srgb(curve(_grey_rgb(GREY)))[:, 0]
    torch.testing.assert_close(out, torch.tensor(expected, dtype=torch.float64), atol=1.5e-3, rtol=0)


def test_agx_is_monotonic_neutral_and_rolls_highlights_off() -> None:
    ramp = torch.logspace(-4, 2, 200, dtype=torch.float64)
    out = agx(_grey_rgb(ramp))
    assert (out[1:, 0] >= out[:-1, 0]).all()
    torch.testing.assert_close(out[:, 0], out[:, 1], atol=1e-3, rtol=0)
    torch.testing.assert_close(out[:, 1], out[:, 2], atol=1e-3, rtol=0)
    mid = linear_to_srgb(agx(_grey_rgb(torch.tensor([0.18], dtype=torch.float64))))[0, 0].item()
    assert 0.45 < mid < 0.55
    assert out[-1, 0] > 0.9 and out.max() <= 1.0


def test_runs_in_linear_light_with_exposure() -> None:
    srgb = torch.rand((1, 8, 8, 3), generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    expected = linear_to_srgb(reinhard_extended(srgb_to_linear(srgb) * 2.0, 3.0))
    torch.testing.assert_close(tonemap_rgb(srgb, "reinhard", 1.0, 3.0), expected, atol=1e-12, rtol=0)
    brighter = apply_tonemap(srgb.float(), "hable", 1.0).mean()
    assert brighter > apply_tonemap(srgb.float(), "hable", 0.0).mean()


def test_reinhard_with_white_point_one_is_the_identity() -> None:
    images = torch.rand((2, 16, 16, 3), generator=torch.Generator().manual_seed(1))
    assert apply_tonemap(images, "reinhard", 0.0, 1.0) is images
    # The curve itself is the identity too (the fast path is not hiding a difference).
    torch.testing.assert_close(tonemap_rgb(images, "reinhard", 0.0, 1.0), images, atol=2e-6, rtol=0)


@pytest.mark.parametrize("operator", TONEMAP_OPERATORS)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float16])
def test_shape_dtype_device_range_alpha_and_chunking(operator: str, dtype: torch.dtype) -> None:
    rgba = torch.rand((5, 9, 13, 4), generator=torch.Generator().manual_seed(2)).to(dtype)
    calls: list[tuple[int, int]] = []
    out = apply_tonemap(rgba, operator, 0.5, chunk_size=2, on_chunk=lambda d, t: calls.append((d, t)))
    assert out.shape == rgba.shape and out.dtype == dtype and out.device == rgba.device
    assert torch.isfinite(out).all() and out.min() >= 0 and out.max() <= 1
    assert torch.equal(out[..., 3], rgba[..., 3])
    # Equal up to float rounding: vectorised and scalar-tail pow may differ by an ulp.
    torch.testing.assert_close(out, apply_tonemap(rgba, operator, 0.5), atol=1e-3, rtol=0)
    assert calls == [(1, 3), (2, 3), (3, 3)]


@pytest.mark.parametrize("operator", TONEMAP_OPERATORS)
def test_device_placement_follows_the_input(operator: str) -> None:
    meta = apply_tonemap(torch.empty((2, 8, 8, 3), device="meta"), operator, 0.3)
    assert meta.device.type == "meta" and meta.shape == (2, 8, 8, 3)


@pytest.mark.parametrize(
    "kwargs",
    [{"operator": "filmic"}, {"exposure": float("nan")}, {"exposure": 20.0}, {"white_point": 0.0}],
)
def test_bad_parameters_are_refused(kwargs: dict) -> None:
    with pytest.raises(ValueError):
        apply_tonemap(torch.rand((1, 4, 4, 3)), **kwargs)


def test_bad_images_are_refused() -> None:
    with pytest.raises(ValueError):
        apply_tonemap(torch.rand((4, 4, 3)))
    with pytest.raises(TypeError):
        apply_tonemap([[0.5]])  # type: ignore[arg-type]


def test_cinematic_finish_matches_grain_then_tonemap_then_grade_in_one_lut() -> None:
    from ainfluencer.comfy_nodes.polish.finish import FinishSettings, apply_cinematic_finish
    from ainfluencer.comfy_nodes.polish.grade import apply_grade
    from ainfluencer.comfy_nodes.polish.grain import apply_film_grain

    images = torch.rand((4, 48, 64, 3), generator=torch.Generator().manual_seed(5))
    settings = FinishSettings(
        grain_strength=0.4, exposure=0.35, white_point=1.2746, style="warm", intensity=0.8
    )
    calls: list[tuple[int, int]] = []
    ours = apply_cinematic_finish(
        images, settings, 9, chunk_size=3, on_chunk=lambda d, t: calls.append((d, t))
    )
    grained = apply_film_grain(images, 0.4, 1.0, 0.0, 9)
    expected = apply_grade(apply_tonemap(grained, "reinhard", 0.35, 1.2746), "warm", 0.8)
    mse = (ours.double() - expected.double()).square().mean().item()
    assert 10 * math.log10(1.0 / mse) > 45.0
    assert calls == [(1, 2), (2, 2)]
    meta = apply_cinematic_finish(torch.empty((2, 8, 8, 3), device="meta"), settings, 0)
    assert meta.device.type == "meta"
