"""The local video face swap: a user-installed ReActor node swaps the reference face onto a clip, streamed.

ReActor's ReActorFaceSwap takes an IMAGE batch, so a clip wired to it directly would be decoded whole into
memory. This node instead appends a pass to the clip's stream plan: frames are decoded in bounded chunks,
each chunk goes through ReActor's node class (looked up in ComfyUI's registry, never imported), and the save
node encodes the result once with the source's audio copied. Imported only inside ComfyUI.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from comfy_api.latest import io

from ..sidecar.core.errors import AInfError, ErrorCode
from ..sidecar.remote.adapters.identity_packs import REACTOR_SWAP_NODE, IdentityPacksAdapter
from ..sidecar.remote.adapters.node_packs import comfy_node_class
from .identity.faces import sampled_frames
from .node_helpers import check_choice, node_schema
from .polish.passes import Tick
from .polish.stream_plan import DECODE_CHUNK, chain_processor
from .polish.video_stream import ChunkProcessor, FunctionProcessor
from .streamed_video import StreamedVideo

__all__ = ["FACE_SWAP_NODES", "FaceSwapPass", "LocalFaceSwapVideoNode", "swapped_samples"]

CATEGORY = "AInfluencer/identity"
# ReActorFaceSwap's `facedetection` choices (Gourieff/ComfyUI-ReActor nodes.py, class reactor)
FACE_DETECTION = ["retinaface_resnet50", "retinaface_mobile0.25", "YOLOv5l", "YOLOv5n"]


@dataclass(frozen=True)
class SwapSettings:
    """ReActorFaceSwap's own inputs this node sets: the swap model, the detector and the face restorer."""

    swap_model: str
    face_detection: str
    face_restore_model: str

    def reactor_inputs(self, frames: torch.Tensor, face: torch.Tensor) -> dict[str, Any]:
        """ReActorFaceSwap.execute's keyword arguments for one chunk: every face in it gets the reference."""
        return {
            "enabled": True,
            "input_image": frames,
            "swap_model": self.swap_model,
            "detect_gender_source": "no",
            "detect_gender_input": "no",
            "source_faces_index": "0",
            "input_faces_index": "0",
            "console_log_level": 1,
            "face_restore_model": self.face_restore_model,
            "face_restore_visibility": 1.0,
            "codeformer_weight": 0.5,
            "facedetection": self.face_detection,
            "source_image": face,
        }


def _first_image(result: Any) -> torch.Tensor:
    """The IMAGE a V1 node returned: the first value of its tuple (or of a {'result': ...} dict)."""
    if isinstance(result, dict):
        result = result["result"]
    return result[0]


@dataclass(frozen=True, eq=False)
class FaceSwapPass:
    """A stream-plan pass: each chunk of uint8 frames through the pack's face swap node (same size, rate)."""

    node_class: type
    settings: SwapSettings
    face: torch.Tensor  # [1, H, W, 3] float 0..1, the reference
    fps_factor: int = 1

    def output_size(self, width: int, height: int) -> tuple[int, int]:
        """Unchanged: the swap paints faces into the frame."""
        return width, height

    def build(self, width: int, height: int, device: torch.device, tick: Tick) -> ChunkProcessor:
        """A fresh pack node instance that swaps one chunk per call."""
        node = self.node_class()
        function = getattr(node, getattr(self.node_class, "FUNCTION", "execute"))

        def swap(frames: torch.Tensor) -> torch.Tensor:
            tick()
            images = frames.float().div(255.0)
            swapped = _first_image(function(**self.settings.reactor_inputs(images, self.face)))
            if tuple(swapped.shape) != tuple(images.shape):
                raise AInfError(
                    ErrorCode.INTERNAL_ERROR,
                    f"{REACTOR_SWAP_NODE} returned frames of shape {tuple(swapped.shape)} for a chunk of "
                    f"{tuple(images.shape)}",
                )
            return swapped.to(frames.device).clamp(0, 1).mul(255.0).round().to(torch.uint8)

        return FunctionProcessor(swap)


