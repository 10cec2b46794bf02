"""Face identity node packs (PuLID, InstantID, IP-Adapter FaceID, ReActor) as a keyless local engine.

Detected the way `node_packs` detects every pack (folder, registered node classes, weight files), never
installed or imported. The shipped local variant of `identity_lock_portrait_v1` is built on PuLID_ComfyUI's
nodes, the local variant of `video_identity_consistency_v1` on ReActor's face swap; InstantID and IP-Adapter
FaceID are detected too so the Setup Hub can say what is there.

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
- Gourieff/ComfyUI-ReActor (https://github.com/Gourieff/ComfyUI-ReActor, nodes.py at a328274): a face swap
  pack. NODE_CLASS_MAPPINGS has ReActorFaceSwap (class `reactor`, FUNCTION `execute`: `enabled`,
  `input_image` IMAGE batch, `swap_model` (a file of `<models_dir>/insightface`, e.g. inswapper_128.onnx),
  `facedetection` retinaface_resnet50|retinaface_mobile0.25|YOLOv5l|YOLOv5n, `face_restore_model` ("none" or
  a file of `models/facerestore_models`), `face_restore_visibility`, `codeformer_weight`,
  `detect_gender_input`/`detect_gender_source` no|female|male, `input_faces_index`/`source_faces_index`
  STRING, `console_log_level` 0|1|2, optional `source_image` IMAGE; returns (SWAPPED_IMAGE, FACE_MODEL,
  ORIGINAL_IMAGE)), ReActorFaceSwapOpt, ReActorOptions, ReActorFaceBoost, ReActorMaskHelper,
  ReActorSetWeight, the face-model nodes and ReActorRestoreFace among others. scripts/reactor_swapper.py
  reads the swap model from `<models_dir>/insightface` and InsightFace `buffalo_l` (fetched by InsightFace
  itself) for detection. Its README points to https://huggingface.co/datasets/Gourieff/ReActor/tree/main/
  models for inswapper_128.onnx. Our video face swap node calls ReActorFaceSwap per chunk of frames.
- The licence trap: InsightFace's pretrained models (antelopev2, buffalo_l) are for non-commercial research
  only (https://github.com/deepinsight/insightface, "License": the training data and the models trained
  with it are available for non-commercial research purposes only). All four packs need them; ReActor's
  inswapper_128.onnx is InsightFace's own non-commercial model too.
"""

from __future__ import annotations

from . import node_packs

ENGINE_ID = "provider_identity_nodes"
INSIGHTFACE_KIND = "insightface"
ANTELOPE_SOURCE = "https://huggingface.co/MonsterMMORPG/tools/tree/main (antelopev2.zip, unzipped)"
INSIGHTFACE_LICENCE = (
    "Licence: the InsightFace face models these nodes need (antelopev2, buffalo_l) are for non-commercial "
    "research only (https://github.com/deepinsight/insightface); do not use the outputs commercially."
)
ANTELOPEV2 = node_packs.WeightFile("InsightFace antelopev2", ("models/antelopev2/glintr100.onnx",))


def _needs_insightface(
    id_: str,
    name: str,
    library: str,
    nodes: tuple[tuple[str, ...], tuple[str, ...]],
    weight: tuple[node_packs.WeightFile, str, str],
    face_models: tuple[node_packs.WeightFile, str] = (ANTELOPEV2, ANTELOPE_SOURCE),
) -> node_packs.PackSpec:
    """One of cubiq's face packs: (required, further) nodes, (weight, model folder, source), InsightFace."""
    (required, further), (file, kind, source) = nodes, weight
    return node_packs.PackSpec(
        id_, name, "cubiq", library, required, (*required, *further), (file,), kind, source,
        face_models[0], INSIGHTFACE_KIND, face_models[1], "", INSIGHTFACE_LICENCE,
    )  # fmt: skip


