"""The face embedder on real faces: the sample portrait against itself, edits of it and a different face."""

from pathlib import Path

import av
import cv2
import numpy as np
import pytest
from ainfluencer.comfy_nodes.identity.faces import face_embedder, sample_frame_indices, sampled_frames
from ainfluencer.sidecar.jobs.identity import measure
from PIL import Image, ImageOps

PORTRAIT = Path(__file__).resolve().parents[1] / "assets" / "examples" / "portrait.png"
PUSH_IN = PORTRAIT.with_name("portrait_push_in.mp4")


def _portrait() -> Image.Image:
    return Image.open(PORTRAIT).convert("RGB")


def _other_face(image: Image.Image) -> np.ndarray:
    """A synthetic different person: the face's features pushed 1.6x wider and 0.7x shorter.

    The sample set has one real person; reshaping the face's proportions this far moves the descriptor
    past dlib's 0.6 same-person threshold, which is what a generator that lost the identity produces.
    """
    pixels = np.asarray(image, dtype=np.float32)
    height, width = pixels.shape[:2]
    embedder = face_embedder()
    face = embedder.detector(np.asarray(image), 1)[0]
    cx, cy = face.center().x, face.center().y
    radius = 0.9 * max(face.width(), face.height())
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    dx, dy = xx - cx, yy - cy
    weight = np.clip(1 - np.sqrt(dx * dx + dy * dy) / radius, 0, 1)
    map_x, map_y = cx + dx / (1 + 0.6 * weight), cy + dy / (1 - 0.3 * weight)
    return cv2.remap(pixels, map_x, map_y, cv2.INTER_LINEAR).astype(np.uint8)


@pytest.fixture(scope="module")
def reference():
    return face_embedder().embed(np.asarray(_portrait()))


def test_the_sample_portrait_has_a_face(reference):
    assert reference is not None and reference.shape == (128,)


@pytest.mark.parametrize(
    "edit",
    [
        ImageOps.mirror,
        lambda im: im.resize((256, 256)).resize((512, 512)),
        lambda im: im.rotate(8),
        lambda im: ImageOps.grayscale(im).convert("RGB"),
    ],
    ids=["mirrored", "half-resolution", "tilted", "greyscale"],
)
def test_the_same_face_after_an_edit_is_not_flagged(reference, edit):
    output = face_embedder().embed(np.asarray(edit(_portrait())))
    report = measure([reference], [output], subject="shot")
    assert report.warning is None and report.worst < 0.4


def test_a_different_face_than_the_reference_is_flagged(reference):
    output = face_embedder().embed(_other_face(_portrait()))
    report = measure([reference], [output], subject="shot")
    assert report.drifted == (1,) and report.worst > 0.6


def test_an_image_without_a_face_yields_no_embedding():
    assert face_embedder().embed(np.full((256, 256, 3), 128, np.uint8)) is None


def test_frames_are_sampled_evenly_with_first_and_last():
    assert sample_frame_indices(150, 4) == [0, 50, 99, 149]
    assert sample_frame_indices(3, 16) == [0, 1, 2] and sample_frame_indices(0, 4) == []


def test_sampled_frames_of_the_push_in_clip_all_show_the_reference_face(reference):
    frames = list(sampled_frames(PUSH_IN, 5))
    with av.open(str(PUSH_IN)) as container:
        total = container.streams.video[0].frames
    assert [i for i, _ in frames] == sample_frame_indices(total, 5)
    embedder = face_embedder()
    report = measure([reference], [embedder.embed(f) for _, f in frames], subject="frame",
                     labels=[i for i, _ in frames])  # fmt: skip
    assert report.warning is None and report.frame_spread is not None
