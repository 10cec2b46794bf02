"""The credit ledger: reserve → post → void exactly once per (job, step), never below zero, crash-safe."""

from __future__ import annotations

import asyncio
import shutil
import threading

import pytest
from ainfluencer.sidecar.billing.ledger import CreditLedger, load_cost_table
from ainfluencer.sidecar.core.errors import AInfError
from ainfluencer.sidecar.core.storage import open_database
from ainfluencer.sidecar.host.app import build_sidecar
from conftest import EXAMPLES, LEDGER_WORKFLOWS, PAID_PRESET

V1 = "/ainfluencer/v1"
PRESET = PAID_PRESET


@pytest.fixture
def ledger(tmp_path) -> CreditLedger:
    return CreditLedger(open_database(tmp_path), tmp_path)


def _money(ledger: CreditLedger) -> tuple[float, float]:
    state = ledger.balance()
    return state["available"], state["pending"]


def test_reserve_then_post_charges_at_most_the_estimate_exactly_once(ledger):
    ledger.set_budget(10)
    ledger.reserve("job_a", 3.0, "provider_fal")
    assert _money(ledger) == (7.0, 3.0)
    assert ledger.post("job_a", actual=2.25) is True
    assert ledger.post("job_a", actual=2.25) is False and ledger.void("job_a") is False
    assert _money(ledger) == (7.75, 0.0)
    assert ledger.balance()["spent_by_provider"] == {"provider_fal": 2.25}


def test_void_releases_in_full_and_a_replayed_reservation_is_not_a_second_hold(ledger):
    ledger.set_budget(5)
    first = ledger.reserve("job_b", 2.0, "provider_kling")
    assert ledger.reserve("job_b", 2.0, "provider_kling") == first
    assert _money(ledger) == (3.0, 2.0)
    with pytest.raises(AInfError) as info:
        ledger.reserve("job_b", 4.0, "provider_kling")
    assert info.value.code == "VALIDATION_ERROR"
    assert ledger.void("job_b", reason="failed") is True and ledger.void("job_b") is False
    assert _money(ledger) == (5.0, 0.0)
    assert ledger.post("job_b") is False  # a voided reservation can no longer be charged


def test_steps_of_one_job_are_reserved_and_settled_separately(ledger):
    ledger.set_budget(5)
    ledger.reserve("job_c", 1.0, "provider_fal", step_id="image")
    ledger.reserve("job_c", 2.0, "provider_synclabs", step_id="lipsync")
    ledger.settle_job("job_c", "completed")
    assert ledger.unresolved() == [] and _money(ledger) == (2.0, 0.0)


def test_not_enough_credits_is_insufficient_funds_and_nothing_is_held(ledger):
    ledger.set_budget(1)
    with pytest.raises(AInfError) as info:
        ledger.reserve("job_d", 1.5, "provider_fal")
    assert info.value.code == "INSUFFICIENT_FUNDS" and info.value.status == 402
    assert _money(ledger) == (1.0, 0.0) and ledger.unresolved() == []
    with pytest.raises(AInfError):
        ledger.reserve("job_d", 1.001, "provider_fal")  # a thousandth short is short
    ledger.reserve("job_d", 1.0, "provider_fal")
    assert _money(ledger) == (0.0, 1.0)


def test_setting_the_budget_keeps_its_history_and_pending_holds(ledger):
    ledger.set_budget(10)
    ledger.reserve("job_g", 4.0, "provider_fal")
    state = ledger.set_budget(2)
    assert (state["available"], state["pending"], state["budget"]) == (2.0, 4.0, 2.0)
    budgets = [t for t in ledger.transfers()["transfers"] if t["kind"] == "budget"]
    assert [b["credits"] for b in budgets] == [2.0, 10.0]


def test_fifty_threads_against_a_budget_for_twenty_get_exactly_twenty(tmp_path):
    CreditLedger(open_database(tmp_path), tmp_path).set_budget(20)
    outcomes: list[str] = []
    barrier = threading.Barrier(50)

    def worker(i: int) -> None:
        ledger = CreditLedger(open_database(tmp_path), tmp_path)  # one connection pool per worker
        barrier.wait()
        try:
            ledger.reserve(f"job_{i}", 1.0, "provider_fal")
            outcomes.append("ok")
        except AInfError as exc:
            outcomes.append(exc.code)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(50)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    ledger = CreditLedger(open_database(tmp_path), tmp_path)
    assert outcomes.count("ok") == 20 and outcomes.count("INSUFFICIENT_FUNDS") == 30
    assert _money(ledger) == (0.0, 20.0)


