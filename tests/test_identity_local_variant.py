"""identity_lock_portrait_v1@local_comfy: PuLID nodes the user installed, detected, with their licence trap.

The PuLID node definitions in tests/data/pulid_node_defs.json are what ComfyUI would serve for the
INPUT_TYPES of cubiq/PuLID_ComfyUI (pulid.py at 4e1fd40); in these tests they are registered on a fake host
only, and the pack itself is never installed or imported.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from ainfluencer.sidecar.core.errors import AInfError, ErrorCode
from ainfluencer.sidecar.graph.convert import ui_to_api
from ainfluencer.sidecar.host.app import build_sidecar
from ainfluencer.sidecar.jobs.presets import load_preset_file
from ainfluencer.sidecar.remote.adapters.identity_packs import (
    INSIGHTFACE_LICENCE,
    INSTANTID,
    PULID,
)
from ainfluencer.sidecar.runs.pipeline import RunRequest
from fakes import DATA, FakePackTree, captured_node_defs

REPO = Path(__file__).resolve().parent.parent
VARIANTS = REPO / "workflows" / "variants"
LOCAL = VARIANTS / "identity_lock_portrait_v1@local_comfy.json"
EXAMPLES = REPO / "assets" / "examples"
PULID_DEFS = json.loads((DATA / "pulid_node_defs.json").read_text(encoding="utf-8"))
PULID_NODES = {"PulidModelLoader", "PulidInsightFaceLoader", "PulidEvaClipLoader", "ApplyPulid"}
PULID_WEIGHT = "ip-adapter_pulid_sdxl_fp16.safetensors"
ANTELOPE = "models/antelopev2/glintr100.onnx"
RUN = {"identity_reference": "portrait.png", "prompt": "her on a rooftop at dusk"}


class Comfy(FakePackTree):
    """A fake ComfyUI tree where PuLID_ComfyUI can be installed."""

    def install_pulid(self, *, weights: bool = True) -> None:
        """The pack's folder, its registered node names and (optionally) its two weight files."""
        files = {"pulid": PULID_WEIGHT, "insightface": ANTELOPE} if weights else {}
        self.install("PuLID_ComfyUI", "eva_clip", PULID_NODES, files)


@pytest.fixture
def comfy(tmp_path: Path) -> Comfy:
    return Comfy(tmp_path / "ComfyUI")


class NoMissingModels:
    """A model catalog that has every model (SDXL is not what these tests are about)."""

    def missing(self, preset) -> list:
        return []


def sidecar_for(tmp_path: Path, host, comfy: Comfy):
    folder = tmp_path / "workflows"
    (folder / "variants").mkdir(parents=True)
    shutil.copy(REPO / "workflows" / "identity_lock_portrait_v1.json", folder)
    for path in VARIANTS.glob("identity_lock_portrait_v1@*.json"):
        shutil.copy(path, folder / "variants" / path.name)
    shutil.copy(EXAMPLES / "portrait.png", host.input_dir / "portrait.png")
    return build_sidecar(
        host,
        tmp_path / "user",
        host.resolve_output,
        workflows_dir=folder,
        adapters=[comfy.adapter()],
        models=NoMissingModels(),
    )


# -- the graph ---------------------------------------------------------------------------------------------
def test_the_local_graph_is_built_on_pulid_comfyuis_own_node_classes_and_converts():
    variant = load_preset_file(LOCAL)
    prompt = ui_to_api(variant.graph, {**captured_node_defs(), **PULID_DEFS})
    types = {node["class_type"] for node in prompt.values()}
    assert PULID_NODES <= types and "CheckpointLoaderSimple" in types
    apply = next(node for node in prompt.values() if node["class_type"] == "ApplyPulid")
    assert prompt[apply["inputs"]["image"][0]]["class_type"] == "AInfluencerIdentityReferences"
    assert {apply["inputs"][k][0] for k in ("pulid", "eva_clip", "face_analysis")} == {"21", "23", "22"}
    assert variant.manifest.engine == "local_comfy" and variant.manifest.requires_consent


def test_the_local_variant_says_its_licence_trap_in_its_note_and_safety_notes():
    variant = load_preset_file(LOCAL)
    (note,) = [n["widgets_values"][0] for n in variant.graph["nodes"] if n["type"] == "Note"]
    assert "non-commercial research only" in note and "antelopev2" in note
    assert any("non-commercial" in line for line in variant.manifest.safety_notes)


# -- detection ---------------------------------------------------------------------------------------------
def test_nothing_installed_names_the_pulid_pack_its_weights_and_the_licence(comfy: Comfy):
    found = comfy.adapter().detect()
    assert found["installed"] is False and found["pack"] is None
    steps = "\n".join(found["remediation"])
    assert PULID.repo in steps and PULID_WEIGHT in steps and ANTELOPE in steps
    assert found["licence"] == [INSIGHTFACE_LICENCE]


