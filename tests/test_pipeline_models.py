"""A preset that needs models refuses to run, naming the catalog ids, until they are installed."""

import json
import shutil

import pytest
from ainfluencer.sidecar.core.errors import AInfError, ErrorCode
from ainfluencer.sidecar.core.paths import WORKFLOWS_DIR
from ainfluencer.sidecar.host.app import build_sidecar
from ainfluencer.sidecar.runs.pipeline import RunRequest
from conftest import EXAMPLES

PRESET = "color_grade_film_grain_v1"


class FakeModels:
    def __init__(self) -> None:
        self.installed: set[str] = set()

    def missing(self, preset):
        return [{"id": m, "name": m.upper()} for m in preset.required_models if m not in self.installed]


@pytest.fixture
def workflows(tmp_path):
    graph = json.loads((WORKFLOWS_DIR / f"{PRESET}.json").read_text())
    graph["extra"]["ainfluencer"]["required_models"] = ["upscaler-x4"]
    folder = tmp_path / "workflows"
    folder.mkdir()
    (folder / f"{PRESET}.json").write_text(json.dumps(graph))
    return folder


async def test_missing_models_are_dependency_missing_with_catalog_ids_then_pass_once_installed(
    tmp_path, host, workflows
):
    models = FakeModels()
    sidecar = build_sidecar(
        host, tmp_path / "user", host.resolve_output, workflows_dir=workflows, models=models
    )
    shutil.copy(EXAMPLES / "portrait_push_in.mp4", host.input_dir / "a.mp4")
    request = RunRequest(inputs={"video": "a.mp4"})
    with pytest.raises(AInfError) as info:
        await sidecar.pipeline.execute_preset(PRESET, request)
    assert info.value.code == ErrorCode.DEPENDENCY_MISSING
    assert info.value.detail["missing_models"] == [{"id": "upscaler-x4", "name": "UPSCALER-X4"}]
    assert "ainfluencer models download upscaler-x4" in info.value.remediation[0]
    assert sidecar.store.list()["total"] == 0
    models.installed.add("upscaler-x4")
    job = await sidecar.pipeline.execute_preset(PRESET, request)
    assert job["status"] == "queued"


async def test_without_a_model_catalog_a_preset_needing_models_is_refused(tmp_path, host, workflows):
    sidecar = build_sidecar(host, tmp_path / "user", host.resolve_output, workflows_dir=workflows)
    shutil.copy(EXAMPLES / "portrait_push_in.mp4", host.input_dir / "a.mp4")
    with pytest.raises(AInfError) as info:
        await sidecar.pipeline.execute_preset(PRESET, RunRequest(inputs={"video": "a.mp4"}))
    assert info.value.code == ErrorCode.DEPENDENCY_MISSING


def test_step_ids_parse_into_node_and_call_index_and_batch_runs_move_them_into_their_id_range():
    from ainfluencer.sidecar.billing.step_ids import NodeStep, parse_step_id, step_id_for
    from ainfluencer.sidecar.runs.batch import offset_step
    from ainfluencer.sidecar.runs.plan import StepPrice

    assert parse_step_id(step_id_for("7")) == NodeStep("7", 0)
    assert parse_step_id(step_id_for("7", 2)) == NodeStep("7", 2)
    assert [parse_step_id(s) for s in ("run", "node:", "node:7#x")] == [None, None, None]
    assert offset_step(StepPrice("node:7", 0.5, "provider_fal"), 1) == StepPrice(
        "node:20007", 0.5, "provider_fal"
    )
    assert offset_step(StepPrice("node:7#1", 0.5, "provider_fal"), 0).step_id == "node:10007#1"
    assert offset_step(StepPrice("run", 1.0, "local_comfy"), 3).step_id == "run"
