"""Faces for the identity tests: the sample portrait, and a synthetic different person made from it."""

from __future__ import annotations

import io
from pathlib import Path

import cv2
import numpy as np
from ainfluencer.comfy_nodes.identity.faces import face_embedder
from PIL import Image

PORTRAIT = Path(__file__).resolve().parents[1] / "assets" / "examples" / "portrait.png"


def portrait() -> Image.Image:
    """The sample portrait (public domain) as RGB."""
    return Image.open(PORTRAIT).convert("RGB")


def other_face(image: Image.Image) -> np.ndarray:
    """A synthetic different person: the face's features pushed 1.6x wider and 0.7x shorter.

    The sample set has one real person; reshaping the face's proportions this far moves the descriptor
    past dlib's 0.6 same-person threshold, which is what a generator that lost the identity produces.
    """
    pixels = np.asarray(image, dtype=np.float32)
    height, width = pixels.shape[:2]
    face = face_embedder().detector(np.asarray(image), 1)[0]
    cx, cy = face.center().x, face.center().y
    radius = 0.9 * max(face.width(), face.height())
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    dx, dy = xx - cx, yy - cy
    weight = np.clip(1 - np.sqrt(dx * dx + dy * dy) / radius, 0, 1)
    map_x, map_y = cx + dx / (1 + 0.6 * weight), cy + dy / (1 - 0.3 * weight)
    return cv2.remap(pixels, map_x, map_y, cv2.INTER_LINEAR).astype(np.uint8)


def other_face_png() -> bytes:
    """The synthetic different person as PNG bytes."""
    out = io.BytesIO()
    Image.fromarray(other_face(portrait())).save(out, format="PNG")
    return out.getvalue()
