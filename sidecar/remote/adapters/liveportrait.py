"""LivePortrait as a user-installed ComfyUI node pack, detected the way `node_packs` detects every pack.

LivePortrait runs as the pack's own nodes inside a ComfyUI graph, so this adapter offers no generation call.

Sources (the packs' repositories, read, not copied):
- kijai/ComfyUI-LivePortraitKJ (https://github.com/kijai/ComfyUI-LivePortraitKJ, nodes.py at 4d9dc62):
  NODE_CLASS_MAPPINGS has DownloadAndLoadLivePortraitModels, LivePortraitProcess, LivePortraitCropper,
  LivePortraitRetargeting, KeypointsToImage, LivePortraitLoadCropper, LivePortraitLoadMediaPipeCropper,
  LivePortraitLoadFaceAlignmentCropper, LivePortraitComposite. The loader reads
  `<models_dir>/liveportrait/{appearance_feature_extractor,motion_extractor,warping_module,spade_generator,
  stitching_retargeting_module}.safetensors` (only `folder_paths.models_dir`, no extra model paths) and
  fetches https://huggingface.co/Kijai/LivePortrait_safetensors itself only when that folder does not
  exist; its croppers load `<models_dir>/liveportrait/landmark.onnx` (no download); the InsightFace
  cropper also needs `models/insightface/buffalo_l` (non-commercial licence; the MediaPipe cropper does not).
  Registry id `comfyui-liveportraitkj` (pyproject.toml).
- PowerHouseMan/ComfyUI-AdvancedLivePortrait (https://github.com/PowerHouseMan/ComfyUI-AdvancedLivePortrait,
  nodes.py at 3bba732): NODE_CLASS_MAPPINGS has AdvancedLivePortrait, ExpressionEditor, LoadExpData,
  SaveExpData, ExpData and "PrintExpData:" (sic). Each model is read from the first `liveportrait` model
  path (else `<models_dir>/liveportrait`) as `base_models/<name>.pth` (stitching:
  `retargeting_models/stitching_retargeting_module.pth`) or else `<name>.safetensors`; missing files are
  downloaded by the pack at run time from Kijai/LivePortrait_safetensors. Faces are found with
  `ultralytics/face_yolov8n.pt` (from https://huggingface.co/Bingsu/adetailer). Registry id
  `comfyui-advancedliveportrait`.
- The upstream layout (KwaiVGI/LivePortrait src/config/inference_config.py): `base_models/*.pth` and
  `retargeting_models/stitching_retargeting_module.pth`.
- There is no PyPI distribution named `liveportrait`: both packs vendor the library as a sub-folder
  (`liveportrait/`, `LivePortrait/`), whose presence we check only when the nodes did not register.
UNCONFIRMED: that landmark.onnx is part of Kijai/LivePortrait_safetensors (the loader's download patterns
imply it); the exact wording of ComfyUI-Manager's menus, which changes between versions.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from ...core.errors import AInfError, ErrorCode
from .node_packs import (
    PICKLE_CAUTION,
    Folders,
    NodeClasses,
    NodePackAdapter,
    PackFamily,
    PackSpec,
    WeightFile,
    comfy_custom_nodes_dirs,
    comfy_kind_dirs,
    comfy_node_classes,
)

ENGINE_ID = "provider_liveportrait"
WEIGHTS_REPO = "https://huggingface.co/Kijai/LivePortrait_safetensors"
DETECTOR_REPO = "https://huggingface.co/Bingsu/adetailer"
WEIGHTS_KIND, DETECTOR_KIND = "liveportrait", "ultralytics"
_BASE = ("appearance_feature_extractor", "motion_extractor", "warping_module", "spade_generator")
_STITCH = "stitching_retargeting_module"

KJ = PackSpec(
    id="liveportrait_kj",
    name="ComfyUI-LivePortraitKJ",
    author="kijai",
    library_folder="liveportrait",
    required_nodes=("DownloadAndLoadLivePortraitModels", "LivePortraitProcess", "LivePortraitCropper"),
    known_nodes=(
        "DownloadAndLoadLivePortraitModels",
        "LivePortraitProcess",
        "LivePortraitCropper",
        "LivePortraitRetargeting",
        "KeypointsToImage",
        "LivePortraitLoadCropper",
        "LivePortraitLoadMediaPipeCropper",
        "LivePortraitLoadFaceAlignmentCropper",
        "LivePortraitComposite",
    ),
    weights=(
        *(WeightFile(n.replace("_", " "), (f"{n}.safetensors",)) for n in _BASE),
        WeightFile("stitching retargeting module", (f"{_STITCH}.safetensors",)),
        WeightFile("face landmark model (croppers)", ("landmark.onnx",)),
    ),
    weights_kind=WEIGHTS_KIND,
    weights_source=WEIGHTS_REPO,
)
ADVANCED = PackSpec(
    id="advanced_liveportrait",
    name="ComfyUI-AdvancedLivePortrait",
    author="PowerHouseMan",
    library_folder="LivePortrait",
    required_nodes=("AdvancedLivePortrait", "ExpressionEditor"),
    known_nodes=(
        "AdvancedLivePortrait",
        "ExpressionEditor",
        "LoadExpData",
        "SaveExpData",
        "ExpData",
        "PrintExpData:",
    ),
    weights=(
        *(WeightFile(n.replace("_", " "), (f"{n}.safetensors", f"base_models/{n}.pth")) for n in _BASE),
        WeightFile(
            "stitching retargeting module",
            (f"{_STITCH}.safetensors", f"retargeting_models/{_STITCH}.pth"),
        ),
    ),
    weights_kind=WEIGHTS_KIND,
    weights_source=WEIGHTS_REPO,
    detector=WeightFile("face detector", ("face_yolov8n.pt",)),
    detector_kind=DETECTOR_KIND,
    detector_source=DETECTOR_REPO,
    detector_caution=PICKLE_CAUTION,
)
PACKS = (KJ, ADVANCED)
FAMILY = PackFamily(ENGINE_ID, "LivePortrait", PACKS)


class LivePortraitAdapter(NodePackAdapter):
    """Detects a user-installed LivePortrait node pack and its weights; the work runs as graph nodes."""

    def __init__(
        self,
        node_classes: NodeClasses,
        custom_nodes_dirs: Folders,
        model_dirs: Folders,
        detector_dirs: Folders | None = None,
        packs: tuple[PackSpec, ...] | None = None,
    ) -> None:
        self.model_dirs = model_dirs
        self.detector_dirs = detector_dirs or self._sibling_detector_dirs
        super().__init__(FAMILY, node_classes, custom_nodes_dirs, self._kind_dirs, packs)

    @classmethod
    def from_comfy(cls, packs: tuple[PackSpec, ...] | None = None) -> LivePortraitAdapter:
        """Build from the running ComfyUI (`nodes`, `folder_paths`), looked up lazily in sys.modules."""
        return cls(
            comfy_node_classes,
            comfy_custom_nodes_dirs,
            lambda: comfy_kind_dirs(WEIGHTS_KIND),
            lambda: comfy_kind_dirs(DETECTOR_KIND),
            packs,
        )

    def _sibling_detector_dirs(self) -> list[Path]:
        return [folder.parent / DETECTOR_KIND for folder in self.model_dirs()]

    def _kind_dirs(self, kind: str) -> list[Path]:
        return self.model_dirs() if kind == WEIGHTS_KIND else self.detector_dirs()

    async def apply_lipsync(self, api_key: str, request: dict[str, Any]) -> dict[str, Any]:
        """Refused: LivePortrait runs as graph nodes (DEPENDENCY_MISSING first when it is not installed)."""
        found = await asyncio.to_thread(self.detect)
        if not found["installed"]:
            raise self.dependency_error(found)
        raise AInfError(
            ErrorCode.NOT_SUPPORTED,
            "LivePortrait has no API to call: it animates a portrait from a driving video as ComfyUI nodes "
            "inside the graph.",
            remediation=["Use a preset whose graph contains the LivePortrait nodes; it runs on local_comfy."],
            detail={"engine": self.engine_id, "operation": "lip-sync", "pack": found["pack"]},
        )
