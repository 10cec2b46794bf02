"""1–3 reference photos of one person as one IMAGE batch, each fitted into the first photo's frame.

An IMAGE batch holds frames of one size, so every further photo is scaled to fit inside the first one's
width and height with its aspect ratio kept and the rest padded black: a stretched face would measure as
another person, and the first photo, the one engines that take a single reference send, stays untouched.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

MAX_REFERENCES = 3


def fit_into(image: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """One [H, W, C] frame scaled to fit inside height × width (aspect kept), centred on black."""
    scale = min(height / image.shape[0], width / image.shape[1])
    fitted_h = max(1, min(height, round(image.shape[0] * scale)))
    fitted_w = max(1, min(width, round(image.shape[1] * scale)))
    chw = image.permute(2, 0, 1).unsqueeze(0).to(torch.float32)
    resized = F.interpolate(chw, size=(fitted_h, fitted_w), mode="bilinear", align_corners=False)
    frame = torch.zeros((height, width, image.shape[2]), dtype=image.dtype, device=image.device)
    top, left = (height - fitted_h) // 2, (width - fitted_w) // 2
    frame[top : top + fitted_h, left : left + fitted_w] = resized[0].permute(1, 2, 0).to(image.dtype)
    return frame


def reference_batch(*photos: torch.Tensor | None) -> torch.Tensor:
    """The first image of each given photo batch, at most three, stacked at the size of the first."""
    frames = [photo[0] for photo in photos if photo is not None and len(photo)][:MAX_REFERENCES]
    if not frames:
        raise ValueError("at least one reference photo is needed")
    height, width, channels = frames[0].shape
    fitted = [frames[0]] + [fit_into(f[..., :channels], height, width) for f in frames[1:]]
    return torch.stack(fitted)
