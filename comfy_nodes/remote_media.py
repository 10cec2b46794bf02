"""Core IMAGE tensors ↔ the bytes remote providers take and return (no ComfyUI imports)."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from ..sidecar.core.partial_files import atomic_output

_SUFFIX = {"image/png": ".png", "image/jpeg": ".jpg", "image/webp": ".webp", "video/mp4": ".mp4"}


def image_to_png(images: torch.Tensor, index: int = 0) -> bytes:
    """One image of a `[B, H, W, C]` float batch (0..1) as PNG bytes (RGB; alpha dropped)."""
    frame = images[index].detach().to("cpu", torch.float32).clamp(0, 1)
    pixels = (frame[..., :3].numpy() * 255.0 + 0.5).astype(np.uint8)
    out = io.BytesIO()
    Image.fromarray(pixels, "RGB").save(out, format="PNG")
    return out.getvalue()


def bytes_to_image(data: bytes) -> torch.Tensor:
    """Image bytes (PNG, JPEG, WebP) as a `[1, H, W, 3]` float tensor in 0..1."""
    with Image.open(io.BytesIO(data)) as img:
        rgb = np.asarray(img.convert("RGB"), dtype=np.float32) / 255.0
    return torch.from_numpy(rgb.copy()).unsqueeze(0)


def stack_images(images: list[torch.Tensor]) -> torch.Tensor:
    """Concatenate `[1, H, W, 3]` images into one batch, resizing later ones to the first one's size."""
    first = images[0]
    height, width = first.shape[1], first.shape[2]
    same = [
        img
        if img.shape[1:3] == (height, width)
        else torch.nn.functional.interpolate(
            img.permute(0, 3, 1, 2), size=(height, width), mode="bicubic", align_corners=False
        )
        .clamp(0, 1)
        .permute(0, 2, 3, 1)
        for img in images
    ]
    return torch.cat(same, dim=0)


def suffix_for(content_type: str, fallback: str) -> str:
    """A file suffix for a provider's content type."""
    return _SUFFIX.get(content_type.split(";")[0].strip().lower(), fallback)


def write_result(folder: Path, stem: str, data: bytes, content_type: str, fallback: str) -> Path:
    """Write a downloaded result under `folder` (temp name, then renamed) and return its path."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{stem}{suffix_for(content_type, fallback)}"
    with atomic_output(path) as part:
        part.write_bytes(data)
    return path
