"""The UGC clip builder's first step: a scene around the product, made on Kling from the product photo.

Kling's image generation takes the product photo as a subject reference (`image_reference: subject`,
https://app.klingai.com/global/dev/document-api/apiReference/model/imageGeneration), so the product keeps its
look in a new scene. Imported only inside ComfyUI.
"""

from __future__ import annotations

from comfy_api.latest import io

from ..sidecar.remote.adapters import kling_models
from .node_helpers import float_input
from .nodes_remote import _images, _prompt, _take, remote_schema
from .remote_call import RemoteCall
from .remote_media import image_to_png

__all__ = ["UGC_NODES"]

CATEGORY = "AInfluencer/providers"
SCENE_RATIOS = ("9:16", "1:1", "16:9")


class ProductSceneNode(io.ComfyNode):
    """Kling image generation with the product photo as its subject reference."""

    @classmethod
    def define_schema(cls) -> io.Schema:
        """Product image, scene prompt, model, fidelity, aspect ratio, take → IMAGE."""
        return remote_schema(
            "AInfluencerProductScene",
            "AInfluencer Product Scene (Kling)",
            CATEGORY,
            "Puts the product of the photo into the scene you describe (Kling image generation with the "
            "photo as subject reference); billed per image in Kling units.",
            inputs=[
                io.Image.Input("product_image", tooltip="The product photo (the first image of the batch)."),
                _prompt("prompt", "the product on a sunlit kitchen counter, handheld phone footage"),
                io.Combo.Input("model", options=list(kling_models.REFERENCE_MODELS), default="kling-v1-5"),
                float_input(
                    "image_fidelity", 0.6, 0.0, 1.0, 0.05, "How closely the product follows the photo."
                ),
                io.Combo.Input("aspect_ratio", options=list(SCENE_RATIOS), default="9:16"),
                _take(),
            ],
            outputs=[io.Image.Output("scene")],
        )

    @classmethod
    async def execute(
        cls, product_image, prompt, model, image_fidelity, aspect_ratio, seed=0
    ) -> io.NodeOutput:
        """Generate the scene on Kling and return it."""
        call = RemoteCall("image", "provider_kling")
        request = {"model": model, "prompt": prompt, "image": image_to_png(product_image),
                   "image_content_type": "image/png", "image_reference": "subject",
                   "image_fidelity": image_fidelity, "aspect_ratio": aspect_ratio}  # fmt: skip
        return io.NodeOutput(await _images(call, [request], model))


UGC_NODES: list[type[io.ComfyNode]] = [ProductSceneNode]
