"""Registers the pack's V3 nodes with ComfyUI through `comfy_entrypoint()` (never NODE_CLASS_MAPPINGS)."""

from __future__ import annotations

from comfy_api.latest import ComfyExtension, io

from .nodes_anamorphic import ANAMORPHIC_NODES
from .nodes_audio import AUDIO_NODES
from .nodes_face_swap import FACE_SWAP_NODES
from .nodes_identity import IDENTITY_NODES
from .nodes_identity_providers import IDENTITY_PROVIDER_NODES
from .nodes_models import MODEL_NODES
from .nodes_polish import POLISH_NODES
from .nodes_provenance import PROVENANCE_NODES
from .nodes_providers import PROVIDER_NODES
from .nodes_remote import REMOTE_NODES
from .nodes_storyboard import STORYBOARD_NODES
from .nodes_ugc import UGC_NODES
from .nodes_video import VIDEO_NODES


class AInfluencerExtension(ComfyExtension):
    """The AInfluencer node pack."""

    async def get_node_list(self) -> list[type[io.ComfyNode]]:
        """Every node the pack provides."""
        return [
            *POLISH_NODES,
            *ANAMORPHIC_NODES,
            *VIDEO_NODES,
            *MODEL_NODES,
            *REMOTE_NODES,
            *STORYBOARD_NODES,
            *UGC_NODES,
            *PROVIDER_NODES,
            *AUDIO_NODES,
            *PROVENANCE_NODES,
            *IDENTITY_NODES,
            *IDENTITY_PROVIDER_NODES,
            *FACE_SWAP_NODES,
        ]


async def comfy_entrypoint() -> AInfluencerExtension:
    """ComfyUI's V3 entry point."""
    return AInfluencerExtension()
