"""Saving nodes that sign what they write with C2PA content credentials; the signing other writers use.

`AInfluencer Save Image (signed)` and `AInfluencer Save Video (signed)` take the same settings as ComfyUI's
Save Image / Save Video and end every shipped preset; they work in any graph. The manifest is read from the
graph upstream of the node (see ``sidecar.provenance.graph_record``), the job (preset, quality, consent,
earlier outputs) and the loaded inputs. Imported only inside ComfyUI.
"""

from __future__ import annotations

import os
from functools import cache
from pathlib import Path
from typing import Any

import folder_paths
import nodes
from comfy.cli_args import args
from comfy_api.latest import io, ui
from comfy_api.util import VideoCodec, VideoContainer
from comfy_execution.utils import get_executing_context

from ..sidecar.core.errors import AInfError
from ..sidecar.core.paths import data_dir
from ..sidecar.entry import get_sidecar
from ..sidecar.host.app import pack_version
from ..sidecar.provenance.graph_record import capability_step, describe_graph, upstream
from ..sidecar.provenance.manifest import Engine, Step
from ..sidecar.provenance.outputs import UNTRACKED, JobContext, job_context, output_record, sign_output
from ..sidecar.provenance.sign import can_sign, file_sha256
from .batch_lineage import per_item
from .node_helpers import node_schema

__all__ = [
    "PROVENANCE_NODES",
    "SaveImageSignedNode",
    "SaveVideoSignedNode",
    "sign_export",
    "sign_remote_output",
]

CATEGORY = "AInfluencer/output"


@cache
def _hash_of(path: str, size: int, mtime_ns: int) -> str:
    return file_sha256(path)


def _model_hash(folder: str, name: str) -> str | None:
    """The sha256 of an installed model file, hashed once per file version in this process."""
    path = folder_paths.get_full_path(folder, name)
    if not path or not os.path.isfile(path):
        return None
    stat = os.stat(path)
    return _hash_of(path, stat.st_size, stat.st_mtime_ns)


def _data_folder() -> Path:
    sidecar = get_sidecar()
    return sidecar.data_dir or data_dir(folder_paths.get_user_directory())


def _job(prompt_id: str | None, nodes_upstream: list[str]) -> tuple[JobContext, dict[str, Engine]]:
    """The job's context and, per remote node, the engine and model that really ran it."""
    sidecar = get_sidecar()
    job_id = sidecar.store.job_id_for_prompt(prompt_id) if prompt_id else None
    if job_id is None:
        return UNTRACKED, {}
    context = job_context(sidecar.store, sidecar.characters, job_id, nodes_upstream)
    remote = {
        str(a["node_id"]): Engine(provider=a["metadata"].get("engine"), model_id=a["metadata"].get("model"))
        for a in sidecar.store.get(job_id)["artifacts"]
        if (a.get("metadata") or {}).get("remote") and a.get("node_id")
    }
    return context, remote


def _input_paths(names: tuple[str, ...]) -> list[Path]:
    paths = [Path(folder_paths.get_annotated_filepath(name)) for name in names]
    return [p for p in paths if p.is_file()]


def sign_saved(paths: list[Path], prompt: dict[str, Any] | None, node_id: str) -> None:
    """Sign files a saving node wrote, with what the graph upstream of `node_id` did to them."""
    context = get_executing_context()
    graph = prompt or {}
    job, remote = _job(context.prompt_id if context else None, upstream(graph, node_id))
    facts = describe_graph(graph, node_id, model_hash=_model_hash, remote=remote)
    inputs = _input_paths(facts.input_files)
    for path, item in zip(paths, per_item(job, len(paths)), strict=True):
        if can_sign(path):
            record = output_record(path, facts.steps, inputs, item, pack_version())
            sign_output(path, record, _data_folder())


def sign_remote_output(path: Path, job_id: str, node_id: str, capability: str, engine: Engine) -> None:
    """Sign a provider's result as it is written into the job's folder (the sidecar's own outputs).

    The result is already paid for and the graph's signed save node signs the final output, so a result
    c2pa cannot sign (an unusual container from a provider) is kept unsigned and the job log says so.
    """
    if not can_sign(path):
        return
    sidecar = get_sidecar()
    job = job_context(sidecar.store, sidecar.characters, job_id, ())
    record = output_record(path, [capability_step(capability, node_id, engine)], [], job, pack_version())
    try:
        sign_output(path, record, _data_folder())
    except AInfError as error:
        reason = (error.detail or {}).get("reason", error.message)
        sidecar.store.log(job_id, "warning", "content credentials not added", file=path.name, reason=reason)


