"""Kling adapter against the strict emulator: JWT/API-key auth, real media, every fault mapped, keyless."""

from __future__ import annotations

import asyncio
import base64
import io
import json
import logging
import threading
import time
from collections.abc import AsyncIterator
from typing import Any

import av
import httpx
import pytest
from ainfluencer.sidecar.core.errors import AInfError, ErrorCode
from ainfluencer.sidecar.core.redact import MASK, redact_secrets
from ainfluencer.sidecar.remote.adapters.control import RunControl
from ainfluencer.sidecar.remote.adapters.http_policy import RetryPolicy
from ainfluencer.sidecar.remote.adapters.kling import UNIT_NAME, KlingAdapter, encode_jwt
from emulators.fast import fast_settings
from emulators.kling import PIXEL_MESSAGE, RISK_MESSAGE, KlingEmulator
from emulators.media import make_png, make_wav
from PIL import Image

ACCESS, SECRET = "ak-5e2b9c1d7f3a", "sk-a91c77d0e4b8f2c6"
KEY = f"{ACCESS}:{SECRET}"
CANARY_ACCESS, CANARY_SECRET = "ak-canary-3c1f8e2d", "sk-canary-0d9e4b2a7c6f"
CANARY_KEY = f"{CANARY_ACCESS}:{CANARY_SECRET}"
MAX_ATTEMPTS = 3
START = make_png(320, 320)


@pytest.fixture
async def emu() -> AsyncIterator[KlingEmulator]:
    """The emulator on a free loopback port, accepting KEY's JWTs."""
    emulator = KlingEmulator(ACCESS, SECRET)
    await emulator.start()
    yield emulator
    await emulator.stop()


@pytest.fixture
def waits() -> list[float]:
    """The backoff delays the adapter asked for (recorded, not slept)."""
    return []


def _adapter(base_url: str, waits: list[float], attempts: int = MAX_ATTEMPTS) -> KlingAdapter:
    return KlingAdapter(base_url, **fast_settings(waits, attempts))


@pytest.fixture
def kling(emu: KlingEmulator, waits: list[float]) -> KlingAdapter:
    """The adapter pointed at the emulator with short polls and a recording retry sleep."""
    return _adapter(emu.base_url, waits)


def _i2v(**extra: Any) -> dict[str, Any]:
    return {"prompt": "she turns and smiles", "image": START, **extra}


async def _fails(call: Any, code: ErrorCode) -> AInfError:
    with pytest.raises(AInfError) as caught:
        await call
    assert caught.value.code == code, caught.value.to_dict()
    return caught.value


def _text_of(exc: AInfError) -> str:
    return " ".join([str(exc), exc.message, repr(exc.to_dict()), repr(exc.detail), " ".join(exc.remediation)])


def _decode_mp4(data: bytes) -> int:
    with av.open(io.BytesIO(data)) as container:
        return next(container.decode(video=0)).width


# happy paths ---------------------------------------------------------------------------------------------
async def test_image_to_video_sends_raw_base64_with_a_jwt_and_returns_a_real_mp4(kling, emu):
    seen: list[tuple[str, int]] = []
    result = await kling.generate_video(
        KEY, _i2v(duration=10), RunControl(on_submit=lambda rid: seen.append((rid, emu.hits.get("query", 0))))
    )
    kind, body = emu.submits[0]
    assert kind == "image2video"
    assert len(body.pop("external_task_id")) == 32  # our id for the task, to find it after a doubtful submit
    assert body == {"model_name": "kling-v2-5-turbo", "mode": "pro", "duration": "10",
                    "prompt": "she turns and smiles", "image": base64.b64encode(START).decode()}  # fmt: skip
    assert seen == [(result.request_id, 0)]  # the task id is recorded before the first poll
    assert emu.hits["query"] >= 2 and set(emu.auth_kinds) == {"jwt"}
    assert (result.engine, result.model, result.content_type) == (
        "provider_kling",
        "kling-v2-5-turbo",
        "video/mp4",
    )
    assert result.cost is None  # Kling reports units, not USD
    assert (result.units, result.units_name) == (2.5, UNIT_NAME)
    assert result.media[0].source.id == f"vid-{result.request_id}"
    assert _decode_mp4(result.data) == 64


