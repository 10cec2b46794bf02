"""talking_clip_v1@provider_liveportrait: the local LivePortrait fallback variant (kijai's LivePortraitKJ).

The KJ node definitions in tests/data/liveportrait_node_defs.json are the /object_info entries ComfyUI 0.3.75
would serve for the pack's INPUT_TYPES (kijai/ComfyUI-LivePortraitKJ nodes.py at 4d9dc62); the pack itself is
never installed or imported here.
"""

from __future__ import annotations

import copy
import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from ainfluencer.sidecar.core.errors import AInfError, ErrorCode
from ainfluencer.sidecar.graph.bind import set_widget
from ainfluencer.sidecar.graph.convert import ui_to_api
from ainfluencer.sidecar.graph.widgets import combo_options, input_specs, is_upload, widget_names
from ainfluencer.sidecar.host.app import build_sidecar
from ainfluencer.sidecar.jobs.presets import WorkflowPreset, load_preset_file
from ainfluencer.sidecar.remote.adapters.liveportrait import KJ, LivePortraitAdapter
from ainfluencer.sidecar.runs.pipeline import RunRequest
from fakes import captured_node_defs

REPO = Path(__file__).resolve().parent.parent
WORKFLOWS = REPO / "workflows"
PRESET = WORKFLOWS / "variants" / "talking_clip_v1@provider_liveportrait.json"
SYNC_VARIANT = WORKFLOWS / "talking_clip_v1.json"
KJ_DEFS_FILE = REPO / "tests" / "data" / "liveportrait_node_defs.json"
EXAMPLES = REPO / "assets" / "examples"
ENGINE = "provider_liveportrait"
KJ_NODES = {
    "DownloadAndLoadLivePortraitModels",
    "LivePortraitLoadMediaPipeCropper",
    "LivePortraitCropper",
    "LivePortraitProcess",
    "LivePortraitComposite",
}
KJ_WEIGHTS = [
    "appearance_feature_extractor.safetensors",
    "motion_extractor.safetensors",
    "warping_module.safetensors",
    "spade_generator.safetensors",
    "stitching_retargeting_module.safetensors",
    "landmark.onnx",
]
# Nodes a ComfyUI without any custom pack registers (enough for detection to see "no LivePortrait").
CORE_NODES = {"LoadImage", "LoadVideo", "GetVideoComponents", "CreateVideo", "SaveVideo"}


def kj_defs() -> dict[str, dict[str, Any]]:
    return json.loads(KJ_DEFS_FILE.read_text(encoding="utf-8"))


def all_defs() -> dict[str, dict[str, Any]]:
    return {**captured_node_defs(), **kj_defs()}


def expected_prompt(image: str, video: str, *, precision: str, friendly: bool) -> dict[str, tuple]:
    """(class_type, inputs) per node id: what the editor would queue for this variant."""
    return {
        "1": ("LoadImage", {"image": image}),
        "2": ("LoadVideo", {"file": video}),
        "3": ("GetVideoComponents", {"video": ["2", 0]}),
        "4": ("DownloadAndLoadLivePortraitModels", {"precision": precision, "mode": "human"}),
        "5": (
            "LivePortraitLoadMediaPipeCropper",
            {"landmarkrunner_onnx_device": "CPU", "keep_model_loaded": True},
        ),
        "6": (
            "LivePortraitCropper",
            {
                "dsize": 512,
                "scale": 2.3,
                "vx_ratio": 0,
                "vy_ratio": -0.125,
                "face_index": 0,
                "face_index_order": "large-small",
                "rotate": True,
                "pipeline": ["4", 0],
                "cropper": ["5", 0],
                "source_image": ["1", 0],
            },
        ),
        "7": (
            "LivePortraitCropper",
            {
                "dsize": 512,
                "scale": 2.2,
                "vx_ratio": 0,
                "vy_ratio": -0.1,
                "face_index": 0,
                "face_index_order": "large-small",
                "rotate": True,
                "pipeline": ["4", 0],
                "cropper": ["5", 0],
                "source_image": ["3", 0],
            },
        ),
        "8": (
            "LivePortraitProcess",
            {
                "lip_zero": False,
                "lip_zero_threshold": 0.03,
                "stitching": True,
                "delta_multiplier": 1,
                "mismatch_method": "constant",
                "relative_motion_mode": "relative",
                "driving_smooth_observation_variance": 3e-06,
                "expression_friendly": friendly,
                "expression_friendly_multiplier": 1,
                "pipeline": ["4", 0],
                "crop_info": ["6", 1],
                "source_image": ["1", 0],
                "driving_images": ["7", 0],
            },
        ),
        "9": (
            "LivePortraitComposite",
            {"source_image": ["1", 0], "cropped_image": ["8", 0], "liveportrait_out": ["8", 1]},
        ),
        "10": ("CreateVideo", {"fps": ["3", 2], "images": ["9", 0], "audio": ["3", 1]}),
        "11": (
            "AInfluencerSaveVideo",
            {
                "filename_prefix": "ainfluencer/talking_clip_v1",
                "format": "auto",
                "codec": "auto",
                "video": ["10", 0],
            },
        ),
    }


