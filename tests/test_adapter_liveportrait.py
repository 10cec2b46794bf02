"""LivePortrait detection: folders and file names only, exact missing items and fixes, nothing imported."""

from __future__ import annotations

import sys
import types
from collections.abc import Callable
from pathlib import Path

import pytest
from ainfluencer.sidecar.core.errors import AInfError, ErrorCode
from ainfluencer.sidecar.remote.adapters.liveportrait import (
    ADVANCED,
    DETECTOR_REPO,
    KJ,
    WEIGHTS_REPO,
    LivePortraitAdapter,
)
from ainfluencer.sidecar.remote.engines import ENGINE_IDS

KJ_WEIGHTS = [
    "appearance_feature_extractor.safetensors",
    "motion_extractor.safetensors",
    "warping_module.safetensors",
    "spade_generator.safetensors",
    "stitching_retargeting_module.safetensors",
    "landmark.onnx",
]
ADVANCED_UPSTREAM = [
    "base_models/appearance_feature_extractor.pth",
    "base_models/motion_extractor.pth",
    "base_models/warping_module.pth",
    "base_models/spade_generator.pth",
    "retargeting_models/stitching_retargeting_module.pth",
]
MARKER_CODE = (
    "import pathlib\n"
    "pathlib.Path({marker!r}).write_text('imported')\n"
    "raise RuntimeError('this pack must never be imported by the detector')\n"
)


