"""The face embedder on real faces: the sample portrait against itself, edits of it and a different face."""

import av
import numpy as np
import pytest
from ainfluencer.comfy_nodes.identity.faces import face_embedder, sample_frame_indices, sampled_frames
from ainfluencer.sidecar.jobs.identity import measure
from face_samples import PORTRAIT, other_face, portrait
from PIL import ImageOps

PUSH_IN = PORTRAIT.with_name("portrait_push_in.mp4")


@pytest.fixture(scope="module")
def reference():
    return face_embedder().embed(np.asarray(portrait()))


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
    output = face_embedder().embed(np.asarray(edit(portrait())))
    report = measure([reference], [output], subject="shot")
    assert report.warning is None and report.worst < 0.4


def test_a_different_face_than_the_reference_is_flagged(reference):
    output = face_embedder().embed(other_face(portrait()))
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
