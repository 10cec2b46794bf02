"""The talking head from one photo: OmniHuman on fal (photo + speech → clip as long as the speech)."""

from __future__ import annotations

import io

import av
import pytest
from ainfluencer.sidecar.billing.cost_table import model_price
from ainfluencer.sidecar.core.errors import AInfError, ErrorCode
from ainfluencer.sidecar.remote.adapters.fal import OMNIHUMAN
from ainfluencer.sidecar.remote.pricing import node_request, priced_request
from conftest import EXAMPLES
from conftest import FAL_TEST_KEY as KEY
from emulators.media import make_wav

PORTRAIT = (EXAMPLES / "portrait.png").read_bytes()
SPEECH = (EXAMPLES / "speech.wav").read_bytes()  # 7.6 s


def _request(audio: bytes = SPEECH) -> dict:
    return {"model": OMNIHUMAN, "image": PORTRAIT, "image_content_type": "image/png", "audio": audio,
            "audio_content_type": "audio/wav"}  # fmt: skip


async def test_photo_and_speech_are_uploaded_and_the_clip_is_as_long_as_the_speech(fal_adapter, fal_emulator):
    result = await fal_adapter.animate_portrait(KEY, _request())
    ((model, body),) = fal_emulator.submits
    assert model == OMNIHUMAN and set(body) == {"image_url", "audio_url"}
    uploaded = {fal_emulator.media[body[k].rsplit("/", 1)[1]][0] for k in body}
    assert uploaded == {PORTRAIT, SPEECH}
    with av.open(io.BytesIO(result.data)) as clip:
        assert clip.streams.audio and clip.duration / 1e6 == pytest.approx(7.6, abs=0.15)
    assert result.cost == pytest.approx(0.14 * 7.607, abs=0.01)  # fal's billed seconds × $0.14


async def test_speech_of_30_seconds_or_more_is_refused_before_anything_is_uploaded(fal_adapter, fal_emulator):
    with pytest.raises(AInfError) as caught:
        await fal_adapter.animate_portrait(KEY, _request(make_wav(seconds=31.0)))
    assert caught.value.code == ErrorCode.VALIDATION_ERROR and "30 s" in caught.value.message
    assert fal_emulator.submits == [] and fal_emulator.hits.get("upload", 0) == 0


def test_a_talking_head_is_held_for_its_speech_and_at_least_ten_seconds_while_planning():
    planned = node_request("AInfluencerFalTalkingHead", "provider_fal", {})
    assert model_price(priced_request("provider_fal", "talking_head", planned)) == pytest.approx(1.4)
    long = priced_request("provider_fal", "talking_head", {**_request(make_wav(seconds=20.0))})
    assert model_price(long) == pytest.approx(2.8)
