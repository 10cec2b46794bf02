"""LivePortrait as a user-installed ComfyUI node pack: detected by folder and file names, never installed.

LivePortrait runs as the pack's own nodes inside a ComfyUI graph, so this adapter offers no generation call.
It only answers whether a pack is usable and, when not, exactly what is missing and what the user must do.
Nothing here imports, opens or executes anything from the pack or the weight folders: it lists folder
names, checks that named paths exist, and reads ComfyUI's registered node class names.

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
- ComfyUI skips custom-node folders whose name ends in `.disabled` (nodes.py, init_external_custom_nodes);
  ComfyUI-Manager disables a pack that way or by moving it under `custom_nodes/.disabled/`.
- There is no PyPI distribution named `liveportrait`: both packs vendor the library as a sub-folder
  (`liveportrait/`, `LivePortrait/`), whose presence we check only when the nodes did not register.
UNCONFIRMED: that landmark.onnx is part of Kijai/LivePortrait_safetensors (the loader's download patterns
imply it); the exact wording of ComfyUI-Manager's menus, which changes between versions.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ...core.errors import AInfError, ErrorCode
from .base import EngineAdapter
from .local_comfy import loaded_module

ENGINE_ID = "provider_liveportrait"
WEIGHTS_REPO = "https://huggingface.co/Kijai/LivePortrait_safetensors"
DETECTOR_REPO = "https://huggingface.co/Bingsu/adetailer"
DEFAULT_WEIGHTS_FOLDER = "ComfyUI/models/liveportrait"
DEFAULT_DETECTOR_FOLDER = "ComfyUI/models/ultralytics"
_BASE = ("appearance_feature_extractor", "motion_extractor", "warping_module", "spade_generator")
_STITCH = "stitching_retargeting_module"
_VERSION_SUFFIX = re.compile(r"(@.*|-(main|master))$")


@dataclass(frozen=True)
class WeightFile:
    """One weight the pack loads: accepted paths relative to a weight folder, the first is the one we name."""

    label: str
    paths: tuple[str, ...]

    @property
    def name(self) -> str:
        """The file name we tell the user to put in place."""
        return self.paths[0]


@dataclass(frozen=True)
class PackSpec:
    """A LivePortrait node pack: its folder name, the nodes it registers and the files it reads."""

    id: str
    name: str
    author: str
    library_folder: str
    required_nodes: tuple[str, ...]
    known_nodes: tuple[str, ...]
    weights: tuple[WeightFile, ...]
    detector: WeightFile | None = None

    @property
    def repo(self) -> str:
        """The pack's GitHub repository (both packs are published there under author/name)."""
        return f"https://github.com/{self.author}/{self.name}"

    @property
    def folder_names(self) -> tuple[str, ...]:
        """The folder names it installs under, compared by `_folder_key` (the registry lowercases them)."""
        return (self.name.lower(),)


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
    detector=WeightFile("face detector", ("face_yolov8n.pt",)),
)
PACKS = (KJ, ADVANCED)

NodeClasses = Callable[[], set[str]]
Folders = Callable[[], list[Path]]


def _folder_key(name: str) -> str:
    """A custom-node folder name compared the way packs are installed (case, `.disabled`, `@ver`, `-main`)."""
    key = name.lower().removesuffix(".disabled")
    return _VERSION_SUFFIX.sub("", key)


def _present(folder: Path, relative: str) -> bool:
    """A non-empty file exists at folder/relative (existence and size only; never opened)."""
    try:
        path = folder / relative
        return path.is_file() and path.stat().st_size > 0
    except OSError:
        return False


