"""video_identity_consistency_v1@local_comfy: the face swap by a user-installed ReActor, streamed by our node.

The graph holds our own AInfluencerLocalFaceSwapVideo, which calls ReActor's ReActorFaceSwap per chunk of
frames, so the pack is required although none of its nodes is wired in the graph. In these tests the pack is
a fake ComfyUI tree on a fake host; it is never installed or imported.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from ainfluencer.sidecar.core.errors import AInfError, ErrorCode
from ainfluencer.sidecar.graph.convert import ui_to_api
from ainfluencer.sidecar.host.app import build_sidecar
from ainfluencer.sidecar.jobs.presets import load_preset_file
from ainfluencer.sidecar.remote.adapters.identity_packs import (
    LOCAL_SWAP_NODE,
    REACTOR,
    REACTOR_LICENCE,
    REACTOR_SWAP_NODE,
)
from ainfluencer.sidecar.runs.pipeline import RunRequest
from fakes import FakePackTree, captured_node_defs

REPO = Path(__file__).resolve().parent.parent
PRESET = "video_identity_consistency_v1"
LOCAL = REPO / "workflows" / "variants" / f"{PRESET}@local_comfy.json"
EXAMPLES = REPO / "assets" / "examples"
SWAP_MODEL = "inswapper_128.onnx"
RUN = {"video": "portrait_push_in.mp4", "identity_reference": "portrait.png"}


class Comfy(FakePackTree):
    """A fake ComfyUI tree where ComfyUI-ReActor can be installed."""

    def install_reactor(self, *, weights: bool = True) -> None:
        """ReActor's folder, its registered node names and (optionally) its swap model."""
        files = {"insightface": SWAP_MODEL} if weights else {}
        self.install("ComfyUI-ReActor", "scripts", set(REACTOR.known_nodes), files)


@pytest.fixture
def comfy(tmp_path: Path) -> Comfy:
    return Comfy(tmp_path / "ComfyUI")


def sidecar_for(tmp_path: Path, host, comfy: Comfy):
    folder = tmp_path / "workflows"
    (folder / "variants").mkdir(parents=True)
    shutil.copy(REPO / "workflows" / f"{PRESET}.json", folder)
    shutil.copy(LOCAL, folder / "variants" / LOCAL.name)
    for name in RUN.values():
        shutil.copy(EXAMPLES / name, host.input_dir / name)
    return build_sidecar(
        host, tmp_path / "user", host.resolve_output, workflows_dir=folder, adapters=[comfy.adapter()]
    )


def register_reactor(host, comfy: Comfy) -> None:
    """This ComfyUI registered ReActor's node classes (their definitions do not matter: none is wired)."""
    comfy.install_reactor()
    for name in REACTOR.known_nodes:
        host.defs[name] = {"name": name, "input": {"required": {}}, "output": ["IMAGE"]}


# -- the graph ---------------------------------------------------------------------------------------------
def test_the_local_graph_streams_the_clip_through_our_face_swap_node_and_converts():
    variant = load_preset_file(LOCAL)
    prompt = ui_to_api(variant.graph, captured_node_defs())
    types = {node["class_type"] for node in prompt.values()}
    assert LOCAL_SWAP_NODE in types and REACTOR_SWAP_NODE not in types  # no IMAGE batch of the whole clip
    swap = next(node for node in prompt.values() if node["class_type"] == LOCAL_SWAP_NODE)
    assert prompt[swap["inputs"]["video"][0]]["class_type"] == "LoadVideo"
    assert swap["inputs"]["swap_model"] == SWAP_MODEL
    assert variant.manifest.engine == "local_comfy" and variant.manifest.requires_consent


def test_the_node_that_calls_reactor_is_the_one_the_pack_names_as_its_caller():
    source = (REPO / "comfy_nodes" / "nodes_face_swap.py").read_text(encoding="utf-8")
    assert REACTOR.called_by == (LOCAL_SWAP_NODE,) and f'"{LOCAL_SWAP_NODE}",' in source


def test_the_local_variant_says_its_licence_trap_and_that_it_is_free_in_its_note():
    variant = load_preset_file(LOCAL)
    (note,) = [n["widgets_values"][0] for n in variant.graph["nodes"] if n["type"] == "Note"]
    assert "non-commercial research only" in note and SWAP_MODEL in note and "nothing" in note
    assert any("non-commercial" in line for line in variant.manifest.safety_notes)


