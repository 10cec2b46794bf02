"""V3 provider nodes that keep the face of a reference photo: Runware PuLID and Kling face reference.

Runware's `imageInference` takes a `puLID` object with one reference photo on FLUX.1 dev
(https://runware.ai/docs/en/image-inference/api-reference); Kling's image generation takes the photo with
`image_reference: face` on kling-v1-5 (https://app.klingai.com/global/dev/document-api/apiReference/model/
imageGeneration). Both take a single photo, so the first image of the reference batch is sent. Imported only
inside ComfyUI.
"""

from __future__ import annotations

from typing import Any

from comfy_api.latest import io

from ..sidecar.remote.adapters import kling, runware_identity
from .node_helpers import float_input
from .nodes_remote import _images, _prompt, _seed, _take, remote_schema
from .remote_call import RemoteCall
from .remote_media import image_to_png

__all__ = ["IDENTITY_PROVIDER_NODES", "KLING_FACE_MODEL"]

CATEGORY = "AInfluencer/providers"
KLING_FACE_MODEL = "kling-v1-5"  # the face reference model the identity preset names
_CONSENT = " Use only faces you have consent for."
_REFERENCE_TIP = "The face to keep (the first image of the batch is sent)."


def _face_schema(node_id: str, name: str, about: str, settings: list) -> io.Schema:
    """A face-reference node: the reference photo and the prompt, then the engine's own settings → IMAGE."""
    inputs = [io.Image.Input("reference", tooltip=_REFERENCE_TIP), _prompt(), *settings]
    return remote_schema(node_id, name, CATEGORY, about + _CONSENT, inputs, [io.Image.Output("image")])


def _pulid_request(reference: Any, prompt: str, negative_prompt: str, settings: dict[str, Any]) -> dict:
    """Runware's PuLID request: FLUX.1 dev with the face photo as PNG bytes under `reference`."""
    photo = {runware_identity.REFERENCE: image_to_png(reference),
             f"{runware_identity.REFERENCE}_content_type": "image/png"}  # fmt: skip
    negative = negative_prompt or None
    return {
        "model": runware_identity.PULID_MODEL,
        "prompt": prompt,
        "negative_prompt": negative,
        **photo,
        **settings,
    }


class RunwarePulidNode(io.ComfyNode):
    """Runware FLUX.1 dev with PuLID: a new image of the person in the reference photo."""

    @classmethod
    def define_schema(cls) -> io.Schema:
        """Reference IMAGE, prompt, negative prompt, size, steps, CFG, identity weight, seed → IMAGE."""
        return _face_schema(
            "AInfluencerRunwarePulid",
            "AInfluencer Runware PuLID (identity)",
            "FLUX.1 dev with PuLID on Runware: the prompt's scene with the face of the reference photo. The "
            "posted cost is the one Runware reports for the task.",
            [
                _prompt("negative_prompt"),
                io.Int.Input("width", default=768, min=256, max=2048, step=64),
                io.Int.Input("height", default=1024, min=256, max=2048, step=64),
                io.Int.Input("steps", default=28, min=1, max=100),
                float_input("cfg_scale", 3.5, 0.0, 50.0, 0.5, "How closely the prompt is followed."),
                io.Int.Input("id_weight", default=1, min=0, max=3, tooltip="How strongly the face is kept."),
                _seed(),
            ],
        )

    @classmethod
    async def execute(cls, reference, prompt, negative_prompt, **settings) -> io.NodeOutput:
        """Generate on Runware and return the image (settings: size, steps, CFG, identity weight, seed)."""
        request = _pulid_request(reference, prompt, negative_prompt, settings)
        call = RemoteCall("image", "provider_runware")
        return io.NodeOutput(await _images(call, [request], runware_identity.PULID_MODEL))


class KlingFaceReferenceNode(io.ComfyNode):
    """Kling image generation keeping the face of the reference photo (`image_reference: face`)."""

    @classmethod
    async def execute(cls, reference, prompt, aspect_ratio, image_fidelity, seed=0) -> io.NodeOutput:
        """Generate on Kling and return the image (the take number is not sent: Kling has no seed)."""
        request = {"model": KLING_FACE_MODEL, "prompt": prompt, "image": image_to_png(reference),
                   "image_content_type": "image/png", "image_reference": "face",
                   "image_fidelity": image_fidelity, "aspect_ratio": aspect_ratio}  # fmt: skip
        call = RemoteCall("image", "provider_kling")
        return io.NodeOutput(await _images(call, [request], KLING_FACE_MODEL))

    @classmethod
    def define_schema(cls) -> io.Schema:
        """Reference IMAGE, prompt, aspect ratio, reference strength, take → IMAGE."""
        return _face_schema(
            "AInfluencerKlingFaceReference",
            "AInfluencer Kling Face Reference (identity)",
            "Kling image generation (kling-v1-5) with the reference photo as face reference: the photo must "
            "show one face, at least 300 px a side. Billed per image in Kling units.",
            [
                io.Combo.Input("aspect_ratio", options=list(kling.IMAGE_RATIOS), default="3:4"),
                float_input("image_fidelity", 0.8, 0.0, 1.0, 0.05, "How strongly the reference is followed."),
                _take(),
            ],
        )


IDENTITY_PROVIDER_NODES: list[type[io.ComfyNode]] = [RunwarePulidNode, KlingFaceReferenceNode]
