"""Sync Labs adapter against the strict emulator: real lip-synced MP4 out, faults mapped, bounded, keyless."""

from __future__ import annotations

import io
import json
import logging
import time
from collections.abc import AsyncIterator
from typing import Any

import av
import pytest
from ainfluencer.sidecar.core.errors import AInfError, ErrorCode
from ainfluencer.sidecar.remote.adapters.control import RunControl
from ainfluencer.sidecar.remote.adapters.http_policy import RetryPolicy
from ainfluencer.sidecar.remote.adapters.synclabs import (
    LIPSYNC_2,
    LIPSYNC_2_PRO,
    NO_BALANCE_MESSAGE,
    SyncLabsAdapter,
)
from emulators.fast import fast_settings
from emulators.media import make_mp4, make_wav
from emulators.synclabs import SyncLabsEmulator

KEY = "sk-sync-live-5e2b0c17a9d4"
CANARY_KEY = "sk-sync-canary-3c1f0d9e4b2a"
MAX_ATTEMPTS = 3
VIDEO_URL = "https://cdn.example.com/face.mp4"
AUDIO_URL = "https://cdn.example.com/voice.wav"


@pytest.fixture
async def emu() -> AsyncIterator[SyncLabsEmulator]:
    """The emulator on a free loopback port, accepting KEY."""
    emulator = SyncLabsEmulator(key=KEY)
    await emulator.start()
    yield emulator
    await emulator.stop()


@pytest.fixture
def waits() -> list[float]:
    """The backoff delays the adapter asked for (recorded, not slept, so the tests stay fast)."""
    return []


@pytest.fixture
def sync(emu: SyncLabsEmulator, waits: list[float]) -> SyncLabsAdapter:
    """The adapter pointed at the emulator with short polls and a recording retry sleep."""
    return SyncLabsAdapter(emu.base_url, **fast_settings(waits, MAX_ATTEMPTS))


def _urls(**extra: Any) -> dict[str, Any]:
    return {"video_url": VIDEO_URL, "audio_url": AUDIO_URL, **extra}


async def _fails(call: Any, code: ErrorCode) -> AInfError:
    with pytest.raises(AInfError) as caught:
        await call
    assert caught.value.code == code, caught.value.to_dict()
    return caught.value


def _no_key_in(exc: AInfError, key: str) -> None:
    text = " ".join([str(exc), exc.message, repr(exc.to_dict()), repr(exc.detail)])
    assert key not in text


def _streams(data: bytes) -> list[str]:
    with av.open(io.BytesIO(data)) as container:
        assert next(container.decode(video=0)).width == 64
        return sorted(s.type for s in container.streams)


# happy paths ---------------------------------------------------------------------------------------------
async def test_lipsync_from_public_urls_returns_a_real_mp4_with_request_id_and_recorded_cost(sync, emu):
    seen: list[str] = []
    result = await sync.apply_lipsync(KEY, _urls(sync_mode="loop"), RunControl(on_submit=seen.append))
    assert emu.submits == [{
        "model": LIPSYNC_2,
        "input": [{"type": "video", "url": VIDEO_URL}, {"type": "audio", "url": AUDIO_URL}],
        "options": {"sync_mode": "loop"}, "files": {},
    }]  # fmt: skip
    assert emu.hits["get"] >= 2  # PENDING/PROCESSING were seen before COMPLETED
    assert (result.engine, result.model, result.content_type) == (
        "provider_synclabs",
        LIPSYNC_2,
        "video/mp4",
    )
    assert seen == [result.request_id] and result.request_id.startswith("gen-")
    assert result.cost == pytest.approx(0.2) and result.duration_s == 4.0
    assert _streams(result.data) == ["audio", "video"]
    assert "?" in result.media[0].source.url  # Sync's tokenised result link, fetched without the key