async def test_image_to_video_takes_a_file_path_or_passes_a_url_through(kling, emu, tmp_path):
    path = tmp_path / "start.png"
    path.write_bytes(START)
    await kling.generate_video(KEY, {"image": str(path), "model": "kling-v1-6", "mode": "std"})
    await kling.generate_video(KEY, {"image_url": "https://example.com/start.jpg", "model": "kling-v2-1"})
    assert emu.submits[0][1]["image"] == base64.b64encode(START).decode()
    assert (
        emu.submits[1][1]["image"] == "https://example.com/start.jpg" and emu.submits[1][1]["mode"] == "std"
    )


async def test_a_data_url_is_sent_without_its_prefix_and_an_end_frame_as_image_tail(kling, emu):
    data_url = "data:image/png;base64," + base64.b64encode(START).decode()
    await kling.generate_video(KEY, {"image_url": data_url, "end_image": START, "model": "kling-v1-6"})
    body = emu.submits[0][1]
    assert body["image"] == base64.b64encode(START).decode() == body["image_tail"]


async def test_without_an_image_it_is_text_to_video_and_cfg_scale_goes_only_to_v1_models(kling, emu):
    await kling.generate_video(KEY, {"prompt": "a city at dusk", "aspect_ratio": "9:16", "cfg_scale": 0.4})
    await kling.generate_video(KEY, {"prompt": "a city at dusk", "model": "kling-v1", "cfg_scale": 0.4})
    (kind1, body1), (kind2, body2) = emu.submits
    assert kind1 == kind2 == "text2video"
    assert body1.pop("external_task_id") != body2.pop("external_task_id")
    assert body1 == {"model_name": "kling-v2-5-turbo", "mode": "pro", "duration": "5",
                     "prompt": "a city at dusk", "aspect_ratio": "9:16"}  # fmt: skip
    assert body2["cfg_scale"] == 0.4 and body2["aspect_ratio"] == "16:9"


async def test_image_generation_returns_every_image_decodable(kling, emu):
    result = await kling.generate_image(KEY, {"prompt": "a portrait", "n": 2, "aspect_ratio": "3:4"})
    kind, body = emu.submits[0]
    assert len(body.pop("external_task_id")) == 32
    assert (kind, body) == ("generations", {"model_name": "kling-v2-1", "prompt": "a portrait", "n": 2,
                                            "aspect_ratio": "3:4", "resolution": "1k"})  # fmt: skip
    assert len(result.media) == 2 and result.content_type == "image/png"
    with Image.open(io.BytesIO(result.data)) as img:
        assert img.size == (320, 320)


async def test_image_generation_with_a_face_reference(kling, emu):
    request = {"prompt": "same person", "image": START, "image_reference": "face", "human_fidelity": 0.6}
    await kling.generate_image(KEY, request)
    body = emu.submits[0][1]
    assert (
        body["image_reference"] == "face" and body["human_fidelity"] == 0.6 and "negative_prompt" not in body
    )


async def test_lipsync_with_public_video_and_audio_urls(kling, emu):
    video_url = "https://cdn.example.com/clip.mp4"
    result = await kling.apply_lipsync(
        KEY, {"video_url": video_url, "audio_url": "https://cdn.example.com/a.mp3"}
    )
    expected = {"video_url": video_url, "mode": "audio2video", "audio_type": "url",
                "audio_url": "https://cdn.example.com/a.mp3"}  # fmt: skip
    assert emu.submits[0] == ("lip-sync", {"input": expected})
    assert result.model == "kling-lip-sync" and _decode_mp4(result.data) == 64


async def test_lipsync_sends_a_local_audio_file_as_base64_and_a_kling_video_by_id(kling, emu):
    wav = make_wav()
    await kling.apply_lipsync(KEY, {"video_id": "vid-123", "audio": wav})
    data = emu.submits[0][1]["input"]
    assert data["video_id"] == "vid-123" and data["audio_type"] == "file"
    assert base64.b64decode(data["audio_file"]) == wav


async def test_lipsync_from_text_uses_kling_tts_voice(kling, emu):
    await kling.apply_lipsync(
        KEY, {"video_url": "https://x.example/v.mp4", "text": "Hello!", "voice_id": "v1"}
    )
    assert emu.submits[0][1]["input"] == {"video_url": "https://x.example/v.mp4", "mode": "text2video",
                                          "text": "Hello!", "voice_id": "v1", "voice_language": "en",
                                          "voice_speed": 1.0}  # fmt: skip


