"""Runware adapter against the strict emulator: task arrays, async polling, real media, every fault mapped."""

from __future__ import annotations

import asyncio
import io
import logging
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import replace
from typing import Any

import av
import pytest
from ainfluencer.sidecar.core.errors import AInfError, ErrorCode
from ainfluencer.sidecar.remote.adapters.control import RunControl
from ainfluencer.sidecar.remote.adapters.http_policy import RetryPolicy
from ainfluencer.sidecar.remote.adapters.runware import (
    FLUX_PRO,
    FLUX_SCHNELL,
    HAILUO_02,
    KLING_3_PRO,
    RunwareAdapter,
)
from emulators.fast import fast_settings
from emulators.runware import RunwareEmulator, make_png
from PIL import Image

KEY = "rw-key-6d1f0c2a9b8e7d6c5b4a39281706f5e4"
CANARY_KEY = "rw-canary-3e9a7b1c5d2f4e6a8b0c9d1e2f3a4b5c"
MAX_ATTEMPTS = 3


@pytest.fixture
async def emu() -> AsyncIterator[RunwareEmulator]:
    """The emulator on a free loopback port, accepting KEY."""
    emulator = RunwareEmulator(key=KEY)
    await emulator.start()
    yield emulator
    await emulator.stop()


@pytest.fixture
def waits() -> list[float]:
    """The backoff delays the adapter asked for (recorded, not slept)."""
    return []


@pytest.fixture
def rw(emu: RunwareEmulator, waits: list[float]) -> RunwareAdapter:
    """The adapter pointed at the emulator with short polls and a recording retry sleep."""
    return RunwareAdapter(emu.base_url, **fast_settings(waits, MAX_ATTEMPTS))


def _image(**extra: Any) -> dict[str, Any]:
    return {"prompt": "a portrait in soft window light", "width": 512, "height": 768, "seed": 7, **extra}


def _video(**extra: Any) -> dict[str, Any]:
    return {"prompt": "she turns and smiles", "image": make_png(), "duration": 6, **extra}


async def _fails(call: Any, code: ErrorCode) -> AInfError:
    with pytest.raises(AInfError) as caught:
        await call
    assert caught.value.code == code, caught.value.to_dict()
    return caught.value


def _no_key_in(exc: AInfError, key: str) -> None:
    text = " ".join([str(exc), exc.message, repr(exc.to_dict()), repr(exc.detail), repr(exc.remediation)])
    assert key not in text and key[8:30] not in text


# happy paths ---------------------------------------------------------------------------------------------
async def test_flux_schnell_is_an_async_image_task_polled_to_decodable_pngs_with_cost(rw, emu):
    result = await rw.generate_image(KEY, _image(num_images=2, steps=4, cfg_scale=1.5))
    ((task_type, task),) = emu.submits
    assert task_type == "imageInference" and uuid.UUID(task["taskUUID"]).version == 4
    fields = ("model", "width", "height", "numberResults", "steps", "CFGScale", "seed")
    assert {k: task[k] for k in fields} == {
        "model": FLUX_SCHNELL, "width": 512, "height": 768, "numberResults": 2, "steps": 4, "CFGScale": 1.5,
        "seed": 7,
    }  # fmt: skip
    assert (task["outputType"], task["includeCost"], task["deliveryMethod"]) == ("URL", True, "async")
    assert emu.hits["getResponse"] >= 2  # `processing` was seen before `success`
    assert result.request_id == task["taskUUID"] and result.engine == "provider_runware"
    assert result.cost == pytest.approx(0.0026) and len(result.media) == 2  # both images' costs
    with Image.open(io.BytesIO(result.data)) as img:
        assert img.size == (64, 48) and result.content_type == "image/png"


async def test_flux_pro_takes_only_its_own_fields(rw, emu):
    result = await rw.generate_image(KEY, _image(model=FLUX_PRO, output_format="jpeg"))
    task = emu.submits[0][1]
    assert task["model"] == FLUX_PRO and task["outputFormat"] == "JPG" and "steps" not in task
    assert result.model == FLUX_PRO
    await rw.generate_image(KEY, _image(seed=0))  # Runware seeds start at 1: 0 lets Runware pick
    assert "seed" not in emu.submits[1][1]
    await _fails(rw.generate_image(KEY, _image(model=FLUX_PRO, steps=20)), ErrorCode.VALIDATION_ERROR)


