"""Time estimates follow what runs measured on this machine, per preset, engine, quality and input size."""

from __future__ import annotations

import shutil

import pytest
from ainfluencer.sidecar.cli.run import show_estimate
from ainfluencer.sidecar.core.paths import WORKFLOWS_DIR
from ainfluencer.sidecar.core.storage import jobs
from ainfluencer.sidecar.jobs.presets import PresetCatalog
from ainfluencer.sidecar.runs.timing import TimeEstimate, human_duration, work_of
from conftest import EXAMPLES, PAID_PRESET

V1 = "/ainfluencer/v1"
CLIP = "clip.mp4"
MEASURED_SECONDS = 394.0  # a 5 s 720p clip through the video upscale on CPU took this long


def _finish_a_run_that_took(sidecar, preset_id: str, inputs: dict, quality: str, seconds: float) -> str:
    """A job of `preset_id` that ran for `seconds` and completed (the store's own hooks then fire)."""
    store = sidecar.store
    job_id = store.create(source="api", preset_id=preset_id, inputs=inputs, quality_level=quality,
                          engine="local_comfy")  # fmt: skip
    store.mark_running(job_id)
    with store.engine.begin() as conn:  # the run started `seconds` ago
        started = conn.execute(jobs.select().where(jobs.c.job_id == job_id)).mappings().one()["started_at"]
        conn.execute(jobs.update().where(jobs.c.job_id == job_id).values(started_at=started - seconds))
    store.finish(job_id, "completed")
    return job_id


async def _estimate(client, inputs: dict, quality: str = "standard") -> dict:
    resp = await client.post(
        f"{V1}/presets/{PAID_PRESET}/estimate", json={"inputs": inputs, "quality_level": quality}
    )
    assert resp.status == 200, await resp.text()
    return await resp.json()


SAMPLE = "portrait_talking_source.mp4"  # the clip the preset's graph ships with (its Load Video's file)


async def test_before_any_run_the_estimate_for_the_sample_is_the_manifests_default_and_says_so(
    paid_client, host
):
    shutil.copy(EXAMPLES / SAMPLE, host.input_dir / SAMPLE)
    estimate = await _estimate(paid_client, {"video": SAMPLE})
    assert estimate["time_basis"] == "manifest default"
    manifest = (await (await paid_client.get(f"{V1}/presets/{PAID_PRESET}")).json())["estimated_time_seconds"]
    assert estimate["estimated_time_seconds"] == manifest["standard"]


async def test_before_any_run_the_default_scales_with_the_input_against_the_sample(
    paid_client, paid_sidecar, host
):
    shutil.copy(EXAMPLES / SAMPLE, host.input_dir / SAMPLE)
    shutil.copy(EXAMPLES / "portrait_push_in.mp4", host.input_dir / CLIP)
    manifest = paid_sidecar.catalog.primary(PAID_PRESET)
    ratio = (
        work_of(manifest, {"video": CLIP}, host.input_dir).amount
        / work_of(manifest, {"video": SAMPLE}, host.input_dir).amount
    )
    estimate = await _estimate(paid_client, {"video": CLIP})
    assert ratio != pytest.approx(1.0, abs=0.05)  # the two clips differ in size, so the scaling shows
    assert estimate["time_basis"] == "manifest default"
    default = manifest.quality_levels["standard"].estimated_time_seconds
    assert estimate["estimated_time_seconds"] == pytest.approx(default * ratio, abs=0.1)


async def test_without_its_sample_on_disk_the_default_is_the_manifests_figure(
    paid_client, paid_sidecar, host
):
    shutil.copy(EXAMPLES / "portrait_push_in.mp4", host.input_dir / CLIP)
    estimate = await _estimate(paid_client, {"video": CLIP})
    default = paid_sidecar.catalog.primary(PAID_PRESET).quality_levels["standard"].estimated_time_seconds
    assert (estimate["time_basis"], estimate["estimated_time_seconds"]) == ("manifest default", default)


async def test_after_a_run_the_estimate_for_the_same_input_is_the_measured_time(
    paid_client, paid_sidecar, host
):
    shutil.copy(EXAMPLES / "portrait_push_in.mp4", host.input_dir / CLIP)
    _finish_a_run_that_took(paid_sidecar, PAID_PRESET, {"video": CLIP}, "standard", MEASURED_SECONDS)
    estimate = await _estimate(paid_client, {"video": CLIP})
    assert estimate["time_basis"] == "measured"
    assert estimate["estimated_time_seconds"] == pytest.approx(MEASURED_SECONDS, rel=0.01)