async def test_lipsync_refuses_a_local_video_naming_the_input_that_needs_a_public_url(kling, emu, tmp_path):
    clip = tmp_path / "clip.mp4"
    clip.write_bytes(b"\x00" * 10)
    exc = await _fails(kling.apply_lipsync(KEY, {"video": str(clip), "audio_url": "https://a/b.mp3"}),
                       ErrorCode.VALIDATION_ERROR)  # fmt: skip
    assert exc.detail["input"] == "video" and "public http(s) URL" in exc.message
    exc = await _fails(kling.apply_lipsync(KEY, {"video_url": "https://a/v.mp4"}), ErrorCode.VALIDATION_ERROR)
    assert "needs speech" in exc.message
    assert "submit" not in emu.hits


async def test_a_plain_api_key_is_sent_as_bearer_directly(emu, waits):
    emu.plain_key = "kling-api-key-7d1e0f3b9a2c"
    kling = _adapter(emu.base_url, waits)
    assert (await kling.generate_image(emu.plain_key, {"prompt": "x"})).data
    assert set(emu.auth_kinds) == {"api_key"}


async def test_runs_started_together_are_in_flight_at_kling_together(kling, emu):
    emu.run_s = 0.3
    results = await asyncio.gather(*(kling.generate_video(KEY, _i2v()) for _ in range(4)))
    assert len({r.request_id for r in results}) == 4 and emu.peak_concurrency == 4


async def test_a_second_task_over_the_pack_concurrency_limit_waits_with_backoff_until_a_slot_frees(emu):
    emu.max_concurrency, emu.queue_s, emu.run_s = 1, 0.0, 0.15
    policy = RetryPolicy(max_attempts=4, base_delay_s=0.2, max_delay_s=1.0)  # really sleeps: 0.2, 0.4, ...
    kling = KlingAdapter(
        emu.base_url, poll_interval_s=0.01, deadline_s=5.0, cancel_check_s=0.01, retry=policy
    )
    first = asyncio.ensure_future(kling.generate_video(KEY, _i2v()))
    await asyncio.sleep(0.05)  # the first task now holds the only slot
    second = await kling.generate_video(KEY, _i2v())
    assert (await first).data and second.data
    assert emu.peak_concurrency == 1 and len(emu.submits) == 2 and emu.hits["submit"] >= 3
    assert 429 in kling.stats.statuses and kling.stats.waits[0] == 0.2


# restart, cancel, deadline -------------------------------------------------------------------------------
async def test_a_resumed_task_is_polled_to_its_result_without_a_second_submit(kling, emu):
    ids: list[str] = []
    first = await kling.generate_video(KEY, _i2v(), RunControl(on_submit=ids.append))
    again = await kling.generate_video(
        KEY, _i2v(), RunControl(resume_request_id=ids[0], on_submit=ids.append)
    )
    assert len(emu.submits) == 1 and ids == [first.request_id] and again.request_id == ids[0]
    assert _decode_mp4(again.data) == 64


async def test_interrupt_stops_polling_and_says_kling_may_still_bill(kling, emu):
    emu.run_s = 30.0
    exc = await _fails(
        kling.generate_video(KEY, _i2v(), RunControl(should_cancel=lambda: emu.hits.get("query", 0) >= 2)),
        ErrorCode.JOB_INTERRUPTED,
    )
    assert exc.detail["remote_cancelled"] is False and "may still bill it" in exc.message
    assert exc.detail["request_id"] in emu.tasks and len(emu.submits) == 1


async def test_a_hung_query_hits_the_deadline_quickly(kling, emu):
    emu.fault = "hang"
    started = time.monotonic()
    exc = await _fails(
        kling.generate_video(KEY, _i2v(), RunControl(deadline_s=0.3)), ErrorCode.ENGINE_TIMEOUT
    )
    assert time.monotonic() - started < 2.0 and exc.detail["deadline_s"] == 0.3


async def test_a_task_that_never_finishes_hits_the_deadline(kling, emu):
    emu.fault = "never_complete"
    exc = await _fails(
        kling.generate_image(KEY, {"prompt": "x"}, RunControl(deadline_s=1.0)), ErrorCode.ENGINE_TIMEOUT
    )
    assert exc.detail["polls"] >= 2  # it kept polling until the deadline (how often depends on the load)


