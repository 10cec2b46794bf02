"""repair_pipeline_v1: what a repair runs for a failed job (the run itself is end to end in test_preset_ugc).

The failed job's preset, inputs and seed again; `low` when asked; another engine variant when the failure was
the engine's; FILE_NOT_FOUND for an unknown job and ENGINE_OFFLINE with the Setup step when nothing can run.
"""

from __future__ import annotations

import pytest
from ainfluencer.sidecar.core.errors import AInfError, ErrorCode
from ainfluencer.sidecar.runs.repair import REPAIR_PRESET, SETUP_STEP, plan_repair

I2V = "image_to_video_v1"  # engine variants: provider_kling (preferred) and provider_fal


class Engines:
    """Engine availability as the Setup Hub would report it."""

    def __init__(self, *available: str) -> None:
        self.available = set(available)

    def availability(self, engine: str) -> tuple[bool, str]:
        """(True, "") for a connected engine, else (False, the Setup step)."""
        return (True, "") if engine in self.available else (False, f"Add your {engine} API key in Setup")


def _failed(sidecar, code: str | None, engine: str = "provider_kling", quality: str = "standard") -> str:
    inputs = {"image": "portrait.png", "prompt": "she smiles", "negative_prompt": "blur",
              "quality_level": quality, "seed": 1234, "character_id": None, "consent_id": None}  # fmt: skip
    job_id = sidecar.store.create(
        source="api", preset_id=I2V, inputs=inputs, quality_level=quality, engine=engine
    )
    error = AInfError(ErrorCode(code)) if code else None
    sidecar.store.finish(job_id, "failed", error)
    return job_id


def test_an_unknown_job_is_file_not_found(sidecar):
    with pytest.raises(AInfError) as missing:
        plan_repair(sidecar.store, sidecar.catalog, Engines(), {"failed_job_id": "job_nope"})
    assert missing.value.code == ErrorCode.FILE_NOT_FOUND and missing.value.message == "Failed job not found."


@pytest.mark.parametrize("inputs", [{}, {"failed_job_id": "job_x", "quality_override": "pro"}, {"job": "x"}])
def test_inputs_other_than_a_job_id_and_low_are_refused(sidecar, inputs):
    with pytest.raises(AInfError) as refused:
        plan_repair(sidecar.store, sidecar.catalog, Engines(), inputs)
    assert refused.value.code == ErrorCode.VALIDATION_ERROR


def test_the_repair_takes_the_failed_jobs_preset_inputs_and_seed(sidecar):
    job_id = _failed(sidecar, "EXECUTION_FAILED")
    plan = plan_repair(sidecar.store, sidecar.catalog, Engines("provider_kling"), {"failed_job_id": job_id})
    assert (plan.preset_id, plan.seed, plan.repair_of, plan.quality_level) == (I2V, 1234, job_id, "standard")
    assert plan.inputs == {"image": "portrait.png", "prompt": "she smiles", "negative_prompt": "blur"}
    assert plan.engine is None  # not the engine's failure: the usual choice


def test_quality_override_forces_low(sidecar):
    job_id = _failed(sidecar, "EXECUTION_FAILED", quality="pro")
    request = {"failed_job_id": job_id, "quality_override": "low"}
    assert plan_repair(sidecar.store, sidecar.catalog, Engines(), request).quality_level == "low"


@pytest.mark.parametrize("code", ["ENGINE_TIMEOUT", "ENGINE_OFFLINE", "SAFETY_FILTER", "RATE_LIMITED"])
def test_an_engine_failure_moves_to_another_available_engine(sidecar, code):
    job_id = _failed(sidecar, code)
    engines = Engines("provider_kling", "provider_fal")
    assert (
        plan_repair(sidecar.store, sidecar.catalog, engines, {"failed_job_id": job_id}).engine
        == "provider_fal"
    )


class NoModels:
    """Model requirements as the catalog reports them with nothing installed: a local variant lacks SDXL."""

    def missing(self, preset) -> list[dict[str, str]]:
        """The local variant's checkpoint; remote variants need none."""
        return [{"id": "sdxl-base-1.0"}] if preset.engine == "local_comfy" else []


def test_an_engine_failure_skips_a_local_variant_whose_models_are_not_installed(sidecar):
    inputs = {"prompt": "a lighthouse", "seed": 7}
    job_id = sidecar.store.create(
        source="api", preset_id="photoreal_portrait_v1", inputs=inputs, engine="provider_fal"
    )
    sidecar.store.finish(job_id, "failed", AInfError(ErrorCode.SAFETY_FILTER))
    engines = Engines("local_comfy", "provider_fal")
    request = {"failed_job_id": job_id}
    assert plan_repair(sidecar.store, sidecar.catalog, engines, request, NoModels()).engine == "provider_fal"
    assert plan_repair(sidecar.store, sidecar.catalog, engines, request).engine == "local_comfy"


def test_an_engine_failure_with_no_other_engine_retries_the_same_one(sidecar):
    job_id = _failed(sidecar, "ENGINE_TIMEOUT")
    plan = plan_repair(sidecar.store, sidecar.catalog, Engines("provider_kling"), {"failed_job_id": job_id})
    assert plan.engine == "provider_kling"


def test_nothing_that_can_run_is_engine_offline_with_the_setup_step(sidecar):
    job_id = _failed(sidecar, "ENGINE_OFFLINE")
    with pytest.raises(AInfError) as offline:
        plan_repair(sidecar.store, sidecar.catalog, Engines(), {"failed_job_id": job_id})
    assert offline.value.code == ErrorCode.ENGINE_OFFLINE and offline.value.remediation == [SETUP_STEP]


async def test_the_repair_route_answers_file_not_found_for_an_unknown_job(client):
    resp = await client.post(
        f"/ainfluencer/v1/presets/{REPAIR_PRESET}/run", json={"inputs": {"failed_job_id": "job_x"}}
    )
    assert resp.status == 404
    assert (await resp.json())["error"] == "FILE_NOT_FOUND"


async def test_the_repair_preset_is_listed_with_its_inputs(client):
    listed = (await (await client.get("/ainfluencer/v1/presets")).json())["presets"]
    repair = next(p for p in listed if p["id"] == REPAIR_PRESET)
    assert [i["name"] for i in repair["inputs"]] == ["failed_job_id", "quality_override"]
    one = await (await client.get(f"/ainfluencer/v1/presets/{REPAIR_PRESET}")).json()
    assert one["id"] == REPAIR_PRESET
