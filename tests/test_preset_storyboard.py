"""storyboard_builder_v1: shots from a `{shot_number}` template, sent together, saved singly and as a sheet.

Unit tests specify the prompts, the engine a face reference needs, the per-shot plan and the contact sheet;
end to end the preset runs through the real ComfyUI against the strict fal.ai and Kling emulators.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from ainfluencer.comfy_nodes.batch_lineage import per_item
from ainfluencer.comfy_nodes.polish.contact_sheet import contact_sheet, sheet_layout
from ainfluencer.sidecar.billing.cost_table import FLUX_PRO_PER_MP
from ainfluencer.sidecar.core.errors import AInfError, ErrorCode
from ainfluencer.sidecar.core.paths import WORKFLOWS_DIR
from ainfluencer.sidecar.provenance.outputs import JobContext
from ainfluencer.sidecar.provenance.verify import verify_file
from ainfluencer.sidecar.remote.storyboard import chosen_shots, planned_shots, shot_engine, shot_prompts
from conftest import wait_for_job
from PIL import Image
from preset_layout import layout_problems
from test_remote_integration import _posted, client, emulators, server  # noqa: F401  (shared fixtures)

PRESET = "storyboard_builder_v1"


def test_each_shot_gets_its_number_in_the_template():
    assert shot_prompts("shot {shot_number}: the {shot_number}th door", 3) == [
        "shot 1: the 1th door", "shot 2: the 2th door", "shot 3: the 3th door",
    ]  # fmt: skip


@pytest.mark.parametrize("count", [1, 11])
def test_a_board_has_two_to_ten_shots(count):
    with pytest.raises(AInfError) as refused:
        shot_prompts("shot {shot_number}", count)
    assert refused.value.code == ErrorCode.VALIDATION_ERROR


def test_a_face_reference_runs_on_kling_and_is_refused_on_an_engine_without_one():
    assert shot_engine("auto", has_reference=True) == "provider_kling"
    assert shot_engine("auto", has_reference=False) == "auto"
    with pytest.raises(AInfError) as refused:
        shot_engine("provider_fal", has_reference=True)
    assert refused.value.code == ErrorCode.NOT_SUPPORTED


def test_every_shot_is_planned_as_its_own_request_with_its_own_seed():
    inputs = {
        "prompt_template": "shot {shot_number}",
        "shot_count": 4,
        "width": 1024,
        "height": 576,
        "seed": 9,
    }
    requests = planned_shots("provider_fal", inputs)
    assert [r["prompt"] for r in requests] == ["shot 1", "shot 2", "shot 3", "shot 4"]
    assert [r["seed"] for r in requests] == [9, 10, 11, 12]
    with_face = planned_shots("provider_kling", {**inputs, "reference_image": "face.png"})
    assert {(r["model"], r["image_reference"]) for r in with_face} == {("kling-v1-5", "face")}


def test_a_shot_list_makes_only_those_shots_with_the_prompt_and_seed_they_have_on_the_full_board():
    inputs = {"prompt_template": "shot {shot_number}", "shot_count": 5, "seed": 9, "shot_numbers": "4, 2"}
    requests = planned_shots("provider_fal", inputs)
    assert [(r["prompt"], r["seed"]) for r in requests] == [("shot 2", 10), ("shot 4", 12)]
    assert chosen_shots("", 3) == [1, 2, 3]


@pytest.mark.parametrize("shots", ["0", "6", "two", ","])
def test_a_shot_list_outside_the_board_is_refused(shots):
    with pytest.raises(AInfError) as refused:
        chosen_shots(shots, 5)
    assert refused.value.code == ErrorCode.VALIDATION_ERROR
    assert refused.value.detail["field"] == "shot_numbers"


@pytest.mark.parametrize(
    ("count", "grid"), [(2, (2, 1)), (4, (2, 2)), (5, (5, 1)), (7, (5, 2)), (10, (5, 2))]
)
def test_the_contact_sheet_puts_up_to_five_shots_a_row(count, grid):
    layout = sheet_layout(count, 1024, 576)
    assert (layout.columns, layout.rows) == grid
    assert layout.cell_width == 480 and layout.cell_height == 270


def test_the_contact_sheet_holds_every_shot_at_its_place_with_a_label_under_it():
    colours = torch.tensor([[1.0, 0, 0], [0, 1.0, 0], [0, 0, 1.0]])
    shots = colours.view(3, 1, 1, 3).expand(3, 90, 160, 3).contiguous()
    sheet = contact_sheet(shots)
    layout = sheet_layout(3, 160, 90)
    assert sheet.shape == (1, layout.size[1], layout.size[0], 3)
    for index in range(3):
        x, y = layout.origin(index)
        centre = sheet[0, y + layout.cell_height // 2, x + layout.cell_width // 2]
        assert torch.allclose(centre, colours[index], atol=0.02)
        band = sheet[0, y + layout.cell_height : y + layout.cell_height + layout.label_height, x : x + 80]
        assert band.max() > 0.5  # the "Shot N" label is drawn in light text on the dark band


def _context(*names: str) -> JobContext:
    return JobContext("job_1", "storyboard_builder_v1", "standard", None, tuple(Path(n) for n in names))


def test_each_saved_shot_descends_from_its_own_shot_only():
    board = _context("remote/node1_0.png", "remote/node1_1.png", "remote/node1_2.png")
    assert [c.earlier_outputs for c in per_item(board, 3)] == [
        (Path("remote/node1_0.png"),), (Path("remote/node1_1.png"),), (Path("remote/node1_2.png"),),
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("names", "count"),
    [
        (("remote/node1_0.png",), 1),  # one shot, one file
        (("remote/node1_0.png", "remote/node1_1.png"), 1),  # the contact sheet: made from every shot
        (("remote/node1_0.png", "remote/node5_0.png"), 2),  # results of two nodes: no item order to pair
        (("remote/node1_0.png", "remote/node1_1.png", "remote/node1_2.png"), 2),
    ],
)
def test_a_file_not_saved_item_by_item_from_one_batch_node_keeps_every_earlier_output(names, count):
    whole = _context(*names)
    assert per_item(whole, count) == [whole] * count


def test_the_graph_is_laid_out_for_reading():
    assert layout_problems(WORKFLOWS_DIR / f"{PRESET}.json") == []


# end to end ----------------------------------------------------------------------------------------------
def _shots_and_sheet(done: dict) -> tuple[list[dict], dict]:
    finals = [a for a in done["artifacts"] if not a["metadata"].get("remote")]
    sheet = [a for a in finals if a["node_id"] == "4"]
    assert len(sheet) == 1, finals
    return [a for a in finals if a["node_id"] == "2"], sheet[0]


@pytest.mark.integration
def test_a_storyboard_on_fal_sends_every_shot_saves_each_and_a_numbered_sheet(client, emulators):  # noqa: F811
    fal = emulators["fal"].emulator
    before = len(fal.submits)
    body = {"inputs": {"prompt_template": "a night market, shot {shot_number}", "shot_count": 3}}
    estimate = client.estimate(PRESET, body)
    assert len(estimate["steps"]) == 3 and estimate["credits"] == pytest.approx(3 * FLUX_PRO_PER_MP)  # 1 MP
    done = wait_for_job(client, client.run(PRESET, body)["job_id"], timeout_s=240)
    assert done["status"] == "completed", done
    sent = [s for s in fal.submits[before:]]
    assert len(sent) == 3
    assert sorted(s[1]["prompt"] for s in sent) == [f"a night market, shot {n}" for n in (1, 2, 3)]
    shots, sheet = _shots_and_sheet(done)
    assert len(shots) == 3
    for shot in shots:
        with Image.open(shot["path"]) as img:
            assert img.size == (64, 48)  # the emulator's image
    layout = sheet_layout(3, 64, 48)
    with Image.open(sheet["path"]) as img:
        assert img.size == layout.size
    assert [t["kind"] for t in _posted(client, done["job_id"])] == ["post"] * 3
    kept = sorted(Path(a["path"]).name for a in done["artifacts"] if a["metadata"].get("remote"))
    parents = [[i.title for i in verify_file(Path(s["path"])).ingredients] for s in shots]
    assert parents == [[name] for name in kept]  # shot n's manifest embeds shot n's result, and only it


@pytest.mark.integration
def test_a_face_reference_needs_consent_and_runs_every_shot_on_kling_with_it(client, emulators):  # noqa: F811
    kling = emulators["kling"].emulator
    body = {"inputs": {"prompt_template": "shot {shot_number}", "shot_count": 2,
                       "identity_reference": "portrait.png"}}  # fmt: skip
    with pytest.raises(AInfError) as refused:
        client.run(PRESET, body)
    assert refused.value.code == ErrorCode.CONSENT_MISSING
    before = len(kling.submits)
    done = wait_for_job(client, client.run(PRESET, {**body, "consent_given": True})["job_id"], timeout_s=240)
    assert done["status"] == "completed", done
    sent = kling.submits[before:]
    assert len(sent) == 2
    assert all(s[1]["image_reference"] == "face" and s[1]["model_name"] == "kling-v1-5" for s in sent)
    shots, _sheet = _shots_and_sheet(done)
    assert len(shots) == 2
    assert client._call("GET", f"/jobs/{done['job_id']}/consent")["records"]
