"""repair_pipeline_v1 on a completed job: a fresh take of the shots whose identity drifted, nothing else.

Plans are checked here against a store holding identity measurements; end to end (a storyboard whose shots 2
and 3 come back with another face, repaired through the real ComfyUI) is in test_repair_drift_e2e.
"""

from __future__ import annotations

import pytest
from ainfluencer.sidecar.billing.ledger import CreditLedger
from ainfluencer.sidecar.core.errors import AInfError, ErrorCode
from ainfluencer.sidecar.jobs.identity import IdentityReport
from ainfluencer.sidecar.remote.recorded import RecordedResults
from ainfluencer.sidecar.runs.repair import NOTHING_TO_REPAIR_STEP, plan_repair
from test_preset_repair import Engines

BOARD = "storyboard_builder_v1"
PORTRAIT = "identity_lock_portrait_v1"
ENGINES = Engines("provider_kling", "provider_fal", "provider_runware")


def _completed(sidecar, preset: str, inputs: dict, distances: tuple[float | None, ...] | None) -> str:
    job_id = sidecar.store.create(
        source="api", preset_id=preset, inputs={**inputs, "seed": 7}, quality_level="standard"
    )
    if distances is not None:
        labels = tuple(range(1, len(distances) + 1))
        sidecar.store.record_identity(job_id, "1", IdentityReport("shot", labels, distances, None))
    sidecar.store.finish(job_id, "completed")
    return job_id


BOARD_INPUTS = {"prompt_template": "shot {shot_number}", "shot_count": 4, "identity_reference": "p.png"}


def test_a_drifted_storyboard_is_repaired_by_a_fresh_take_of_the_drifted_shots_only(sidecar):
    job_id = _completed(sidecar, BOARD, BOARD_INPUTS, (0.3, 0.8, None, 0.4))
    plan = plan_repair(sidecar.store, sidecar.catalog, ENGINES, {"failed_job_id": job_id})
    assert plan.shots == [2, 3] and plan.inputs == {**BOARD_INPUTS, "shots": "2, 3"}
    assert plan.repair_of == job_id and plan.preset_id == BOARD
    assert plan.seed is not None and plan.seed != 7  # a new seed: the provider is asked again


def test_a_drifted_job_of_a_preset_without_a_shot_list_is_a_fresh_take_of_the_whole_run(sidecar):
    job_id = _completed(sidecar, PORTRAIT, {"prompt": "her", "identity_reference": "p.png"}, (0.9,))
    plan = plan_repair(sidecar.store, sidecar.catalog, ENGINES, {"failed_job_id": job_id})
    assert plan.shots == [] and "shots" not in plan.inputs and plan.seed != 7


@pytest.mark.parametrize("distances", [(0.3, 0.5, 0.4, 0.2), None])
def test_a_completed_job_whose_identity_held_or_was_not_measured_is_refused(sidecar, distances):
    job_id = _completed(sidecar, BOARD, BOARD_INPUTS, distances)
    with pytest.raises(AInfError) as refused:
        plan_repair(sidecar.store, sidecar.catalog, ENGINES, {"failed_job_id": job_id})
    assert refused.value.code == ErrorCode.VALIDATION_ERROR
    assert (
        refused.value.message == f"Job {job_id} completed and its identity held: there is nothing to repair."
    )
    assert refused.value.remediation == [NOTHING_TO_REPAIR_STEP]


def test_a_repair_of_a_completed_job_reuses_none_of_its_results_while_a_failed_jobs_are_reused(
    sidecar, tmp_path
):
    recorded = RecordedResults(sidecar.store, CreditLedger(sidecar.store.engine, tmp_path / "ledger"))
    drifted = _completed(sidecar, BOARD, BOARD_INPUTS, (0.3, 0.8, 0.2, 0.4))
    failed = sidecar.store.create(source="api", preset_id=BOARD, inputs=BOARD_INPUTS)
    sidecar.store.finish(failed, "failed")
    repairs = {
        job: sidecar.store.create(source="api", preset_id=BOARD, inputs={**BOARD_INPUTS, "repair_of": job})
        for job in (drifted, failed)
    }
    assert recorded.lineage(repairs[drifted]) == []  # a fresh take: the provider is asked again
    assert recorded.lineage(repairs[failed]) == [failed]
