"""V3 node measuring identity: each output face (images, or sampled frames of a clip) against the reference.

The distances go on the executing job (`JobStore.record_identity`), which then carries a warning such as
"identity drift in shots 3 and 7" when a shot or frame is past the threshold. Imported only inside ComfyUI.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from comfy_api.latest import io, ui
from comfy_execution.utils import get_executing_context

from ..sidecar.core.errors import AInfError, ErrorCode
from ..sidecar.entry import get_sidecar
from ..sidecar.jobs.identity import DEFAULT_THRESHOLD, IdentityReport, measure
from .identity.faces import face_embedder, sampled_frames
from .identity.references import MAX_REFERENCES, reference_batch
from .node_helpers import float_input, int_input, node_schema, video_path
from .nodes_face_swap import swapped_samples
from .remote_call import job_for_prompt

__all__ = ["IDENTITY_NODES", "IdentityReferencesNode", "MeasureIdentityNode"]

CATEGORY = "AInfluencer/identity"


def _rgb(images: torch.Tensor, index: int) -> np.ndarray:
    frame = images[index].detach().to("cpu", torch.float32).clamp(0, 1)
    return (frame[..., :3].numpy() * 255.0 + 0.5).astype(np.uint8)


def reference_embeddings(reference: torch.Tensor) -> list[np.ndarray]:
    """The faces of the first 1–3 reference images (INVALID_MEDIA when none shows a face)."""
    embedder = face_embedder()
    found = [embedder.embed(_rgb(reference, i)) for i in range(min(len(reference), MAX_REFERENCES))]
    faces = [f for f in found if f is not None]
    if not faces:
        raise AInfError(
            ErrorCode.INVALID_MEDIA,
            "No face was found in the reference image, so identity cannot be measured.",
            remediation=["Use a reference photo with one clear, front-facing face at least 80 px wide."],
        )
    return faces


def measure_outputs(
    reference: torch.Tensor,
    images: torch.Tensor | None,
    video: Any,
    samples: int,
    threshold: float,
    shot_numbers: Sequence[int] | None = None,
) -> IdentityReport:
    """Images are measured as shots (numbered from 1 unless numbered), a clip as evenly sampled frames."""
    faces = reference_embeddings(reference)
    embedder = face_embedder()
    if video is not None:
        frames = swapped_samples(video, samples) or list(sampled_frames(video_path(video), samples))
        embeddings = [embedder.embed(rgb) for _, rgb in frames]
        return measure(faces, embeddings, subject="frame", labels=[i for i, _ in frames], threshold=threshold)
    if images is not None:
        embeddings = [embedder.embed(_rgb(images, i)) for i in range(len(images))]
        return measure(faces, embeddings, subject="shot", labels=shot_numbers, threshold=threshold)
    raise AInfError(ErrorCode.VALIDATION_ERROR, "Connect the images or the video to measure.")


def record_on_job(report: IdentityReport) -> None:
    """Keep a measurement on the job of the prompt being executed (nothing outside a prompt)."""
    context = get_executing_context()
    if context is not None:
        job_id, _quality = job_for_prompt(str(context.prompt_id))
        get_sidecar().store.record_identity(job_id, str(context.node_id), report)


class MeasureIdentityNode(io.ComfyNode):
    """Compares each output's face with the reference face and records the distances on the job."""

    @classmethod
    def define_schema(cls) -> io.Schema:
        """Reference IMAGE, images or VIDEO, frames to sample, threshold → the report as text."""
        return node_schema(
            "AInfluencerMeasureIdentity",
            "AInfluencer Measure Identity",
            CATEGORY,
            "Face distance of each output (images, or sampled frames of a video) to the reference face "
            "(dlib's CC0 face descriptor); past the threshold the job carries an identity drift warning.",
            inputs=[
                io.Image.Input("reference", tooltip="1–3 reference photos of the person (a batch)."),
                io.Image.Input("images", optional=True, tooltip="Each image is one shot."),
                io.Video.Input("video", optional=True, tooltip="Evenly spaced frames are measured."),
                int_input(
                    "sample_frames", 16, 2, 240, "How many evenly spaced frames of a video to measure."
                ),
                float_input(
                    "threshold",
                    DEFAULT_THRESHOLD,
                    0.3,
                    1.0,
                    0.01,
                    "Face distance above which a shot or frame counts as another person (dlib: 0.6).",
                ),
            ],
            outputs=[io.String.Output("report", tooltip="The warning, or the mean and worst distance.")],
            is_output_node=True,
        )

    @classmethod
    def fingerprint_inputs(cls, **_inputs: Any) -> str:
        """A new value every run: each job records its own measurement, so it never comes from cache."""
        return uuid.uuid4().hex

    @classmethod
    def execute(cls, reference, sample_frames, threshold, images=None, video=None) -> io.NodeOutput:
        """Measure, record on the job, show the result on the node."""
        report = measure_outputs(reference, images, video, sample_frames, threshold)
        record_on_job(report)
        text = report.summary
        return io.NodeOutput(text, ui=ui.PreviewText(text))


_SLOTS = (
    ("reference", "The main reference photo (sent to one-photo engines)."),
    ("reference_2", "Another photo of the same person."),
    ("reference_3", "A third photo of the same person."),
)


class IdentityReferencesNode(io.ComfyNode):
    """Joins 1–3 reference photos of one person into one batch (the measurement and local PuLID take it)."""

    @classmethod
    def define_schema(cls) -> io.Schema:
        """Reference IMAGE, optional second and third → one IMAGE batch of 1–3 photos."""
        return node_schema(
            "AInfluencerIdentityReferences",
            "AInfluencer Identity References",
            CATEGORY,
            "1–3 photos of the same person as one batch, the later ones fitted into the first one's frame "
            "(aspect kept, padded). Engines that take one reference send the first.",
            inputs=[io.Image.Input(name, optional=name != "reference", tooltip=tip) for name, tip in _SLOTS],
            outputs=[io.Image.Output("references", tooltip="1–3 photos, the main one first.")],
        )

    @classmethod
    def execute(cls, reference, reference_2=None, reference_3=None) -> io.NodeOutput:
        """Stack the given photos."""
        return io.NodeOutput(reference_batch(reference, reference_2, reference_3))


IDENTITY_NODES: list[type[io.ComfyNode]] = [MeasureIdentityNode, IdentityReferencesNode]
