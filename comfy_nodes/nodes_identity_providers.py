"""V3 provider nodes that keep the face of a reference photo: Runware PuLID and Kling face reference.

Runware's `imageInference` takes a `puLID` object with one reference photo on FLUX.1 dev
(https://runware.ai/docs/en/image-inference/api-reference); Kling's image generation takes the photo with
`image_reference: face` on kling-v1-5 (https://app.klingai.com/global/dev/document-api/apiReference/model/
imageGeneration). Both take a single photo, so the first image of the reference batch is sent. Imported only
inside ComfyUI.
"""

from __future__ import annotations

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


def _reference() -> io.Image.Input:
    return io.Image.Input("reference", tooltip="The face to keep (the first image of the batch is sent).")


class RunwarePulidNode(io.ComfyNode):
    """Runware FLUX.1 dev with PuLID: a new image of the person in the reference photo."""

    @classmethod
    def define_schema(cls) -> io.Schema:
        """Reference IMAGE, prompt, negative prompt, size, steps, CFG, identity weight, seed → IMAGE."""
        return remote_schema(
            "AInfluencerRunwarePulid",
            "AInfluencer Runware PuLID (identity)",
            CATEGORY,
            "FLUX.1 dev with PuLID on Runware: the prompt's scene with the face of the reference photo. The "
            "posted cost is the one Runware reports for the task." + _CONSENT,
            inputs=[
                _reference(),
                _prompt(),
                _prompt("negative_prompt"),
                io.Int.Input("width", default=768, min=256, max=2048, step=64),
                io.Int.Input("height", default=1024, min=256, max=2048, step=64),
                io.Int.Input("steps", default=28, min=1, max=100),
                float_input("cfg_scale", 3.5, 0.0, 50.0, 0.5, "How closely the prompt is followed."),
                io.Int.Input("id_weight", default=1, min=0, max=3, tooltip="How strongly the face is kept."),
                _seed(),
            ],
            outputs=[io.Image.Output("image")],
        )

    @classmethod
    async def execute(cls, reference, prompt, negative_prompt, **settings) -> io.NodeOutput:
        """Generate on Runware and return the image (settings: size, steps, CFG, identity weight, seed)."""
        call = RemoteCall("image", "provider_runware")
        model = runware_identity.PULID_MODEL
        request = {"model": model, "prompt": prompt, "negative_prompt": negative_prompt or None,
                   runware_identity.REFERENCE: image_to_png(reference),
                   f"{runware_identity.REFERENCE}_content_type": "image/png", **settings}  # fmt: skip
        return io.NodeOutput(await _images(call, [request], model))


class KlingFaceReferenceNode(io.ComfyNode):
    """Kling image generation keeping the face of the reference photo (`image_reference: face`)."""

    @classmethod
    def define_schema(cls) -> io.Schema:
        """Reference IMAGE, prompt, aspect ratio, reference strength, take → IMAGE."""
        return remote_schema(
            "AInfluencerKlingFaceReference",
            "AInfluencer Kling Face Reference (identity)",
            CATEGORY,
            "Kling image generation (kling-v1-5) with the reference photo as face reference: the photo must "
            "show one face, at least 300 px a side. Billed per image in Kling units." + _CONSENT,
            inputs=[
                _reference(),
                _prompt(),
                io.Combo.Input("aspect_ratio", options=list(kling.IMAGE_RATIOS), default="3:4"),
                float_input("image_fidelity", 0.8, 0.0, 1.0, 0.05, "How strongly the reference is followed."),
                _take(),
            ],
            outputs=[io.Image.Output("image")],
        )

    @classmethod
    async def execute(cls, reference, prompt, aspect_ratio, image_fidelity, seed=0) -> io.NodeOutput:
        """Generate on Kling and return the image."""
        call = RemoteCall("image", "provider_kling")
        request = {"model": KLING_FACE_MODEL, "prompt": prompt, "image": image_to_png(reference),
                   "image_content_type": "image/png", "image_reference": "face",
                   "image_fidelity": image_fidelity, "aspect_ratio": aspect_ratio}  # fmt: skip
        return io.NodeOutput(await _images(call, [request], KLING_FACE_MODEL))


IDENTITY_PROVIDER_NODES: list[type[io.ComfyNode]] = [RunwarePulidNode, KlingFaceReferenceNode]