class LivePortraitAdapter(EngineAdapter):
    """Detects a user-installed LivePortrait node pack and its weights; the work runs as graph nodes."""

    engine_id = ENGINE_ID

    def __init__(
        self,
        node_classes: NodeClasses,
        custom_nodes_dirs: Folders,
        model_dirs: Folders,
        detector_dirs: Folders | None = None,
        packs: tuple[PackSpec, ...] | None = None,
    ) -> None:
        super().__init__(None)
        self.packs = packs or PACKS  # which packs count as installed (the shipped graph needs KJ's nodes)
        self.node_classes = node_classes
        self.custom_nodes_dirs = custom_nodes_dirs
        self.model_dirs = model_dirs
        self.detector_dirs = detector_dirs or self._sibling_detector_dirs

    @classmethod
    def from_comfy(cls, packs: tuple[PackSpec, ...] | None = None) -> LivePortraitAdapter:
        """Build from the running ComfyUI (`nodes`, `folder_paths`), looked up lazily in sys.modules."""
        return cls(
            _comfy_node_classes,
            _comfy_custom_nodes_dirs,
            _comfy_dirs("liveportrait"),
            _comfy_dirs("ultralytics"),
            packs,
        )

    def _sibling_detector_dirs(self) -> list[Path]:
        return [folder.parent / "ultralytics" for folder in self.model_dirs()]

    # -- detection --------------------------------------------------------------------------------
    def _pack_folders(self, spec: PackSpec, roots: list[Path]) -> list[tuple[Path, bool]]:
        found: list[tuple[Path, bool]] = []
        for root in roots:
            for parent, disabled_parent in ((root, False), (root / ".disabled", True)):
                try:
                    entries = sorted(p for p in parent.iterdir() if p.is_dir())
                except OSError:
                    continue
                for entry in entries:
                    if _folder_key(entry.name) in spec.folder_names:
                        found.append((entry, disabled_parent or entry.name.lower().endswith(".disabled")))
        found.sort(key=lambda item: item[1])  # an enabled copy first
        return found

    def _missing_files(self, files: tuple[WeightFile, ...], folders: list[Path] | None) -> list[str] | None:
        if folders is None:
            return None  # the folders could not be listed: unknown, not missing
        return [w.name for w in files if not any(_present(f, rel) for f in folders for rel in w.paths)]

    def _inspect(
        self,
        spec: PackSpec,
        roots: list[Path],
        registered: set[str] | None,
        weight_dirs: list[Path] | None,
        detector_dirs: list[Path] | None,
    ) -> dict[str, Any]:
        folders = self._pack_folders(spec, roots)
        folder, disabled = folders[0] if folders else (None, False)
        nodes_registered = sorted(n for n in spec.known_nodes if registered and n in registered)
        nodes_missing = [n for n in spec.required_nodes if registered is None or n not in registered]
        distinctive = len(nodes_missing) < len(spec.required_nodes)  # generic names alone prove nothing
        found_by = (["folder"] if folder else []) + (["nodes"] if distinctive else [])
        weights_missing = self._missing_files(spec.weights, weight_dirs)
        detector_missing = self._missing_files((spec.detector,), detector_dirs) if spec.detector else []
        incomplete = []
        if folder is not None and not disabled and nodes_missing:
            incomplete = [n for n in ("__init__.py", spec.library_folder) if not (folder / n).exists()]
        return {
            "id": spec.id,
            "name": spec.name,
            "author": spec.author,
            "repo": spec.repo,
            "folder": str(folder) if folder else None,
            "disabled": disabled,
            "found_by": found_by,
            "nodes_registered": nodes_registered,
            "nodes_missing": nodes_missing,
            "incomplete": incomplete,
            "weights_folder": str(weight_dirs[0]) if weight_dirs else DEFAULT_WEIGHTS_FOLDER,
            "weights_missing": weights_missing,
            "detector_folder": str(detector_dirs[0]) if detector_dirs else DEFAULT_DETECTOR_FOLDER,
            "detector_missing": detector_missing,
            "ready": registered is not None
            and not nodes_missing
            and weights_missing == [] == detector_missing,
        }

    def detect(self) -> dict[str, Any]:
        """Which pack is installed, which of its nodes registered, exactly what is missing, and the fix."""
        registered = _attempt(lambda: set(self.node_classes()))
        roots = _attempt(lambda: _dedupe(self.custom_nodes_dirs()))
        weight_dirs = _attempt(lambda: _dedupe(self.model_dirs()))
        detector_dirs = _attempt(lambda: _dedupe(self.detector_dirs()))
        reports = [self._inspect(s, roots or [], registered, weight_dirs, detector_dirs) for s in self.packs]
        ready = [r for r in reports if r["ready"]]
        present = [r for r in reports if r["found_by"]]
        chosen = (ready or present or [None])[0]
        missing: list[dict[str, Any]] = []
        remediation: list[str] = []
        if not ready:
            if registered is None:
                missing.append(
                    {
                        "kind": "comfyui_offline",
                        "message": "ComfyUI is not running in this process, so its nodes cannot be read",
                    }
                )
                remediation.append(
                    "Start AInfluencer inside ComfyUI (`ainfluencer serve`), then check again."
                )
            if present or registered is not None or roots is not None:  # else absence cannot be told
                for report in present or [reports[0]]:
                    _explain(report, bool(present), registered is not None, missing, remediation)
        return {
            "installed": bool(ready),
            "pack": _pack_summary(chosen),
            "packs": reports,
            "nodes_registered": sorted({n for r in reports for n in r["nodes_registered"]}),
            "missing": missing,
            "remediation": remediation,
        }

    def require_installed(self) -> dict[str, Any]:
        """The detect() result when a pack is ready; DEPENDENCY_MISSING naming what is missing otherwise."""
        found = self.detect()
        if found["installed"]:
            return found
        raise self._dependency_error(found)

    def _dependency_error(self, found: dict[str, Any]) -> AInfError:
        reasons = "; ".join(item["message"] for item in found["missing"])
        return AInfError(
            ErrorCode.DEPENDENCY_MISSING,
            f"LivePortrait is not ready: {reasons}",
            remediation=found["remediation"],
            detail={"engine": self.engine_id, "pack": found["pack"], "missing": found["missing"]},
        )

    # -- EngineAdapter ----------------------------------------------------------------------------
    async def health_check(self, api_key: str | None = None) -> dict[str, Any]:
        """{'ok': installed, 'message': ...} plus the pack and what is missing (no key is involved)."""
        found = await asyncio.to_thread(self.detect)
        if found["installed"]:
            pack = found["pack"]
            message = f"LivePortrait ready: {pack['name']} by {pack['author']} with its weights."
        else:
            message = "LivePortrait not ready: " + "; ".join(item["message"] for item in found["missing"])
        return {
            "ok": found["installed"],
            "message": message,
            "pack": found["pack"],
            "missing": found["missing"],
            "remediation": found["remediation"],
        }

    async def apply_lipsync(self, api_key: str, request: dict[str, Any]) -> dict[str, Any]:
        """Refused: LivePortrait runs as graph nodes (DEPENDENCY_MISSING first when it is not installed)."""
        found = await asyncio.to_thread(self.detect)
        if not found["installed"]:
            raise self._dependency_error(found)
        raise AInfError(
            ErrorCode.NOT_SUPPORTED,
            "LivePortrait has no API to call: it animates a portrait from a driving video as ComfyUI nodes "
            "inside the graph.",
            remediation=["Use a preset whose graph contains the LivePortrait nodes; it runs on local_comfy."],
            detail={"engine": self.engine_id, "operation": "lip-sync", "pack": found["pack"]},
        )


