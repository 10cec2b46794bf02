"""What a graph did to an output: its steps (as C2PA actions) and its loaded inputs, read from the API prompt.

Only the nodes upstream of the saving node count, in execution order; nodes that do not change the picture
(loaders, encoders, decoders) are not actions.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from ..remote.engines import AUTO, LOCAL_ENGINE, REMOTE_NODE_TYPES
from .manifest import GENERATED, TRANSFORMED, Engine, Step

CREATED, EDITED = "c2pa.created", "c2pa.edited"
# node class → (C2PA action, IPTC digital source type when a model made or remade the picture)
NODE_ACTIONS: dict[str, tuple[str, str | None]] = {
    **{t: ("c2pa.created", GENERATED) for t in (
        "KSampler", "KSamplerAdvanced", "SamplerCustom", "SamplerCustomAdvanced",
        "AInfluencerFalFluxPro", "AInfluencerRunwareImage", "AInfluencerGenerateImage",
        "AInfluencerStoryboardShots",
    )},
    **{t: ("c2pa.created", TRANSFORMED) for t in (
        "AInfluencerKlingImageToVideo", "AInfluencerFalImageToVideo", "AInfluencerImageToVideo",
        "AInfluencerSyncLipSync", "AInfluencerLipSync", "LivePortraitProcess", "AInfluencerProductScene",
        "AInfluencerFalFluxPulid", "AInfluencerFalTalkingHead", "AInfluencerFalFaceSwapVideo",
        "AInfluencerRunwarePulid", "AInfluencerKlingFaceReference", "AInfluencerLocalFaceSwapVideo",
    )},
    **{t: ("c2pa.color_adjustments", None) for t in (
        "AInfluencerColorGrade", "AInfluencerToneMap", "AInfluencerApplyLUT",
        "AInfluencerColorGradeVideo", "AInfluencerToneMapVideo",
    )},
    **{t: ("c2pa.filtered", None) for t in (
        "AInfluencerFilmGrain", "AInfluencerFilmGrainVideo",
        "AInfluencerDeflickerVideo", "AInfluencerDeflickerImages",
        "AInfluencerInterpolateVideo", "AInfluencerInterpolateImages", "AInfluencerAnamorphicLook",
    )},
    **{t: ("c2pa.resized", None) for t in (
        "AInfluencerUpscaleImage", "AInfluencerUpscaleVideo", "AInfluencerSocialExport",
        "AInfluencerContactSheet",
    )},
    **{t: ("c2pa.resized", TRANSFORMED) for t in (
        "AInfluencerUpscale", "AInfluencerFalUpscale", "AInfluencerRunwareUpscale",
    )},
}  # fmt: skip
# loader node class → the input that names a file in ComfyUI's input folder
INPUT_LOADERS = {"LoadImage": "image", "LoadVideo": "file", "AInfluencerLoadAudio": "audio"}
# loader node class → (model folder, input naming the file) for local model engines
MODEL_LOADERS = {
    "CheckpointLoaderSimple": ("checkpoints", "ckpt_name"),
    "UNETLoader": ("diffusion_models", "unet_name"),
    "UpscaleModelLoader": ("upscale_models", "model_name"),
}
ModelHash = Callable[[str, str], str | None]  # (model folder, file name) -> sha256 or None


@dataclass(frozen=True)
class GraphFacts:
    """The steps an output went through and the input file names it was made from."""

    steps: tuple[Step, ...]
    input_files: tuple[str, ...]


def _links(node: Mapping[str, Any]) -> list[str]:
    return [
        str(value[0])
        for value in (node.get("inputs") or {}).values()
        if isinstance(value, list) and len(value) == 2 and isinstance(value[1], int)
    ]


def upstream(prompt: Mapping[str, Any], node_id: str) -> list[str]:
    """Every node the given one depends on, dependencies first (depth-first post-order), itself last."""
    order: list[str] = []
    seen: set[str] = set()

    def visit(nid: str) -> None:
        if nid in seen or nid not in prompt:
            return
        seen.add(nid)
        for dep in _links(prompt[nid]):
            visit(dep)
        order.append(nid)

    visit(str(node_id))
    return order


def _local_engine(prompt: Mapping[str, Any], nid: str, model_hash: ModelHash) -> Engine | None:
    for dep in upstream(prompt, nid):
        loader = MODEL_LOADERS.get(str(prompt[dep].get("class_type")))
        name = (prompt[dep].get("inputs") or {}).get(loader[1]) if loader else None
        if loader and isinstance(name, str):
            return Engine(local_model=name, local_model_sha256=model_hash(loader[0], name))
    return None


def _engine(
    prompt: Mapping[str, Any], nid: str, model_hash: ModelHash, remote: Mapping[str, Engine]
) -> Engine | None:
    node = prompt[nid]
    class_type = str(node.get("class_type"))
    if nid in remote:
        return remote[nid]
    if class_type in REMOTE_NODE_TYPES:
        inputs = node.get("inputs") or {}
        fixed = REMOTE_NODE_TYPES[class_type][1]
        # a remote engine that ran left an artifact (in `remote`); with none, `auto` ran on this machine
        chosen = str(inputs.get("engine", AUTO))
        provider = fixed or (LOCAL_ENGINE if chosen == AUTO else chosen)
        model = inputs.get("model")
        return Engine(provider=provider, model_id=model if isinstance(model, str) else None)
    if class_type == "LivePortraitProcess":
        return Engine(local_model="LivePortrait (ComfyUI-LivePortraitKJ)")
    return _local_engine(prompt, nid, model_hash)


def describe_graph(
    prompt: Mapping[str, Any],
    output_node: str,
    *,
    model_hash: ModelHash,
    remote: Mapping[str, Engine] | None = None,
) -> GraphFacts:
    """The actions upstream of `output_node` (with engines) and the input files the graph loaded."""
    steps: list[Step] = []
    inputs: list[str] = []
    for nid in upstream(prompt, output_node):
        node = prompt[nid]
        class_type = str(node.get("class_type"))
        if class_type in INPUT_LOADERS:
            name = (node.get("inputs") or {}).get(INPUT_LOADERS[class_type])
            if isinstance(name, str):
                inputs.append(name)
        if class_type in NODE_ACTIONS:
            action, source = NODE_ACTIONS[class_type]
            if action == CREATED and any(s.action == CREATED for s in steps):
                action = EDITED  # C2PA allows one c2pa.created: a later model step (video, lip-sync) edits it
            engine = _engine(prompt, nid, model_hash, remote or {}) if source else None
            steps.append(Step(action, class_type, nid, engine, source))
    return GraphFacts(tuple(steps), tuple(dict.fromkeys(inputs)))


# remote capability → the action its result is (for results signed as they arrive, before any graph step)
CAPABILITY_ACTIONS: dict[str, tuple[str, str]] = {
    "image": ("c2pa.created", GENERATED),
    "video": ("c2pa.created", TRANSFORMED),
    "lipsync": ("c2pa.created", TRANSFORMED),
    "upscale": ("c2pa.resized", TRANSFORMED),
}


def capability_step(capability: str, node_id: str, engine: Engine) -> Step:
    """The step a remote capability's result went through."""
    action, source = CAPABILITY_ACTIONS.get(capability, ("c2pa.created", GENERATED))
    return Step(action, f"remote:{capability}", node_id, engine, source)