# the fault matrix ----------------------------------------------------------------------------------------
async def test_a_wrong_secret_is_auth_failed_without_retries(kling, emu, waits):
    exc = await _fails(kling.generate_video(f"{ACCESS}:sk-wrong-secret-123", _i2v()), ErrorCode.AUTH_FAILED)
    assert (exc.detail["status"], exc.detail["code"]) == (401, 1000)
    assert emu.hits["submit"] == 1 and not emu.submits and waits == []


async def test_a_revoked_key_is_auth_failed_everywhere(kling, emu):
    emu.fault = "bad_key"
    await _fails(kling.generate_image(KEY, {"prompt": "x"}), ErrorCode.AUTH_FAILED)
    await _fails(kling.verify_identity(KEY), ErrorCode.AUTH_FAILED)
    assert (await kling.health_check(KEY))["ok"] is False


async def test_an_expired_or_not_yet_valid_token_is_auth_failed_with_a_clock_hint(kling, emu):
    kling.clock = lambda: time.time() - 3600  # this computer's clock is an hour slow: the token expired
    exc = await _fails(kling.generate_image(KEY, {"prompt": "x"}), ErrorCode.AUTH_FAILED)
    assert exc.detail["code"] == 1004 and "clock" in exc.remediation[0]
    fast = _adapter(emu.base_url, [])
    fast.clock = lambda: time.time() + 600  # ten minutes fast: the token is not valid yet
    exc = await _fails(fast.generate_image(KEY, {"prompt": "x"}), ErrorCode.AUTH_FAILED)
    assert exc.detail["code"] == 1003


async def test_a_no_money_429_is_insufficient_funds_and_never_retried(kling, emu, waits):
    emu.fault = "no_money_429"
    exc = await _fails(kling.generate_video(KEY, _i2v()), ErrorCode.INSUFFICIENT_FUNDS)
    assert (exc.detail["status"], exc.detail["code"]) == (429, 1102)
    assert emu.hits["submit"] == 1 and waits == [] and "resource pack" in exc.remediation[0]
    emu.fault = "arrears_429"
    exc = await _fails(kling.generate_video(KEY, _i2v()), ErrorCode.INSUFFICIENT_FUNDS)
    assert exc.detail["code"] == 1101 and "arrears" in exc.message and emu.hits["submit"] == 2


async def test_a_rate_limit_429_is_retried_honouring_retry_after_then_succeeds(kling, emu, waits):
    emu.rate_limit_n, emu.retry_after = 2, "1"
    assert (await kling.generate_video(KEY, _i2v())).data
    assert emu.hits["submit"] == 3 and len(emu.submits) == 1 and waits == [1.0, 1.0]
    assert kling.stats.waits == [1.0, 1.0]


async def test_a_lasting_rate_or_concurrency_limit_is_rate_limited_after_bounded_attempts(kling, emu, waits):
    emu.rate_limit_n, emu.rate_limit_code = 100, 1303
    exc = await _fails(kling.generate_video(KEY, _i2v()), ErrorCode.RATE_LIMITED)
    assert emu.hits["submit"] == MAX_ATTEMPTS and waits == [1.0] * (MAX_ATTEMPTS - 1)
    assert exc.detail["code"] == 1303 and "parallel-task limit" in exc.message


async def test_content_security_1301_is_safety_filter(kling, emu):
    emu.fault = "moderation"
    exc = await _fails(kling.generate_video(KEY, _i2v()), ErrorCode.SAFETY_FILTER)
    assert exc.detail["code"] == 1301 and not emu.submits


async def test_a_task_failed_by_risk_control_inside_http_200_is_safety_filter(kling, emu):
    emu.fault = "moderation_task"
    exc = await _fails(kling.generate_video(KEY, _i2v()), ErrorCode.SAFETY_FILTER)
    assert exc.detail["provider_reason"] == RISK_MESSAGE and exc.detail["request_id"] in emu.tasks


async def test_a_task_failed_for_another_reason_inside_http_200_is_execution_failed(kling, emu):
    emu.fault = "failed_in_200"
    exc = await _fails(kling.generate_video(KEY, _i2v()), ErrorCode.EXECUTION_FAILED)
    assert PIXEL_MESSAGE in exc.message and exc.detail["provider_reason"] == PIXEL_MESSAGE