def bind(image: str, video: str, quality: str) -> tuple[dict, dict]:
    """The variant's graph with a quality level and the two file inputs set, as PipelineManager.bind does."""
    variant = load_preset_file(PRESET)
    defs = all_defs()
    graph = copy.deepcopy(variant.graph)
    for override in variant.manifest.quality_levels[quality].overrides:
        set_widget(graph, defs, override.node_id, override.input, override.value)
    values = {"image": image, "video": video}
    for spec in variant.manifest.inputs:
        set_widget(graph, defs, spec.bind.node_id, spec.bind.input, values[spec.name])
    return graph, defs


def check_like_comfyui(prompt: dict[str, Any], defs: dict[str, dict[str, Any]]) -> None:
    """What ComfyUI's validate_inputs checks: required inputs, link types, combo choices, ranges."""
    for node_id, node in prompt.items():
        node_def = defs[node["class_type"]]
        specs = input_specs(node_def)
        required = set(node_def["input"].get("required") or {})
        assert required <= set(node["inputs"]), (node_id, required - set(node["inputs"]))
        for name, value in node["inputs"].items():
            kind, options, _optional = specs[name]
            if isinstance(value, list):
                source = prompt[value[0]]
                produced = defs[source["class_type"]]["output"][value[1]]
                assert produced == kind, (node_id, name, produced, kind)
                continue
            choices = combo_options(node_def["input"].get("required", {}).get(name)) or combo_options(
                (node_def["input"].get("optional") or {}).get(name)
            )
            if kind == "COMBO" and choices and not is_upload(options):  # uploads: the input folder's files
                assert value in choices, (node_id, name, value)
            elif kind in ("INT", "FLOAT"):
                assert isinstance(value, int | float) and not isinstance(value, bool), (node_id, name)
                assert options.get("min", -float("inf")) <= value <= options.get("max", float("inf"))
            elif kind == "BOOLEAN":
                assert isinstance(value, bool), (node_id, name)


# -- (1) the file and its manifest -----------------------------------------------------------------------


def test_variant_loads_and_its_manifest_validates() -> None:
    variant = load_preset_file(PRESET)
    manifest = variant.manifest
    assert WorkflowPreset.model_validate(variant.graph["extra"]["ainfluencer"]) == manifest
    assert (manifest.id, manifest.name, manifest.category, manifest.version) == (
        "talking_clip_v1",
        "Talking clip",
        "video",
        1,
    )
    assert manifest.engine == ENGINE
    assert manifest.engine_preference == ["provider_synclabs", ENGINE, "provider_fal"]
    assert [(i.name, i.type, i.required, i.bind.node_id, i.bind.input) for i in manifest.inputs] == [
        ("image", "image", True, "1", "image"),
        ("video", "video", True, "2", "file"),
    ]
    assert "driving" in manifest.input("video").description
    assert "not an audio file" in manifest.input("video").description
    assert "driving VIDEO, not an audio file" in manifest.description
    assert "ComfyUI-LivePortraitKJ" in manifest.description
    assert "on this machine" in manifest.description
    assert set(manifest.quality_levels) == {"low", "standard", "pro"}
    assert manifest.default_quality == "standard"
    for level in manifest.quality_levels.values():
        assert level.estimated_time_seconds > 0
        assert {(o.node_id, o.input) for o in level.overrides} >= {("8", "relative_motion_mode")}
    assert [(o.node_id, o.kind, o.prefix_input) for o in manifest.outputs] == [
        ("11", "video", "filename_prefix")
    ]
    assert manifest.requires_consent is True
    assert manifest.safety_notes
    dependency = [f for f in manifest.failure_modes if f.code == ErrorCode.DEPENDENCY_MISSING]
    assert len(dependency) == 1
    assert "LivePortraitKJ pack or its weights missing" in dependency[0].when
    for needle in ("ComfyUI-LivePortraitKJ", "ComfyUI-Manager", "models/liveportrait", "landmark.onnx"):
        assert needle in dependency[0].remediation
    assert manifest.required_models == []


