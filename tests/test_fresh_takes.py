"""Fresh takes: a seedless run is a new take with a recorded random seed; a deliberate reuse says so.

Unit tests run on the fake host; the end-to-end tests run the real ComfyUI against the strict emulators and
count provider requests: ComfyUI's cache must never return a first run's remote result silently and free.
"""

from __future__ import annotations

import shutil
import time

import pytest
from ainfluencer.sidecar.billing.step_ids import step_id_for
from ainfluencer.sidecar.core.storage import remote_requests
from ainfluencer.sidecar.remote.reuse import CachedResults, node_signature
from ainfluencer.sidecar.runs.pipeline import RunRequest
from ainfluencer.sidecar.runs.plan import TAKE_SEEDS
from conftest import EXAMPLES, wait_for_job
from test_remote_integration import _posted, client, emulators, server  # noqa: F401  (shared fixtures)

PRESET = "color_grade_film_grain_v1"
I2V = {
    "1": {"class_type": "LoadImage", "inputs": {"image": "portrait.png"}},
    "2": {"class_type": "AInfluencerFalImageToVideo",
          "inputs": {"image": ["1", 0], "prompt": "she smiles", "model": "hailuo-02",
                     "duration": "6", "prompt_optimizer": True, "resolution": "default", "seed": 11}},
    "3": {"class_type": "AInfluencerSaveVideo", "inputs": {"video": ["2", 0], "filename_prefix": "x"}},
}  # fmt: skip


async def _queue(sidecar, host, **body) -> tuple[dict, dict]:
    shutil.copy(EXAMPLES / "portrait_talking_source.mp4", host.input_dir / "clip.mp4")
    job = await sidecar.pipeline.execute_preset(PRESET, RunRequest(inputs={"video": "clip.mp4"}, **body))
    return sidecar.store.get(job["job_id"]), host.queued[-1]["prompt"]


async def test_a_run_without_a_seed_gets_a_random_seed_recorded_on_the_job_and_bound_into_the_graph(
    sidecar, host
):
    first, prompt = await _queue(sidecar, host)
    second, _ = await _queue(sidecar, host)
    seed = first["inputs"]["seed"]
    assert isinstance(seed, int) and 0 <= seed < TAKE_SEEDS
    assert prompt["4"]["inputs"]["seed"] == seed  # the grain node's seed widget
    assert second["inputs"]["seed"] != seed


async def test_a_run_with_a_seed_keeps_it(sidecar, host):
    job, prompt = await _queue(sidecar, host, seed=7)
    assert job["inputs"]["seed"] == 7 and prompt["4"]["inputs"]["seed"] == 7


def test_a_run_request_without_a_seed_stays_seedless_until_it_is_planned():
    assert RunRequest(inputs={}).seed is None


def test_a_node_signature_follows_its_upstream_inputs_and_not_its_node_ids():
    moved = {str(int(k) + 100): v for k, v in I2V.items()}
    moved["102"] = {**I2V["2"], "inputs": {**I2V["2"]["inputs"], "image": ["101", 0]}}
    assert node_signature(I2V, "2") == node_signature(moved, "102")
    other_take = {**I2V, "2": {**I2V["2"], "inputs": {**I2V["2"]["inputs"], "seed": 12}}}
    assert node_signature(I2V, "2") != node_signature(other_take, "2")
    other_image = {**I2V, "1": {"class_type": "LoadImage", "inputs": {"image": "other.png"}}}
    assert node_signature(I2V, "2") != node_signature(other_image, "2")


def _job_with_prompt(sidecar, prompt: dict, completed_step: bool) -> str:
    job_id = sidecar.store.create(source="api", preset_id="image_to_video_v1", inputs={})
    sidecar.remote.save_prompt(job_id, prompt, {}, ["3"])
    if completed_step:
        with sidecar.remote.database.begin() as conn:
            conn.execute(
                remote_requests.insert().values(
                    job_id=job_id, step_id=step_id_for("2"), engine="provider_fal", operation="video",
                    status="completed", request_id="req-1", created_at=time.time(), updated_at=time.time(),
                )
            )  # fmt: skip
        time.sleep(0.01)  # created_at orders the search
    return job_id