def _pack_summary(report: dict[str, Any] | None) -> dict[str, Any] | None:
    if report is None:
        return None
    keys = ("id", "name", "author", "repo", "folder", "disabled", "found_by")
    return {key: report[key] for key in keys}


def _explain(
    report: dict[str, Any], present: bool, nodes_known: bool, missing: list[dict[str, Any]], steps: list[str]
) -> None:
    """Append what is missing for one pack, and the exact fix, in the order the user has to do it."""
    name, pack_id = report["name"], report["id"]
    manager = f"In ComfyUI-Manager → Custom Nodes Manager, search '{name}' (by {report['author']})"
    if not present:
        missing.append(
            {
                "kind": "pack_not_installed",
                "pack": None,
                "message": "no LivePortrait node pack is installed (ComfyUI-LivePortraitKJ or "
                "ComfyUI-AdvancedLivePortrait)",
            }
        )
        steps.append(
            f"{manager}, install it, then restart ComfyUI ({report['repo']}). ComfyUI-AdvancedLivePortrait "
            "(by PowerHouseMan) works too."
        )
    elif report["disabled"] and report["nodes_missing"]:
        missing.append(
            {
                "kind": "pack_disabled",
                "pack": pack_id,
                "folder": report["folder"],
                "message": f"{name} is installed but disabled ({report['folder']})",
            }
        )
        steps.append(
            f"{manager} and enable it (or move the folder back into custom_nodes without the '.disabled' "
            "suffix), then restart ComfyUI."
        )
    elif not nodes_known:
        pass  # ComfyUI is not running here: the offline entry says so; the files below can still be checked
    elif report["nodes_missing"] and report["folder"]:
        missing.append(
            {
                "kind": "nodes_not_registered",
                "pack": pack_id,
                "folder": report["folder"],
                "nodes": report["nodes_missing"],
                "message": f"{name} is in {report['folder']} but ComfyUI did not register its nodes "
                f"{', '.join(report['nodes_missing'])}: restart ComfyUI or check its import log",
            }
        )
        steps.append(
            f"Restart ComfyUI; if the {name} nodes still do not appear, look in ComfyUI's start-up log for "
            f"'IMPORT FAILED' next to {report['folder']} (usually a missing Python dependency) and use "
            "'Try fix' on the pack in ComfyUI-Manager."
        )
        if report["incomplete"]:
            missing.append(
                {
                    "kind": "pack_incomplete",
                    "pack": pack_id,
                    "folder": report["folder"],
                    "files": report["incomplete"],
                    "message": f"{name}'s folder lacks {', '.join(report['incomplete'])}",
                }
            )
            steps.append(f"{manager} and reinstall it (its folder is incomplete).")
    elif report["nodes_missing"]:
        missing.append(
            {
                "kind": "nodes_not_registered",
                "pack": pack_id,
                "nodes": report["nodes_missing"],
                "message": f"{name} registered only some of its nodes; missing "
                f"{', '.join(report['nodes_missing'])}",
            }
        )
        steps.append(f"{manager} and update it to the current version, then restart ComfyUI.")
    _explain_files(report, missing, steps)