def test_graph_is_editor_shaped_and_uses_exactly_the_described_kj_nodes() -> None:
    graph = json.loads(PRESET.read_text(encoding="utf-8"))
    defs = all_defs()
    nodes = {n["id"]: n for n in graph["nodes"]}
    assert {
        n["type"] for n in nodes.values() if n["type"].startswith(("LivePortrait", "DownloadAndLoad"))
    } == (KJ_NODES)
    assert set(kj_defs()) == KJ_NODES  # the defs file describes exactly the KJ nodes the graph uses
    assert set(KJ.required_nodes) <= KJ_NODES  # the nodes the adapter's detection requires are in use
    assert "LivePortraitLoadCropper" not in {n["type"] for n in nodes.values()}  # InsightFace: non-commercial
    assert graph["last_node_id"] == max(nodes) and graph["last_link_id"] == max(
        lk[0] for lk in graph["links"]
    )
    assert [g["title"] for g in graph["groups"]] == ["LivePortrait (local fallback)"]
    for node in nodes.values():
        props = node["properties"]
        if node["type"] == "Note":  # the editor's virtual note: saved with no properties and one text widget
            assert props == {} and len(node["widgets_values"]) == 1
            continue
        assert props["Node name for S&R"] == node["type"]
        if node["type"] in KJ_NODES:
            assert props["cnr_id"] == "comfyui-liveportraitkj"
        elif node["type"].startswith("AInfluencer"):  # the signed save node: this pack's own
            assert (props["cnr_id"], props["ver"]) == ("comfyui-ainfluencer", "0.1.0")
        else:
            assert (props["cnr_id"], props["ver"]) == ("comfy-core", "0.3.75")
        # widgets_values are positional: one per widget the editor draws (upload button included)
        assert len(node["widgets_values"]) == len(widget_names(node["type"], defs[node["type"]])), node["id"]
    for link_id, origin, origin_slot, target, target_slot, kind in graph["links"]:
        out = nodes[origin]["outputs"][origin_slot]
        assert link_id in (out["links"] or []) and out["type"] == kind
        socket = nodes[target]["inputs"][target_slot]
        assert socket["link"] == link_id and socket["type"] == kind
        assert defs[nodes[origin]["type"]]["output"][origin_slot] == kind
    linked = {lk[0] for lk in graph["links"]}
    for node in nodes.values():
        assert all(i["link"] in linked for i in node["inputs"] if i["link"] is not None)
        assert all(lid in linked for o in node["outputs"] for lid in o["links"] or [])
    sources = {n["widgets_values"][0] for n in nodes.values() if n["type"] in ("LoadImage", "LoadVideo")}
    assert all((EXAMPLES / name).is_file() for name in sources)  # its defaults are the bundled samples


# -- (2) bind + convert ----------------------------------------------------------------------------------


def test_bound_graph_converts_to_the_expected_api_prompt() -> None:
    graph, defs = bind("me_portrait.png", "takes/me_reading.mp4", "standard")
    prompt = ui_to_api(graph, defs)
    got = {node_id: (node["class_type"], node["inputs"]) for node_id, node in prompt.items()}
    assert got == expected_prompt("me_portrait.png", "takes/me_reading.mp4", precision="auto", friendly=True)
    # the important ones, spelled out
    assert prompt["1"]["inputs"]["image"] == "me_portrait.png"
    assert prompt["2"]["inputs"]["file"] == "takes/me_reading.mp4"
    process = prompt["8"]["inputs"]
    assert process["source_image"] == ["1", 0]  # the portrait is animated...
    assert process["driving_images"] == ["7", 0]  # ...by the driving clip's cropped face frames
    assert process["crop_info"] == ["6", 1]  # with the source portrait's crop
    assert (
        process["relative_motion_mode"] == "relative"
    )  # a single image: "source_video_smoothed" gives 1 frame
    assert prompt["7"]["inputs"]["source_image"] == ["3", 0]
    assert prompt["10"]["inputs"]["audio"] == ["3", 1]  # the driving clip's own audio is kept
    assert prompt["10"]["inputs"]["fps"] == ["3", 2]  # at the driving clip's frame rate
    assert "mask" not in prompt["9"]["inputs"]  # the pack's built-in mask template pastes the face back
    check_like_comfyui(prompt, defs)


