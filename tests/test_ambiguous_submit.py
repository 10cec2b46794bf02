"""A remote job is submitted at most once and charged at most once, whatever fails while it is submitted.

Against each provider's emulator: a submit that created its job and then answered 500 (or lost its
connection) leaves exactly one job at the provider and at most one charge in the ledger; Kling, Runware
and Sync find the job again (by our `external_task_id`, `taskUUID`, `Idempotency-Key`) and finish it;
fal, which offers no way to find it, fails as "may have been submitted" and keeps the credits held until
the user releases them. A refused connection and a 429 prove nothing was created: they are retried, and
still one job is made. A job ComfyUI does not accept gives its held credits back at once.
"""

from __future__ import annotations

import shutil
from typing import Any

import httpx
import pytest
from ainfluencer.sidecar.core.errors import AInfError, ErrorCode
from ainfluencer.sidecar.remote.adapters.http_policy import SUBMIT_RULES, SubmitUnconfirmed, make_client
from ainfluencer.sidecar.remote.engines import CAPABILITIES
from conftest import EXAMPLES, PAID_PRESET
from emulators.fast import fast_settings
from test_remote_steps import BUDGET, MAX_ATTEMPTS, NODE, PROVIDERS, STEP
from test_remote_steps import stage_for as remote_stage  # noqa: F401  (a fixture, found by pytest)

V1 = "/ainfluencer/v1"
FINDS_THE_JOB = ("kling", "runware", "synclabs")
AFTER_CREATE = ("500", "drop")


@pytest.fixture
def stage_for(remote_stage: Any) -> Any:  # noqa: F811  (the imported fixture, by its name)
    """`await stage_for("fal", …)`: the remote-steps stage (emulators, adapters, ledger, one job)."""
    return remote_stage


def _kinds(stage: Any) -> list[str]:
    return [kind for kind, _step, _credits in stage.transfers()]


async def _run_step(stage: Any, provider: str) -> Any:
    spec = PROVIDERS[provider]
    return await stage.remote.run(stage.job_id, STEP, spec.engine, spec.capability, spec.request())


# a job created, then a 500 or a dropped connection ----------------------------------------------------------
@pytest.mark.parametrize("mode", AFTER_CREATE)
@pytest.mark.parametrize("provider", FINDS_THE_JOB)
async def test_a_failure_after_the_job_was_created_finds_that_job_and_charges_it_once(
    stage_for, provider, mode
):
    stage = await stage_for(provider)
    emu = stage.emulators[provider]
    emu.after_create = mode

    result = await _run_step(stage, provider)

    assert result.data
    assert emu.jobs_created == 1  # found again, never sent as a second job
    assert _kinds(stage) == ["pending", "post"]  # one charge
    record = stage.remote.record(stage.job_id, STEP)
    assert record is not None and record["status"] == "completed"
    assert record["request_id"] == result.request_id
    assert stage.ledger.unresolved(stage.job_id) == []


@pytest.mark.parametrize("mode", AFTER_CREATE)
async def test_a_fal_submit_in_doubt_fails_as_may_have_been_submitted_and_keeps_the_credits_held(
    stage_for, mode
):
    stage = await stage_for("fal")
    emu = stage.emulators["fal"]
    emu.after_create = mode
    price = stage.remote.cost_of("provider_fal", "image", "standard")

    with pytest.raises(SubmitUnconfirmed) as caught:
        await _run_step(stage, "fal")

    error = caught.value
    assert error.code == ErrorCode.ENGINE_OFFLINE
    assert "may have been submitted" in error.message and "dashboard" in error.message
    assert error.remediation and error.detail["hold"] == "kept"
    assert emu.jobs_created == 1 and emu.hits["submit"] == 1  # never sent again
    # the hold stays pending, marked in doubt on its ledger line: never voided, never posted
    assert _kinds(stage) == ["pending"]
    line = stage.ledger.transfers()["transfers"][0]
    assert line["kind"] == "pending" and line["reason"].startswith("submit in doubt: ")
    assert stage.ledger.in_doubt(stage.job_id) == [(stage.job_id, STEP)]
    assert stage.balance() == (pytest.approx(BUDGET - price), pytest.approx(price))
    # the job's record says so: the step's error and a log line with the credits held
    assert stage.remote.record(stage.job_id, STEP)["status"] == "in_doubt"
    found = stage.remote.step_error(stage.job_id, NODE)
    assert found is not None and "may have been submitted" in found.message
    logged = [line for line in stage.sidecar.store.read_logs(stage.job_id) if "in doubt" in line["message"]]
    assert logged and logged[0]["credits_held"] == pytest.approx(price)


async def test_a_hold_in_doubt_outlives_the_failed_job_and_a_restart_until_the_user_releases_it(stage_for):
    stage = await stage_for("fal")
    stage.emulators["fal"].after_create = "500"
    with pytest.raises(SubmitUnconfirmed):
        await _run_step(stage, "fal")

    stage.sidecar.store.finish(stage.job_id, "failed")  # the node failed, so the job did
    assert stage.ledger.reconcile(stage.sidecar.store)["kept"] == 1  # what a restart does
    assert stage.ledger.unresolved(stage.job_id) == [(stage.job_id, STEP)]

    assert stage.ledger.void(stage.job_id, STEP, reason="the provider's dashboard shows no such request")
    assert stage.ledger.unresolved(stage.job_id) == [] and stage.balance() == (BUDGET, 0.0)
    assert not stage.ledger.post(stage.job_id, STEP)  # resolved once


