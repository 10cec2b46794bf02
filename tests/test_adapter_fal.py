"""fal.ai adapter against the strict emulator: real media out, every fault mapped, bounded, and keyless."""

from __future__ import annotations

import asyncio
import io
import logging
import time
from collections.abc import AsyncIterator
from typing import Any

import av
import pytest
from ainfluencer.sidecar.core.errors import AInfError, ErrorCode
from ainfluencer.sidecar.remote.adapters.control import RunControl
from ainfluencer.sidecar.remote.adapters.fal import (
    CLARITY_UPSCALER,
    FLUX_PRO,
    HAILUO_STANDARD,
    NO_BALANCE_MESSAGE,
    WAN_25,
    FalAdapter,
)
from ainfluencer.sidecar.remote.adapters.http_policy import RetryPolicy, retry_after_seconds
from emulators.fal import FalEmulator, make_png
from emulators.fast import fast_settings
from PIL import Image

KEY = "fal-key-id-5e2b:fal-key-secret-a91c77d0"
CANARY_KEY = "fal-canary-id-3c1f:fal-canary-secret-0d9e4b2a"
MAX_ATTEMPTS = 3


@pytest.fixture
async def emu() -> AsyncIterator[FalEmulator]:
    """The emulator on a free loopback port, accepting KEY."""
    emulator = FalEmulator(key=KEY)
    await emulator.start()
    yield emulator
    await emulator.stop()


@pytest.fixture
def waits() -> list[float]:
    """The backoff delays the adapter asked for (recorded, not slept, so the tests stay fast)."""
    return []


@pytest.fixture
def fal(emu: FalEmulator, waits: list[float]) -> FalAdapter:
    """The adapter pointed at the emulator with short polls and a recording retry sleep."""
    return FalAdapter(emu.base_url, **fast_settings(waits, MAX_ATTEMPTS))


def _image_request(**extra: Any) -> dict[str, Any]:
    return {"prompt": "a portrait in soft window light", "image_size": "square", "seed": 7, **extra}


async def _fails(call: Any, code: ErrorCode) -> AInfError:
    with pytest.raises(AInfError) as caught:
        await call
    assert caught.value.code == code, caught.value.to_dict()
    return caught.value


def _no_key_in(exc: AInfError, *keys: str) -> None:
    text = " ".join([str(exc), exc.message, repr(exc.to_dict()), repr(exc.detail)])
    for key in keys:
        for part in (key, *key.split(":")):
            assert part not in text


# happy paths ---------------------------------------------------------------------------------------------
async def test_flux_pro_image_goes_through_the_queue_and_comes_back_decodable(fal, emu):
    result = await fal.generate_image(KEY, _image_request(num_images=2))
    assert emu.submits == [(FLUX_PRO, {"prompt": "a portrait in soft window light", "image_size": "square",
                                       "num_images": 2, "seed": 7})]  # fmt: skip
    assert emu.hits["status"] >= 2  # IN_QUEUE/IN_PROGRESS were seen before COMPLETED
    assert (result.engine, result.model, result.content_type) == (
        "provider_fal",
        FLUX_PRO,
        "image/png",
    )
    assert result.request_id.startswith("req-") and result.units == 1
    assert len(result.media) == 2
    with Image.open(io.BytesIO(result.data)) as img:
        assert img.size == (64, 48)


async def test_the_cost_is_fal_billable_units_times_the_endpoint_unit_price(fal, emu):
    result = await fal.generate_image(KEY, _image_request())
    assert result.cost == pytest.approx(1 * 0.04)  # 1 billable unit at the emulator's 0.04 USD/image


async def test_a_recorded_request_is_polled_again_without_a_second_submit_or_upload(fal, emu):
    first = await fal.generate_video(KEY, {"prompt": "x", "image": make_png(), "duration": "6"})
    uploads = emu.hits.get("upload", 0)
    again = await fal.generate_video(
        KEY,
        {"prompt": "x", "image": make_png(), "duration": "6"},
        RunControl(resume_request_id=first.request_id),
    )
    assert len(emu.submits) == 1 and emu.hits.get("upload", 0) == uploads
    assert again.request_id == first.request_id and again.data == first.data


async def test_status_text_follows_the_queue(fal, emu):
    seen: list[str] = []
    await fal.generate_image(KEY, _image_request(), RunControl(on_status=seen.append))
    assert seen and all(text.startswith("fal.ai: ") for text in seen)