def test_a_cached_remote_node_names_the_job_it_reused_and_releases_its_hold(paid_sidecar):
    ledger, store = paid_sidecar.ledger, paid_sidecar.store
    ledger.set_budget(5.0)
    earlier = _job_with_prompt(paid_sidecar, I2V, completed_step=True)
    again = _job_with_prompt(paid_sidecar, I2V, completed_step=False)
    ledger.reserve(again, 0.27, "provider_fal", step_id_for("2"))
    cached = CachedResults(paid_sidecar.remote.database, ledger, store)
    (reused,) = cached.note_cached(again, ["1", "2"])  # the LoadImage node is not a remote step
    assert (reused.node_id, reused.earlier_job_id) == ("2", earlier)
    assert ledger.held(again, step_id_for("2")) is None
    messages = [line["message"] for line in store.read_logs(again)]
    assert f"reused result of job {earlier}" in messages


def test_a_cached_remote_node_with_another_take_is_not_matched_to_an_earlier_job(paid_sidecar):
    other_take = {**I2V, "2": {**I2V["2"], "inputs": {**I2V["2"]["inputs"], "seed": 99}}}
    _job_with_prompt(paid_sidecar, I2V, completed_step=True)
    again = _job_with_prompt(paid_sidecar, other_take, completed_step=False)
    cached = CachedResults(paid_sidecar.remote.database, paid_sidecar.ledger, paid_sidecar.store)
    assert cached.note_cached(again, ["2"]) == []


# end to end: the real ComfyUI and the strict emulators ------------------------------------------------
@pytest.mark.integration
def test_seedless_reruns_of_a_remote_preset_make_a_new_provider_request_each_time(client, emulators):  # noqa: F811
    fal = emulators["fal"].emulator
    body = {"inputs": {"image": "portrait.png", "prompt": "she smiles"}, "engine": "provider_fal"}
    before = len(fal.submits)
    seeds = []
    for _ in range(3):
        done = wait_for_job(client, client.run("image_to_video_v1", body)["job_id"], timeout_s=240)
        assert done["status"] == "completed", done
        assert [t["kind"] for t in _posted(client, done["job_id"])] == ["post"]
        seeds.append(done["inputs"]["seed"])
    assert len(fal.submits) == before + 3
    assert len(set(seeds)) == 3


@pytest.mark.integration
def test_the_same_seed_twice_reuses_the_remote_result_visibly_and_free(client, emulators):  # noqa: F811
    fal = emulators["fal"].emulator
    body = {"inputs": {"image": "portrait.png", "prompt": "the same take"}, "engine": "provider_fal",
            "seed": 4242}  # fmt: skip
    first = wait_for_job(client, client.run("image_to_video_v1", body)["job_id"], timeout_s=240)
    before = len(fal.submits)
    again = wait_for_job(client, client.run("image_to_video_v1", body)["job_id"], timeout_s=240)
    assert first["status"] == again["status"] == "completed", again
    assert len(fal.submits) == before  # nothing was sent
    messages = [line["message"] for line in client.logs(again["job_id"])]
    assert f"reused result of job {first['job_id']}" in messages
    assert [t["kind"] for t in _posted(client, again["job_id"])] == ["void"]


@pytest.mark.integration
def test_the_same_seed_twice_reproduces_the_same_local_output(client):  # noqa: F811
    """A different seed runs between the two, so ComfyUI's cache cannot be what makes them equal."""
    from PIL import Image

    body = {"inputs": {"image": "portrait.png", "grain_strength": 0.3}}
    pixels = []
    for seed in (77, 78, 77):
        done = wait_for_job(
            client, client.run("cinematic_finish_v1", {**body, "seed": seed})["job_id"], timeout_s=240
        )
        assert done["status"] == "completed", done
        with Image.open(done["artifacts"][-1]["path"]) as img:
            pixels.append(img.convert("RGB").tobytes())
    assert pixels[0] == pixels[2]
    assert pixels[0] != pixels[1]