@pytest.mark.parametrize(
    ("quality", "precision", "friendly"),
    [("low", "auto", False), ("standard", "auto", True), ("pro", "fp32", True)],
)
def test_quality_levels_set_the_loader_and_process_node(quality: str, precision: str, friendly: bool) -> None:
    graph, defs = bind("portrait.png", "portrait_talking_source.mp4", quality)
    prompt = ui_to_api(graph, defs)
    assert {k: (v["class_type"], v["inputs"]) for k, v in prompt.items()} == expected_prompt(
        "portrait.png", "portrait_talking_source.mp4", precision=precision, friendly=friendly
    )
    check_like_comfyui(prompt, defs)


# -- (3) and (4) through the PipelineManager -------------------------------------------------------------


def workflows_dir(tmp_path: Path) -> Path:
    """This variant, with the Sync variant beside it when it exists (no other presets are loaded)."""
    folder = tmp_path / "workflows"
    folder.mkdir()
    shutil.copy(PRESET, folder / PRESET.name)
    if SYNC_VARIANT.is_file():
        shutil.copy(SYNC_VARIANT, folder / SYNC_VARIANT.name)
    return folder


def liveportrait_adapter(root: Path, *, installed: bool) -> LivePortraitAdapter:
    """The real adapter over a fake ComfyUI tree: nothing installed, or LivePortraitKJ with its weights."""
    custom_nodes, weights = root / "custom_nodes", root / "models" / "liveportrait"
    custom_nodes.mkdir(parents=True)
    weights.mkdir(parents=True)
    registered = set(CORE_NODES)
    if installed:
        pack = custom_nodes / "ComfyUI-LivePortraitKJ"
        (pack / "liveportrait").mkdir(parents=True)
        (pack / "__init__.py").write_text("", encoding="utf-8")
        for name in KJ_WEIGHTS:
            (weights / name).write_bytes(b"\0" * 16)
        registered |= KJ_NODES
    return LivePortraitAdapter(lambda: set(registered), lambda: [custom_nodes], lambda: [weights])


def upload_samples(host) -> dict[str, str]:
    for name in ("portrait.png", "portrait_talking_source.mp4"):
        shutil.copy(EXAMPLES / name, host.input_dir / name)
    return {"image": "portrait.png", "video": "portrait_talking_source.mp4"}


def free_local_runs(user_dir: Path) -> None:
    """Price this engine at 0 credits (it runs on this machine) with a user cost-table row.

    The default cost table has no `provider_liveportrait` row, so without one a run is refused with
    DEPENDENCY_MISSING ("There is no price for video on provider_liveportrait ...").
    """
    folder = user_dir / "__ainfluencer"
    folder.mkdir(parents=True, exist_ok=True)
    entry = {
        "engine": ENGINE,
        "operation": "*",
        "quality": "*",
        "credits": 0.0,
        "assumed": False,
        "source": "test",
    }
    (folder / "cost_table.json").write_text(json.dumps({"entries": [entry]}), encoding="utf-8")


async def test_without_liveportrait_the_run_is_engine_offline_and_says_what_to_install(
    tmp_path, host
) -> None:
    adapter = liveportrait_adapter(tmp_path / "comfy", installed=False)
    assert adapter.detect()["installed"] is False
    sidecar = build_sidecar(
        host,
        tmp_path / "user",
        host.resolve_output,
        workflows_dir=workflows_dir(tmp_path),
        adapters=[adapter],
    )
    request = RunRequest(inputs=upload_samples(host), engine=ENGINE, consent_given=True)
    with pytest.raises(AInfError) as caught:
        await sidecar.pipeline.execute_preset("talking_clip_v1", request)
    error = caught.value
    assert error.code == ErrorCode.ENGINE_OFFLINE
    assert error.message.startswith(f"Engine {ENGINE!r} cannot run now:")
    for needle in ("ComfyUI-Manager", "ComfyUI-LivePortraitKJ", "install it", KJ.repo):
        assert needle in error.message
    assert any("another engine" in step for step in error.remediation)
    assert host.queued == []
    assert sidecar.store.list()["total"] == 0