async def test_a_5xx_burst_is_retried_with_backoff_and_lasting_5xx_is_engine_offline(kling, emu, waits):
    emu.burst_5xx_n = 2
    assert (await kling.generate_image(KEY, {"prompt": "x"})).data
    assert emu.hits["submit"] == 3 and waits == [0.01, 0.02]
    emu.burst_5xx_n = 100
    exc = await _fails(kling.generate_image(KEY, {"prompt": "x"}), ErrorCode.ENGINE_OFFLINE)
    assert emu.hits["submit"] == 3 + MAX_ATTEMPTS and exc.detail["code"] == 5000


@pytest.mark.parametrize(
    ("status", "code", "expected"),
    [
        (401, 1002, ErrorCode.AUTH_FAILED),
        (429, 1100, ErrorCode.AUTH_FAILED),  # account exception: not money, not a rate limit
        (403, 1103, ErrorCode.AUTH_FAILED),  # no access to the model
        (429, 1304, ErrorCode.AUTH_FAILED),  # IP whitelist
        (429, 1102, ErrorCode.INSUFFICIENT_FUNDS),
        (400, 1300, ErrorCode.SAFETY_FILTER),
        (429, 1302, ErrorCode.RATE_LIMITED),
        (400, 1200, ErrorCode.VALIDATION_ERROR),
        (404, 1203, ErrorCode.VALIDATION_ERROR),
        (200, 1201, ErrorCode.VALIDATION_ERROR),  # a refusal inside HTTP 200 is still read by its code
        (503, 5001, ErrorCode.ENGINE_OFFLINE),
        (504, None, ErrorCode.ENGINE_OFFLINE),
        (200, None, ErrorCode.CONTRACT_MISMATCH),
    ],
)
def test_kling_answers_map_by_body_code_first(status, code, expected):
    body = {"message": "refused", "request_id": "r-1"} | ({"code": code} if code is not None else {})
    response = httpx.Response(status, json=body)
    exc = KlingAdapter("http://127.0.0.1:9")._error(response, "submit")
    assert exc.code == expected and exc.detail["provider_reason"]["message"] == "refused"


async def test_malformed_json_and_missing_results_are_contract_mismatch(kling, emu):
    emu.fault = "malformed_json"
    exc = await _fails(kling.generate_image(KEY, {"prompt": "x"}), ErrorCode.CONTRACT_MISMATCH)
    assert exc.detail["step"] == "status"
    emu.fault = "missing_fields"
    exc = await _fails(kling.generate_image(KEY, {"prompt": "x"}), ErrorCode.CONTRACT_MISMATCH)
    assert "task_result.images" in exc.message


async def test_a_truncated_download_is_refused(kling, emu):
    emu.fault = "truncated"
    exc = await _fails(kling.generate_video(KEY, _i2v()), ErrorCode.DOWNLOAD_FAILED)
    assert "broke off" in exc.message


async def test_invalid_inputs_are_refused_before_anything_is_submitted(kling, emu):
    small = make_png(64, 48)  # Kling wants >= 300 px a side
    exc = await _fails(kling.generate_video(KEY, {"image": small}), ErrorCode.VALIDATION_ERROR)
    assert "300 px" in exc.message and exc.detail["size"] == (64, 48)
    await _fails(kling.generate_video(KEY, _i2v(duration="7")), ErrorCode.VALIDATION_ERROR)
    exc = await _fails(kling.generate_video(KEY, {"prompt": " "}), ErrorCode.VALIDATION_ERROR)
    assert exc.detail["fields"] == ["prompt"]
    await _fails(kling.generate_video(KEY, {"prompt": "x", "cfg_scale": 3}), ErrorCode.VALIDATION_ERROR)
    await _fails(kling.generate_image(KEY, {"prompt": "x", "n": 12}), ErrorCode.VALIDATION_ERROR)
    await _fails(
        kling.generate_image(KEY, {"prompt": "x", "image_reference": "face"}), ErrorCode.VALIDATION_ERROR
    )
    await _fails(kling.generate_video(KEY, _i2v(model="kling-v9")), ErrorCode.NOT_SUPPORTED)
    await _fails(kling.generate_video(KEY, _i2v(image="/nonexistent/x.png")), ErrorCode.FILE_NOT_FOUND)
    await _fails(kling.generate_image(f"{ACCESS}:", {"prompt": "x"}), ErrorCode.VALIDATION_ERROR)
    assert "submit" not in emu.hits