def test_every_default_remote_price_cites_the_providers_page_and_the_month_it_was_checked(tmp_path, ledger):
    table = load_cost_table(tmp_path)
    local = ("local_comfy", "provider_liveportrait", "provider_identity_nodes")
    remote = [e for e in table if e.engine not in local]
    assert remote and all(e.source.startswith("https://") and "(2026-12)" in e.source for e in remote)
    assert ledger.calculate_cost("provider_liveportrait", "video") == 0.0  # a local node pack: free
    assert ledger.calculate_cost("provider_identity_nodes", "image") == 0.0
    assert ledger.calculate_cost("provider_fal", "video", "pro") == 0.48
    assert ledger.calculate_cost("local_comfy", "anything") == 0.0
    with pytest.raises(AInfError) as info:
        ledger.calculate_cost("provider_synclabs", "image")
    assert info.value.code == "DEPENDENCY_MISSING"
    (tmp_path / "cost_table.json").write_text(
        '{"entries": [{"engine": "x", "operation": "y", "credits": -1}]}'
    )
    with pytest.raises(AInfError):
        load_cost_table(tmp_path)


async def test_estimate_answers_credits_time_and_engine_before_anything_runs(paid_client, paid_sidecar, host):
    shutil.copy(EXAMPLES / "portrait_push_in.mp4", host.input_dir / "a.mp4")
    resp = await paid_client.post(
        f"{V1}/presets/{PRESET}/estimate", json={"inputs": {"video": "a.mp4"}, "quality_level": "pro"}
    )
    estimate = await resp.json()
    assert set(estimate) == {
        "credits", "estimated_time_seconds", "time_basis", "long_run", "time_note", "engine", "steps"
    }  # fmt: skip
    assert (estimate["credits"], estimate["engine"], estimate["steps"]) == (1.0, "local_comfy", [])
    assert estimate["estimated_time_seconds"] > 0
    assert host.queued == [] and paid_sidecar.store.list()["total"] == 0


async def test_fifty_concurrent_runs_against_twenty_credits(paid_client, paid_sidecar, host):
    """50 run requests at 1 credit each with 20 credits: 20 queued, 30 refused, every hold settled once."""
    shutil.copy(EXAMPLES / "portrait_push_in.mp4", host.input_dir / "a.mp4")
    budget = await paid_client.post(f"{V1}/credits/budget", json={"credits": 20})
    assert (await budget.json())["available"] == 20.0
    body = {"inputs": {"video": "a.mp4"}}
    responses = await asyncio.gather(
        *(paid_client.post(f"{V1}/presets/{PRESET}/run", json=body) for _ in range(50))
    )
    statuses = sorted(r.status for r in responses)
    assert statuses == [202] * 20 + [402] * 30
    refused = [await r.json() for r in responses if r.status == 402]
    assert all(b["error"] == "INSUFFICIENT_FUNDS" for b in refused)
    assert len(host.queued) == 20 and paid_sidecar.store.list()["total"] == 20
    credits = await (await paid_client.get(f"{V1}/credits")).json()
    assert (credits["available"], credits["pending"]) == (0.0, 20.0)

    tracker = paid_sidecar.tracker
    for i, item in enumerate(host.queued):
        tracker.on_queued(item["prompt_id"], item["prompt"], item["extra_data"])
        if i % 2:
            tracker.on_done(item["prompt_id"], {}, {"status_str": "success", "messages": []})
        else:
            error = ("execution_error", {"node_id": "4", "node_type": "X", "exception_message": "boom"})
            tracker.on_done(item["prompt_id"], {}, {"status_str": "error", "messages": [error]})
        tracker.on_done(item["prompt_id"], {}, {"status_str": "success", "messages": []})  # a replayed event
    credits = await (await paid_client.get(f"{V1}/credits")).json()
    assert (credits["available"], credits["pending"]) == (10.0, 0.0)
    assert credits["spent_by_provider"] == {"local_comfy": 10.0}
    ledger = (await (await paid_client.get(f"{V1}/credits/ledger?limit=1000")).json())["transfers"]
    kinds = [t["kind"] for t in ledger]
    assert kinds.count("pending") == 20 and kinds.count("post") == 10 and kinds.count("void") == 10
    resolved = [t["reserve_id"] for t in ledger if t["kind"] in ("post", "void")]
    assert sorted(resolved) == sorted(t["id"] for t in ledger if t["kind"] == "pending")
    jobs = (await (await paid_client.get(f"{V1}/jobs?limit=100")).json())["jobs"]
    costs = sorted((j["status"], j["credit_cost"]) for j in jobs)
    assert costs == [("completed", 1.0)] * 10 + [("failed", 0.0)] * 10