class Comfy:
    """A fake ComfyUI tree: custom_nodes/, models/liveportrait, models/ultralytics, registered node names."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.custom_nodes = root / "custom_nodes"
        self.weights = root / "models" / "liveportrait"
        self.detector = root / "models" / "ultralytics"
        self.marker = root / "imported.marker"
        self.registered: set[str] = set()
        for folder in (self.custom_nodes, self.weights, self.detector):
            folder.mkdir(parents=True)

    def pack(self, folder: str, library: str, *, parent: Path | None = None, init: bool = True) -> Path:
        """A pack folder whose Python files would leave a marker (and raise) if anything imported them."""
        path = (parent or self.custom_nodes) / folder
        (path / library).mkdir(parents=True)
        code = MARKER_CODE.format(marker=str(self.marker))
        if init:
            (path / "__init__.py").write_text(code)
        (path / "nodes.py").write_text(code)
        (path / library / "__init__.py").write_text(code)
        return path

    def put(self, folder: Path, names: list[str]) -> None:
        """Non-empty weight files."""
        for name in names:
            (folder / name).parent.mkdir(parents=True, exist_ok=True)
            (folder / name).write_bytes(b"\x00weights")

    def adapter(self, **overrides: Callable) -> LivePortraitAdapter:
        """The adapter reading this tree (and this registered-node set)."""
        return LivePortraitAdapter(
            node_classes=overrides.get("node_classes", lambda: set(self.registered)),
            custom_nodes_dirs=lambda: [self.custom_nodes],
            model_dirs=lambda: [self.weights],
            **({"detector_dirs": overrides["detector_dirs"]} if "detector_dirs" in overrides else {}),
        )


@pytest.fixture
def comfy(tmp_path: Path) -> Comfy:
    """An empty fake ComfyUI."""
    return Comfy(tmp_path / "ComfyUI")


def kinds(found: dict) -> list[str]:
    return [item["kind"] for item in found["missing"]]


def item(found: dict, kind: str) -> dict:
    return next(i for i in found["missing"] if i["kind"] == kind)


# -- detection matrix ------------------------------------------------------------------------------
def test_nothing_installed_names_the_pack_to_install_and_every_weight_file(comfy: Comfy) -> None:
    found = comfy.adapter().detect()
    assert found["installed"] is False
    assert found["pack"] is None and found["nodes_registered"] == []
    assert kinds(found) == ["pack_not_installed", "weights_missing"]
    weights = item(found, "weights_missing")
    assert weights["files"] == KJ_WEIGHTS and weights["folder"] == str(comfy.weights)
    steps = "\n".join(found["remediation"])
    assert "ComfyUI-Manager" in steps and "ComfyUI-LivePortraitKJ" in steps and "restart ComfyUI" in steps
    assert WEIGHTS_REPO in steps and str(comfy.weights) in steps


def test_pack_folder_without_registered_nodes_says_restart_or_check_the_import_log(comfy: Comfy) -> None:
    folder = comfy.pack("ComfyUI-LivePortraitKJ", "liveportrait")
    comfy.put(comfy.weights, KJ_WEIGHTS)
    found = comfy.adapter().detect()
    assert found["installed"] is False
    assert found["pack"]["name"] == "ComfyUI-LivePortraitKJ"
    assert found["pack"]["folder"] == str(folder) and found["pack"]["found_by"] == ["folder"]
    assert kinds(found) == ["nodes_not_registered"]
    missing = item(found, "nodes_not_registered")
    assert missing["nodes"] == list(KJ.required_nodes)
    assert "restart ComfyUI or check its import log" in missing["message"]
    assert any("IMPORT FAILED" in step for step in found["remediation"])


def test_registry_style_folder_names_are_recognised(comfy: Comfy) -> None:
    comfy.pack("comfyui-liveportraitkj@1_1_0", "liveportrait")
    assert comfy.adapter().detect()["pack"]["id"] == KJ.id


def test_pack_folder_missing_its_library_is_reported_incomplete(comfy: Comfy) -> None:
    folder = comfy.pack("ComfyUI-AdvancedLivePortrait", "Other", init=False)
    found = comfy.adapter().detect()
    incomplete = item(found, "pack_incomplete")
    assert incomplete["folder"] == str(folder)
    assert incomplete["files"] == ["__init__.py", "LivePortrait"]
    assert any("reinstall" in step for step in found["remediation"])


@pytest.mark.parametrize("where", ["suffix", "manager_folder"])
def test_disabled_pack_is_reported_with_how_to_enable_it(comfy: Comfy, where: str) -> None:
    if where == "suffix":
        comfy.pack("ComfyUI-LivePortraitKJ.disabled", "liveportrait")
    else:
        (comfy.custom_nodes / ".disabled").mkdir()
        comfy.pack("comfyui-liveportraitkj@1_1_0", "liveportrait", parent=comfy.custom_nodes / ".disabled")
    found = comfy.adapter().detect()
    assert found["pack"]["disabled"] is True
    assert kinds(found)[0] == "pack_disabled"
    assert "nodes_not_registered" not in kinds(found)
    assert any("enable it" in step for step in found["remediation"])


def test_registered_nodes_without_weights_name_each_missing_file_and_the_folder(comfy: Comfy) -> None:
    comfy.pack("ComfyUI-LivePortraitKJ", "liveportrait")
    comfy.registered = set(KJ.known_nodes)
    comfy.put(comfy.weights, ["motion_extractor.safetensors", "landmark.onnx"])
    found = comfy.adapter().detect()
    assert found["installed"] is False
    assert found["pack"]["found_by"] == ["folder", "nodes"]
    assert found["nodes_registered"] == sorted(KJ.known_nodes)
    assert kinds(found) == ["weights_missing"]
    weights = item(found, "weights_missing")
    expected = [n for n in KJ_WEIGHTS if n not in ("motion_extractor.safetensors", "landmark.onnx")]
    assert weights["files"] == expected and weights["folder"] == str(comfy.weights)
    for name in expected:
        assert name in weights["message"]
    assert found["remediation"] == [
        f"Download {', '.join(expected)} from {WEIGHTS_REPO} into {comfy.weights}."
    ]


def test_an_empty_weight_file_counts_as_missing(comfy: Comfy) -> None:
    comfy.registered = set(KJ.required_nodes)
    comfy.put(comfy.weights, KJ_WEIGHTS)
    (comfy.weights / "warping_module.safetensors").write_bytes(b"")
    assert item(comfy.adapter().detect(), "weights_missing")["files"] == ["warping_module.safetensors"]


def test_everything_present_is_installed(comfy: Comfy) -> None:
    folder = comfy.pack("ComfyUI-LivePortraitKJ", "liveportrait")
    comfy.registered = set(KJ.known_nodes) | {"KSampler"}
    comfy.put(comfy.weights, KJ_WEIGHTS)
    found = comfy.adapter().detect()
    assert found["installed"] is True
    assert found["missing"] == [] and found["remediation"] == []
    assert found["pack"] == {
        "id": KJ.id,
        "name": "ComfyUI-LivePortraitKJ",
        "author": "kijai",
        "repo": KJ.repo,
        "folder": str(folder),
        "disabled": False,
        "found_by": ["folder", "nodes"],
    }


def test_registered_nodes_alone_identify_a_pack_installed_elsewhere(comfy: Comfy) -> None:
    comfy.registered = set(KJ.required_nodes)
    comfy.put(comfy.weights, KJ_WEIGHTS)
    found = comfy.adapter().detect()
    assert found["installed"] is True
    assert found["pack"]["found_by"] == ["nodes"] and found["pack"]["folder"] is None


def test_generic_node_names_alone_do_not_claim_a_pack(comfy: Comfy) -> None:
    comfy.registered = {"KeypointsToImage", "ExpData"}
    assert comfy.adapter().detect()["pack"] is None


def test_advanced_pack_accepts_the_upstream_layout_and_needs_its_face_detector(comfy: Comfy) -> None:
    comfy.pack("ComfyUI-AdvancedLivePortrait", "LivePortrait")
    comfy.registered = set(ADVANCED.known_nodes)
    comfy.put(comfy.weights, ADVANCED_UPSTREAM)
    found = comfy.adapter().detect()
    assert found["installed"] is False
    assert kinds(found) == ["weights_missing"]
    detector = item(found, "weights_missing")
    assert detector["files"] == ["face_yolov8n.pt"] and detector["folder"] == str(comfy.detector)
    assert any(DETECTOR_REPO in step for step in found["remediation"])
    comfy.put(comfy.detector, ["face_yolov8n.pt"])
    found = comfy.adapter().detect()
    assert found["installed"] is True and found["pack"]["id"] == ADVANCED.id


def test_advanced_pack_accepts_flat_safetensors_from_an_injected_detector_folder(
    comfy: Comfy, tmp_path: Path
) -> None:
    comfy.registered = set(ADVANCED.required_nodes)
    comfy.put(comfy.weights, [n for n in KJ_WEIGHTS if n.endswith(".safetensors")])
    elsewhere = tmp_path / "detectors"
    comfy.put(elsewhere, ["face_yolov8n.pt"])
    assert comfy.adapter(detector_dirs=lambda: [elsewhere]).detect()["installed"] is True


def test_a_ready_pack_wins_over_a_broken_one(comfy: Comfy) -> None:
    comfy.pack("ComfyUI-AdvancedLivePortrait", "LivePortrait")
    comfy.registered = set(KJ.required_nodes)
    comfy.put(comfy.weights, KJ_WEIGHTS)
    found = comfy.adapter().detect()
    assert found["installed"] is True and found["pack"]["id"] == KJ.id and found["missing"] == []


def test_both_packs_broken_reports_each(comfy: Comfy) -> None:
    comfy.pack("ComfyUI-LivePortraitKJ", "liveportrait")
    comfy.pack("ComfyUI-AdvancedLivePortrait", "LivePortrait")
    found = comfy.adapter().detect()
    assert {i["pack"] for i in found["missing"] if i["kind"] == "nodes_not_registered"} == {
        KJ.id,
        ADVANCED.id,
    }


def test_comfyui_not_running_is_said_once_without_blaming_the_pack(comfy: Comfy) -> None:
    comfy.pack("ComfyUI-LivePortraitKJ", "liveportrait")
    comfy.put(comfy.weights, KJ_WEIGHTS)

    def offline() -> set[str]:
        raise AInfError(ErrorCode.ENGINE_OFFLINE, "ComfyUI is not running in this process.")

    found = comfy.adapter(node_classes=offline).detect()
    assert found["installed"] is False
    assert kinds(found) == ["comfyui_offline"]


# -- nothing from the pack or the weight folders is imported or executed ---------------------------
async def test_detection_never_imports_or_runs_anything_from_the_folders(comfy: Comfy) -> None:
    comfy.pack("ComfyUI-LivePortraitKJ", "liveportrait")
    comfy.pack("ComfyUI-AdvancedLivePortrait", "LivePortrait")
    (comfy.weights / "landmark.py").write_text(MARKER_CODE.format(marker=str(comfy.marker)))
    comfy.put(comfy.weights, KJ_WEIGHTS)
    before = set(sys.modules)
    adapter = comfy.adapter()
    adapter.detect()
    await adapter.health_check(None)
    with pytest.raises(AInfError):
        adapter.require_installed()
    with pytest.raises(AInfError):
        await adapter.apply_lipsync("", {})
    assert not comfy.marker.exists()
    new = set(sys.modules) - before
    assert not [m for m in new if "liveportrait" in m.lower() or m in ("nodes", "landmark")]


# -- the EngineAdapter surface ---------------------------------------------------------------------
def test_engine_id_is_a_registry_engine(comfy: Comfy) -> None:
    assert comfy.adapter().engine_id == "provider_liveportrait" in ENGINE_IDS


async def test_health_check_reports_installed_and_what_is_missing(comfy: Comfy) -> None:
    adapter = comfy.adapter()
    down = await adapter.health_check(None)
    assert down["ok"] is False and "no LivePortrait node pack is installed" in down["message"]
    assert down["remediation"] == adapter.detect()["remediation"]
    comfy.registered = set(KJ.required_nodes)
    comfy.put(comfy.weights, KJ_WEIGHTS)
    up = await adapter.health_check()
    assert up["ok"] is True and "ComfyUI-LivePortraitKJ" in up["message"] and up["missing"] == []


async def test_keys_and_balances_are_not_supported(comfy: Comfy) -> None:
    adapter = comfy.adapter()
    for call in (adapter.verify_identity("k"), adapter.check_balance("k"), adapter.generate_video("k", {})):
        with pytest.raises(AInfError) as err:
            await call
        assert err.value.code == ErrorCode.NOT_SUPPORTED


async def test_lipsync_is_dependency_missing_until_installed_then_not_supported(comfy: Comfy) -> None:
    adapter = comfy.adapter()
    with pytest.raises(AInfError) as err:
        await adapter.apply_lipsync("", {"video": "v.mp4"})
    assert err.value.code == ErrorCode.DEPENDENCY_MISSING
    assert err.value.remediation == adapter.detect()["remediation"]
    comfy.registered = set(KJ.required_nodes)
    comfy.put(comfy.weights, KJ_WEIGHTS)
    with pytest.raises(AInfError) as err:
        await adapter.apply_lipsync("", {"video": "v.mp4"})
    assert err.value.code == ErrorCode.NOT_SUPPORTED and "graph" in err.value.message


def test_require_installed_names_what_is_missing(comfy: Comfy) -> None:
    comfy.registered = set(KJ.required_nodes)
    comfy.put(comfy.weights, KJ_WEIGHTS[1:])
    adapter = comfy.adapter()
    with pytest.raises(AInfError) as err:
        adapter.require_installed()
    assert err.value.code == ErrorCode.DEPENDENCY_MISSING
    assert "appearance_feature_extractor.safetensors" in err.value.message
    assert str(comfy.weights) in err.value.message
    assert err.value.detail["missing"][0]["files"] == ["appearance_feature_extractor.safetensors"]
    comfy.put(comfy.weights, KJ_WEIGHTS[:1])
    assert adapter.require_installed()["installed"] is True


# -- from_comfy --------------------------------------------------------------------------------------
def test_from_comfy_reads_the_live_comfyui_modules(comfy: Comfy, monkeypatch: pytest.MonkeyPatch) -> None:
    comfy.pack("ComfyUI-LivePortraitKJ", "liveportrait")
    comfy.put(comfy.weights, KJ_WEIGHTS)
    nodes = types.ModuleType("nodes")
    nodes.NODE_CLASS_MAPPINGS = {name: object for name in KJ.known_nodes}
    folder_paths = types.ModuleType("folder_paths")
    folder_paths.models_dir = str(comfy.root / "models")
    folder_paths.folder_names_and_paths = {"custom_nodes": ([str(comfy.custom_nodes)], set())}
    folder_paths.get_folder_paths = lambda kind: list(folder_paths.folder_names_and_paths[kind][0])
    monkeypatch.setitem(sys.modules, "nodes", nodes)
    monkeypatch.setitem(sys.modules, "folder_paths", folder_paths)
    found = LivePortraitAdapter.from_comfy().detect()
    assert found["installed"] is True and found["pack"]["found_by"] == ["folder", "nodes"]


def test_from_comfy_outside_comfyui_degrades_to_a_clear_answer(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("nodes", "folder_paths"):
        monkeypatch.delitem(sys.modules, name, raising=False)
    found = LivePortraitAdapter.from_comfy().detect()
    assert found["installed"] is False and found["pack"] is None
    assert kinds(found) == ["comfyui_offline"]  # nothing it could not look at is claimed missing
    assert "ainfluencer serve" in found["remediation"][0]