def test_pro_doubles_the_frame_rate_after_the_swap_as_the_remote_variant_does():
    variant = load_preset_file(LOCAL)
    levels = variant.manifest.quality_levels
    assert [(o.input, o.value) for o in levels["pro"].overrides] == [("multiplier", 2)]
    assert [(o.input, o.value) for o in levels["standard"].overrides] == [("multiplier", 1)]


# -- detection ---------------------------------------------------------------------------------------------
def test_reactor_with_its_swap_model_is_detected_as_an_installed_face_identity_pack(comfy: Comfy):
    comfy.install_reactor()
    found = comfy.adapter().detect()
    assert found["installed"] is True and found["pack"]["id"] == REACTOR.id
    assert REACTOR_LICENCE in found["licence"]


def test_reactor_without_its_swap_model_names_the_file_and_where_it_goes(comfy: Comfy):
    comfy.install_reactor(weights=False)
    error = comfy.adapter().missing_nodes_error({REACTOR_SWAP_NODE})
    assert error is not None and error.code == ErrorCode.DEPENDENCY_MISSING
    steps = "\n".join(error.remediation)
    assert f"{SWAP_MODEL} from {REACTOR.weights_source} into {comfy.models / 'insightface'}" in steps


# -- through the pipeline ------------------------------------------------------------------------------------
async def test_without_reactor_the_local_run_is_dependency_missing_naming_the_pack_its_model_and_licence(
    tmp_path, host, comfy
):
    sidecar = sidecar_for(tmp_path, host, comfy)
    request = RunRequest(inputs=RUN, engine="local_comfy", consent_given=True)
    with pytest.raises(AInfError) as caught:
        await sidecar.pipeline.execute_preset(PRESET, request)
    error = caught.value
    assert error.code == ErrorCode.DEPENDENCY_MISSING and REACTOR.repo in error.message
    steps = "\n".join(error.remediation)
    for needle in (REACTOR.repo, SWAP_MODEL, "non-commercial research only", "Or connect fal.ai"):
        assert needle in steps
    assert error.detail["missing_nodes"] == [REACTOR_SWAP_NODE] and host.queued == []


async def test_without_consent_the_local_run_is_refused_before_anything_is_queued(tmp_path, host, comfy):
    register_reactor(host, comfy)
    sidecar = sidecar_for(tmp_path, host, comfy)
    with pytest.raises(AInfError) as caught:
        await sidecar.pipeline.execute_preset(PRESET, RunRequest(inputs=RUN, engine="local_comfy"))
    assert caught.value.code == ErrorCode.CONSENT_MISSING and host.queued == []


async def test_with_reactor_registered_the_local_run_queues_free_with_the_licence_warning(
    tmp_path, host, comfy
):
    register_reactor(host, comfy)
    sidecar = sidecar_for(tmp_path, host, comfy)
    request = RunRequest(inputs=RUN, engine="local_comfy", consent_given=True, quality_level="pro")
    summary = await sidecar.pipeline.execute_preset(PRESET, request)
    (queued,) = host.queued
    nodes = queued["prompt"].values()
    assert LOCAL_SWAP_NODE in {n["class_type"] for n in nodes} and summary["status"] == "queued"
    interpolate = next(n for n in nodes if n["class_type"] == "AInfluencerInterpolateVideo")
    assert interpolate["inputs"]["multiplier"] == 2
    warnings = [e["message"] for e in sidecar.store.read_logs(summary["job_id"]) if e["level"] == "warning"]
    assert warnings == [REACTOR_LICENCE]


async def test_without_a_fal_key_the_automatic_choice_falls_back_to_the_local_reactor_variant(
    tmp_path, host, comfy, monkeypatch
):
    monkeypatch.delenv("AINFLUENCER_PROVIDER_FAL_API_KEY", raising=False)
    register_reactor(host, comfy)
    sidecar = sidecar_for(tmp_path, host, comfy)
    summary = await sidecar.pipeline.execute_preset(PRESET, RunRequest(inputs=RUN, consent_given=True))
    assert sidecar.pipeline.get_job_status(summary["job_id"])["engine_used"] == "local_comfy"
