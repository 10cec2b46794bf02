"""video_identity_consistency_v1: one face kept through a clip (fal face swap), held per second."""

from __future__ import annotations

import io

import av
import pytest
from ainfluencer.sidecar.billing.cost_table import MODEL_PRICES, model_price
from ainfluencer.sidecar.core.errors import AInfError, ErrorCode
from ainfluencer.sidecar.remote.adapters.fal import FACE_SWAP_VIDEO
from ainfluencer.sidecar.remote.pricing import node_request, priced_request
from conftest import EXAMPLES
from conftest import FAL_TEST_KEY as KEY

PORTRAIT = (EXAMPLES / "portrait.png").read_bytes()
CLIP = (EXAMPLES / "portrait_push_in.mp4").read_bytes()  # 5 s, 30 fps


def _request() -> dict:
    return {"model": FACE_SWAP_VIDEO, "video": CLIP, "video_content_type": "video/mp4", "face": PORTRAIT,
            "face_content_type": "image/png"}  # fmt: skip


async def test_the_clip_and_the_face_are_uploaded_and_a_clip_of_the_same_length_comes_back(
    fal_adapter, fal_emulator
):
    result = await fal_adapter.swap_face(KEY, _request())
    ((model, body),) = fal_emulator.submits
    assert model == FACE_SWAP_VIDEO and set(body) == {"source_face_url", "target_video_url"}
    assert fal_emulator.media[body["source_face_url"].rsplit("/", 1)[1]][0] == PORTRAIT
    assert fal_emulator.media[body["target_video_url"].rsplit("/", 1)[1]] == (CLIP, "video/mp4")
    with av.open(io.BytesIO(result.data)) as clip:
        assert clip.duration / 1e6 == pytest.approx(5.0, abs=0.1)
    assert result.cost == pytest.approx(0.1 * 5.0, abs=0.01)  # fal's billed seconds × the unit price


@pytest.mark.parametrize("missing", ["face", "video"])
async def test_without_the_face_or_the_clip_nothing_is_sent(fal_adapter, fal_emulator, missing):
    request = {k: v for k, v in _request().items() if not k.startswith(missing)}
    with pytest.raises(AInfError) as caught:
        await fal_adapter.swap_face(KEY, request)
    assert (caught.value.code, caught.value.detail["missing"]) == (ErrorCode.VALIDATION_ERROR, missing)
    assert fal_emulator.submits == []


def test_a_face_swap_is_held_per_second_of_clip_and_its_rate_is_marked_assumed():
    planned = node_request("AInfluencerFalFaceSwapVideo", "provider_fal", {})
    assert model_price(priced_request("provider_fal", "face_swap", planned)) == pytest.approx(2.0)
    row = next(row for row in MODEL_PRICES if row.model == FACE_SWAP_VIDEO)
    assert row.assumed and row.source.startswith("https://fal.ai/models/half-moon-ai/")
