"""identity_lock_portrait_v1: FLUX PuLID on fal with the face of the reference photo, priced per megapixel."""

from __future__ import annotations

import io

import pytest
from ainfluencer.sidecar.billing.cost_table import model_price
from ainfluencer.sidecar.core.errors import AInfError, ErrorCode
from ainfluencer.sidecar.remote.adapters.fal import FLUX_PULID
from ainfluencer.sidecar.remote.pricing import node_request, priced_request
from conftest import EXAMPLES
from conftest import FAL_TEST_KEY as KEY
from PIL import Image

PORTRAIT = (EXAMPLES / "portrait.png").read_bytes()


def _request(**extra):
    return {"model": FLUX_PULID, "prompt": "her on a rooftop at dusk", "reference_image": PORTRAIT,
            "reference_image_content_type": "image/png", "image_size": "portrait_4_3", "id_weight": 1.0,
            "num_inference_steps": 20, "guidance_scale": 4.0, "seed": 3, **extra}  # fmt: skip


async def test_the_reference_photo_is_uploaded_and_sent_as_reference_image_url(fal_adapter, fal_emulator):
    result = await fal_adapter.generate_image(KEY, _request(negative_prompt=""))
    ((model, body),) = fal_emulator.submits
    assert model == FLUX_PULID and body["reference_image_url"].startswith(fal_emulator.base_url + "/media/")
    assert fal_emulator.media[body["reference_image_url"].rsplit("/", 1)[1]][0] == PORTRAIT
    expected = {"image_size": "portrait_4_3", "id_weight": 1.0, "num_inference_steps": 20,
                "guidance_scale": 4.0, "seed": 3}  # fmt: skip
    assert {k: body[k] for k in expected} == expected
    assert "negative_prompt" not in body and "num_images" not in body and "safety_tolerance" not in body
    with Image.open(io.BytesIO(result.data)) as image:
        assert image.size == (768, 1024)


async def test_fal_reported_megapixels_times_the_unit_price_is_the_cost(fal_adapter):
    result = await fal_adapter.generate_image(KEY, _request())
    assert result.cost == pytest.approx(0.0333)  # 768x1024 bills as one whole megapixel


async def test_without_a_reference_nothing_is_sent(fal_adapter, fal_emulator):
    request = _request()
    del request["reference_image"]
    with pytest.raises(AInfError) as caught:
        await fal_adapter.generate_image(KEY, request)
    assert caught.value.code == ErrorCode.VALIDATION_ERROR and fal_emulator.submits == []


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