def swapped_samples(video: Any, samples: int) -> list[tuple[int, np.ndarray]] | None:
    """Evenly sampled frames of a clip whose only passes are face swaps, each swapped on its own.

    A face swap treats every frame alone, so the identity check needs only the sampled frames swapped, not
    the whole clip rendered a second time. None when the clip has other passes (or a rotated or odd-sized
    source, whose frames the passes see turned or cropped): then the clip is rendered.
    """
    if not isinstance(video, StreamedVideo) or not video.plan.passes:
        return None
    if not all(isinstance(spec, FaceSwapPass) for spec in video.plan.passes):
        return None
    fmt = video.plan.source_format()
    if fmt.rotation or fmt.cropped:
        return None
    picked = list(sampled_frames(fmt.path, samples))
    engine = chain_processor(video.plan.passes, fmt.width, fmt.height, torch.device("cpu"))
    swapped: list[np.ndarray] = []
    for start in range(0, len(picked), DECODE_CHUNK):
        chunk = torch.from_numpy(np.stack([rgb for _, rgb in picked[start : start + DECODE_CHUNK]]))
        swapped.extend(frame.numpy() for frame in engine.push(chunk))
    return [(index, rgb) for (index, _), rgb in zip(picked, swapped, strict=True)]


def reactor_node_class() -> type:
    """ReActor's face swap node class from ComfyUI's registry; else DEPENDENCY_MISSING naming the pack."""
    found = comfy_node_class(REACTOR_SWAP_NODE)
    if found is not None:
        return found
    error = IdentityPacksAdapter.from_comfy().missing_nodes_error({REACTOR_SWAP_NODE})
    raise error or AInfError(
        ErrorCode.DEPENDENCY_MISSING,
        f"{REACTOR_SWAP_NODE} is not registered: install ComfyUI-ReActor and restart ComfyUI.",
    )


class LocalFaceSwapVideoNode(io.ComfyNode):
    """The reference face on every frame of a clip, by a user-installed ReActor, decoded in chunks."""

    @classmethod
    def define_schema(cls) -> io.Schema:
        """Describe the node: clip, reference face and ReActor's settings -> clip."""
        return node_schema(
            "AInfluencerLocalFaceSwapVideo",  # identity_packs.LOCAL_SWAP_NODE: ReActor's `called_by`
            "AInfluencer Local Video Face Swap (ReActor)",
            CATEGORY,
            "Swaps the reference face onto every frame with the ReActor nodes you installed, a chunk of "
            "frames at a time (memory does not grow with the clip); the audio is kept. Use only faces you "
            "have consent for. ReActor's InsightFace models are for non-commercial use only.",
            inputs=[
                io.Video.Input("video", tooltip="The clip whose person gets the face."),
                io.Image.Input("face", tooltip="The face to keep (the first image of the batch)."),
                io.String.Input(
                    "swap_model",
                    default="inswapper_128.onnx",
                    tooltip="ReActor's swap model in ComfyUI/models/insightface.",
                ),
                io.Combo.Input("face_detection", options=FACE_DETECTION, tooltip="ReActor's face detector."),
                io.String.Input(
                    "face_restore_model",
                    default="none",
                    tooltip="A model in ComfyUI/models/facerestore_models, or none.",
                ),
            ],
            outputs=[io.Video.Output("swapped_video", display_name="video")],
        )

    @classmethod
    def validate_inputs(cls, face_detection: str | None = None) -> bool | str:
        """Re-check the combo (V3 combos skip core's list check)."""
        return check_choice("face_detection", face_detection, FACE_DETECTION)

    @classmethod
    def execute(
        cls, video: Any, face: torch.Tensor, swap_model: str, face_detection: str, face_restore_model: str
    ) -> io.NodeOutput:
        """Append the face swap to the clip's passes (nothing is decoded here)."""
        settings = SwapSettings(swap_model, face_detection, face_restore_model)
        spec = FaceSwapPass(reactor_node_class(), settings, face[:1].float().cpu())
        return io.NodeOutput(StreamedVideo.chained(video, spec))


FACE_SWAP_NODES = [LocalFaceSwapVideoNode]