async def test_image_to_video_uploads_the_start_frame_and_returns_a_real_mp4(rw, emu):
    seen: list[tuple[str, int]] = []
    control = RunControl(on_submit=lambda rid: seen.append((rid, emu.hits.get("getResponse", 0))))
    result = await rw.generate_video(KEY, _video(), control)
    task = emu.submits[0][1]
    assert emu.hits["imageUpload"] == 1 and len(emu.submits) == 1  # the upload is no inference submit
    (frame,) = task["inputs"]["frameImages"]
    assert frame["frame"] == "first" and frame["image"] in emu.uploads  # the uploaded imageUUID
    assert (task["model"], task["deliveryMethod"], task["duration"]) == (HAILUO_02, "async", 6)
    assert seen == [(result.request_id, 0)]  # on_submit ran before the first getResponse
    assert result.cost == 0.28
    with av.open(io.BytesIO(result.data)) as container:
        assert next(container.decode(video=0)).width == 64


async def test_kling_video_takes_start_and_end_frames_from_files(rw, emu, tmp_path):
    start, end = tmp_path / "start.png", tmp_path / "end.png"
    start.write_bytes(make_png())
    end.write_bytes(make_png(32, 32))
    result = await rw.generate_video(KEY, _video(model=KLING_3_PRO, image=str(start), end_image=str(end)))
    frames = emu.submits[0][1]["inputs"]["frameImages"]
    assert [f["frame"] for f in frames] == ["first", "last"] and emu.hits["imageUpload"] == 2
    assert result.model == KLING_3_PRO and result.content_type == "video/mp4"


async def test_upscale_uploads_the_image_and_returns_the_larger_one(rw, emu):
    result = await rw.upscale(KEY, {"image": make_png(), "upscale_factor": 2})
    task_type, task = emu.submits[0]
    assert task_type == "imageUpscale" and task["upscaleFactor"] == 2 and task["inputImage"] in emu.uploads
    assert result.cost == 0.002
    with Image.open(io.BytesIO(result.data)) as img:
        assert img.size == (128, 96)


async def test_an_image_url_input_is_sent_as_is_without_an_upload(rw, emu):
    await rw.upscale(KEY, {"image_url": "https://example.com/face.png", "upscale_factor": 3})
    assert emu.submits[0][1]["inputImage"] == "https://example.com/face.png" and "imageUpload" not in emu.hits


async def test_runs_started_together_are_in_flight_together(rw, emu):
    emu.run_s = 0.3
    results = await asyncio.gather(*(rw.generate_image(KEY, _image()) for _ in range(4)))
    assert len({r.request_id for r in results}) == 4 and emu.peak_concurrency == 4


# restart safety ------------------------------------------------------------------------------------------
async def test_resume_polls_the_recorded_task_without_a_second_submit_or_upload(rw, emu):
    emu.run_s = 0.3
    recorded: list[str] = []
    with pytest.raises(AInfError):  # the first run dies while the task is still processing
        await rw.generate_video(KEY, _video(), RunControl(on_submit=recorded.append, deadline_s=0.05))
    assert len(emu.submits) == 1 and emu.hits["imageUpload"] == 1
    result = await rw.generate_video(KEY, _video(), RunControl(resume_request_id=recorded[0]))
    assert result.request_id == recorded[0] and result.data
    assert len(emu.submits) == 1 and emu.hits["imageUpload"] == 1  # nothing paid or uploaded twice


async def test_a_submit_whose_answer_was_lost_is_found_by_its_task_uuid_and_polled_not_sent_again(
    rw, emu, waits
):
    emu.fault = "lost_ack"  # accepted, answered 503 from Runware's application
    result = await rw.generate_image(KEY, _image())
    assert result.data and len(emu.submits) == 1 and emu.hits["imageInference"] == 1 and waits == []


async def test_a_resume_id_that_is_not_a_task_uuid_is_refused(rw, emu):
    await _fails(
        rw.generate_image(KEY, _image(), RunControl(resume_request_id="req-1")), ErrorCode.VALIDATION_ERROR
    )
    exc = await _fails(
        rw.generate_image(KEY, _image(), RunControl(resume_request_id=str(uuid.uuid4()))),
        ErrorCode.EXECUTION_FAILED,
    )
    assert exc.detail["provider_reason"]["code"] == "taskFailedOrNotFound"


# key, balance, health ------------------------------------------------------------------------------------
async def test_the_key_is_verified_with_get_details_and_reports_the_balance(rw, emu):
    assert (await rw.verify_identity(KEY))["message"] == "Connected to Runware; balance 12.50 USD."
    assert await rw.check_balance(KEY) == 12.5
    assert (await rw.health_check(KEY))["ok"] is True
    assert emu.hits["accountManagement"] == 3 and not emu.submits