async def test_with_liveportrait_installed_the_run_binds_validates_and_queues_one_prompt(
    tmp_path, host
) -> None:
    adapter = liveportrait_adapter(tmp_path / "comfy", installed=True)
    assert adapter.detect()["installed"] is True
    host.defs.update(kj_defs())  # the host ComfyUI has the pack's nodes registered
    free_local_runs(tmp_path / "user")
    sidecar = build_sidecar(
        host,
        tmp_path / "user",
        host.resolve_output,
        workflows_dir=workflows_dir(tmp_path),
        adapters=[adapter],
    )
    request = RunRequest(inputs=upload_samples(host), engine=ENGINE, consent_given=True)
    summary = await sidecar.pipeline.execute_preset("talking_clip_v1", request)
    assert summary["status"] == "queued"
    assert summary["estimated_time_seconds"] == 40
    assert len(host.queued) == 1
    queued = host.queued[0]
    assert queued["outputs"] == ["11"]
    prompt = queued["prompt"]
    expected = expected_prompt("portrait.png", "portrait_talking_source.mp4", precision="auto", friendly=True)
    expected["11"][1]["filename_prefix"] = f"ainfluencer/{summary['job_id']}/talking_clip_v1"
    assert {k: (v["class_type"], v["inputs"]) for k, v in prompt.items()} == expected
    check_like_comfyui(prompt, host.defs)
    job = sidecar.store.get(summary["job_id"])
    assert (job["engine"], job["quality_level"], job["prompt_id"]) == (
        ENGINE,
        "standard",
        queued["prompt_id"],
    )
    assert job["consent_given"] is True
    assert job["credit_cost"] == 0


async def test_without_a_sync_key_the_automatic_choice_falls_back_to_liveportrait(
    tmp_path, host, monkeypatch
) -> None:
    monkeypatch.delenv("AINFLUENCER_PROVIDER_SYNCLABS_API_KEY", raising=False)
    adapter = liveportrait_adapter(tmp_path / "comfy", installed=True)
    host.defs.update(kj_defs())
    free_local_runs(tmp_path / "user")
    sidecar = build_sidecar(
        host,
        tmp_path / "user",
        host.resolve_output,
        workflows_dir=workflows_dir(tmp_path),
        adapters=[adapter],
    )
    request = RunRequest(inputs=upload_samples(host), consent_given=True, quality_level="pro")
    summary = await sidecar.pipeline.execute_preset("talking_clip_v1", request)
    assert sidecar.store.get(summary["job_id"])["engine"] == ENGINE
    assert summary["estimated_time_seconds"] == 60
    assert host.queued[0]["prompt"]["4"]["inputs"]["precision"] == "fp32"


async def test_a_run_without_consent_is_refused_before_anything_is_queued(tmp_path, host) -> None:
    adapter = liveportrait_adapter(tmp_path / "comfy", installed=True)
    host.defs.update(kj_defs())
    sidecar = build_sidecar(
        host,
        tmp_path / "user",
        host.resolve_output,
        workflows_dir=workflows_dir(tmp_path),
        adapters=[adapter],
    )
    request = RunRequest(inputs=upload_samples(host), engine=ENGINE)
    with pytest.raises(AInfError) as caught:
        await sidecar.pipeline.execute_preset("talking_clip_v1", request)
    assert caught.value.code == ErrorCode.CONSENT_MISSING
    assert host.queued == []


async def test_a_host_without_the_kj_nodes_answers_dependency_missing(tmp_path, host) -> None:
    """Detection says ready (e.g. files present) but this ComfyUI has not registered the KJ node types."""
    adapter = liveportrait_adapter(tmp_path / "comfy", installed=True)
    sidecar = build_sidecar(
        host,
        tmp_path / "user",
        host.resolve_output,
        workflows_dir=workflows_dir(tmp_path),
        adapters=[adapter],
    )
    request = RunRequest(inputs=upload_samples(host), engine=ENGINE, consent_given=True)
    with pytest.raises(AInfError) as caught:
        await sidecar.pipeline.execute_preset("talking_clip_v1", request)
    assert caught.value.code == ErrorCode.DEPENDENCY_MISSING
    assert set(caught.value.detail["missing_nodes"]) <= KJ_NODES
    assert host.queued == []
