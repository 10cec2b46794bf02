"""Specification of the anamorphic look (pure torch, no ComfyUI): oval bokeh, horizontal flare, scope crop."""

from __future__ import annotations

import pytest
import torch
from ainfluencer.comfy_nodes.polish.anamorphic import (
    SCOPE_RATIO,
    AnamorphicSettings,
    add_horizontal_flare,
    add_oval_bokeh,
    apply_anamorphic,
    oval_kernel,
    scope_crop,
)


def _point_light(height: int = 128, width: int = 128) -> torch.Tensor:
    """A dark frame with one small white light in the middle."""
    frame = torch.full((1, height, width, 3), 0.05)
    frame[:, height // 2 - 1 : height // 2 + 1, width // 2 - 1 : width // 2 + 1] = 1.0
    return frame


def _extent(changed: torch.Tensor, axis: int) -> int:
    """How many rows (axis 0) or columns (axis 1) hold a changed pixel."""
    return int(changed.any(dim=1 - axis).sum())


def test_the_oval_kernel_is_squeeze_times_taller_than_wide_and_sums_to_one():
    kernel = oval_kernel(4, 2.0)
    assert kernel.shape == (17, 9)
    assert kernel.sum().item() == pytest.approx(1.0)


def test_a_point_light_becomes_a_vertical_oval_of_bokeh():
    light = _point_light(256, 256)
    out = add_oval_bokeh(light, 1.0, squeeze=2.0, threshold=0.8)
    changed = (out - light).abs().amax(-1)[0] > 1e-3
    tall, wide = _extent(changed, 0), _extent(changed, 1)
    assert tall > 1.5 * wide


def test_a_point_light_streaks_into_a_long_blue_horizontal_flare():
    light = _point_light()
    out = add_horizontal_flare(light, 1.0, threshold=0.8)
    changed = (out - light).abs().amax(-1)[0] > 1e-3
    assert _extent(changed, 1) > 40 and _extent(changed, 0) <= 4
    gain = (out - light)[0, 64, 90]  # on the streak, away from the light itself
    assert gain[2] > gain[1] > gain[0] > 0


def test_the_scope_crop_is_centred_at_2_39_to_1_with_even_sides():
    frame = torch.rand(2, 720, 1280, 3)
    cropped = scope_crop(frame)
    height, width = cropped.shape[1:3]
    assert width == 1280 and height % 2 == 0 and width / height == pytest.approx(SCOPE_RATIO, rel=0.01)
    top = (720 - height) // 2
    assert torch.equal(cropped, frame[:, top : top + height])
    wide = torch.rand(1, 100, 400, 3)  # already wider than scope: the sides go
    assert scope_crop(wide).shape[1:3] == (100, 238)


def test_nothing_at_all_leaves_the_image_unchanged_and_alpha_is_kept():
    frame = torch.rand(1, 32, 48, 4)
    off = AnamorphicSettings(bokeh=0.0, flare=0.0, crop_to_scope=False)
    assert torch.equal(apply_anamorphic(frame, off), frame)
    full = apply_anamorphic(frame, AnamorphicSettings(bokeh=1.0, flare=1.0))
    assert torch.equal(full[..., 3], frame[..., 3])


def test_the_look_only_brightens_and_stays_in_range():
    frame = torch.rand(2, 96, 160, 3)
    out = apply_anamorphic(frame, AnamorphicSettings(bokeh=1.0, flare=1.0, threshold=0.5))
    assert out.shape == frame.shape
    assert out.min() >= 0.0 and out.max() <= 1.0
    assert (out >= frame - 1e-6).all()  # screen blending never darkens


def test_dark_images_get_no_flare_or_bokeh():
    frame = torch.full((1, 64, 64, 3), 0.3)
    assert torch.allclose(apply_anamorphic(frame, AnamorphicSettings(bokeh=1.0, flare=1.0)), frame)