async def test_health_without_a_key_only_checks_reachability(rw):
    health = await rw.health_check(None)
    assert health["ok"] is True and "API key" in health["message"]
    offline = RunwareAdapter("http://127.0.0.1:9", retry=RetryPolicy(max_attempts=1))
    assert (await offline.health_check(None))["ok"] is False


# the fault matrix ----------------------------------------------------------------------------------------
async def test_a_wrong_key_is_auth_failed_without_retries_and_without_the_key(rw, emu):
    exc = await _fails(rw.generate_image(CANARY_KEY, _image()), ErrorCode.AUTH_FAILED)
    assert exc.detail["status"] == 401 and exc.detail["provider_reason"]["code"] == "invalidApiKey"
    assert emu.hits["post"] == 1 and not emu.submits
    _no_key_in(exc, CANARY_KEY)
    await _fails(rw.verify_identity(CANARY_KEY), ErrorCode.AUTH_FAILED)
    emu.fault = "bad_key"
    assert (await rw.health_check(KEY))["error"] == "AUTH_FAILED"


async def test_no_credits_is_insufficient_funds_and_the_balance_reads_zero(rw, emu):
    emu.fault = "no_credits"
    exc = await _fails(rw.generate_video(KEY, _video()), ErrorCode.INSUFFICIENT_FUNDS)
    assert exc.detail["status"] == 402 and "top up" in exc.remediation[0].lower() and not emu.submits
    assert await rw.check_balance(KEY) == 0.0


async def test_a_moderated_task_is_safety_filter(rw, emu):
    emu.fault = "moderation"
    exc = await _fails(rw.generate_image(KEY, _image()), ErrorCode.SAFETY_FILTER)
    assert exc.detail["provider_reason"]["code"] == "contentPolicyViolation"


async def test_every_image_flagged_nsfw_is_safety_filter(rw, emu):
    emu.fault = "nsfw"
    await _fails(rw.generate_image(KEY, _image()), ErrorCode.SAFETY_FILTER)


async def test_a_failure_inside_http_200_is_execution_failed_with_runware_reason(rw, emu):
    emu.fault = "error_in_200"
    exc = await _fails(rw.generate_video(KEY, _video()), ErrorCode.EXECUTION_FAILED)
    assert exc.detail["status"] == 200 and exc.detail["provider_reason"]["code"] == "inferenceError"
    assert exc.detail["request_id"] == emu.submits[0][1]["taskUUID"]


async def test_a_provider_timeout_is_engine_timeout(rw, emu):
    emu.fault = "provider_timeout"
    await _fails(rw.generate_image(KEY, _image()), ErrorCode.ENGINE_TIMEOUT)


async def test_429_is_retried_honouring_retry_after_then_succeeds(rw, emu, waits):
    emu.rate_limit_n, emu.retry_after = 2, "2"
    assert (await rw.generate_image(KEY, _image())).data
    assert emu.hits["post"] >= 5 and len(emu.submits) == 1 and waits == [2.0, 2.0]


async def test_a_lasting_429_is_rate_limited_after_bounded_attempts(rw, emu, waits):
    emu.fault = "rate_limit"
    exc = await _fails(rw.generate_image(KEY, _image()), ErrorCode.RATE_LIMITED)
    assert emu.hits["post"] == MAX_ATTEMPTS and waits == [2.0] * (MAX_ATTEMPTS - 1) and not emu.submits
    assert exc.detail["provider_reason"]["code"] == "rateLimitExceeded"


async def test_a_5xx_burst_is_looked_up_by_task_uuid_then_sent_again_under_the_same_uuid(rw, emu, waits):
    emu.burst_5xx_n = 2  # the submit and the first getResponse fail; Runware then says it has no such task
    assert (await rw.generate_image(KEY, _image())).data
    assert waits == [0.01, 0.01] and len(emu.submits) == 1
    assert len({task["taskUUID"] for _kind, task in emu.submits}) == 1


async def test_lasting_5xx_after_a_submit_is_unconfirmed_since_the_task_cannot_be_looked_up(rw, emu):
    emu.burst_5xx_n = 100
    exc = await _fails(rw.generate_image(KEY, _image()), ErrorCode.ENGINE_OFFLINE)
    assert emu.hits["post"] == 1 + MAX_ATTEMPTS  # one submit, then one getResponse with its retries
    assert exc.detail["submit"] == "unconfirmed" and exc.detail["hold"] == "kept"
    assert "may have been submitted" in exc.message


