"""The anamorphic lens look on IMAGE batches ([B, H, W, C] floats 0..1), in pure torch.

An anamorphic lens squeezes the picture horizontally onto the sensor and is de-squeezed afterwards, which
gives its three signatures: out-of-focus highlights stretched into vertical ovals, bright lights streaking
into long horizontal (usually blue) flares, and the wide 2.39:1 frame. Without a depth map the bokeh is
shaped where the picture is already bright and soft: highlights are spread by an elliptical disc that is
`squeeze` times taller than wide and screened back over the image.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

SCOPE_RATIO = 2.39  # the cinema "scope" frame an anamorphic lens de-squeezes to
FLARE_TINT = (0.35, 0.6, 1.0)  # the blue streak of coated anamorphic glass
LUMA = (0.2126, 0.7152, 0.0722)  # Rec. 709 luminance weights, on the sRGB values


@dataclass(frozen=True)
class AnamorphicSettings:
    """How strong each part of the look is; all zero (and no crop) leaves the image unchanged."""

    bokeh: float = 0.35  # 0..1: how much of the highlights is spread into ovals
    flare: float = 0.25  # 0..1: brightness of the horizontal streaks
    squeeze: float = 2.0  # the lens squeeze: bokeh height over width
    threshold: float = 0.8  # luminance above which light blooms, streaks and forms bokeh
    crop_to_scope: bool = False  # crop the frame to 2.39:1 (centred)


def _highlights(images: torch.Tensor, threshold: float) -> torch.Tensor:
    """The part of each pixel's light above `threshold` (soft knee), channels first: [B, C, H, W]."""
    rgb = images[..., :3].permute(0, 3, 1, 2)
    weights = torch.tensor(LUMA, dtype=rgb.dtype, device=rgb.device).view(1, 3, 1, 1)
    luma = (rgb * weights).sum(1, keepdim=True)
    knee = ((luma - threshold) / max(1e-6, 1.0 - threshold)).clamp(0.0, 1.0)
    return rgb * knee


def oval_kernel(radius: int, squeeze: float, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """A normalised elliptical disc `squeeze` times taller than wide ([2ry+1, 2rx+1])."""
    rx = max(1, radius)
    ry = max(1, round(rx * squeeze))
    y = torch.arange(-ry, ry + 1, dtype=dtype).view(-1, 1) / ry
    x = torch.arange(-rx, rx + 1, dtype=dtype).view(1, -1) / rx
    disc = ((x * x + y * y) <= 1.0).to(dtype)
    return disc / disc.sum()


def _box_blur_rows(plane: torch.Tensor, radius: int) -> torch.Tensor:
    """A box blur along the last axis by running sums (cost independent of the radius), edges clamped."""
    if radius < 1:
        return plane
    padded = torch.cat(
        [
            plane[..., :1].expand(*plane.shape[:-1], radius + 1),
            plane,
            plane[..., -1:].expand(*plane.shape[:-1], radius),
        ],
        dim=-1,
    )
    sums = padded.cumsum(-1)
    width = 2 * radius + 1
    return (sums[..., width:] - sums[..., :-width]) / width


def streak(plane: torch.Tensor, length: int) -> torch.Tensor:
    """Spread light horizontally over about `length` pixels (three box passes: a near-Gaussian streak)."""
    radius = max(1, length // 6)
    for _ in range(3):
        plane = _box_blur_rows(plane, radius)
    return plane


def _screen(base: torch.Tensor, light: torch.Tensor) -> torch.Tensor:
    return 1.0 - (1.0 - base) * (1.0 - light.clamp(0.0, 1.0))


def add_oval_bokeh(images: torch.Tensor, amount: float, squeeze: float, threshold: float) -> torch.Tensor:
    """Screen the highlights, spread by an oval disc, back over the image (radius ~2.5% of the short side)."""
    if amount <= 0:
        return images
    light = _highlights(images, threshold)
    small = F.avg_pool2d(light, 2, ceil_mode=True) if min(light.shape[-2:]) >= 64 else light
    radius = max(1, round(min(small.shape[-2:]) * 0.025))
    kernel = oval_kernel(radius, squeeze, small.dtype).to(small.device)
    weight = kernel.expand(3, 1, *kernel.shape)
    pad = (kernel.shape[1] // 2, kernel.shape[1] // 2, kernel.shape[0] // 2, kernel.shape[0] // 2)
    spread = F.conv2d(F.pad(small, pad, mode="replicate"), weight, groups=3)
    if spread.shape[-2:] != light.shape[-2:]:
        spread = F.interpolate(spread, size=light.shape[-2:], mode="bilinear", align_corners=False)
    rgb = _screen(images[..., :3], (spread * amount * 2.0).permute(0, 2, 3, 1))
    return torch.cat([rgb, images[..., 3:]], dim=-1)


def add_horizontal_flare(images: torch.Tensor, amount: float, threshold: float) -> torch.Tensor:
    """Screen blue horizontal streaks (about half the frame long) from the brightest lights over the image."""
    if amount <= 0:
        return images
    light = _highlights(images, threshold).mean(1, keepdim=True)
    length = max(3, images.shape[2] // 2)
    spread = streak(light, length) * (length / 6) ** 0.5  # keep a long streak visible, not averaged away
    tint = torch.tensor(FLARE_TINT, dtype=images.dtype, device=images.device).view(1, 1, 1, 3)
    rgb = _screen(images[..., :3], spread.permute(0, 2, 3, 1) * tint * amount)
    return torch.cat([rgb, images[..., 3:]], dim=-1)


def scope_crop(images: torch.Tensor, ratio: float = SCOPE_RATIO) -> torch.Tensor:
    """The centred crop with width / height = `ratio` (even sides, for video encoders)."""
    height, width = images.shape[1], images.shape[2]
    if width / height >= ratio:
        new_w = min(width, round(height * ratio) // 2 * 2)
        left = (width - new_w) // 2
        return images[:, :, left : left + new_w]
    new_h = max(2, round(width / ratio) // 2 * 2)
    top = (height - new_h) // 2
    return images[:, top : top + new_h]


def apply_anamorphic(images: torch.Tensor, settings: AnamorphicSettings) -> torch.Tensor:
    """Oval bokeh, then horizontal flares, then the optional 2.39:1 crop."""
    out = add_oval_bokeh(images, settings.bokeh, settings.squeeze, settings.threshold)
    out = add_horizontal_flare(out, settings.flare, settings.threshold)
    return scope_crop(out) if settings.crop_to_scope else out
