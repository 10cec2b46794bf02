"""A storyboard whose shots 2 and 3 lost the face, flagged and repaired end to end through the real
ComfyUI against the strict Kling emulator: the repair sends exactly those two shots again (new seeds), the
ledger posts only those two, the repaired board is whole (shot 1 reused from the original job, numbered as
there), and a job whose identity held is refused."""

from __future__ import annotations

import io

import pytest
from ainfluencer.comfy_nodes.polish.contact_sheet import sheet_layout
from ainfluencer.sidecar.core.errors import AInfError, ErrorCode
from conftest import wait_for_job
from face_samples import PORTRAIT, other_face_png
from PIL import Image
from test_remote_integration import _posted, client, emulators, server  # noqa: F401  (shared fixtures)

pytestmark = pytest.mark.integration
BOARD = "storyboard_builder_v1"
REPAIR = "repair_pipeline_v1"
BOARD_INPUTS = {
    "prompt_template": "shot {shot_number}",
    "shot_count": 3,
    "identity_reference": "portrait.png",
}
RUN = {"inputs": BOARD_INPUTS, "consent_given": True, "seed": 40}


def _board_frame(png: bytes, background: tuple[int, int, int] = (0, 0, 0)) -> bytes:
    """A 512 px face photo placed unscaled in the board's 1024x576 frame, as a render of that shot."""
    frame = Image.new("RGB", (1024, 576), background)
    with Image.open(io.BytesIO(png)) as photo:
        frame.paste(photo.convert("RGB"), ((1024 - photo.width) // 2, (576 - photo.height) // 2))
    out = io.BytesIO()
    frame.save(out, format="PNG")
    return out.getvalue()


def _done(client, job: dict) -> dict:  # noqa: F811
    done = wait_for_job(client, job["job_id"], timeout_s=240)
    assert done["status"] == "completed", done["error_detail"]
    return done


def test_a_board_with_two_drifted_shots_is_flagged_and_its_repair_re_runs_exactly_those(client, emulators):  # noqa: F811
    kling = emulators["kling"].emulator
    same, other = _board_frame(PORTRAIT.read_bytes()), _board_frame(other_face_png())
    kling.face_renders = {"shot 1": same, "shot 2": other, "shot 3": other}
    try:
        board = _done(client, client.run(BOARD, RUN))
        assert board["warnings"][0].startswith("identity drift in shots 2 and 3"), board["warnings"]
        kling.face_renders = {
            f"shot {n}": _board_frame(PORTRAIT.read_bytes(), TAKE_COLOURS[n]) for n in (2, 3)
        }
        before = len(kling.submits)
        repair = client.run(REPAIR, {"inputs": {"failed_job_id": board["job_id"]}})
        assert repair["repair_of"] == board["job_id"] and repair["shots"] == [2, 3]
        done = _done(client, repair)
    finally:
        kling.face_renders = {}
    sent = kling.submits[before:]
    assert sorted(body["prompt"] for _path, body in sent) == ["shot 2", "shot 3"]
    assert [t["kind"] for t in _posted(client, done["job_id"])] == ["post", "post"]
    assert done["inputs"]["shots"] == "2, 3" and done["inputs"]["repair_of"] == board["job_id"]
    (check,) = done["identity"]["checks"]
    assert check["labels"] == [2, 3] and done["warnings"] == []  # the fresh takes keep the face
    _the_repaired_board_is_whole(board, done)


TAKE_COLOURS = {1: (0, 0, 0), 2: (200, 40, 40), 3: (40, 200, 40)}  # each shot's background, told apart


def _the_repaired_board_is_whole(board: dict, done: dict) -> None:
    """Every shot of the board on the repair job: shot 1 the original's file, 2 and 3 new, sheet numbered."""
    original = {a["path"] for a in board["artifacts"] if a["node_id"] == "2"}
    shots = [a for a in done["artifacts"] if a["node_id"] == "2"]
    reused = [a for a in shots if a["metadata"].get("reused_from")]
    new = [a for a in shots if not a["metadata"].get("reused_from")]
    assert [(a["metadata"]["shot"], a["metadata"]["reused_from"]) for a in reused] == [(1, board["job_id"])]
    assert reused[0]["path"] in original and len(new) == 2 and not {a["path"] for a in new} & original
    (sheet,) = [a for a in done["artifacts"] if a["node_id"] == "4"]
    layout = sheet_layout(3, 1024, 576)
    with Image.open(sheet["path"]) as img:
        assert img.size == layout.size  # three cells: the whole board, not only the two new takes
        for number, colour in TAKE_COLOURS.items():
            x, y = layout.origin(number - 1)
            corner = img.convert("RGB").getpixel((x + 4, y + 4))
            assert all(abs(a - b) < 30 for a, b in zip(corner, colour, strict=True)), (number, corner)


def test_a_repair_of_a_board_whose_identity_held_is_refused_and_sends_nothing(client, emulators):  # noqa: F811
    kling = emulators["kling"].emulator
    kling.face_renders = {f"shot {n}": _board_frame(PORTRAIT.read_bytes()) for n in (1, 2, 3)}
    try:
        board = _done(client, client.run(BOARD, {**RUN, "seed": 41}))
    finally:
        kling.face_renders = {}
    assert board["warnings"] == [] and board["identity"]["checks"][0]["worst"] < 0.6
    before = len(kling.submits)
    with pytest.raises(AInfError) as refused:
        client.run(REPAIR, {"inputs": {"failed_job_id": board["job_id"]}})
    assert refused.value.code == ErrorCode.VALIDATION_ERROR and "nothing to repair" in refused.value.message
    assert len(kling.submits) == before