PULID = _needs_insightface(
    "pulid_comfyui",
    "PuLID_ComfyUI",
    "eva_clip",
    (("PulidModelLoader", "PulidInsightFaceLoader", "PulidEvaClipLoader", "ApplyPulid"),
     ("ApplyPulidAdvanced",)),
    (node_packs.WeightFile("PuLID SDXL model", ("ip-adapter_pulid_sdxl_fp16.safetensors",)), "pulid",
     "https://huggingface.co/huchenlei/ipadapter_pulid"),
)  # fmt: skip
INSTANTID = _needs_insightface(
    "instantid",
    "ComfyUI_InstantID",
    "InstantID.py",
    (("InstantIDModelLoader", "InstantIDFaceAnalysis", "ApplyInstantID"),
     ("ApplyInstantIDAdvanced", "FaceKeypointsPreprocessor", "InstantIDAttentionPatch",
      "ApplyInstantIDControlNet")),
    (node_packs.WeightFile("InstantID model", ("ip-adapter.bin",)), "instantid", "https://huggingface.co/InstantX/InstantID"),
)  # fmt: skip
IPADAPTER_FACEID = _needs_insightface(
    "ipadapter_faceid",
    "ComfyUI_IPAdapter_plus",
    "IPAdapterPlus.py",
    (("IPAdapterFaceID", "IPAdapterInsightFaceLoader"), ("IPAdapterUnifiedLoaderFaceID",)),
    (node_packs.WeightFile("IP-Adapter FaceID Plus v2 SDXL", ("ip-adapter-faceid-plusv2_sdxl.bin",)),
     "ipadapter", "https://huggingface.co/h94/IP-Adapter-FaceID"),
    (node_packs.WeightFile("InsightFace buffalo_l", ("models/buffalo_l/w600k_r50.onnx",)),
     "https://github.com/deepinsight/insightface/tree/master/python-package (buffalo_l)"),
)  # fmt: skip
REACTOR_SWAP_NODE = "ReActorFaceSwap"
LOCAL_SWAP_NODE = "AInfluencerLocalFaceSwapVideo"  # our streaming node that calls ReActorFaceSwap per chunk
REACTOR_LICENCE = (
    "Licence: ReActor's face swap model inswapper_128.onnx and the InsightFace buffalo_l face models are for "
    "non-commercial research only (https://github.com/deepinsight/insightface); do not use the outputs "
    "commercially."
)
REACTOR = node_packs.PackSpec(
    id="reactor",
    name="ComfyUI-ReActor",
    author="Gourieff",
    library_folder="scripts",
    required_nodes=(REACTOR_SWAP_NODE,),
    known_nodes=(
        REACTOR_SWAP_NODE, "ReActorFaceSwapOpt", "ReActorOptions", "ReActorFaceBoost", "ReActorMaskHelper",
        "ReActorSetWeight", "ReActorSaveFaceModel", "ReActorLoadFaceModel", "ReActorBuildFaceModel",
        "ReActorMakeFaceModelBatch", "ReActorRestoreFace", "ReActorUnload",
    ),
    weights=(node_packs.WeightFile("InsightFace inswapper", ("inswapper_128.onnx",)),),
    weights_kind=INSIGHTFACE_KIND,
    weights_source="https://huggingface.co/datasets/Gourieff/ReActor/tree/main/models",
    licence=REACTOR_LICENCE,
    called_by=(LOCAL_SWAP_NODE,),
)  # fmt: skip
PACKS = (PULID, INSTANTID, IPADAPTER_FACEID, REACTOR)
FAMILY = node_packs.PackFamily(
    ENGINE_ID, "Face identity (PuLID, InstantID, IP-Adapter FaceID or ReActor)", PACKS
)


class IdentityPacksAdapter(node_packs.NodePackAdapter):
    """Detects a user-installed face identity node pack, its weights and its licence trap."""

    def __init__(
        self,
        node_classes: node_packs.NodeClasses,
        custom_nodes_dirs: node_packs.Folders,
        kind_dirs: node_packs.KindFolders,
        packs: tuple[node_packs.PackSpec, ...] | None = None,
    ) -> None:
        super().__init__(FAMILY, node_classes, custom_nodes_dirs, kind_dirs, packs)

    @classmethod
    def from_comfy(cls) -> IdentityPacksAdapter:
        """Build from the running ComfyUI (`nodes`, `folder_paths`), looked up lazily in sys.modules."""
        return cls(
            node_packs.comfy_node_classes, node_packs.comfy_custom_nodes_dirs, node_packs.comfy_kind_dirs
        )
