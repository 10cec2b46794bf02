"""identity_lock_portrait_v1: FLUX PuLID on fal with the face of the reference photo, priced per megapixel."""

from __future__ import annotations

import io
from collections.abc import AsyncIterator

import pytest
from ainfluencer.sidecar.billing.cost_table import model_price
from ainfluencer.sidecar.core.errors import AInfError, ErrorCode
from ainfluencer.sidecar.remote.adapters.fal import FLUX_PULID, FalAdapter
from ainfluencer.sidecar.remote.pricing import node_request, priced_request
from conftest import EXAMPLES
from emulators.fal import FalEmulator
from emulators.fast import fast_settings
from PIL import Image

KEY = "fal-key-id-7a1c:fal-key-secret-55e0b2c1"
PORTRAIT = (EXAMPLES / "portrait.png").read_bytes()


@pytest.fixture
async def emu() -> AsyncIterator[FalEmulator]:
    emulator = FalEmulator(key=KEY)
    await emulator.start()
    yield emulator
    await emulator.stop()


@pytest.fixture
def fal(emu: FalEmulator) -> FalAdapter:
    return FalAdapter(emu.base_url, **fast_settings([], 3))


def _request(**extra):
    return {"model": FLUX_PULID, "prompt": "her on a rooftop at dusk", "reference_image": PORTRAIT,
            "reference_image_content_type": "image/png", "image_size": "portrait_4_3", "id_weight": 1.0,
            "num_inference_steps": 20, "guidance_scale": 4.0, "seed": 3, **extra}  # fmt: skip


async def test_the_reference_photo_is_uploaded_and_sent_as_reference_image_url(fal, emu):
    result = await fal.generate_image(KEY, _request(negative_prompt=""))
    ((model, body),) = emu.submits
    assert model == FLUX_PULID and body["reference_image_url"].startswith(emu.base_url + "/media/")
    assert emu.media[body["reference_image_url"].rsplit("/", 1)[1]][0] == PORTRAIT
    expected = {"image_size": "portrait_4_3", "id_weight": 1.0, "num_inference_steps": 20,
                "guidance_scale": 4.0, "seed": 3}  # fmt: skip
    assert {k: body[k] for k in expected} == expected
    assert "negative_prompt" not in body and "num_images" not in body and "safety_tolerance" not in body
    with Image.open(io.BytesIO(result.data)) as image:
        assert image.size == (768, 1024)


async def test_fal_reported_megapixels_times_the_unit_price_is_the_cost(fal):
    result = await fal.generate_image(KEY, _request())
    assert result.cost == pytest.approx(0.0333)  # 768x1024 bills as one whole megapixel


async def test_without_a_reference_nothing_is_sent(fal, emu):
    request = _request()
    del request["reference_image"]
    with pytest.raises(AInfError) as caught:
        await fal.generate_image(KEY, request)
    assert caught.value.code == ErrorCode.VALIDATION_ERROR and emu.submits == []


def test_the_hold_is_the_published_rate_per_whole_megapixel_of_the_chosen_size():
    # 1024x1024 is 1.05 million pixels: held as two whole megapixels, so the hold covers fal's rounding
    planned = node_request("AInfluencerFalFluxPulid", "provider_fal", {"image_size": "square_hd"})
    assert model_price(priced_request("provider_fal", "image", planned)) == pytest.approx(0.067)
    portrait = node_request("AInfluencerFalFluxPulid", "provider_fal", {"image_size": "portrait_4_3"})
    assert model_price(priced_request("provider_fal", "image", portrait)) == pytest.approx(0.034)


def test_a_size_pulid_does_not_take_is_refused_before_anything_is_held():
    with pytest.raises(AInfError) as caught:
        priced_request("provider_fal", "image", {"model": FLUX_PULID, "image_size": "poster"})
    assert caught.value.code == ErrorCode.VALIDATION_ERROR and "square_hd" in caught.value.message