async def test_a_cancelled_queued_job_releases_its_reservation(paid_client, paid_sidecar, host):
    shutil.copy(EXAMPLES / "portrait_push_in.mp4", host.input_dir / "a.mp4")
    await paid_client.post(f"{V1}/credits/budget", json={"credits": 1})
    job = await (
        await paid_client.post(f"{V1}/presets/{PRESET}/run", json={"inputs": {"video": "a.mp4"}})
    ).json()
    assert paid_sidecar.ledger.balance()["pending"] == 1.0
    paid_sidecar.tracker.on_queued(host.queued[0]["prompt_id"], host.queued[0]["prompt"], {})
    paid_sidecar.tracker.on_removed(host.queued[0]["prompt_id"])
    assert paid_sidecar.store.get(job["job_id"])["status"] == "cancelled"
    assert _money(paid_sidecar.ledger) == (1.0, 0.0)


async def test_a_host_that_refuses_the_job_voids_the_reservation(paid_client, paid_sidecar, host):
    shutil.copy(EXAMPLES / "portrait_push_in.mp4", host.input_dir / "a.mp4")
    await paid_client.post(f"{V1}/credits/budget", json={"credits": 1})

    def refuse(*_args):
        raise RuntimeError("queue closed")

    host.enqueue = refuse
    resp = await paid_client.post(f"{V1}/presets/{PRESET}/run", json={"inputs": {"video": "a.mp4"}})
    assert resp.status == 503
    assert _money(paid_sidecar.ledger) == (1.0, 0.0) and paid_sidecar.ledger.unresolved() == []


def test_start_up_fails_orphaned_jobs_and_voids_their_reservations_once(tmp_path, host, paid_sidecar):
    shutil.copy(EXAMPLES / "portrait_push_in.mp4", host.input_dir / "a.mp4")
    paid_sidecar.ledger.set_budget(5)
    from ainfluencer.sidecar.runs.pipeline import RunRequest

    started = asyncio.run(paid_sidecar.pipeline.execute_preset(PRESET, RunRequest(inputs={"video": "a.mp4"})))
    paid_sidecar.ledger.reserve("job_never_recorded", 1.0, "local_comfy")  # a crash before the job row
    assert _money(paid_sidecar.ledger) == (3.0, 2.0)
    # the same process rebuilding counts as a restart: the job's owner is "gone"
    again = build_sidecar(host, tmp_path / "user", host.resolve_output, workflows_dir=LEDGER_WORKFLOWS)
    job = again.store.get(started["job_id"])
    assert (
        job["status"] == "failed"
        and job["error_detail"]["error"] == "JOB_INTERRUPTED"
        and job["error_detail"]["remediation"]
    )
    assert job["credit_cost"] == 0.0
    assert _money(again.ledger) == (5.0, 0.0) and again.ledger.unresolved() == []
    voids = [t for t in again.ledger.transfers()["transfers"] if t["kind"] == "void"]
    assert len(voids) == 2
    build_sidecar(host, tmp_path / "user", host.resolve_output, workflows_dir=LEDGER_WORKFLOWS)
    assert len([t for t in again.ledger.transfers()["transfers"] if t["kind"] == "void"]) == 2


def test_a_settled_step_cannot_be_reserved_again_for_free(ledger):
    ledger.set_budget(5)
    ledger.reserve("job_x", 1.0, "provider_fal", "node:7")
    assert ledger.void("job_x", "node:7", reason="remote step failed")
    with pytest.raises(AInfError) as again:
        ledger.reserve("job_x", 1.0, "provider_fal", "node:7")
    assert again.value.code == "VALIDATION_ERROR" and "already settled" in again.value.message
    assert ledger.balance()["available"] == 5.0
