"""The face-reference calls of the identity variants against the strict emulators: Runware PuLID on FLUX.1 dev
(`imageInference` with a `puLID` object) and Kling image generation with `image_reference: face`."""

from __future__ import annotations

import base64
import io
from collections.abc import AsyncIterator
from typing import Any

import pytest
from ainfluencer.sidecar.billing.cost_table import model_price
from ainfluencer.sidecar.core.errors import AInfError, ErrorCode
from ainfluencer.sidecar.remote.adapters.kling import KlingAdapter
from ainfluencer.sidecar.remote.adapters.runware import FLUX_PRO, RunwareAdapter
from ainfluencer.sidecar.remote.adapters.runware_identity import PULID_MODEL
from ainfluencer.sidecar.remote.pricing import node_request, priced_request
from emulators.fast import fast_settings
from emulators.kling import KlingEmulator
from emulators.runware import RunwareEmulator
from face_samples import PORTRAIT
from PIL import Image

RUNWARE_KEY = "rw-key-6d1f0c2a9b8e7d6c5b4a39281706f5e4"
ACCESS, SECRET = "ak-5e2b9c1d7f3a", "sk-a91c77d0e4b8f2c6"
FACE = PORTRAIT.read_bytes()


@pytest.fixture
async def runware() -> AsyncIterator[tuple[RunwareAdapter, RunwareEmulator]]:
    emulator = RunwareEmulator(key=RUNWARE_KEY)
    await emulator.start()
    yield RunwareAdapter(emulator.base_url, **fast_settings([], 3)), emulator
    await emulator.stop()


@pytest.fixture
async def kling() -> AsyncIterator[tuple[KlingAdapter, KlingEmulator]]:
    emulator = KlingEmulator(ACCESS, SECRET)
    await emulator.start()
    yield KlingAdapter(emulator.base_url, **fast_settings([], 3)), emulator
    await emulator.stop()


def _pulid(**extra: Any) -> dict[str, Any]:
    return {"prompt": "her on a rooftop at dusk", "width": 768, "height": 1024, "seed": 3, "reference": FACE,
            "reference_content_type": "image/png", "id_weight": 1, **extra}  # fmt: skip


async def _refused(call: Any, code: ErrorCode = ErrorCode.VALIDATION_ERROR) -> AInfError:
    with pytest.raises(AInfError) as caught:
        await call
    assert caught.value.code == code, caught.value.to_dict()
    return caught.value


# -- Runware PuLID ------------------------------------------------------------------------------------------
async def test_a_face_reference_runs_pulid_on_flux_dev_with_the_uploaded_photo(runware):
    adapter, emulator = runware
    result = await adapter.generate_image(RUNWARE_KEY, _pulid())
    ((_, task),) = [s for s in emulator.submits if s[0] == "imageInference"]
    assert task["model"] == PULID_MODEL and set(task["puLID"]) == {"inputImages", "idWeight"}
    (uploaded,) = task["puLID"]["inputImages"]
    assert emulator.uploads[uploaded] == FACE and task["puLID"]["idWeight"] == 1
    with Image.open(io.BytesIO(result.data)) as image:
        assert image.size == (768, 1024)
    assert result.cost == pytest.approx(0.0013)  # Runware's reported cost is what is posted


async def test_pulid_settings_out_of_runwares_ranges_are_refused_before_anything_is_sent(runware):
    adapter, emulator = runware
    for bad in ({"id_weight": 4}, {"id_weight": 1.5}, {"true_cfg_scale": 11.0}, {"cfg_start_step": -1}):
        await _refused(adapter.generate_image(RUNWARE_KEY, _pulid(**bad)))
    assert emulator.submits == [] and emulator.uploads == {}


async def test_pulid_on_another_model_than_flux_dev_is_refused(runware):
    adapter, emulator = runware
    error = await _refused(adapter.generate_image(RUNWARE_KEY, _pulid(model=FLUX_PRO)))
    assert PULID_MODEL in error.message and emulator.submits == []


async def test_the_emulator_refuses_a_pulid_task_with_two_photos_or_on_flux_schnell(runware):
    adapter, emulator = runware
    await adapter.generate_image(RUNWARE_KEY, _pulid())
    (_, task), photo = emulator.submits[-1], FACE
    data = "data:image/png;base64," + base64.b64encode(photo).decode()
    two = {**task, "taskUUID": "5f0b2a6e-3c1d-4e8f-9a7b-1c2d3e4f5a6b", "puLID": {"inputImages": [data, data]}}
    schnell = {**task, "taskUUID": "6f0b2a6e-3c1d-4e8f-9a7b-1c2d3e4f5a6b", "model": "runware:100@1"}
    from emulators.runware import TaskError

    for broken in (two, schnell):
        with pytest.raises(TaskError):
            emulator.rules.validate(broken)


def test_the_runware_pulid_node_is_held_at_the_recorded_flux_dev_image_price():
    planned = node_request("AInfluencerRunwarePulid", "provider_runware", {})
    assert planned["model"] == PULID_MODEL
    assert model_price(priced_request("provider_runware", "image", planned)) == pytest.approx(0.04)


# -- Kling face reference -----------------------------------------------------------------------------------
async def test_a_face_reference_is_sent_as_image_reference_face_on_kling_v1_5(kling):
    adapter, emulator = kling
    request = {"model": "kling-v1-5", "prompt": "her on a rooftop", "image": FACE, "image_reference": "face",
               "image_fidelity": 0.8, "aspect_ratio": "3:4"}  # fmt: skip
    result = await adapter.generate_image(f"{ACCESS}:{SECRET}", request)
    ((_, body),) = emulator.submits
    assert body["model_name"] == "kling-v1-5" and body["image_reference"] == "face"
    assert base64.b64decode(body["image"]) == FACE and body["image_fidelity"] == 0.8
    with Image.open(io.BytesIO(result.data)) as image:
        assert image.size == (768, 1024)  # the emulator renders the face at the 3:4 ratio


async def test_kling_v1_5_with_an_image_but_no_reference_type_is_refused_by_the_emulator(kling):
    adapter, emulator = kling
    request = {"model": "kling-v1-5", "prompt": "her", "image": FACE}
    await _refused(adapter.generate_image(f"{ACCESS}:{SECRET}", request))
    assert emulator.hits["submit"] == 1 and emulator.jobs_created == 0  # Kling answered 400


def test_the_kling_face_node_is_held_at_one_resource_pack_unit_per_image():
    planned = node_request("AInfluencerKlingFaceReference", "provider_kling", {})
    assert planned["model"] == "kling-v1-5"
    assert model_price(priced_request("provider_kling", "image", planned)) == pytest.approx(0.126)