async def test_image_to_video_uploads_the_input_to_fal_storage_and_returns_a_real_mp4(fal, emu):
    seen: list[str] = []
    request = {
        "prompt": "she turns and smiles",
        "image": make_png(),
        "duration": "6",
    }
    result = await fal.generate_video(
        KEY, {**request, "model": HAILUO_STANDARD}, RunControl(on_submit=seen.append)
    )
    model, body = emu.submits[0]
    assert model == HAILUO_STANDARD and body["duration"] == "6"
    assert body["image_url"].startswith(f"{emu.base_url}/media/")  # the CDN access_url, not the bytes
    assert emu.hits["token"] == 1 and emu.hits["upload"] == 1
    assert seen == [result.request_id]  # the request id is known before polling starts
    with av.open(io.BytesIO(result.data)) as container:
        assert next(container.decode(video=0)).width == 64


async def test_wan_image_to_video_takes_its_model_id_from_the_request(fal, emu, tmp_path):
    path = tmp_path / "start.png"
    path.write_bytes(make_png())
    result = await fal.generate_video(KEY, {"model": WAN_25, "prompt": "wind", "image": str(path)})
    assert emu.submits[0][0] == WAN_25 and result.content_type == "video/mp4"


async def test_upscale_returns_the_larger_image(fal, emu):
    result = await fal.upscale(KEY, {"image": make_png(), "upscale_factor": 2})
    assert emu.submits[0][0] == CLARITY_UPSCALER and emu.submits[0][1]["upscale_factor"] == 2.0
    with Image.open(io.BytesIO(result.data)) as img:
        assert img.size == (128, 96)


async def test_runs_started_together_are_in_flight_at_fal_together(fal, emu):
    emu.run_s = 0.3
    results = await asyncio.gather(*(fal.generate_image(KEY, _image_request()) for _ in range(5)))
    assert len(results) == 5 and emu.peak_concurrency == 5 and len(emu.submits) == 5


# key, balance, health ------------------------------------------------------------------------------------
async def test_an_admin_key_is_verified_and_reports_its_balance(fal, emu):
    assert (await fal.verify_identity(KEY))["message"] == "Connected to fal.ai; balance 24.50 USD."
    assert await fal.check_balance(KEY) == 24.5
    assert emu.hits["billing"] == 1  # cached for a minute, like fal's own guidance
    assert (await fal.health_check(KEY))["ok"] is True


async def test_a_non_admin_key_connects_but_says_the_balance_is_not_available(fal, emu):
    emu.admin = False
    assert NO_BALANCE_MESSAGE in (await fal.verify_identity(KEY))["message"]
    assert "not available for this key" in NO_BALANCE_MESSAGE
    assert await fal.check_balance(KEY) is None


async def test_health_without_a_key_only_checks_reachability(fal):
    health = await fal.health_check(None)
    assert health["ok"] is True and "API key" in health["message"]
    offline = FalAdapter("http://127.0.0.1:9", retry=RetryPolicy(max_attempts=1))
    assert (await offline.health_check(None))["ok"] is False


# the fault matrix ----------------------------------------------------------------------------------------
async def test_a_wrong_key_is_auth_failed_without_retries_and_without_the_key(fal, emu):
    exc = await _fails(fal.generate_image(CANARY_KEY, _image_request()), ErrorCode.AUTH_FAILED)
    assert exc.message == "fal.ai rejected the API key." and exc.detail["status"] == 401
    assert "No user found" in str(exc.detail["provider_reason"])  # fal's own reason, key masked
    assert emu.hits["submit"] == 1 and not emu.submits
    _no_key_in(exc, CANARY_KEY)
    await _fails(fal.verify_identity(CANARY_KEY), ErrorCode.AUTH_FAILED)


async def test_exhausted_balance_403_is_insufficient_funds_with_fal_reason(fal, emu):
    emu.fault = "exhausted"
    exc = await _fails(fal.generate_image(KEY, _image_request()), ErrorCode.INSUFFICIENT_FUNDS)
    assert "Exhausted balance" in exc.detail["provider_reason"]["detail"]
    assert any("contact fal support" in step for step in exc.remediation)
    assert emu.hits["submit"] == 1 and not emu.submits
    await _fails(fal.check_balance(KEY), ErrorCode.INSUFFICIENT_FUNDS)


