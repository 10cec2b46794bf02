"""The anamorphic lens look as a V3 node (oval bokeh, horizontal flare, 2.39:1 crop); only inside ComfyUI."""

from __future__ import annotations

import torch
from comfy_api.latest import io

from .node_helpers import float_input, node_schema
from .polish.anamorphic import AnamorphicSettings, apply_anamorphic

__all__ = ["ANAMORPHIC_NODES", "AnamorphicLookNode"]

CATEGORY = "AInfluencer/polish"


class AnamorphicLookNode(io.ComfyNode):
    """Oval bokeh, blue horizontal flares and an optional 2.39:1 crop on an image batch."""

    @classmethod
    def define_schema(cls) -> io.Schema:
        """Describe the node: images, bokeh, flare, squeeze, threshold, crop -> images."""
        return node_schema(
            "AInfluencerAnamorphicLook",
            "AInfluencer Anamorphic Look",
            CATEGORY,
            "The anamorphic lens look: bright highlights spread into vertical oval bokeh and streak into "
            "horizontal blue flares, optionally cropped to the 2.39:1 cinema frame.",
            inputs=[
                io.Image.Input("images", tooltip="Frames to finish (IMAGE batch, sRGB 0..1)."),
                float_input("bokeh", 0.35, 0.0, 1.0, 0.01, "How much of the highlights becomes oval bokeh."),
                float_input("flare", 0.25, 0.0, 1.0, 0.01, "Brightness of the horizontal streaks."),
                float_input(
                    "squeeze", 2.0, 1.0, 2.0, 0.05, "Lens squeeze: bokeh height over width (1.33–2)."
                ),
                float_input("threshold", 0.8, 0.0, 0.99, 0.01, "Luminance above which light blooms."),
                io.Boolean.Input(
                    "crop_to_scope", default=False, tooltip="Crop the frame to 2.39:1 (centred)."
                ),
            ],
            outputs=[io.Image.Output("anamorphic_images", display_name="images", tooltip="The frames.")],
        )

    @classmethod
    def execute(
        cls, images: torch.Tensor, bokeh: float, flare: float, squeeze: float, threshold: float,
        crop_to_scope: bool,
    ) -> io.NodeOutput:  # fmt: skip
        """Apply the look to the whole batch."""
        settings = AnamorphicSettings(bokeh, flare, squeeze, threshold, crop_to_scope)
        return io.NodeOutput(apply_anamorphic(images, settings))


ANAMORPHIC_NODES: list[type[io.ComfyNode]] = [AnamorphicLookNode]