def sign_export(path: Path, original: Path) -> None:
    """Sign a re-encoded export with its own manifest, the original clip as its parent ingredient."""
    context = get_executing_context()
    node_id = str(context.node_id) if context else "export"
    job, _ = _job(context.prompt_id if context else None, [])
    step = Step("c2pa.resized", "AInfluencerSocialExport", node_id, None, None)
    sign_output(path, output_record(path, [step], [], job, pack_version(), parent=original), _data_folder())


def _prefix_input(default: str) -> io.String.Input:
    return io.String.Input(
        "filename_prefix",
        default=default,
        tooltip="The prefix for the file to save under output/ (%date:yyyy-MM-dd% and %Node.widget% work).",
    )


def _saver_schema(node_id: str, display_name: str, description: str, inputs: list) -> io.Schema:
    """An output node with no outputs that sees its graph (prompt, workflow) and its own id."""
    return node_schema(
        node_id, display_name, CATEGORY, description, inputs=inputs, outputs=[],
        hidden=[io.Hidden.prompt, io.Hidden.extra_pnginfo, io.Hidden.unique_id], is_output_node=True,
    )  # fmt: skip


class SaveImageSignedNode(io.ComfyNode):
    """Save images as PNG, like ComfyUI's Save Image, each signed with C2PA content credentials."""

    @classmethod
    def define_schema(cls) -> io.Schema:
        """Describe the output node: images + prefix -> signed PNGs."""
        return _saver_schema(
            "AInfluencerSaveImage",
            "AInfluencer Save Image (signed)",
            "Saves PNGs carrying C2PA content credentials: an AI label, how they were made, their inputs.",
            [io.Image.Input("images", tooltip="The images to save."), _prefix_input("ainfluencer/image")],
        )

    @classmethod
    def execute(cls, images: Any, filename_prefix: str) -> io.NodeOutput:
        """Save through ComfyUI's own Save Image, then sign each file in place."""
        saved = nodes.SaveImage().save_images(
            images, filename_prefix, cls.hidden.prompt, cls.hidden.extra_pnginfo
        )["ui"]["images"]
        output = Path(folder_paths.get_output_directory())
        sign_saved(
            [output / i["subfolder"] / i["filename"] for i in saved], cls.hidden.prompt, cls.hidden.unique_id
        )
        results = [ui.SavedResult(i["filename"], i["subfolder"], io.FolderType.output) for i in saved]
        return io.NodeOutput(ui=ui.SavedImages(results))


class SaveVideoSignedNode(io.ComfyNode):
    """Save a video, like ComfyUI's Save Video, signed with C2PA content credentials."""

    @classmethod
    def define_schema(cls) -> io.Schema:
        """Describe the output node: video + prefix, container, codec -> a signed MP4."""
        return _saver_schema(
            "AInfluencerSaveVideo",
            "AInfluencer Save Video (signed)",
            "Saves an MP4 carrying C2PA content credentials: an AI label, how it was made, its inputs.",
            [
                io.Video.Input("video", tooltip="The video to save."),
                _prefix_input("ainfluencer/video"),
                io.Combo.Input("format", options=VideoContainer.as_input(), default="auto"),
                io.Combo.Input("codec", options=VideoCodec.as_input(), default="auto"),
            ],
        )

    @classmethod
    def execute(cls, video: Any, filename_prefix: str, format: str, codec: str) -> io.NodeOutput:
        """Write the file the way ComfyUI's Save Video does, then sign it in place (streamed)."""
        width, height = video.get_dimensions()
        folder, filename, counter, subfolder, _ = folder_paths.get_save_image_path(
            filename_prefix, folder_paths.get_output_directory(), width, height
        )
        metadata = None
        if not args.disable_metadata:
            metadata = {**(cls.hidden.extra_pnginfo or {})}
            if cls.hidden.prompt is not None:
                metadata["prompt"] = cls.hidden.prompt
        name = f"{filename}_{counter:05}_.{VideoContainer.get_extension(format)}"
        path = Path(folder) / name
        video.save_to(str(path), format=format, codec=codec, metadata=metadata or None)
        sign_saved([path], cls.hidden.prompt, cls.hidden.unique_id)
        return io.NodeOutput(ui=ui.PreviewVideo([ui.SavedResult(name, subfolder, io.FolderType.output)]))


PROVENANCE_NODES: list[type[io.ComfyNode]] = [SaveImageSignedNode, SaveVideoSignedNode]