async def test_malformed_json_is_contract_mismatch(rw, emu):
    emu.fault = "malformed_json"
    exc = await _fails(rw.generate_image(KEY, _image()), ErrorCode.CONTRACT_MISMATCH)
    assert exc.detail["step"] == "status"


async def test_a_finished_task_without_its_url_is_contract_mismatch(rw, emu):
    emu.fault = "missing_fields"
    exc = await _fails(rw.generate_video(KEY, _video()), ErrorCode.CONTRACT_MISMATCH)
    assert "`videoURL`" in exc.message


async def test_a_truncated_download_is_refused(rw, emu):
    emu.fault = "truncated"
    exc = await _fails(rw.generate_image(KEY, _image()), ErrorCode.DOWNLOAD_FAILED)
    assert "broke off" in exc.message


async def test_a_hung_poll_hits_the_deadline_and_says_it_may_still_bill(rw, emu):
    emu.fault = "hang"
    started = time.monotonic()
    exc = await _fails(rw.generate_video(KEY, _video(), RunControl(deadline_s=0.3)), ErrorCode.ENGINE_TIMEOUT)
    assert time.monotonic() - started < 2.0 and exc.detail["deadline_s"] == 0.3


async def test_a_task_that_never_finishes_hits_the_deadline(rw, emu):
    emu.fault = "never_complete"
    exc = await _fails(rw.generate_image(KEY, _image(), RunControl(deadline_s=1.0)), ErrorCode.ENGINE_TIMEOUT)
    assert exc.detail["polls"] >= 2  # it kept polling until the deadline (how often depends on the load)


async def test_interrupt_stops_polling_and_says_runware_may_still_bill(rw, emu):
    emu.run_s = 30.0
    exc = await _fails(
        rw.generate_video(
            KEY, _video(), RunControl(should_cancel=lambda: emu.hits.get("getResponse", 0) >= 3)
        ),
        ErrorCode.JOB_INTERRUPTED,
    )
    assert exc.detail["remote_cancelled"] is False and "may still bill" in exc.message
    assert exc.detail["request_id"] == emu.submits[0][1]["taskUUID"]


@pytest.mark.parametrize(
    ("code", "status", "step", "expected"),
    [
        ("invalidApiKey", 401, "submit", ErrorCode.AUTH_FAILED),
        ("insufficientCredits", 402, "submit", ErrorCode.INSUFFICIENT_FUNDS),
        (
            "someNewCode",
            402,
            "submit",
            ErrorCode.INSUFFICIENT_FUNDS,
        ),  # the status decides when the code is new
        ("nsfwContentDetected", 200, "status", ErrorCode.SAFETY_FILTER),
        ("providerContentPolicyViolation", 400, "submit", ErrorCode.SAFETY_FILTER),
        ("providerRateLimitExceeded", 200, "status", ErrorCode.RATE_LIMITED),
        ("timeoutProvider", 200, "status", ErrorCode.ENGINE_TIMEOUT),
        ("providerUnavailable", 200, "status", ErrorCode.ENGINE_OFFLINE),
        ("invalidWidth", 400, "submit", ErrorCode.VALIDATION_ERROR),
        ("taskFailedOrNotFound", 400, "status", ErrorCode.EXECUTION_FAILED),
        ("inferenceError", 400, "status", ErrorCode.EXECUTION_FAILED),  # a failed task, not a bad poll
    ],
)
def test_runware_error_codes_map_to_the_taxonomy(code, status, step, expected):
    exc = RunwareAdapter("http://127.0.0.1:9")._error_for({"code": code, "message": "m"}, status, step, None)
    assert exc.code == expected and exc.detail["provider_reason"]["code"] == code


async def test_invalid_inputs_are_refused_before_anything_is_submitted(rw, emu):
    for request in (
        {"prompt": "  "},
        _image(width=1000),  # not a multiple of 64
        _image(height=4096),
        _image(num_images=0),
        _image(output_format="gif"),
    ):
        await _fails(rw.generate_image(KEY, request), ErrorCode.VALIDATION_ERROR)
    await _fails(rw.generate_video(KEY, {"prompt": "x"}), ErrorCode.VALIDATION_ERROR)
    await _fails(rw.generate_video(KEY, _video(duration=5)), ErrorCode.VALIDATION_ERROR)
    await _fails(rw.upscale(KEY, {"image": make_png(), "upscale_factor": 8}), ErrorCode.VALIDATION_ERROR)
    await _fails(rw.generate_image(KEY, _image(model="civitai:1@1")), ErrorCode.NOT_SUPPORTED)
    assert "post" not in emu.hits