async def test_local_bytes_and_files_go_as_one_multipart_generate(sync, emu, tmp_path):
    audio = tmp_path / "voice.wav"
    audio.write_bytes(make_wav())
    request = {"video": make_mp4(), "audio": str(audio), "model": LIPSYNC_2_PRO, "temperature": 0.3}
    result = await sync.apply_lipsync(KEY, request)
    (submit,) = emu.submits
    assert submit["model"] == LIPSYNC_2_PRO and "input" not in submit
    assert submit["options"] == {"sync_mode": "cut_off", "temperature": 0.3}
    assert submit["files"] == {
        "video": ("video/mp4", len(make_mp4())),
        "audio": ("audio/x-wav", len(make_wav())),
    }
    assert result.model == LIPSYNC_2_PRO and result.data


async def test_a_url_and_a_local_file_combine_in_one_multipart_request(sync, emu):
    await sync.apply_lipsync(KEY, {"video_url": VIDEO_URL, "audio": make_wav()})
    (submit,) = emu.submits
    assert submit["input"] == [{"type": "video", "url": VIDEO_URL}]
    assert list(submit["files"]) == ["audio"]


async def test_a_file_above_the_direct_upload_limit_is_hosted_through_the_upload_callable(emu):
    hosted: list[tuple[int, str]] = []

    async def upload(data: bytes, content_type: str) -> str:
        hosted.append((len(data), content_type))
        return f"https://storage.example.com/{len(hosted)}"

    small = SyncLabsAdapter(emu.base_url, poll_interval_s=0.01, max_direct_upload_bytes=100)
    await small.apply_lipsync(KEY, {"video": make_mp4(), "audio_url": AUDIO_URL, "upload": upload})
    assert hosted == [(len(make_mp4()), "video/mp4")]
    assert emu.submits[0]["input"][0] == {"type": "video", "url": "https://storage.example.com/1"}
    assert emu.submits[0]["files"] == {}


async def test_a_too_large_local_file_without_upload_asks_for_a_public_url(emu):
    small = SyncLabsAdapter(emu.base_url, max_direct_upload_bytes=100)
    exc = await _fails(
        small.apply_lipsync(KEY, {"video": make_mp4(), "audio_url": AUDIO_URL}), ErrorCode.VALIDATION_ERROR
    )
    assert any("public https link" in step for step in exc.remediation) and "generate" not in emu.hits


async def test_resume_polls_the_recorded_generation_without_a_second_submit(sync, emu):
    first = await sync.apply_lipsync(KEY, _urls())
    seen: list[str] = []
    again = await sync.apply_lipsync(
        KEY, {}, RunControl(resume_request_id=first.request_id, on_submit=seen.append)
    )
    assert len(emu.submits) == 1 and emu.hits["generate"] == 1 and seen == []
    assert again.request_id == first.request_id and again.data == first.data


async def test_resume_skips_local_inputs_entirely(sync, emu):
    first = await sync.apply_lipsync(KEY, _urls())

    async def upload(data: bytes, content_type: str) -> str:
        raise AssertionError("a resumed request must not upload its inputs again")

    request = {"video": "/no/such/file.mp4", "upload": upload}
    control = RunControl(resume_request_id=first.request_id)
    assert (await sync.apply_lipsync(KEY, request, control)).request_id == first.request_id
    assert len(emu.submits) == 1


async def test_on_submit_is_called_before_the_first_poll(sync, emu):
    polls_at_submit: list[int] = []
    await sync.apply_lipsync(
        KEY, _urls(), RunControl(on_submit=lambda rid: polls_at_submit.append(emu.hits.get("get", 0)))
    )
    assert polls_at_submit == [0]


async def test_status_texts_follow_sync_statuses(sync, emu):
    texts: list[str] = []
    await sync.apply_lipsync(KEY, _urls(), RunControl(on_status=texts.append))
    assert "Sync Labs: pending" in texts and "Sync Labs: processing" in texts


async def test_runs_started_together_are_in_flight_at_sync_together(sync, emu):
    import asyncio

    emu.run_s = 0.3
    results = await asyncio.gather(*(sync.apply_lipsync(KEY, _urls()) for _ in range(4)))
    assert len(results) == 4 and emu.peak_concurrency == 4 and len(emu.submits) == 4


