"""Specification of the cinematic finish's uint8 (video) fast path against its float path."""

from __future__ import annotations

import math

import pytest
import torch
from ainfluencer.comfy_nodes.polish.finish import FinishSettings, apply_cinematic_finish, finish_lut
from ainfluencer.comfy_nodes.polish.grain import apply_film_grain
from ainfluencer.comfy_nodes.polish.lut import apply_lut

SETTINGS = FinishSettings(grain_strength=0.3, exposure=0.35, white_point=1.2746, intensity=0.7)


def _frames(frames: int = 4, height: int = 48, width: int = 64) -> torch.Tensor:
    """uint8 frames: smooth ramps (like video) with a little noise."""
    gen = torch.Generator().manual_seed(0)
    y = torch.linspace(0, 1, height).view(1, -1, 1, 1)
    x = torch.linspace(0, 1, width).view(1, 1, -1, 1)
    ramps = torch.cat([x.expand(frames, height, width, 1), y.expand(frames, height, width, 1)], dim=-1)
    rgb = torch.cat([ramps, (ramps.sum(-1, keepdim=True) / 2)], dim=-1)
    rgb = rgb + torch.rand(rgb.shape, generator=gen) * 0.1
    return (rgb.clamp(0, 1) * 255).round().to(torch.uint8)


def _psnr(a: torch.Tensor, b: torch.Tensor) -> float:
    mse = (a.double() - b.double()).square().mean().item()
    return math.inf if mse == 0 else 10 * math.log10(255.0**2 / mse)


def test_uint8_finish_matches_the_float_finish() -> None:
    frames = _frames()
    lut = finish_lut(SETTINGS)
    fast = apply_cinematic_finish(frames, SETTINGS, seed=2, lut=lut)
    assert fast.dtype == torch.uint8 and fast.shape == frames.shape
    exact = apply_cinematic_finish(frames.float().div(255.0), SETTINGS, seed=2, lut=lut)
    exact = exact.mul(255.0).round()
    # The only difference: the grained frame is 8-bit before the LUT (half a code, times the LUT's slope):
    # at most two codes, about half a code RMS on these steep-shadow ramps.
    assert (fast.double() - exact.double()).abs().max().item() <= 2
    assert _psnr(fast, exact) > 50.0


def test_uint8_finish_equals_uint8_grain_then_uint8_lut() -> None:
    frames = _frames(3)
    lut = finish_lut(SETTINGS)
    fused = apply_cinematic_finish(frames, SETTINGS, seed=5, frame_offset=7, lut=lut)
    grained = apply_film_grain(frames, SETTINGS.grain_strength, SETTINGS.grain_size, 0.0, 5, 7)
    assert torch.equal(fused, apply_lut(grained, lut))


def test_uint8_finish_chunks_offsets_and_alpha() -> None:
    frames = _frames(5)
    rgba = torch.cat([frames, torch.full((*frames.shape[:3], 1), 77, dtype=torch.uint8)], dim=-1)
    lut = finish_lut(SETTINGS)
    calls: list[tuple[int, int]] = []
    chunked = apply_cinematic_finish(
        rgba, SETTINGS, seed=1, lut=lut, chunk_size=2, on_chunk=lambda d, t: calls.append((d, t))
    )
    whole = apply_cinematic_finish(rgba, SETTINGS, seed=1, lut=lut)
    assert torch.equal(chunked, whole) and calls == [(1, 3), (2, 3), (3, 3)]
    assert torch.equal(whole[..., 3], rgba[..., 3])
    tail = apply_cinematic_finish(rgba[3:], SETTINGS, seed=1, frame_offset=3, lut=lut)
    assert torch.equal(whole[3:], tail)


@pytest.mark.parametrize(("chroma", "look"), [(0.5, "custom"), (0.0, "16mm")])
def test_uint8_finish_with_colour_grain_goes_through_the_float_grain(chroma: float, look: str) -> None:
    settings = FinishSettings(grain_strength=0.4, grain_chroma=chroma, grain_look=look)
    frames = _frames(2)
    lut = finish_lut(settings)
    out = apply_cinematic_finish(frames, settings, seed=3, lut=lut)
    grained = apply_film_grain(frames, 0.4, 1.0, chroma, 3, look=look)
    assert torch.equal(out, apply_lut(grained, lut))


def test_uint8_finish_without_grain_is_the_lut() -> None:
    settings = FinishSettings(grain_strength=0.0)
    frames = _frames(2)
    lut = finish_lut(settings)
    assert torch.equal(apply_cinematic_finish(frames, settings, seed=0, lut=lut), apply_lut(frames, lut))