async def test_a_long_measured_run_is_said_plainly_before_running(paid_client, paid_sidecar, host):
    shutil.copy(EXAMPLES / "portrait_push_in.mp4", host.input_dir / CLIP)
    _finish_a_run_that_took(paid_sidecar, PAID_PRESET, {"video": CLIP}, "standard", MEASURED_SECONDS)
    estimate = await _estimate(paid_client, {"video": CLIP})
    assert estimate["long_run"] is True
    assert estimate["time_note"] == "This run will take about 6 min 34 s (measured on this machine)."


async def test_a_measured_rate_scales_with_the_size_of_the_next_input(paid_client, paid_sidecar, host):
    shutil.copy(EXAMPLES / "portrait_push_in.mp4", host.input_dir / "small.mp4")
    shutil.copy(EXAMPLES / "portrait_talking_source.mp4", host.input_dir / "other.mp4")
    _finish_a_run_that_took(paid_sidecar, PAID_PRESET, {"video": "small.mp4"}, "standard", 100.0)
    manifest = paid_sidecar.catalog.primary(PAID_PRESET)
    small = work_of(manifest, {"video": "small.mp4"}, host.input_dir)
    other = work_of(manifest, {"video": "other.mp4"}, host.input_dir)
    estimate = await _estimate(paid_client, {"video": "other.mp4"})
    assert small.unit == other.unit == "frame_megapixels"
    assert estimate["estimated_time_seconds"] == pytest.approx(100.0 * other.amount / small.amount, rel=0.01)


async def test_a_measurement_belongs_to_its_quality_level_only(paid_client, paid_sidecar, host):
    shutil.copy(EXAMPLES / "portrait_push_in.mp4", host.input_dir / CLIP)
    _finish_a_run_that_took(paid_sidecar, PAID_PRESET, {"video": CLIP}, "pro", MEASURED_SECONDS)
    assert (await _estimate(paid_client, {"video": CLIP}, "standard"))["time_basis"] == "manifest default"
    assert (await _estimate(paid_client, {"video": CLIP}, "pro"))["time_basis"] == "measured"


async def test_a_failed_run_measures_nothing(paid_client, paid_sidecar, host):
    shutil.copy(EXAMPLES / "portrait_push_in.mp4", host.input_dir / CLIP)
    store = paid_sidecar.store
    job_id = store.create(
        source="api",
        preset_id=PAID_PRESET,
        inputs={"video": CLIP},
        quality_level="standard",
        engine="local_comfy",
    )
    store.mark_running(job_id)
    store.finish(job_id, "failed")
    assert (await _estimate(paid_client, {"video": CLIP}))["time_basis"] == "manifest default"


def test_an_image_is_measured_in_megapixels_and_an_input_without_media_in_runs(paid_sidecar, host):
    shutil.copy(EXAMPLES / "portrait.png", host.input_dir / "p.png")
    upscale = PresetCatalog(WORKFLOWS_DIR).primary("upscale_denoise_image_v1")
    work = work_of(upscale, {"image": "p.png"}, host.input_dir)
    assert work.unit == "megapixels" and work.amount > 0
    assert work_of(paid_sidecar.catalog.primary(PAID_PRESET), {}, host.input_dir).unit == "runs"


def test_short_runs_carry_no_warning_and_durations_read_as_a_person_says_them():
    assert TimeEstimate(90, "measured").note is None and not TimeEstimate(90, "measured").long
    assert (human_duration(45), human_duration(394), human_duration(3900)) == (
        "45 s",
        "6 min 34 s",
        "1 h 05 min",
    )


async def test_the_cli_prints_the_estimate_and_the_long_run_warning_before_it_runs(
    paid_client, paid_sidecar, host, capsys
):
    shutil.copy(EXAMPLES / "portrait_push_in.mp4", host.input_dir / CLIP)
    _finish_a_run_that_took(paid_sidecar, PAID_PRESET, {"video": CLIP}, "standard", MEASURED_SECONDS)
    show_estimate(await _estimate(paid_client, {"video": CLIP}), as_json=False)
    lines = capsys.readouterr().err.splitlines()
    assert lines[0] == "estimate  about 6 min 34 s (measured on this machine), 1 credits, engine local_comfy"
    assert lines[1] == "note      This run will take about 6 min 34 s (measured on this machine)."