async def test_a_lasting_runware_outage_after_a_submit_keeps_the_hold_since_the_task_cannot_be_looked_up(
    stage_for,
):
    stage = await stage_for("runware")
    stage.emulators["runware"].burst_5xx_n = 100  # the submit and every getResponse answer 503

    with pytest.raises(SubmitUnconfirmed):
        await _run_step(stage, "runware")

    assert stage.emulators["runware"].jobs_created == 0  # (the provider may still have it, for all we know)
    assert stage.ledger.in_doubt(stage.job_id) == [(stage.job_id, STEP)] and _kinds(stage) == ["pending"]


async def test_a_step_in_doubt_is_never_sent_again_by_a_later_run_of_the_same_job(stage_for):
    stage = await stage_for("fal")
    stage.emulators["fal"].after_create = "500"
    with pytest.raises(SubmitUnconfirmed):
        await _run_step(stage, "fal")

    with pytest.raises(AInfError) as again:
        await _run_step(stage, "fal")

    assert again.value.detail["submit"] == "unconfirmed"
    assert stage.emulators["fal"].hits["submit"] == 1


async def test_the_user_releases_a_hold_in_doubt_and_only_such_a_hold_through_the_credits_route(
    paid_client, paid_sidecar
):
    ledger = paid_sidecar.ledger
    ledger.set_budget(3)
    ledger.reserve("job_doubt", 1.0, "provider_fal", STEP)
    ledger.mark_in_doubt("job_doubt", STEP, "HTTP 500 from fal.ai")
    ledger.reserve("job_running", 1.0, "provider_fal", STEP)
    route = f"{V1}/credits/holds/release"

    refused = await paid_client.post(route, json={"job_id": "job_running", "step_id": STEP})
    released = await paid_client.post(route, json={"job_id": "job_doubt", "step_id": STEP})

    assert refused.status == 422 and (await refused.json())["error"] == "VALIDATION_ERROR"
    assert released.status == 200 and (await released.json())["pending"] == 1.0
    assert ledger.unresolved() == [("job_running", STEP)]
    again = await paid_client.post(route, json={"job_id": "job_doubt", "step_id": STEP})
    assert again.status == 422  # released once


# what proves nothing was created: retried, one job ---------------------------------------------------------
class RefuseFirstPost(httpx.AsyncBaseTransport):
    """A transport whose first POST meets a closed port (nothing is sent); the rest go through."""

    def __init__(self, refused: list[str]) -> None:
        self.refused = refused
        self.inner = httpx.AsyncHTTPTransport()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        """Raise ConnectError for the first POST of the test, else send the request."""
        if request.method == "POST" and not self.refused:
            self.refused.append(str(request.url))
            raise httpx.ConnectError("[Errno 111] Connection refused", request=request)
        return await self.inner.handle_async_request(request)

    async def aclose(self) -> None:
        """Close the real transport."""
        await self.inner.aclose()


async def _adapter_call(provider: str, emu: Any, **settings: Any) -> Any:
    spec = PROVIDERS[provider]
    adapter = spec.adapter(emu.base_url, **fast_settings([], MAX_ATTEMPTS), **settings)
    return await getattr(adapter, CAPABILITIES[spec.capability].method)(spec.key, spec.request())


@pytest.mark.parametrize("provider", list(PROVIDERS))
async def test_a_refused_connection_is_retried_and_makes_one_job(provider):
    emu = PROVIDERS[provider].emulator()
    await emu.start()
    refused: list[str] = []
    base = make_client()

    def client() -> httpx.AsyncClient:
        return httpx.AsyncClient(transport=RefuseFirstPost(refused), timeout=base.timeout, trust_env=False)

    try:
        result = await _adapter_call(provider, emu, client_factory=client)
    finally:
        await base.aclose()
        await emu.stop()
    assert result.data and len(refused) == 1
    assert emu.jobs_created == 1


@pytest.mark.parametrize("provider", list(PROVIDERS))
async def test_a_429_is_retried_and_makes_one_job(provider):
    emu = PROVIDERS[provider].emulator()
    await emu.start()
    emu.rate_limit_n = 1
    try:
        result = await _adapter_call(provider, emu)
    finally:
        await emu.stop()
    assert result.data and emu.jobs_created == 1


def test_every_provider_has_a_submit_rule_that_cites_its_source_and_never_retries_a_500():
    for provider in PROVIDERS.values():
        rule = SUBMIT_RULES[provider.engine]
        assert rule.source.startswith("https://")
        assert 500 not in rule.retry_statuses and 429 in rule.retry_statuses


# a job that fails to queue ----------------------------------------------------------------------------------
async def test_a_job_comfyui_does_not_accept_releases_its_held_credits_at_once(
    paid_client, paid_sidecar, host
):
    shutil.copy(EXAMPLES / "portrait_push_in.mp4", host.input_dir / "a.mp4")
    paid_sidecar.ledger.set_budget(1)

    def refuse(*_args: Any) -> None:
        raise RuntimeError("queue closed")

    host.enqueue = refuse
    resp = await paid_client.post(f"{V1}/presets/{PAID_PRESET}/run", json={"inputs": {"video": "a.mp4"}})

    assert resp.status == 503
    assert paid_sidecar.ledger.unresolved() == [] and paid_sidecar.ledger.balance()["available"] == 1.0
    voids = [t for t in paid_sidecar.ledger.transfers()["transfers"] if t["kind"] == "void"]
    assert [t["reason"] for t in voids] == ["ComfyUI did not accept the job"]
