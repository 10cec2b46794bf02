"""Storyboard nodes: every shot of a board generated at once on a remote engine, and its contact sheet.

The shots node sends one request per shot together (their waits overlap, as a batch's do) and returns them as
one IMAGE batch, so the save node writes each shot as its own file and the contact sheet joins them in the
same prompt. Imported only inside ComfyUI.
"""

from __future__ import annotations

import io as bytes_io

import folder_paths
import torch
from comfy_api.latest import io
from PIL import Image

from ..sidecar.core.errors import AInfError, ErrorCode
from ..sidecar.remote import storyboard
from ..sidecar.remote.engines import CAPABILITIES
from .node_helpers import node_schema
from .nodes_remote import _engine_input, _images, _seed, remote_schema
from .polish.contact_sheet import contact_sheet
from .remote_call import RemoteCall

__all__ = ["STORYBOARD_NODES"]

CATEGORY = "AInfluencer/storyboard"


def _reference_png(name: str) -> bytes:
    """An uploaded face reference as PNG bytes (FILE_NOT_FOUND when it is not in ComfyUI's input folder)."""
    path = folder_paths.get_annotated_filepath(name)
    if not path or not folder_paths.exists_annotated_filepath(name):
        raise AInfError(
            ErrorCode.FILE_NOT_FOUND, f"No uploaded reference named {name!r}.", detail={"name": name}
        )
    with Image.open(path) as img:
        out = bytes_io.BytesIO()
        img.convert("RGB").save(out, format="PNG")
    return out.getvalue()


class StoryboardShotsNode(io.ComfyNode):
    """All shots of a storyboard, generated together on a remote engine."""

    @classmethod
    def define_schema(cls) -> io.Schema:
        """Template, shot count, size, seed, engine, optional face reference → IMAGE batch."""
        return remote_schema(
            "AInfluencerStoryboardShots",
            "AInfluencer Storyboard Shots",
            CATEGORY,
            "Generates every shot of a storyboard at once: `{shot_number}` in the template becomes 1, 2, … "
            "Each shot is its own request (and its own line in the credit ledger); a face reference "
            "(consent required) runs on Kling, whose image API takes one.",
            inputs=[
                io.String.Input(
                    "prompt_template",
                    multiline=True,
                    default="storyboard frame, shot {shot_number}",
                    tooltip="One prompt for all shots; {shot_number} is replaced by the shot's number.",
                ),
                io.Int.Input("shot_count", default=5, min=storyboard.MIN_SHOTS, max=storyboard.MAX_SHOTS),
                io.Int.Input("width", default=1024, min=256, max=2048, step=64),
                io.Int.Input("height", default=576, min=256, max=2048, step=64),
                _seed(),
                _engine_input(CAPABILITIES["image"].choices()),
                io.String.Input(
                    "reference_image",
                    default="",
                    tooltip="Optional: an uploaded face photo every shot keeps (Kling; consent required).",
                ),
            ],
            outputs=[io.Image.Output("shots", tooltip="Every shot, in order.")],
            hidden=[io.Hidden.extra_pnginfo],
        )

    @classmethod
    async def execute(
        cls, prompt_template, shot_count, width, height, seed, engine, reference_image
    ) -> io.NodeOutput:
        """Send every shot at once and return them as one batch."""
        reference = reference_image.strip()
        call = RemoteCall("image", storyboard.shot_engine(engine, bool(reference)), cls.hidden.extra_pnginfo)
        face = _reference_png(reference) if reference else None
        prompts = storyboard.shot_prompts(prompt_template, shot_count)
        requests = [
            storyboard.shot_request(call.engine, text, width, height, seed + i, face)
            for i, text in enumerate(prompts)
        ]
        return io.NodeOutput(await _images(call, requests, requests[0].get("model")))


class ContactSheetNode(io.ComfyNode):
    """A numbered grid of a batch of shots."""

    @classmethod
    def define_schema(cls) -> io.Schema:
        """Shots and cell width → one IMAGE."""
        return node_schema(
            "AInfluencerContactSheet",
            "AInfluencer Contact Sheet",
            CATEGORY,
            "Lays the shots out in a grid (up to five a row), each labelled with its shot number.",
            inputs=[
                io.Image.Input("shots"),
                io.Int.Input(
                    "cell_width", default=480, min=64, max=1024, step=16, tooltip="Width of each shot."
                ),
            ],
            outputs=[io.Image.Output("sheet")],
        )

    @classmethod
    def execute(cls, shots: torch.Tensor, cell_width: int) -> io.NodeOutput:
        """Build the sheet."""
        return io.NodeOutput(contact_sheet(shots, cell_width))


STORYBOARD_NODES: list[type[io.ComfyNode]] = [StoryboardShotsNode, ContactSheetNode]