async def test_every_submit_carries_a_fresh_idempotency_key_or_the_given_one(sync, emu):
    await sync.apply_lipsync(KEY, _urls())
    await sync.apply_lipsync(KEY, _urls(idempotency_key="job-42.step-3"))
    assert len(set(emu.idempotency_keys)) == 2 and emu.idempotency_keys[1] == "job-42.step-3"


async def test_output_file_name_is_sent_for_url_inputs(sync, emu):
    await sync.apply_lipsync(KEY, _urls(output_file_name="clip_01"))
    assert emu.submits[0]["outputFileName"] == "clip_01"


# key, balance, health, estimate ----------------------------------------------------------------------------
async def test_verify_identity_uses_an_authenticated_read_and_says_there_is_no_balance(sync, emu):
    assert (await sync.verify_identity(KEY))["message"] == f"Connected to Sync Labs; {NO_BALANCE_MESSAGE}."
    assert emu.hits["models"] == 1 and "generate" not in emu.hits
    assert await sync.check_balance(KEY) is None
    assert (await sync.health_check(KEY))["ok"] is True


async def test_verify_identity_falls_back_to_the_generations_list(sync, emu):
    emu.fault = "no_models_endpoint"
    assert "Connected to Sync Labs" in (await sync.verify_identity(KEY))["message"]
    assert emu.hits["list"] == 1


async def test_health_without_a_key_only_checks_reachability(sync, emu):
    health = await sync.health_check(None)
    assert health["ok"] is True and "API key" in health["message"] and emu.hits["errors"] == 1
    offline = SyncLabsAdapter("http://127.0.0.1:9", retry=RetryPolicy(max_attempts=1))
    assert (await offline.health_check(None))["ok"] is False


async def test_estimate_cost_returns_sync_usd_estimate(sync, emu):
    assert await sync.estimate_cost(KEY, _urls(model=LIPSYNC_2_PRO)) == pytest.approx(0.2)
    assert emu.hits["estimate"] == 1 and "generate" not in emu.hits


async def test_estimate_cost_falls_back_to_the_documented_estimate_path(sync, emu):
    emu.fault = "legacy_estimate_path"
    assert await sync.estimate_cost(KEY, _urls()) == pytest.approx(0.2)
    assert emu.hits["estimate_legacy"] == 1


async def test_estimate_cost_for_local_files_is_none_without_a_call(sync, emu):
    assert await sync.estimate_cost(KEY, {"video": make_mp4(), "audio_url": AUDIO_URL}) is None
    assert not emu.hits


async def test_a_cost_not_yet_recorded_is_none_not_a_guess(sync, emu):
    emu.fault = "cost_pending"
    result = await sync.apply_lipsync(KEY, _urls())
    assert result.cost is None and result.data


# the fault matrix ----------------------------------------------------------------------------------------
async def test_a_wrong_key_is_auth_failed_without_retries_and_without_the_key(sync, emu):
    exc = await _fails(sync.apply_lipsync(CANARY_KEY, _urls()), ErrorCode.AUTH_FAILED)
    assert exc.detail["status"] == 401 and "Invalid API key" in exc.detail["provider_reason"]["message"]
    assert emu.hits["generate"] == 1 and not emu.submits
    _no_key_in(exc, CANARY_KEY)
    await _fails(sync.verify_identity(CANARY_KEY), ErrorCode.AUTH_FAILED)
    assert (await sync.health_check(CANARY_KEY))["error"] == "AUTH_FAILED"


async def test_a_revoked_key_fails_verification(sync, emu):
    emu.fault = "bad_key"
    exc = await _fails(sync.verify_identity(KEY), ErrorCode.AUTH_FAILED)
    assert "sync.so/settings/api-keys" in exc.remediation[0]


