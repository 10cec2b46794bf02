"""The one table of engines, capabilities and remote node types that nodes, steps and the registry read."""

from __future__ import annotations

from dataclasses import dataclass

LOCAL_ENGINE = "local_comfy"
AUTO = "auto"

# every engine the registry knows, in the order the Setup Hub lists them, with its display name
PROVIDER_NAMES: dict[str, str] = {
    LOCAL_ENGINE: "ComfyUI (this machine)",
    "provider_kling": "Kling",
    "provider_fal": "fal.ai",
    "provider_runware": "Runware",
    "provider_synclabs": "Sync Labs",
    "provider_liveportrait": "LivePortrait",
    "provider_identity_nodes": "Face identity nodes",
}
ENGINE_IDS = tuple(PROVIDER_NAMES)


@dataclass(frozen=True)
class Capability:
    """What a capability calls on an adapter, how the cost table prices it, and which engines offer it."""

    method: str
    operation: str
    engines: tuple[str, ...]  # the default preference order; a preset's manifest may reorder it

    def choices(self) -> list[str]:
        """The values a capability node's `engine` input offers: `auto`, then each engine."""
        return [AUTO, *self.engines]


CAPABILITIES: dict[str, Capability] = {
    "image": Capability("generate_image", "image", ("provider_fal", "provider_runware", "provider_kling")),
    "video": Capability("generate_video", "video", ("provider_kling", "provider_fal", "provider_runware")),
    "lipsync": Capability("apply_lipsync", "lipsync", ("provider_synclabs",)),
    "upscale": Capability("upscale", "upscale", (LOCAL_ENGINE, "provider_fal", "provider_runware")),
    "talking_head": Capability("animate_portrait", "talking_head", ("provider_fal",)),
    "face_swap": Capability("swap_face", "face_swap", ("provider_fal",)),
}

# remote node class → (capability, fixed engine or None when the node's `engine` input chooses)
REMOTE_NODE_TYPES: dict[str, tuple[str, str | None]] = {
    "AInfluencerFalFluxPro": ("image", "provider_fal"),
    "AInfluencerFalImageToVideo": ("video", "provider_fal"),
    "AInfluencerFalUpscale": ("upscale", "provider_fal"),
    "AInfluencerFalFluxPulid": ("image", "provider_fal"),
    "AInfluencerFalTalkingHead": ("talking_head", "provider_fal"),
    "AInfluencerFalFaceSwapVideo": ("face_swap", "provider_fal"),
    "AInfluencerKlingImageToVideo": ("video", "provider_kling"),
    "AInfluencerProductScene": ("image", "provider_kling"),
    "AInfluencerRunwareImage": ("image", "provider_runware"),
    "AInfluencerRunwareUpscale": ("upscale", "provider_runware"),
    "AInfluencerRunwarePulid": ("image", "provider_runware"),
    "AInfluencerKlingFaceReference": ("image", "provider_kling"),
    "AInfluencerSyncLipSync": ("lipsync", "provider_synclabs"),
    "AInfluencerGenerateImage": ("image", None),
    "AInfluencerStoryboardShots": ("image", None),
    "AInfluencerImageToVideo": ("video", None),
    "AInfluencerLipSync": ("lipsync", None),
    "AInfluencerUpscale": ("upscale", None),
}