async def test_no_key_means_add_your_key_in_setup(kling):
    exc = await _fails(kling.generate_image("", {"prompt": "x"}), ErrorCode.ENGINE_OFFLINE)
    assert "Add your Kling API key in Setup" in exc.message


# key, balance, health ------------------------------------------------------------------------------------
async def test_verify_reports_units_left_in_online_packs_and_the_balance_is_cached(kling, emu):
    message = (await kling.verify_identity(KEY))["message"]
    assert "117.5 Kling resource-pack units" in message and "not USD" in message
    assert await kling.check_balance(KEY) == 117.5  # 97.5 + 20 online; the expired pack does not count
    assert emu.hits["costs"] == 1  # Kling allows one account query per second: cached for a minute
    assert (await kling.health_check(KEY))["ok"] is True


async def test_an_account_without_online_packs_connects_and_says_to_buy_one(kling, emu):
    for pack in emu.packs:
        pack["status"] = "runOut"
    message = (await kling.verify_identity(KEY))["message"]
    assert "no Kling resource-pack units left" in message and "web-app credits" in message
    assert await kling.check_balance(KEY) == 0.0


async def test_a_refused_key_fails_verification(kling, emu):
    exc = await _fails(kling.verify_identity(CANARY_KEY), ErrorCode.AUTH_FAILED)
    assert exc.detail["step"] == "balance"


async def test_health_without_a_key_only_checks_reachability(kling):
    health = await kling.health_check(None)
    assert health["ok"] is True and "API key" in health["message"]
    offline = KlingAdapter("http://127.0.0.1:9", retry=RetryPolicy(max_attempts=1))
    assert (await offline.health_check(None))["ok"] is False


# the JWT -----------------------------------------------------------------------------------------------
def test_the_jwt_is_hs256_with_iss_exp_nbf_signed_by_the_secret():
    token = encode_jwt(ACCESS, SECRET, now=1_700_000_000)
    head, claims = (
        json.loads(base64.urlsafe_b64decode(p + "=" * (-len(p) % 4))) for p in token.split(".")[:2]
    )
    assert head == {"alg": "HS256", "typ": "JWT"}
    assert claims == {"iss": ACCESS, "exp": 1_700_001_800, "nbf": 1_699_999_995}
    assert SECRET not in token and ACCESS not in token


def test_the_token_is_reused_refreshed_near_expiry_and_registered_for_redaction():
    kling = KlingAdapter("http://127.0.0.1:9")
    now = time.time()
    kling.clock = lambda: now
    first = kling.auth_headers(KEY)["Authorization"]
    assert kling.auth_headers(KEY)["Authorization"] == first
    kling.clock = lambda: now + 1800 - 30  # within a minute of expiry: a fresh token
    second = kling.auth_headers(KEY)["Authorization"]
    assert second != first
    token = second.removeprefix("Bearer ")
    assert redact_secrets(f"token={token}") == f"token={MASK}"


# the emulator is strict --------------------------------------------------------------------------------
async def test_the_emulator_refuses_bad_tokens_and_bodies_the_way_kling_does(emu):
    now = int(time.time())
    none_alg = (
        ".".join(
            base64.urlsafe_b64encode(json.dumps(part).encode()).rstrip(b"=").decode()
            for part in ({"alg": "none", "typ": "JWT"}, {"iss": ACCESS, "exp": now + 60, "nbf": now - 5})
        )
        + "."
    )
    good = {"Authorization": f"Bearer {encode_jwt(ACCESS, SECRET)}"}
    async with httpx.AsyncClient(base_url=emu.base_url) as client:

        async def code(path: str, body: Any, headers: dict[str, str]) -> tuple[int, int]:
            response = await client.post(path, json=body, headers=headers)
            return response.status_code, response.json()["code"]

        body = {"image": base64.b64encode(START).decode()}
        assert await code("/v1/videos/image2video", body, {}) == (401, 1001)
        assert await code("/v1/videos/image2video", body, {"Authorization": f"Bearer {none_alg}"}) == (
            401,
            1002,
        )
        forged = {"Authorization": f"Bearer {encode_jwt(ACCESS, 'sk-not-the-secret')}"}
        assert await code("/v1/videos/image2video", body, forged) == (401, 1000)
        assert await code("/v1/videos/image2video", {**body, "seed": 1}, good) == (400, 1201)
        data_url = {"image": "data:image/png;base64," + body["image"]}
        assert await code("/v1/videos/image2video", data_url, good) == (400, 1201)
        assert await code("/v1/videos/image2video", {**body, "duration": 5}, good) == (400, 1201)
        assert await code("/v1/videos/lip-sync", {"video_url": "https://a/v.mp4"}, good) == (400, 1201)
        lip = {
            "input": {"mode": "audio2video", "video_url": "https://a/v.mp4", "audio_url": "https://a/a.mp3"}
        }
        assert await code("/v1/videos/lip-sync", lip, good) == (400, 1201)  # audio_type is required
        assert not emu.submits
        costs = await client.get("/account/costs", headers=good)
        assert costs.status_code == 400  # start_time / end_time are required
        costs = await client.get("/account/costs", params={"start_time": 0, "end_time": 1}, headers=good)
        assert (costs.status_code, costs.json()["code"]) == (429, 1302)  # QPS <= 1