async def test_payment_required_is_insufficient_funds_with_sync_reason(sync, emu):
    emu.fault = "payment_required"
    exc = await _fails(sync.apply_lipsync(KEY, _urls()), ErrorCode.INSUFFICIENT_FUNDS)
    assert exc.detail["status"] == 402 and exc.detail["provider_reason"]["errorCode"] == "payment_required"
    assert emu.hits["generate"] == 1 and not emu.submits


async def test_rejected_by_moderation_is_safety_filter(sync, emu):
    emu.fault = "rejected"
    exc = await _fails(sync.apply_lipsync(KEY, _urls()), ErrorCode.SAFETY_FILTER)
    assert exc.detail["provider_reason"]["errorCode"] == "generation_moderated"
    assert "result" not in emu.hits


async def test_failed_is_execution_failed_with_sync_error_and_code(sync, emu):
    emu.fault = "failed"
    exc = await _fails(sync.apply_lipsync(KEY, _urls()), ErrorCode.EXECUTION_FAILED)
    assert "No face was detected" in exc.message
    assert exc.detail["provider_reason"] == {
        "error": "No face was detected in the input video.",
        "errorCode": "generation_face_not_found",
    }


async def test_cancelled_at_sync_is_execution_failed(sync, emu):
    emu.fault = "canceled"
    exc = await _fails(sync.apply_lipsync(KEY, _urls()), ErrorCode.EXECUTION_FAILED)
    assert exc.detail["status"] == "CANCELED"


async def test_429_is_retried_honouring_retry_after_then_succeeds(sync, emu, waits):
    emu.rate_limit_n, emu.retry_after = 2, "2"
    result = await sync.apply_lipsync(KEY, _urls())
    assert result.data and emu.hits["generate"] == 3 and len(emu.submits) == 1
    assert waits == [2.0, 2.0]


async def test_a_lasting_429_is_rate_limited_after_bounded_attempts(sync, emu, waits):
    emu.fault = "rate_limit"
    exc = await _fails(sync.apply_lipsync(KEY, _urls()), ErrorCode.RATE_LIMITED)
    assert emu.hits["generate"] == MAX_ATTEMPTS and waits == [2.0] * (MAX_ATTEMPTS - 1)
    assert "Concurrency limit" in exc.detail["provider_reason"]["message"]


async def test_a_5xx_burst_is_retried_with_exponential_backoff(sync, emu, waits):
    emu.burst_5xx_n = 2
    assert (await sync.apply_lipsync(KEY, _urls())).data
    assert emu.hits["generate"] == 3 and waits == [0.01, 0.02] and len(emu.submits) == 1


async def test_lasting_5xx_is_engine_offline_after_bounded_attempts(sync, emu):
    emu.burst_5xx_n = 100
    exc = await _fails(sync.apply_lipsync(KEY, _urls()), ErrorCode.ENGINE_OFFLINE)
    assert emu.hits["generate"] == MAX_ATTEMPTS and exc.detail["status"] == 503


async def test_a_lost_submit_answer_is_retried_with_the_same_key_and_not_paid_twice(sync, emu):
    emu.fault = "lost_response"
    result = await sync.apply_lipsync(KEY, _urls())
    assert emu.hits["generate"] == 2 and len(emu.submits) == 1
    assert result.request_id == next(iter(emu.generations))


async def test_an_unknown_outcome_polls_the_generation_sync_named(sync, emu):
    emu.fault = "outcome_unknown"
    seen: list[str] = []
    result = await sync.apply_lipsync(KEY, _urls(), RunControl(on_submit=seen.append))
    assert emu.hits["generate"] == MAX_ATTEMPTS and len(emu.submits) == 1
    assert seen == [result.request_id] == list(emu.generations)


async def test_malformed_json_is_contract_mismatch(sync, emu):
    emu.fault = "malformed_json"
    exc = await _fails(sync.apply_lipsync(KEY, _urls()), ErrorCode.CONTRACT_MISMATCH)
    assert exc.detail["step"] == "status"