async def test_the_emulator_refuses_what_runware_refuses(emu):
    import httpx

    auth = {"Authorization": f"Bearer {KEY}"}
    good = {"taskType": "imageInference", "model": FLUX_SCHNELL, "positivePrompt": "a cat", "width": 512,
            "height": 512}  # fmt: skip
    cases = [
        ({**good, "taskUUID": str(uuid.uuid4())}, None, "missingApiKey"),
        ({**good, "taskUUID": "not-a-uuid"}, auth, "invalidTaskUUID"),
        ({**good, "taskUUID": str(uuid.uuid1())}, auth, "invalidTaskUUID"),
        ({**good, "taskUUID": str(uuid.uuid4()), "width": 500}, auth, "invalidWidth"),
        ({**good, "taskUUID": str(uuid.uuid4()), "bogus": 1}, auth, "unknownParameter"),
    ]
    async with httpx.AsyncClient() as client:
        for task, headers, code in cases:
            response = await client.post(f"{emu.base_url}/v1", json=[task], headers=headers)
            assert response.json()["errors"][0]["code"] == code
        response = await client.post(f"{emu.base_url}/v1", json={**good}, headers=auth)
        assert response.status_code == 400  # the body must be an array
    assert not emu.submits


async def test_no_key_means_add_your_key_in_setup(rw):
    exc = await _fails(rw.generate_image("", _image()), ErrorCode.ENGINE_OFFLINE)
    assert "Add your Runware API key in Setup" in exc.message


# keys never leak ------------------------------------------------------------------------------------------
async def test_the_canary_key_never_appears_in_errors_results_or_logs(emu, caplog):
    caplog.set_level(logging.DEBUG)
    emu.key = CANARY_KEY
    rw = RunwareAdapter(
        emu.base_url,
        poll_interval_s=0.01,
        retry=RetryPolicy(max_attempts=2, base_delay_s=0.0, max_delay_s=0.01),
    )
    result = await rw.generate_image(CANARY_KEY, _image())
    assert CANARY_KEY not in repr(replace(result, data=b"", media=()))
    errors: list[AInfError] = []
    for fault in ("no_credits", "moderation", "malformed_json", "missing_fields", "truncated", "error_in_200",
                  "rate_limit"):  # fmt: skip
        emu.fault = fault
        with pytest.raises(AInfError) as caught:
            await rw.generate_image(CANARY_KEY, _image())
        errors.append(caught.value)
    emu.fault, emu.key = None, KEY  # now the canary is a refused key, and the emulator echoes it back
    with pytest.raises(AInfError) as caught:
        await rw.generate_image(CANARY_KEY, _image())
    errors.append(caught.value)
    assert [e.code for e in errors] == [
        ErrorCode.INSUFFICIENT_FUNDS, ErrorCode.SAFETY_FILTER, ErrorCode.CONTRACT_MISMATCH,
        ErrorCode.CONTRACT_MISMATCH, ErrorCode.DOWNLOAD_FAILED, ErrorCode.EXECUTION_FAILED,
        ErrorCode.RATE_LIMITED, ErrorCode.AUTH_FAILED,
    ]  # fmt: skip
    for exc in errors:
        _no_key_in(exc, CANARY_KEY)
    assert caplog.records
    logged = "\n".join(record.getMessage() for record in caplog.records)
    assert CANARY_KEY not in logged


def test_one_base_url_override_serves_runware_and_v1_is_added_once(monkeypatch):
    monkeypatch.delenv("AINFLUENCER_PROVIDER_RUNWARE_BASE_URL", raising=False)
    assert RunwareAdapter().api_url == "https://api.runware.ai/v1"
    monkeypatch.setenv("AINFLUENCER_PROVIDER_RUNWARE_BASE_URL", "http://127.0.0.1:8765/")
    rw = RunwareAdapter()
    assert rw.engine_id == "provider_runware" and rw.api_url == "http://127.0.0.1:8765/v1"
    assert RunwareAdapter("http://127.0.0.1:8765/v1").api_url == "http://127.0.0.1:8765/v1"


async def test_the_emulator_also_serves_from_a_background_thread_with_its_own_loop():
    import threading

    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    emulator = RunwareEmulator(key=KEY)
    try:
        base = asyncio.run_coroutine_threadsafe(emulator.start(), loop).result(5)
        rw = RunwareAdapter(base, poll_interval_s=0.01, cancel_check_s=0.01)
        assert (await rw.generate_image(KEY, _image())).data and len(emulator.submits) == 1
    finally:
        asyncio.run_coroutine_threadsafe(emulator.stop(), loop).result(5)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(5)
        loop.close()