def test_the_emulator_serves_from_its_own_thread_and_loop(waits):
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    emulator = KlingEmulator(ACCESS, SECRET)
    try:
        base_url = asyncio.run_coroutine_threadsafe(emulator.start(), loop).result(10)
        result = asyncio.run(_adapter(base_url, waits).generate_image(KEY, {"prompt": "x"}))
        assert result.data and len(emulator.submits) == 1
    finally:
        asyncio.run_coroutine_threadsafe(emulator.stop(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(5)
        loop.close()


# keys never leak -----------------------------------------------------------------------------------------
async def test_the_canary_key_and_its_tokens_never_appear_in_errors_or_logs(emu, caplog, waits):
    caplog.set_level(logging.DEBUG)
    emu.key = CANARY_KEY
    kling = _adapter(emu.base_url, waits, attempts=2)
    errors: list[AInfError] = []
    for fault in ("no_money_429", "moderation", "moderation_task", "failed_in_200", "malformed_json",
                  "missing_fields", "truncated", "bad_key"):  # fmt: skip
        emu.fault = fault
        with pytest.raises(AInfError) as caught:
            await kling.generate_video(CANARY_KEY, _i2v())
        errors.append(caught.value)
    emu.fault, emu.rate_limit_n = None, 2
    with pytest.raises(AInfError) as caught:
        await kling.generate_video(CANARY_KEY, _i2v())
    errors.append(caught.value)
    emu.key = KEY  # now the canary is a refused key
    with pytest.raises(AInfError) as caught:
        await kling.verify_identity(CANARY_KEY)
    errors.append(caught.value)
    assert [e.code for e in errors] == [
        ErrorCode.INSUFFICIENT_FUNDS, ErrorCode.SAFETY_FILTER, ErrorCode.SAFETY_FILTER,
        ErrorCode.EXECUTION_FAILED, ErrorCode.CONTRACT_MISMATCH, ErrorCode.CONTRACT_MISMATCH,
        ErrorCode.DOWNLOAD_FAILED, ErrorCode.AUTH_FAILED, ErrorCode.RATE_LIMITED, ErrorCode.AUTH_FAILED,
    ]  # fmt: skip
    tokens = [token for token, _exp in kling._tokens.values()]
    secrets = (CANARY_KEY, CANARY_ACCESS, CANARY_SECRET, *tokens)
    assert caplog.records  # the adapter did log (submits, retries)
    logged = "\n".join(record.getMessage() for record in caplog.records)
    for exc in errors:
        for secret in secrets:
            assert secret not in _text_of(exc)
    for secret in secrets:
        assert secret not in logged


def test_one_base_url_override_serves_the_api_and_the_account_endpoint(monkeypatch):
    monkeypatch.delenv("AINFLUENCER_PROVIDER_KLING_BASE_URL", raising=False)
    assert KlingAdapter().base_url == "https://api-singapore.klingai.com"
    monkeypatch.setenv("AINFLUENCER_PROVIDER_KLING_BASE_URL", "http://127.0.0.1:8765/")
    kling = KlingAdapter()
    assert (kling.engine_id, kling.provider_name, kling.base_url) == (
        "provider_kling",
        "Kling",
        "http://127.0.0.1:8765",
    )