async def test_moderation_block_is_safety_filter(fal, emu):
    emu.fault = "moderation"
    exc = await _fails(fal.generate_image(KEY, _image_request()), ErrorCode.SAFETY_FILTER)
    assert exc.detail["provider_reason"]["detail"][0]["type"] == "content_policy_violation"


async def test_every_image_blanked_by_the_safety_checker_is_safety_filter(fal, emu):
    emu.fault = "nsfw"
    await _fails(fal.generate_image(KEY, _image_request()), ErrorCode.SAFETY_FILTER)


async def test_429_is_retried_honouring_retry_after_then_succeeds(fal, emu, waits):
    emu.rate_limit_n, emu.retry_after = 2, "2"
    result = await fal.generate_image(KEY, _image_request())
    assert result.data and emu.hits["submit"] == 3 and len(emu.submits) == 1
    assert waits == [2.0, 2.0]


async def test_a_lasting_429_is_rate_limited_after_bounded_attempts(fal, emu, waits):
    emu.rate_limit_n = 100
    exc = await _fails(fal.generate_image(KEY, _image_request()), ErrorCode.RATE_LIMITED)
    assert emu.hits["submit"] == MAX_ATTEMPTS and waits == [2.0] * (MAX_ATTEMPTS - 1)
    assert exc.detail["provider_reason"]["error_type"] == "concurrent_requests_limit"


async def test_a_5xx_burst_is_retried_with_exponential_backoff(fal, emu, waits):
    emu.burst_5xx_n = 2
    assert (await fal.generate_image(KEY, _image_request())).data
    assert emu.hits["submit"] == 3 and waits == [0.01, 0.02]


async def test_lasting_5xx_is_engine_offline_after_bounded_attempts(fal, emu):
    emu.burst_5xx_n = 100
    exc = await _fails(fal.generate_image(KEY, _image_request()), ErrorCode.ENGINE_OFFLINE)
    assert emu.hits["submit"] == MAX_ATTEMPTS and exc.detail["status"] == 503


async def test_malformed_json_is_contract_mismatch(fal, emu):
    emu.fault = "malformed_json"
    exc = await _fails(fal.generate_image(KEY, _image_request()), ErrorCode.CONTRACT_MISMATCH)
    assert exc.detail["step"] == "status"


async def test_a_result_without_its_fields_is_contract_mismatch(fal, emu):
    emu.fault = "missing_fields"
    exc = await _fails(fal.generate_image(KEY, _image_request()), ErrorCode.CONTRACT_MISMATCH)
    assert "`images`" in exc.message


async def test_a_truncated_download_is_refused(fal, emu):
    emu.fault = "truncated"
    exc = await _fails(fal.generate_image(KEY, _image_request()), ErrorCode.DOWNLOAD_FAILED)
    assert "broke off" in exc.message


async def test_an_oversized_result_is_refused(emu):
    small = FalAdapter(emu.base_url, poll_interval_s=0.01, max_download_bytes=100)
    await _fails(small.generate_image(KEY, _image_request()), ErrorCode.PAYLOAD_TOO_LARGE)


async def test_a_hung_status_call_hits_the_deadline_and_cancels_the_job(fal, emu):
    emu.fault, emu.run_s = "hang", 30.0
    started = time.monotonic()
    exc = await _fails(
        fal.generate_image(KEY, _image_request(), RunControl(deadline_s=0.3)), ErrorCode.ENGINE_TIMEOUT
    )
    assert time.monotonic() - started < 2.0
    assert exc.detail["deadline_s"] == 0.3 and emu.cancels == [exc.detail["request_id"]]


async def test_a_job_that_never_finishes_hits_the_deadline(fal, emu):
    emu.fault = "never_complete"
    exc = await _fails(
        fal.generate_image(KEY, _image_request(), RunControl(deadline_s=1.0)), ErrorCode.ENGINE_TIMEOUT
    )
    assert exc.detail["polls"] >= 2  # it kept polling until the deadline (how often depends on the load)