def test_the_registered_pulid_node_classes_with_their_weights_are_detected_as_installed(comfy: Comfy):
    comfy.install_pulid()
    found = comfy.adapter().detect()
    assert found["installed"] is True and found["pack"]["id"] == PULID.id
    assert set(found["nodes_registered"]) >= PULID_NODES and found["missing"] == []


def test_an_instantid_pack_is_detected_by_its_node_classes_alone(comfy: Comfy):
    comfy.registered |= set(INSTANTID.required_nodes)
    found = comfy.adapter().detect()
    assert found["pack"]["id"] == INSTANTID.id and found["pack"]["found_by"] == ["nodes"]


async def test_the_engine_cards_health_row_shows_the_licence_before_use(comfy: Comfy):
    comfy.install_pulid()
    health = await comfy.adapter().health_check()
    assert health["ok"] is True and "non-commercial research only" in health["message"]


def test_the_setup_hubs_engine_card_says_the_licence_whether_or_not_the_pack_is_installed(
    tmp_path, host, comfy
):
    sidecar = sidecar_for(tmp_path, host, comfy)
    missing = sidecar.registry.describe("provider_identity_nodes")
    assert missing["kind"] == "local_tool" and missing["status"] == "not_connected"
    assert PULID.repo in missing["message"] and "non-commercial research only" in missing["message"]
    comfy.install_pulid()
    installed = sidecar.registry.describe("provider_identity_nodes")
    assert installed["status"] == "connected" and "non-commercial research only" in installed["message"]


# -- through the pipeline ------------------------------------------------------------------------------------
async def test_choosing_the_local_engine_without_pulid_is_dependency_missing_naming_pack_weights_and_licence(
    tmp_path, host, comfy
):
    sidecar = sidecar_for(tmp_path, host, comfy)
    request = RunRequest(inputs=RUN, engine="local_comfy", consent_given=True)
    with pytest.raises(AInfError) as caught:
        await sidecar.pipeline.execute_preset("identity_lock_portrait_v1", request)
    error = caught.value
    assert error.code == ErrorCode.DEPENDENCY_MISSING and PULID.repo in error.message
    steps = "\n".join(error.remediation)
    for needle in (PULID.repo, PULID_WEIGHT, ANTELOPE, "non-commercial research only", "Or connect fal.ai"):
        assert needle in steps
    assert set(error.detail["missing_nodes"]) == PULID_NODES
    assert host.queued == []


async def test_with_the_pack_registered_the_local_run_queues_and_carries_the_licence_warning(
    tmp_path, host, comfy
):
    comfy.install_pulid()
    host.defs.update(PULID_DEFS)  # this ComfyUI registered the pack's node classes
    sidecar = sidecar_for(tmp_path, host, comfy)
    request = RunRequest(inputs=RUN, engine="local_comfy", consent_given=True, seed=5)
    summary = await sidecar.pipeline.execute_preset("identity_lock_portrait_v1", request)
    (queued,) = host.queued
    types = {node["class_type"] for node in queued["prompt"].values()}
    assert PULID_NODES <= types and summary["status"] == "queued"
    warnings = [e["message"] for e in sidecar.store.read_logs(summary["job_id"]) if e["level"] == "warning"]
    assert warnings == [INSIGHTFACE_LICENCE]


async def test_a_remote_run_carries_no_licence_warning(tmp_path, host, comfy, monkeypatch):
    monkeypatch.setenv("AINFLUENCER_PROVIDER_FAL_API_KEY", "fal-test-id:fal-test-secret")
    sidecar = sidecar_for(tmp_path, host, comfy)
    sidecar.ledger.set_budget(5.0)
    request = RunRequest(inputs=RUN, engine="provider_fal", consent_given=True, seed=5)
    summary = await sidecar.pipeline.execute_preset("identity_lock_portrait_v1", request)
    assert [e for e in sidecar.store.read_logs(summary["job_id"]) if e["level"] == "warning"] == []


async def test_without_any_key_or_pack_the_automatic_choice_says_what_to_connect_or_install(
    tmp_path, host, comfy
):
    sidecar = sidecar_for(tmp_path, host, comfy)
    request = RunRequest(inputs=RUN, consent_given=True)
    with pytest.raises(AInfError) as caught:
        await sidecar.pipeline.execute_preset("identity_lock_portrait_v1", request)
    assert caught.value.code == ErrorCode.DEPENDENCY_MISSING
    (connect,) = [step for step in caught.value.remediation if step.startswith("Or connect")]
    assert all(name in connect for name in ("fal.ai", "Runware", "Kling"))
