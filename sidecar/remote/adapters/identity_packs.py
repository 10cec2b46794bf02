"""Face identity node packs (PuLID, InstantID, IP-Adapter FaceID) as a keyless local engine.

Detected the way `node_packs` detects every pack (folder, registered node classes, weight files), never
installed or imported. The shipped local variant of `identity_lock_portrait_v1` is built on PuLID_ComfyUI's
nodes; InstantID and IP-Adapter FaceID are detected too so the Setup Hub can say what is there.

Sources (the packs' repositories, read, not copied):
- cubiq/PuLID_ComfyUI (https://github.com/cubiq/PuLID_ComfyUI, pulid.py at 4e1fd40): NODE_CLASS_MAPPINGS
  has PulidModelLoader (`pulid_file` from the `pulid` model folder), PulidInsightFaceLoader (`provider`
  CPU|CUDA|ROCM|CoreML; InsightFace `antelopev2` under `<models_dir>/insightface`), PulidEvaClipLoader (no
  inputs; EVA02-CLIP-L-14-336 fetched by the pack itself), ApplyPulid (`model`, `pulid`, `eva_clip`,
  `face_analysis`, `image`, `method` fidelity|style|neutral, `weight`, `start_at`, `end_at`, optional
  `attn_mask`; every image of the batch adds its face) and ApplyPulidAdvanced. Its README names
  ip-adapter_pulid_sdxl_fp16.safetensors (https://huggingface.co/huchenlei/ipadapter_pulid) for
  `models/pulid/` and the unzipped antelopev2 models for `models/insightface/models/antelopev2`.
- cubiq/ComfyUI_InstantID (https://github.com/cubiq/ComfyUI_InstantID, InstantID.py at 1ef34ef):
  InstantIDModelLoader, InstantIDFaceAnalysis, ApplyInstantID, ApplyInstantIDAdvanced,
  FaceKeypointsPreprocessor, InstantIDAttentionPatch, ApplyInstantIDControlNet; `models/instantid/
  ip-adapter.bin` (https://huggingface.co/InstantX/InstantID) and antelopev2 (its ControlNet, in the
  controlnet folder, is not checked here).
- cubiq/ComfyUI_IPAdapter_plus (https://github.com/cubiq/ComfyUI_IPAdapter_plus, IPAdapterPlus.py at
  9d076a3): IPAdapterFaceID, IPAdapterUnifiedLoaderFaceID, IPAdapterInsightFaceLoader among its nodes; FaceID
  models from https://huggingface.co/h94/IP-Adapter-FaceID in `models/ipadapter`; InsightFace `buffalo_l`.
- The licence trap: InsightFace's pretrained models (antelopev2, buffalo_l) are for non-commercial research
  only (https://github.com/deepinsight/insightface, "License": the training data and the models trained
  with it are available for non-commercial research purposes only). All three packs need them.
"""

from __future__ import annotations

from .node_packs import (
    Folders,
    KindFolders,
    NodeClasses,
    NodePackAdapter,
    PackFamily,
    PackSpec,
    WeightFile,
    comfy_custom_nodes_dirs,
    comfy_kind_dirs,
    comfy_node_classes,
)

ENGINE_ID = "provider_identity_nodes"
INSIGHTFACE_KIND = "insightface"
ANTELOPE_SOURCE = "https://huggingface.co/MonsterMMORPG/tools/tree/main (antelopev2.zip, unzipped)"
INSIGHTFACE_LICENCE = (
    "Licence: the InsightFace face models these nodes need (antelopev2, buffalo_l) are for non-commercial "
    "research only (https://github.com/deepinsight/insightface); do not use the outputs commercially."
)
ANTELOPEV2 = WeightFile("InsightFace antelopev2", ("models/antelopev2/glintr100.onnx",))

PULID = PackSpec(
    id="pulid_comfyui",
    name="PuLID_ComfyUI",
    author="cubiq",
    library_folder="eva_clip",
    required_nodes=("PulidModelLoader", "PulidInsightFaceLoader", "PulidEvaClipLoader", "ApplyPulid"),
    known_nodes=(
        "PulidModelLoader",
        "PulidInsightFaceLoader",
        "PulidEvaClipLoader",
        "ApplyPulid",
        "ApplyPulidAdvanced",
    ),
    weights=(WeightFile("PuLID SDXL model", ("ip-adapter_pulid_sdxl_fp16.safetensors",)),),
    weights_kind="pulid",
    weights_source="https://huggingface.co/huchenlei/ipadapter_pulid",
    detector=ANTELOPEV2,
    detector_kind=INSIGHTFACE_KIND,
    detector_source=ANTELOPE_SOURCE,
    licence=INSIGHTFACE_LICENCE,
)
INSTANTID = PackSpec(
    id="instantid",
    name="ComfyUI_InstantID",
    author="cubiq",
    library_folder="InstantID.py",
    required_nodes=("InstantIDModelLoader", "InstantIDFaceAnalysis", "ApplyInstantID"),
    known_nodes=(
        "InstantIDModelLoader",
        "InstantIDFaceAnalysis",
        "ApplyInstantID",
        "ApplyInstantIDAdvanced",
        "FaceKeypointsPreprocessor",
        "InstantIDAttentionPatch",
        "ApplyInstantIDControlNet",
    ),
    weights=(WeightFile("InstantID model", ("ip-adapter.bin",)),),
    weights_kind="instantid",
    weights_source="https://huggingface.co/InstantX/InstantID",
    detector=ANTELOPEV2,
    detector_kind=INSIGHTFACE_KIND,
    detector_source=ANTELOPE_SOURCE,
    licence=INSIGHTFACE_LICENCE,
)
IPADAPTER_FACEID = PackSpec(
    id="ipadapter_faceid",
    name="ComfyUI_IPAdapter_plus",
    author="cubiq",
    library_folder="IPAdapterPlus.py",
    required_nodes=("IPAdapterFaceID", "IPAdapterInsightFaceLoader"),
    known_nodes=("IPAdapterFaceID", "IPAdapterUnifiedLoaderFaceID", "IPAdapterInsightFaceLoader"),
    weights=(WeightFile("IP-Adapter FaceID Plus v2 SDXL", ("ip-adapter-faceid-plusv2_sdxl.bin",)),),
    weights_kind="ipadapter",
    weights_source="https://huggingface.co/h94/IP-Adapter-FaceID",
    detector=WeightFile("InsightFace buffalo_l", ("models/buffalo_l/w600k_r50.onnx",)),
    detector_kind=INSIGHTFACE_KIND,
    detector_source="https://github.com/deepinsight/insightface/tree/master/python-package (buffalo_l)",
    licence=INSIGHTFACE_LICENCE,
)
PACKS = (PULID, INSTANTID, IPADAPTER_FACEID)
FAMILY = PackFamily(ENGINE_ID, "Face identity (PuLID, InstantID or IP-Adapter FaceID)", PACKS)


class IdentityPacksAdapter(NodePackAdapter):
    """Detects a user-installed face identity node pack, its weights and its licence trap."""

    def __init__(
        self,
        node_classes: NodeClasses,
        custom_nodes_dirs: Folders,
        kind_dirs: KindFolders,
        packs: tuple[PackSpec, ...] | None = None,
    ) -> None:
        super().__init__(FAMILY, node_classes, custom_nodes_dirs, kind_dirs, packs)

    @classmethod
    def from_comfy(cls) -> IdentityPacksAdapter:
        """Build from the running ComfyUI (`nodes`, `folder_paths`), looked up lazily in sys.modules."""
        return cls(comfy_node_classes, comfy_custom_nodes_dirs, comfy_kind_dirs)
