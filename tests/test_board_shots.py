"""A storyboard job's shot files by number, and the shots a drift repair keeps from the board it repairs.

End to end (the repaired board's contact sheet and artifacts through the real ComfyUI) is in
test_repair_drift_e2e.
"""

from __future__ import annotations

from pathlib import Path

from ainfluencer.sidecar.runs.board_shots import board_shots, kept_shots, list_reused, shot_saver_ids

BOARD = "storyboard_builder_v1"
SHOT_SAVER, SHEET_SAVER, SHOTS_NODE = "2", "4", "1"


def _file(sidecar, tmp_path: Path, job_id: str, name: str, node_id: str) -> None:
    path = tmp_path / name
    path.write_bytes(b"png")
    sidecar.store.add_artifact(job_id, path, kind="image", filename=name, subfolder="", node_id=node_id)


def _job(sidecar, tmp_path: Path, inputs: dict, shots: int) -> str:
    """A completed board job with `shots` shot files, a contact sheet and the shots node's remote results."""
    job_id = sidecar.store.create(source="api", preset_id=BOARD, inputs=inputs, quality_level="standard")
    for index in range(shots):
        _file(sidecar, tmp_path, job_id, f"remote_{job_id}_{index}.png", SHOTS_NODE)
        _file(sidecar, tmp_path, job_id, f"{job_id}_{index}.png", SHOT_SAVER)
    _file(sidecar, tmp_path, job_id, f"{job_id}_sheet.png", SHEET_SAVER)
    sidecar.store.finish(job_id, "completed")
    return job_id


def test_the_shot_files_of_a_board_are_the_outputs_fed_by_the_node_its_shots_input_binds(sidecar):
    assert shot_saver_ids(sidecar.catalog, BOARD) == {SHOT_SAVER}  # not the contact sheet, not remote results
    assert shot_saver_ids(sidecar.catalog, "photoreal_portrait_v1") == set()


def test_a_whole_boards_shots_are_numbered_in_the_order_they_were_saved(sidecar, tmp_path):
    job_id = _job(sidecar, tmp_path, {"shot_count": 3}, 3)
    assert [(s.number, s.path.name) for s in board_shots(sidecar.store, sidecar.catalog, job_id)] == [
        (1, f"{job_id}_0.png"), (2, f"{job_id}_1.png"), (3, f"{job_id}_2.png"),
    ]  # fmt: skip


def _repair_of_shot_2(sidecar, tmp_path: Path) -> tuple[str, str]:
    """A three-shot board and a repair job of its shot 2: (board, repair)."""
    board = _job(sidecar, tmp_path, {"shot_count": 3}, 3)
    inputs = {"shot_count": 3, "shots": "2", "repair_of": board}
    return board, sidecar.store.create(source="api", preset_id=BOARD, inputs=inputs, quality_level="standard")


def test_a_repair_keeps_the_shots_it_does_not_make_again_and_lists_them_as_reused(sidecar, tmp_path):
    board, repair = _repair_of_shot_2(sidecar, tmp_path)
    kept = kept_shots(sidecar.store, sidecar.catalog, repair, [2])
    assert [(s.number, s.path.name) for s in kept] == [(1, f"{board}_0.png"), (3, f"{board}_2.png")]
    list_reused(sidecar.store, repair, board, kept)
    rows = sidecar.store.get(repair)["artifacts"]
    assert [(r["node_id"], r["metadata"]) for r in rows] == [
        (SHOT_SAVER, {"shot": 1, "reused_from": board}), (SHOT_SAVER, {"shot": 3, "reused_from": board}),
    ]  # fmt: skip


def test_a_repair_of_a_repaired_board_numbers_its_reused_and_new_shots_as_on_the_board(sidecar, tmp_path):
    board, first = _repair_of_shot_2(sidecar, tmp_path)
    list_reused(sidecar.store, first, board, kept_shots(sidecar.store, sidecar.catalog, first, [2]))
    _file(sidecar, tmp_path, first, "new_take_2.png", SHOT_SAVER)
    numbered = {s.number: s.path.name for s in board_shots(sidecar.store, sidecar.catalog, first)}
    assert numbered == {1: f"{board}_0.png", 2: "new_take_2.png", 3: f"{board}_2.png"}


def test_a_run_that_repairs_nothing_keeps_nothing(sidecar, tmp_path):
    job_id = _job(sidecar, tmp_path, {"shot_count": 3, "shots": "2"}, 1)
    assert kept_shots(sidecar.store, sidecar.catalog, job_id, [2]) == []
