"""Storyboard nodes: every shot of a board generated at once on a remote engine, and its contact sheet.

The shots node sends one request per shot together (their waits overlap, as a batch's do) and returns them as
one IMAGE batch, so the save node writes each shot as its own file, and the whole board as a second batch for
the contact sheet. In a repair of drifted shots the board is whole: the shots not made again are the
repaired job's files, listed on this job as reused (`sidecar.runs.board_shots`). Imported only inside ComfyUI.
"""

from __future__ import annotations

import io as bytes_io

import folder_paths
import numpy as np
import torch
from comfy_api.latest import io
from comfy_execution.utils import get_executing_context
from PIL import Image

from ..sidecar.core.errors import AInfError, ErrorCode
from ..sidecar.entry import get_sidecar
from ..sidecar.jobs.identity import DEFAULT_THRESHOLD
from ..sidecar.remote import storyboard
from ..sidecar.remote.engines import CAPABILITIES
from ..sidecar.remote.recorded import REPAIR_OF
from ..sidecar.runs.board_shots import BoardShot, kept_shots, list_reused
from .node_helpers import node_schema
from .nodes_identity import measure_outputs, record_on_job
from .nodes_remote import _engine_input, _images, _seed, remote_schema
from .polish.contact_sheet import contact_sheet
from .remote_call import RemoteCall, job_for_prompt
from .remote_media import bytes_to_image

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


def _shot_image(shot: BoardShot, width: int, height: int) -> torch.Tensor:
    """A kept shot's file as one [H, W, 3] image at the board's shot size."""
    with Image.open(shot.path) as img:
        pixels = (
            img.convert("RGB").resize((width, height)) if img.size != (width, height) else img.convert("RGB")
        )
        return torch.from_numpy(np.asarray(pixels, dtype=np.float32) / 255.0)


def whole_board(made: torch.Tensor, numbers: list[int], kept: list[BoardShot]) -> torch.Tensor:
    """The new takes at their numbers and the kept shots at theirs, in shot order."""
    height, width = made.shape[1], made.shape[2]
    by_number = {n: made[i] for i, n in enumerate(numbers)}
    by_number.update({s.number: _shot_image(s, width, height).to(made) for s in kept})
    return torch.stack([by_number[n] for n in sorted(by_number)])


def _reuse_kept_shots(numbers: list[int], count: int) -> list[BoardShot]:
    """In a repair of some shots of a board, the repaired job's other shots, listed on this job as reused."""
    context = get_executing_context()
    if context is None or len(numbers) == count:
        return []
    job_id, _quality = job_for_prompt(str(context.prompt_id))
    sidecar = get_sidecar()
    kept = kept_shots(sidecar.store, sidecar.catalog, job_id, numbers)
    if kept:
        repaired = sidecar.store.get(job_id)["inputs"][REPAIR_OF]
        list_reused(sidecar.store, job_id, repaired, kept)
        sidecar.store.log(job_id, "info", "shots reused", repaired=repaired, reused=[s.number for s in kept],
                          new=numbers)  # fmt: skip
    return kept


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
            "(consent required) runs on Kling, whose image API takes one, and each shot's face is measured "
            "against it; `shot_numbers` makes only the listed shots.",
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
                    tooltip="Optional: an uploaded face photo every shot keeps (Kling; consent required); "
                    "each shot's face is then measured against it.",
                ),
                io.String.Input(
                    "shot_numbers",
                    default="",
                    tooltip='Optional: only these shot numbers, e.g. "3, 7" (a repair of drifted shots); '
                    "empty makes every shot.",
                ),
            ],
            outputs=[
                io.Image.Output(
                    "shots", display_name="shots", tooltip="The shots made by this run, in order."
                ),
                io.Image.Output(
                    "board",
                    display_name="board",
                    tooltip="Every shot of the board in order: in a repair, the kept shots of the repaired "
                    "job with the new takes.",
                ),
            ],
            hidden=[io.Hidden.extra_pnginfo],
        )

    @classmethod
    async def execute(
        cls, prompt_template, shot_count, width, height, seed, engine, reference_image, shot_numbers=""
    ) -> io.NodeOutput:
        """Send the chosen shots at once, return them as one batch; with a reference, measure each face."""
        reference = reference_image.strip()
        call = RemoteCall("image", storyboard.shot_engine(engine, bool(reference)), cls.hidden.extra_pnginfo)
        face = _reference_png(reference) if reference else None
        numbers, requests = storyboard.shot_requests(
            call.engine, prompt_template, shot_count, shot_numbers, (width, height), seed, face
        )
        images = await _images(call, requests, requests[0].get("model"))
        if face is not None:  # the drift this records is what a repair re-runs (repair_pipeline_v1)
            record_on_job(measure_outputs(bytes_to_image(face), images, None, 0, DEFAULT_THRESHOLD, numbers))
        kept = _reuse_kept_shots(numbers, shot_count)
        return io.NodeOutput(images, whole_board(images, numbers, kept) if kept else images)


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
