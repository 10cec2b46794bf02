"""The watermark on files: the per-install on/off setting, marking a saved image in place, reading it back.

The setting lives in `<data dir>/provenance/watermark.json` beside the signing certificates; off by default.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
from PIL import Image, PngImagePlugin

from .certificates import provenance_dir
from .manifest import mime_type
from .sign import output_error
from .watermark import Payload, can_mark, embed, extract

SETTING = "watermark.json"
MARKABLE = {"image/png", "image/jpeg", "image/webp"}
_MODES = {"RGB", "RGBA", "L"}


@dataclass(frozen=True)
class WatermarkFinding:
    """What verify says about an image's watermark."""

    status: Literal["found", "none"]
    payload: str | None = None

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready form."""
        return {"status": self.status, "payload": self.payload}

    def summary(self) -> str:
        """`watermark: found (AInf:1a2b3c4d)` or `watermark: none`."""
        return f"watermark: found ({self.payload})" if self.status == "found" else "watermark: none"


def watermark_enabled(data_folder: str | os.PathLike[str]) -> bool:
    """Whether images are watermarked before they are signed (off unless turned on)."""
    setting = provenance_dir(data_folder) / SETTING
    try:
        return bool(json.loads(setting.read_text()).get("enabled"))
    except (OSError, ValueError, AttributeError):
        return False


def set_watermark(data_folder: str | os.PathLike[str], enabled: bool) -> None:
    """Turn the watermark on or off for this install."""
    setting = provenance_dir(data_folder) / SETTING
    tmp = setting.with_name(SETTING + ".tmp")
    tmp.write_text(json.dumps({"enabled": enabled}))
    os.replace(tmp, setting)


def _save_options(image: Image.Image, media_type: str) -> dict[str, Any]:
    """Keep what the file carried: PNG text (ComfyUI's prompt and workflow), ICC profile, EXIF."""
    options: dict[str, Any] = {
        k: image.info[k] for k in ("icc_profile", "exif", "dpi") if image.info.get(k) is not None
    }
    if media_type == "image/png":
        text = PngImagePlugin.PngInfo()
        for key, value in getattr(image, "text", {}).items():
            text.add_text(key, value)
        return {**options, "pnginfo": text, "compress_level": 4}
    return {**options, "quality": 95}


def mark_file(path: str | os.PathLike[str], payload: Payload) -> bool:
    """Watermark a PNG, JPEG or WebP in place (atomically); False when it is too small or not an image."""
    path = Path(path)
    media_type = mime_type(path)
    if media_type not in MARKABLE:
        return False
    tmp = path.with_name(f".{path.name}.marking")
    try:
        with Image.open(path) as image:
            image.load()
            pixels = np.asarray(image if image.mode in _MODES else image.convert("RGBA"))
            if not can_mark(pixels):
                return False
            marked = Image.fromarray(embed(pixels, payload))
            marked.save(tmp, format=image.format, **_save_options(image, media_type))
        os.replace(tmp, path)
    except (OSError, ValueError) as exc:
        raise output_error("The output could not be watermarked.", exc, media_type) from None
    finally:
        tmp.unlink(missing_ok=True)
    return True


def read_mark(path: str | os.PathLike[str]) -> WatermarkFinding | None:
    """The watermark found in an image file; None when the file is not an image this can decode."""
    if mime_type(path) not in MARKABLE:
        return None
    try:
        with Image.open(path) as image:
            pixels = np.asarray(image if image.mode in _MODES else image.convert("RGBA"))
    except (OSError, ValueError, Image.DecompressionBombError):
        return None
    payload = extract(pixels) if can_mark(pixels) else None
    return WatermarkFinding("found", payload.text()) if payload else WatermarkFinding("none")