async def test_completed_without_an_output_url_is_contract_mismatch(sync, emu):
    emu.fault = "missing_output"
    exc = await _fails(sync.apply_lipsync(KEY, _urls()), ErrorCode.CONTRACT_MISMATCH)
    assert "`outputUrl`" in exc.message


async def test_a_truncated_download_is_refused(sync, emu):
    emu.fault = "truncated"
    exc = await _fails(sync.apply_lipsync(KEY, _urls()), ErrorCode.DOWNLOAD_FAILED)
    assert "broke off" in exc.message


async def test_an_oversized_result_is_refused(emu):
    small = SyncLabsAdapter(emu.base_url, poll_interval_s=0.01, max_download_bytes=100)
    await _fails(small.apply_lipsync(KEY, _urls()), ErrorCode.PAYLOAD_TOO_LARGE)


async def test_a_hung_status_call_hits_the_deadline_and_says_sync_may_still_bill(sync, emu):
    emu.fault = "hang"
    started = time.monotonic()
    exc = await _fails(sync.apply_lipsync(KEY, _urls(), RunControl(deadline_s=0.3)), ErrorCode.ENGINE_TIMEOUT)
    assert time.monotonic() - started < 2.0 and exc.detail["deadline_s"] == 0.3


async def test_a_generation_that_never_finishes_hits_the_deadline(sync, emu):
    emu.fault = "never_complete"
    exc = await _fails(sync.apply_lipsync(KEY, _urls(), RunControl(deadline_s=1.0)), ErrorCode.ENGINE_TIMEOUT)
    assert exc.detail["polls"] >= 2  # it kept polling until the deadline (how often depends on the load)


async def test_interrupt_stops_polling_and_reports_sync_may_still_bill(sync, emu):
    emu.run_s = 30.0
    exc = await _fails(
        sync.apply_lipsync(KEY, _urls(), RunControl(should_cancel=lambda: emu.hits.get("get", 0) >= 3)),
        ErrorCode.JOB_INTERRUPTED,
    )
    assert exc.detail["remote_cancelled"] is False and "may still bill it" in exc.message
    assert exc.detail["request_id"] in emu.generations and "result" not in emu.hits


async def test_an_unknown_resumed_generation_is_execution_failed(sync, emu):
    exc = await _fails(
        sync.apply_lipsync(KEY, {}, RunControl(resume_request_id="gen-missing")), ErrorCode.EXECUTION_FAILED
    )
    assert exc.detail["status"] == 404


async def test_invalid_inputs_are_refused_before_anything_is_submitted(sync, emu, tmp_path):
    await _fails(sync.apply_lipsync(KEY, {"video_url": VIDEO_URL}), ErrorCode.VALIDATION_ERROR)
    await _fails(sync.apply_lipsync(KEY, _urls(sync_mode="stretch")), ErrorCode.VALIDATION_ERROR)
    await _fails(sync.apply_lipsync(KEY, _urls(temperature=3)), ErrorCode.VALIDATION_ERROR)
    await _fails(sync.apply_lipsync(KEY, _urls(output_file_name="a/b.mp4")), ErrorCode.VALIDATION_ERROR)
    await _fails(sync.apply_lipsync(KEY, _urls(idempotency_key="has space")), ErrorCode.VALIDATION_ERROR)
    await _fails(sync.apply_lipsync(KEY, _urls(model="wav2lip")), ErrorCode.NOT_SUPPORTED)
    missing = str(tmp_path / "none.mp4")
    await _fails(
        sync.apply_lipsync(KEY, {"video": missing, "audio_url": AUDIO_URL}), ErrorCode.FILE_NOT_FOUND
    )
    assert "generate" not in emu.hits