async def test_interrupt_cancels_the_remote_job(fal, emu):
    emu.run_s = 30.0
    polls_seen = {"n": 0}

    def should_cancel() -> bool:
        polls_seen["n"] = emu.hits.get("status", 0)
        return polls_seen["n"] >= 3

    exc = await _fails(
        fal.generate_image(KEY, _image_request(), RunControl(should_cancel=should_cancel)),
        ErrorCode.JOB_INTERRUPTED,
    )
    assert emu.cancels == [exc.detail["request_id"]] and exc.detail["remote_cancelled"] is True
    assert "remote job was cancelled" in exc.message and "result" not in emu.hits


async def test_invalid_inputs_are_refused_before_anything_is_submitted(fal, emu):
    await _fails(fal.generate_image(KEY, {"prompt": "  "}), ErrorCode.VALIDATION_ERROR)
    await _fails(fal.generate_video(KEY, {"prompt": "x"}), ErrorCode.VALIDATION_ERROR)
    await _fails(fal.upscale(KEY, {"image": make_png(), "upscale_factor": 8}), ErrorCode.VALIDATION_ERROR)
    await _fails(fal.generate_image(KEY, {"prompt": "x", "model": "fal-ai/other"}), ErrorCode.NOT_SUPPORTED)
    assert "submit" not in emu.hits


async def test_no_key_means_add_your_key_in_setup(fal):
    exc = await _fails(fal.generate_image("", _image_request()), ErrorCode.ENGINE_OFFLINE)
    assert "Add your fal.ai API key in Setup" in exc.message


# keys never leak ------------------------------------------------------------------------------------------
async def test_the_canary_key_never_appears_in_errors_or_logs(emu, caplog):
    caplog.set_level(logging.DEBUG)
    emu.key = CANARY_KEY
    fal = FalAdapter(
        emu.base_url,
        poll_interval_s=0.01,
        retry=RetryPolicy(max_attempts=2, base_delay_s=0.0, max_delay_s=0.01),
    )
    errors: list[AInfError] = []
    for fault in ("exhausted", "moderation", "malformed_json", "missing_fields", "truncated"):
        emu.fault = fault
        with pytest.raises(AInfError) as caught:
            await fal.generate_image(CANARY_KEY, _image_request())
        errors.append(caught.value)
    emu.fault, emu.rate_limit_n = None, 2  # both attempts answered 429
    with pytest.raises(AInfError) as caught:
        await fal.generate_image(CANARY_KEY, _image_request())
    errors.append(caught.value)
    emu.key = KEY  # now the canary is a refused key, and the emulator echoes what it was sent
    with pytest.raises(AInfError) as caught:
        await fal.generate_image(CANARY_KEY, _image_request())
    errors.append(caught.value)
    assert [e.code for e in errors] == [
        ErrorCode.INSUFFICIENT_FUNDS, ErrorCode.SAFETY_FILTER, ErrorCode.CONTRACT_MISMATCH,
        ErrorCode.CONTRACT_MISMATCH, ErrorCode.DOWNLOAD_FAILED, ErrorCode.RATE_LIMITED, ErrorCode.AUTH_FAILED,
    ]  # fmt: skip
    for exc in errors:
        _no_key_in(exc, CANARY_KEY)
    assert caplog.records  # the adapter did log (submits, retries)
    logged = "\n".join(record.getMessage() for record in caplog.records)
    for part in (CANARY_KEY, *CANARY_KEY.split(":")):
        assert part not in logged


def test_retry_after_reads_seconds_and_http_dates():
    assert retry_after_seconds("3") == 3.0
    assert retry_after_seconds(None) is None and retry_after_seconds("soon") is None
    assert retry_after_seconds("Wed, 21 Oct 2015 07:28:00 GMT") == 0.0


def test_one_base_url_override_serves_every_fal_host(monkeypatch):
    monkeypatch.delenv("AINFLUENCER_PROVIDER_FAL_BASE_URL", raising=False)
    assert (FalAdapter().queue_url, FalAdapter().rest_url, FalAdapter().api_url) == (
        "https://queue.fal.run",
        "https://rest.fal.ai",
        "https://api.fal.ai",
    )
    monkeypatch.setenv("AINFLUENCER_PROVIDER_FAL_BASE_URL", "http://127.0.0.1:8765/")
    fal = FalAdapter()
    assert fal.engine_id == "provider_fal"
    assert {fal.base_url, fal.queue_url, fal.rest_url, fal.api_url} == {"http://127.0.0.1:8765"}