def _explain_files(report: dict[str, Any], missing: list[dict[str, Any]], steps: list[str]) -> None:
    name, pack_id = report["name"], report["id"]
    pickle = " (a pickle-format file: take it only from that source)"
    kinds = (("weights", "weights", WEIGHTS_REPO, ""), ("detector", "face detector", DETECTOR_REPO, pickle))
    for prefix, label, source, caution in kinds:
        files = report[f"{prefix}_missing"]
        if not files:
            continue
        folder = report[f"{prefix}_folder"]
        missing.append(
            {
                "kind": "weights_missing",
                "pack": pack_id,
                "folder": folder,
                "files": files,
                "message": f"{name} {label} missing in {folder}: {', '.join(files)}",
            }
        )
        steps.append(f"Download {', '.join(files)} from {source} into {folder}{caution}.")


def _attempt(reader: Callable[[], Any]) -> Any:
    """A reader's answer, or None when it failed (ComfyUI not running, folder API missing)."""
    try:
        return reader()
    except Exception:
        return None


def _dedupe(folders: list[Path]) -> list[Path]:
    out: list[Path] = []
    for folder in folders:
        path = Path(folder)
        if path not in out:
            out.append(path)
    return out


# -- production callables: the live ComfyUI, looked up at call time, never imported here -------------
def _comfy_node_classes() -> set[str]:
    return set(loaded_module("nodes").NODE_CLASS_MAPPINGS)


def _comfy_custom_nodes_dirs() -> list[Path]:
    return [Path(p) for p in loaded_module("folder_paths").get_folder_paths("custom_nodes")]


def _comfy_dirs(kind: str) -> Folders:
    """The folders a pack reads `kind` weights from: `<models_dir>/<kind>`, then a registered `kind` path."""

    def folders() -> list[Path]:
        folder_paths = loaded_module("folder_paths")
        out = [Path(folder_paths.models_dir) / kind]
        if kind in getattr(folder_paths, "folder_names_and_paths", {}):
            out.extend(Path(p) for p in folder_paths.get_folder_paths(kind)[:1])
        return out

    return folders
