"""The talking head from one photo: OmniHuman on fal (photo + speech → clip as long as the speech)."""

from __future__ import annotations

import io
from collections.abc import AsyncIterator

import av
import pytest
from ainfluencer.sidecar.billing.cost_table import model_price
from ainfluencer.sidecar.core.errors import AInfError, ErrorCode
from ainfluencer.sidecar.remote.adapters.fal import OMNIHUMAN, FalAdapter
from ainfluencer.sidecar.remote.pricing import node_request, priced_request
from conftest import EXAMPLES
from emulators.fal import FalEmulator
from emulators.fast import fast_settings
from emulators.media import make_wav

KEY = "fal-key-id-2d8e:fal-key-secret-c4a90f17"
PORTRAIT = (EXAMPLES / "portrait.png").read_bytes()
SPEECH = (EXAMPLES / "speech.wav").read_bytes()  # 7.6 s


@pytest.fixture
async def emu() -> AsyncIterator[FalEmulator]:
    emulator = FalEmulator(key=KEY)
    await emulator.start()
    yield emulator
    await emulator.stop()


@pytest.fixture
def fal(emu: FalEmulator) -> FalAdapter:
    return FalAdapter(emu.base_url, **fast_settings([], 3))


def _request(audio: bytes = SPEECH) -> dict:
    return {"model": OMNIHUMAN, "image": PORTRAIT, "image_content_type": "image/png", "audio": audio,
            "audio_content_type": "audio/wav"}  # fmt: skip


async def test_photo_and_speech_are_uploaded_and_the_clip_is_as_long_as_the_speech(fal, emu):
    result = await fal.animate_portrait(KEY, _request())
    ((model, body),) = emu.submits
    assert model == OMNIHUMAN and set(body) == {"image_url", "audio_url"}
    uploaded = {emu.media[body[k].rsplit("/", 1)[1]][0] for k in body}
    assert uploaded == {PORTRAIT, SPEECH}
    with av.open(io.BytesIO(result.data)) as clip:
        assert clip.streams.audio and clip.duration / 1e6 == pytest.approx(7.6, abs=0.15)
    assert result.cost == pytest.approx(0.14 * 7.607, abs=0.01)  # fal's billed seconds × $0.14


async def test_speech_of_30_seconds_or_more_is_refused_before_anything_is_uploaded(fal, emu):
    with pytest.raises(AInfError) as caught:
        await fal.animate_portrait(KEY, _request(make_wav(seconds=31.0)))
    assert caught.value.code == ErrorCode.VALIDATION_ERROR and "30 s" in caught.value.message
    assert emu.submits == [] and emu.hits.get("upload", 0) == 0


def test_a_talking_head_is_held_for_its_speech_and_at_least_ten_seconds_while_planning():
    planned = node_request("AInfluencerFalTalkingHead", "provider_fal", {})
    assert model_price(priced_request("provider_fal", "talking_head", planned)) == pytest.approx(1.4)
    long = priced_request("provider_fal", "talking_head", {**_request(make_wav(seconds=20.0))})
    assert model_price(long) == pytest.approx(2.8)