async def test_the_emulator_refuses_what_sync_refuses(emu):
    import httpx

    async with httpx.AsyncClient() as client:
        url, headers = f"{emu.base_url}/v2/generate", {"x-api-key": KEY}
        bad_mode = {"model": LIPSYNC_2, "input": [{"type": "video", "url": VIDEO_URL},
                    {"type": "audio", "url": AUDIO_URL}], "options": {"sync_mode": "stretch"}}  # fmt: skip
        two_videos = {"model": LIPSYNC_2, "input": [{"type": "video", "url": VIDEO_URL}] * 2}
        local_path = {"model": LIPSYNC_2, "input": [{"type": "video", "url": "/tmp/a.mp4"},
                      {"type": "audio", "url": AUDIO_URL}]}  # fmt: skip
        for body in (bad_mode, two_videos, local_path, {**bad_mode, "model": "wav2lip"}):
            response = await client.post(url, json=body, headers=headers)
            assert response.status_code == 400 and response.json()["statusCode"] == 400
        keyed = {**headers, "Idempotency-Key": "k1"}
        ok = {**bad_mode, "options": {}}
        assert (await client.post(url, json=ok, headers=keyed)).status_code == 201
        assert (
            await client.post(url, json={**ok, "options": {"sync_mode": "loop"}}, headers=keyed)
        ).status_code == 409
        form = {"model": LIPSYNC_2, "input": json.dumps([{"type": "audio", "url": AUDIO_URL}])}
        wrong_type = {"video": ("a.mp4", b"not a video", "text/plain")}
        assert (await client.post(url, data=form, files=wrong_type, headers=headers)).status_code == 400
    assert len(emu.submits) == 1


async def test_no_key_means_add_your_key_in_setup(sync):
    exc = await _fails(sync.apply_lipsync("", _urls()), ErrorCode.ENGINE_OFFLINE)
    assert "Add your Sync Labs API key in Setup" in exc.message


# keys never leak ------------------------------------------------------------------------------------------
async def test_the_canary_key_never_appears_in_errors_or_logs(emu, caplog):
    caplog.set_level(logging.DEBUG)
    emu.key = CANARY_KEY
    sync = SyncLabsAdapter(
        emu.base_url,
        poll_interval_s=0.01,
        retry=RetryPolicy(max_attempts=2, base_delay_s=0.0, max_delay_s=0.01),
    )
    errors: list[AInfError] = []
    for fault in (
        "payment_required",
        "rejected",
        "failed",
        "malformed_json",
        "truncated",
        "rate_limit",
        "bad_key",
    ):
        emu.fault = fault
        with pytest.raises(AInfError) as caught:
            await sync.apply_lipsync(CANARY_KEY, _urls())
        errors.append(caught.value)
    emu.fault, emu.key = (
        None,
        KEY,
    )  # now the canary is a refused key, and the emulator echoes what it was sent
    with pytest.raises(AInfError) as caught:
        await sync.apply_lipsync(CANARY_KEY, _urls())
    errors.append(caught.value)
    assert [e.code for e in errors] == [
        ErrorCode.INSUFFICIENT_FUNDS, ErrorCode.SAFETY_FILTER, ErrorCode.EXECUTION_FAILED,
        ErrorCode.CONTRACT_MISMATCH, ErrorCode.DOWNLOAD_FAILED, ErrorCode.RATE_LIMITED, ErrorCode.AUTH_FAILED,
        ErrorCode.AUTH_FAILED,
    ]  # fmt: skip
    for exc in errors:
        _no_key_in(exc, CANARY_KEY)
    assert caplog.records  # the adapter did log (submits, retries)
    assert CANARY_KEY not in "\n".join(record.getMessage() for record in caplog.records)


def test_one_base_url_override_serves_every_sync_endpoint(monkeypatch):
    monkeypatch.delenv("AINFLUENCER_PROVIDER_SYNCLABS_BASE_URL", raising=False)
    assert SyncLabsAdapter().base_url == "https://api.sync.so"
    monkeypatch.setenv("AINFLUENCER_PROVIDER_SYNCLABS_BASE_URL", "http://127.0.0.1:8765/")
    adapter = SyncLabsAdapter()
    assert adapter.engine_id == "provider_synclabs" and adapter.base_url == "http://127.0.0.1:8765"
