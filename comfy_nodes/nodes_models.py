"""V3 node "AInfluencer Model Download": fetch a catalog model a graph needs, verified; ComfyUI only.

The node is thin: the catalog, acknowledgments and the safe downloader live in ``sidecar.models_service``.
ComfyUI runs nodes in its prompt worker thread, so the blocking wait never touches the server's event loop.
"""

from __future__ import annotations

import comfy.model_management
import comfy.utils
from comfy_api.latest import io

from ..sidecar.entry import get_sidecar
from ..sidecar.models.downloads import Download
from ..sidecar.models.service import DownloadModelRequest, ModelsService
from .node_helpers import node_schema

__all__ = ["MODEL_NODES", "ModelDownloadNode"]

CATEGORY = "AInfluencer/models"
_BAR_STEPS = 1000


class ModelDownloadNode(io.ComfyNode):
    """Download a model from the AInfluencer catalog into its ComfyUI models folder (sha256-verified)."""

    @classmethod
    def define_schema(cls) -> io.Schema:
        """Describe the node: catalog id + acknowledgments -> installed file name and path."""
        return node_schema(
            "AInfluencerModelDownload",
            "AInfluencer Model Download",
            CATEGORY,
            (
                "Installs a model from the AInfluencer catalog (GET /ainfluencer/v1/models/catalog) into the "
                "ComfyUI models folder it belongs to. The file is checked against the publisher's sha256 "
                "before it is moved into place; an installed file is not downloaded again."
            ),
            inputs=[
                io.String.Input(
                    "model_id",
                    default="sdxl-base-1.0",
                    tooltip="Catalog id, e.g. sdxl-base-1.0, realesrgan-x4plus or a custom-… id you added.",
                ),
                io.Boolean.Input(
                    "acknowledge_pickle",
                    default=False,
                    tooltip="Allow .ckpt/.pt/.pth/.bin files, which can run code when loaded.",
                ),
                io.Boolean.Input(
                    "acknowledge_missing_checksum",
                    default=False,
                    tooltip="Allow an entry without a published sha256 (the download cannot be verified).",
                ),
                io.Boolean.Input(
                    "acknowledge_unknown_license",
                    default=False,
                    tooltip="Allow an entry whose licence is unknown.",
                ),
            ],
            outputs=[
                io.String.Output("filename", tooltip="The installed file's name, as loader nodes list it."),
                io.String.Output("path", tooltip="Where the file was installed."),
            ],
            is_output_node=True,
        )

    @classmethod
    def execute(
        cls,
        model_id: str,
        acknowledge_pickle: bool = False,
        acknowledge_missing_checksum: bool = False,
        acknowledge_unknown_license: bool = False,
    ) -> io.NodeOutput:
        """Download (or find installed) the model; a ComfyUI interrupt cancels the transfer."""
        service = ModelsService.for_sidecar(get_sidecar())
        ack = DownloadModelRequest(
            acknowledge_pickle=acknowledge_pickle,
            acknowledge_missing_checksum=acknowledge_missing_checksum,
            acknowledge_unknown_license=acknowledge_unknown_license,
        )
        bar = comfy.utils.ProgressBar(_BAR_STEPS)

        def on_progress(download: Download) -> None:
            try:
                comfy.model_management.throw_exception_if_processing_interrupted()
            except BaseException:
                service.downloader.cancel(download.id)
                raise
            if download.total_bytes:
                bar.update_absolute(int(_BAR_STEPS * download.bytes_done / download.total_bytes), _BAR_STEPS)

        path = service.fetch(model_id.strip(), ack, on_progress)
        return io.NodeOutput(path.name, str(path))


MODEL_NODES: list[type[io.ComfyNode]] = [ModelDownloadNode]
