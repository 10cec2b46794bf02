"""A storyboard whose shots 2 and 3 lost the face, flagged and repaired end to end through the real
ComfyUI against the strict Kling emulator: the repair sends exactly those two shots again (new seeds), the
ledger posts only those two, and a job whose identity held is refused."""

from __future__ import annotations

import io

import pytest
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


def _board_frame(png: bytes) -> bytes:
    """A 512 px face photo placed unscaled in the board's 1024x576 frame, as a render of that shot."""
    frame = Image.new("RGB", (1024, 576))
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
        kling.face_renders = {"shot 2": same, "shot 3": same}
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
    assert len([a for a in done["artifacts"] if a["node_id"] == "2"]) == 2  # only the re-run shots are saved


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
