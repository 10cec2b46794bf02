"""Remote presets over HTTP on a fake host: the key each one needs, the credits it holds, the v1 generate
contract (`/generate/image|video`) and merged batch runs — over the real workflows/ folder.

The sidecar is wired as the ComfyUI entry point wires it (test adapters for the four keyed providers, the
model catalog over empty model folders: no SDXL installed). Keys are put in the vault directly; no request
leaves the machine.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from ainfluencer.sidecar.core.errors import AInfError, ErrorCode
from ainfluencer.sidecar.host.app import Sidecar, build_sidecar
from ainfluencer.sidecar.http.routes import register_routes
from aiohttp import web
from conftest import EXAMPLES

V1 = "/ainfluencer/v1"
BUDGET = 10.0
KEYS = {
    "provider_kling": "good-kling-key-5e1a",
    "provider_fal": "good-fal-key-77c2",
    "provider_runware": "good-runware-key-0b93",
    "provider_synclabs": "good-sync-key-d4f6",
}
GENERATE_KEYS = {"job_id", "status", "preset_id", "estimated_time_seconds", "output_url", "error"}


def _status(code: ErrorCode) -> int:
    """The HTTP status the error taxonomy gives a code."""
    return AInfError(code).status


def _assert_error(resp, body: dict, code: ErrorCode) -> None:
    assert resp.status == _status(code) and resp.status != 500
    assert set(body) == {"error", "message", "remediation", "detail", "job_id"}
    assert body["error"] == code and body["message"] and body["remediation"]


async def _serve(aiohttp_client, sidecar: Sidecar):
    routes = web.RouteTableDef()
    register_routes(routes, lambda: sidecar)
    app = web.Application()
    app.add_routes(routes)
    return await aiohttp_client(app)


@pytest.fixture
def remote_sidecar(tmp_path: Path, host, fake_adapters, monkeypatch) -> Sidecar:
    """Real presets, test adapters and the model catalog as `comfy_entry` wires them; no model installed."""
    for name in ("KLING", "FAL", "RUNWARE", "SYNCLABS"):
        monkeypatch.delenv(f"AINFLUENCER_PROVIDER_{name}_API_KEY", raising=False)
    sidecar = build_sidecar(
        host,
        tmp_path / "user",
        host.resolve_output,
        model_folders=lambda folder: [tmp_path / "models" / folder],
        adapters=fake_adapters,
    )
    for name, example in (
        ("portrait.png", "portrait.png"),
        ("clip.mp4", "portrait_talking_source.mp4"),
        ("speech.wav", "speech.wav"),
    ):
        shutil.copy(EXAMPLES / example, host.input_dir / name)
    return sidecar


@pytest.fixture
async def api(aiohttp_client, remote_sidecar: Sidecar):
    """An aiohttp test client serving `remote_sidecar`'s routes."""
    return await _serve(aiohttp_client, remote_sidecar)


def _connect(sidecar: Sidecar, *providers: str) -> None:
    for provider in providers:
        sidecar.registry.vault.set(provider, KEYS[provider])


async def _budget(api, credits: float) -> None:
    assert (await api.post(f"{V1}/credits/budget", json={"credits": credits})).status == 200


async def _credits(api) -> tuple[float, float]:
    state = await (await api.get(f"{V1}/credits")).json()
    return state["available"], state["pending"]


async def _holds(api, job_id: str | None = None) -> list[tuple[str, float, str]]:
    """(step_id, credits, engine) of every reservation in the ledger (of one job when named)."""
    transfers = (await (await api.get(f"{V1}/credits/ledger")).json())["transfers"]
    return sorted(
        (t["step_id"], t["credits"], t["engine"])
        for t in transfers
        if t["kind"] == "pending" and job_id in (None, t["job_id"])
    )


async def _assert_nothing_happened(api, sidecar: Sidecar, host, available: float = BUDGET) -> None:
    assert host.queued == []
    assert sidecar.store.list()["total"] == 0
    assert await _credits(api) == (available, 0.0)
    assert await _holds(api) == []


def _assert_same_job(status: dict, started: dict) -> None:
    """`GET /generate/{job_id}` answers the v1 generate shape for the job `POST /generate/…` started."""
    assert set(status) == set(started) == GENERATE_KEYS
    assert status == started


def _price(
    sidecar: Sidecar, engine: str, operation: str, quality: str = "standard", sent: dict | None = None
) -> float:
    """The cost-table price of one remote call as the node sends it (`sent`: its model parameters)."""
    assert sidecar.remote is not None
    return sidecar.remote.cost_of(engine, operation, quality, sent or {})


# 1. No key: the preset says which key to add, and nothing is queued or held -------------------------------

TALKING = {"inputs": {"video": "clip.mp4", "audio": "speech.wav"}, "consent_given": True}
NO_KEY_CASES = {
    "image_to_video: both variants need a key": (
        "image_to_video_v1",
        {"inputs": {"image": "portrait.png", "prompt": "she smiles"}},
        ["Kling", "fal.ai"],
    ),
    "talking_clip with consent": ("talking_clip_v1", TALKING, ["Sync Labs"]),
    "photoreal_portrait on fal": (
        "photoreal_portrait_v1",
        {"inputs": {"prompt": "a portrait"}, "engine": "provider_fal"},
        ["fal.ai"],
    ),
    "upscale_denoise_image on Runware": (
        "upscale_denoise_image_v1",
        {"inputs": {"image": "portrait.png"}, "engine": "provider_runware"},
        ["Runware"],
    ),
}


@pytest.mark.parametrize(("preset", "body", "providers"), NO_KEY_CASES.values(), ids=NO_KEY_CASES)
async def test_without_a_key_a_remote_preset_is_engine_offline_naming_the_key_to_add(
    api, remote_sidecar, host, preset, body, providers
):
    await _budget(api, BUDGET)  # credits are there: only the missing key stops the run
    resp = await api.post(f"{V1}/presets/{preset}/run", json=body)
    answer = await resp.json()
    _assert_error(resp, answer, ErrorCode.ENGINE_OFFLINE)
    for provider in providers:
        assert f"Add your {provider} API key in Setup" in answer["message"]
        assert any(f"Add your {provider} API key in Setup" in step for step in answer["remediation"])
    await _assert_nothing_happened(api, remote_sidecar, host)


async def test_photoreal_portrait_without_sdxl_or_a_fal_key_says_how_to_install_the_model(
    api, remote_sidecar, host
):
    await _budget(api, BUDGET)
    resp = await api.post(
        f"{V1}/presets/photoreal_portrait_v1/run", json={"inputs": {"prompt": "a portrait"}}
    )
    answer = await resp.json()
    _assert_error(resp, answer, ErrorCode.DEPENDENCY_MISSING)
    assert "ainfluencer models download sdxl-base-1.0" in " ".join(answer["remediation"])
    assert [m["id"] for m in answer["detail"]["missing_models"]] == ["sdxl-base-1.0"]
    await _assert_nothing_happened(api, remote_sidecar, host)


async def test_without_a_model_catalog_photoreal_portrait_is_dependency_missing_naming_the_model(
    aiohttp_client, tmp_path, host, fake_adapters, monkeypatch
):
    for name in ("KLING", "FAL", "RUNWARE", "SYNCLABS"):
        monkeypatch.delenv(f"AINFLUENCER_PROVIDER_{name}_API_KEY", raising=False)
    bare = build_sidecar(host, tmp_path / "user", host.resolve_output, adapters=fake_adapters)
    client = await _serve(aiohttp_client, bare)
    resp = await client.post(f"{V1}/presets/photoreal_portrait_v1/run", json={"inputs": {"prompt": "a face"}})
    answer = await resp.json()
    _assert_error(resp, answer, ErrorCode.DEPENDENCY_MISSING)
    assert "sdxl-base-1.0" in answer["message"] and "no model catalog" in answer["message"]
    assert answer["detail"] == {"required_models": ["sdxl-base-1.0"]}
    await _assert_nothing_happened(client, bare, host, available=0.0)


# 2. Key connected and a budget: one prompt queued, one reservation per remote node -----------------------

# case id: (preset, provider connected, run body, remote node id, its class, its bound inputs, operation)
KEYED_CASES = {
    "image_to_video on Kling": (
        "image_to_video_v1",
        "provider_kling",
        {"inputs": {"image": "portrait.png", "prompt": "she waves"}},
        "2",
        "AInfluencerKlingImageToVideo",
        {"prompt": "she waves", "image": ["1", 0], "mode": "pro"},  # kling-v2-5-turbo's only mode
        "video",
    ),
    "image_to_video falls back to fal": (
        "image_to_video_v1",
        "provider_fal",
        {"inputs": {"image": "portrait.png", "prompt": "she waves"}},
        "2",
        "AInfluencerFalImageToVideo",
        {"prompt": "she waves", "image": ["1", 0]},
        "video",
    ),
    "talking_clip on Sync Labs": (
        "talking_clip_v1",
        "provider_synclabs",
        {**TALKING, "inputs": {**TALKING["inputs"], "sync_mode": "loop"}},
        "2",
        "AInfluencerSyncLipSync",
        {"audio": ["4", 0], "sync_mode": "loop", "model": "lipsync-2-pro"},
        "lipsync",
    ),
    "photoreal_portrait on fal (no SDXL)": (
        "photoreal_portrait_v1",
        "provider_fal",
        {"inputs": {"prompt": "a woman reading"}},
        "1",
        "AInfluencerFalFluxPro",
        {"prompt": "a woman reading", "image_size": "portrait_4_3"},
        "image",
    ),
    "upscale_denoise_image on Runware": (
        "upscale_denoise_image_v1",
        "provider_runware",
        {"inputs": {"image": "portrait.png"}, "engine": "provider_runware"},
        "2",
        "AInfluencerRunwareUpscale",
        {"images": ["1", 0], "upscale_factor": 2},
        "upscale",
    ),
}


@pytest.mark.parametrize(
    ("preset", "provider", "body", "node_id", "class_type", "bound", "operation"),
    KEYED_CASES.values(),
    ids=KEYED_CASES,
)
async def test_with_a_key_a_run_queues_the_bound_remote_node_and_holds_its_cost_table_price(
    api, remote_sidecar, host, preset, provider, body, node_id, class_type, bound, operation
):
    _connect(remote_sidecar, provider)
    await _budget(api, BUDGET)
    price = _price(remote_sidecar, provider, operation, sent=bound)
    assert price > 0

    estimate = await (await api.post(f"{V1}/presets/{preset}/estimate", json=body)).json()
    assert estimate["credits"] == price and estimate["engine"] == provider
    assert estimate["steps"] == [{"step_id": f"node:{node_id}", "credits": price, "engine": provider}]
    assert host.queued == [] and await _holds(api) == []  # estimating holds nothing

    resp = await api.post(f"{V1}/presets/{preset}/run", json=body)
    assert resp.status == 202, await resp.text()
    job = await resp.json()
    (queued,) = host.queued
    node = queued["prompt"][node_id]
    assert node["class_type"] == class_type
    assert {name: node["inputs"][name] for name in bound} == bound
    assert await _holds(api, job["job_id"]) == [(f"node:{node_id}", price, provider)]
    assert await _credits(api) == (round(BUDGET - price, 3), price)
    stored = await (await api.get(f"{V1}/jobs/{job['job_id']}")).json()
    assert stored["credit_cost"] == price and stored["engine"] == provider


async def test_a_budget_below_the_price_is_insufficient_funds_with_nothing_queued_or_held(
    api, remote_sidecar, host
):
    _connect(remote_sidecar, "provider_kling")
    price = _price(remote_sidecar, "provider_kling", "video")
    await _budget(api, round(price / 2, 2))
    body = {"inputs": {"image": "portrait.png", "prompt": "she waves"}}
    resp = await api.post(f"{V1}/presets/image_to_video_v1/run", json=body)
    answer = await resp.json()
    _assert_error(resp, answer, ErrorCode.INSUFFICIENT_FUNDS)
    assert answer["detail"]["needed"] == price and answer["detail"]["steps"] == ["node:2"]
    await _assert_nothing_happened(api, remote_sidecar, host, available=round(price / 2, 2))


# 3. The v1 generate contract -------------------------------------------------------------------------

IMAGE = {"preset_id": "photoreal_portrait_v1", "prompt": "a woman reading by a window"}
VIDEO = {"preset_id": "image_to_video_v1", "prompt": "she smiles"}
BAD_BODIES = {
    "unknown field": ({**IMAGE, "style": "anime"}, "style"),
    "no preset": ({"prompt": "a face"}, "preset_id"),
    "no prompt": ({"preset_id": "photoreal_portrait_v1"}, "prompt"),
    "empty prompt": ({**IMAGE, "prompt": ""}, "prompt"),
    "prompt over 2000 characters": ({**IMAGE, "prompt": "a" * 2001}, "prompt"),
    "negative prompt over 2000 characters": ({**IMAGE, "negative_prompt": "b" * 2001}, "negative_prompt"),
    "unknown quality level": ({**IMAGE, "quality_level": "ultra"}, "quality_level"),
    "seed above 2**32": ({**IMAGE, "seed": 2**32 + 1}, "seed"),
    "negative seed": ({**IMAGE, "seed": -1}, "seed"),
    "consent not a boolean": ({**IMAGE, "consent_given": "yes please"}, "consent_given"),
}


@pytest.mark.parametrize("route", ["image", "video"])
@pytest.mark.parametrize(("body", "field"), BAD_BODIES.values(), ids=BAD_BODIES)
async def test_generate_refuses_a_body_outside_the_seed_contract_naming_the_field(
    api, remote_sidecar, host, route, body, field
):
    _connect(remote_sidecar, "provider_fal", "provider_kling")
    await _budget(api, BUDGET)
    resp = await api.post(f"{V1}/generate/{route}", json=body)
    answer = await resp.json()
    _assert_error(resp, answer, ErrorCode.VALIDATION_ERROR)
    assert field in [p["field"] for p in answer["detail"]["problems"]]
    await _assert_nothing_happened(api, remote_sidecar, host)


@pytest.mark.parametrize(
    ("route", "body", "category"),
    [("video", IMAGE, "image"), ("image", VIDEO, "video")],
    ids=["image preset on /generate/video", "video preset on /generate/image"],
)
async def test_a_preset_of_the_other_category_is_a_validation_error_naming_its_category(
    api, remote_sidecar, host, route, body, category
):
    _connect(remote_sidecar, "provider_fal", "provider_kling")
    await _budget(api, BUDGET)
    resp = await api.post(f"{V1}/generate/{route}", json=body)
    answer = await resp.json()
    _assert_error(resp, answer, ErrorCode.VALIDATION_ERROR)
    assert f"makes {category}, not {route}" in answer["message"]
    assert answer["detail"] == {"preset_id": body["preset_id"], "category": category}
    await _assert_nothing_happened(api, remote_sidecar, host)


async def test_an_identity_reference_without_consent_is_consent_missing_and_nothing_is_queued(
    api, remote_sidecar, host
):
    _connect(remote_sidecar, "provider_kling")
    await _budget(api, BUDGET)
    body = {**VIDEO, "identity_reference": ["portrait.png"], "consent_given": False}
    resp = await api.post(f"{V1}/generate/video", json=body)
    _assert_error(resp, await resp.json(), ErrorCode.CONSENT_MISSING)
    await _assert_nothing_happened(api, remote_sidecar, host)


async def test_generate_image_queues_the_prompt_bound_into_the_graph_and_answers_the_seed_shape(
    api, remote_sidecar, host
):
    _connect(remote_sidecar, "provider_fal")  # no SDXL installed: the fal variant runs
    await _budget(api, BUDGET)
    body = {**IMAGE, "quality_level": "pro", "seed": 42}
    resp = await api.post(f"{V1}/generate/image", json=body)
    assert resp.status == 202, await resp.text()
    answer = await resp.json()
    assert set(answer) == GENERATE_KEYS
    assert answer["job_id"].startswith("job_") and answer["status"] == "queued"
    assert answer["preset_id"] == "photoreal_portrait_v1" and answer["estimated_time_seconds"] == 30
    assert answer["output_url"] is None and answer["error"] is None

    (queued,) = host.queued
    flux = queued["prompt"]["1"]
    assert flux["class_type"] == "AInfluencerFalFluxPro"
    assert (flux["inputs"]["prompt"], flux["inputs"]["image_size"], flux["inputs"]["seed"]) == (
        IMAGE["prompt"],
        "portrait_16_9",
        42,
    )
    price = _price(remote_sidecar, "provider_fal", "image", "pro")
    assert await _holds(api, answer["job_id"]) == [("node:1", price, "provider_fal")]
    _assert_same_job(await (await api.get(f"{V1}/generate/{answer['job_id']}")).json(), answer)


async def test_a_prompt_of_exactly_2000_characters_is_accepted(api, remote_sidecar, host):
    _connect(remote_sidecar, "provider_fal")
    await _budget(api, BUDGET)
    resp = await api.post(f"{V1}/generate/image", json={**IMAGE, "prompt": "p" * 2000})
    assert resp.status == 202, await resp.text()
    assert host.queued[0]["prompt"]["1"]["inputs"]["prompt"] == "p" * 2000


async def test_generate_video_binds_the_prompt_and_the_identity_reference_and_keeps_the_consent(
    api, remote_sidecar, host
):
    _connect(remote_sidecar, "provider_kling")
    await _budget(api, BUDGET)
    body = {**VIDEO, "identity_reference": ["portrait.png"], "consent_given": True}
    resp = await api.post(f"{V1}/generate/video", json=body)
    assert resp.status == 202, await resp.text()
    answer = await resp.json()
    assert set(answer) == GENERATE_KEYS
    assert (answer["status"], answer["preset_id"]) == ("queued", "image_to_video_v1")
    assert (
        answer["estimated_time_seconds"] == 240 and answer["output_url"] is None and answer["error"] is None
    )

    (queued,) = host.queued
    prompt = queued["prompt"]
    assert prompt["1"]["class_type"] == "LoadImage" and prompt["1"]["inputs"]["image"] == "portrait.png"
    assert prompt["2"]["class_type"] == "AInfluencerKlingImageToVideo"
    assert prompt["2"]["inputs"]["prompt"] == "she smiles" and prompt["2"]["inputs"]["image"] == ["1", 0]
    consent = await (await api.get(f"{V1}/jobs/{answer['job_id']}/consent")).json()
    assert consent["consent_given"] is True and len(consent["records"]) == 1
    _assert_same_job(await (await api.get(f"{V1}/generate/{answer['job_id']}")).json(), answer)


async def test_an_unknown_generate_job_is_job_not_found(api):
    resp = await api.get(f"{V1}/generate/job_0123456789abcdef")
    _assert_error(resp, await resp.json(), ErrorCode.JOB_NOT_FOUND)


# 4. Batches: several runs merged into one prompt ---------------------------------------------------------

RUN = {"inputs": {"image": "portrait.png", "prompt": "she waves"}}


@pytest.mark.parametrize("runs", [0, 17], ids=["no runs", "17 runs"])
async def test_a_batch_holds_1_to_16_runs(api, remote_sidecar, host, runs):
    _connect(remote_sidecar, "provider_kling")
    await _budget(api, BUDGET)
    resp = await api.post(f"{V1}/presets/image_to_video_v1/batch", json={"runs": [RUN] * runs})
    answer = await resp.json()
    _assert_error(resp, answer, ErrorCode.VALIDATION_ERROR)
    assert [p["field"] for p in answer["detail"]["problems"]] == ["runs"]
    await _assert_nothing_happened(api, remote_sidecar, host)


async def test_three_runs_are_one_prompt_of_three_bound_copies_in_separate_id_ranges_each_held(
    api, remote_sidecar, host
):
    _connect(remote_sidecar, "provider_kling")
    await _budget(api, BUDGET)
    prompts = ["she waves", "she laughs", "she turns"]
    runs = [{"inputs": {"image": "portrait.png", "prompt": p}} for p in prompts]
    resp = await api.post(f"{V1}/presets/image_to_video_v1/batch", json={"runs": runs})
    assert resp.status == 202, await resp.text()
    answer = await resp.json()
    assert answer["items"] == 3 and answer["status"] == "queued"

    (queued,) = host.queued  # one ComfyUI prompt for the whole batch
    prompt = queued["prompt"]
    assert sorted(prompt) == [f"{item}000{node}" for item in (1, 2, 3) for node in (1, 2, 3)]
    for item, text in enumerate(prompts, start=1):
        load, video, save = (prompt[f"{item}000{node}"] for node in (1, 2, 3))
        assert load["inputs"]["image"] == "portrait.png"
        assert video["class_type"] == "AInfluencerKlingImageToVideo"
        assert video["inputs"]["prompt"] == text and video["inputs"]["image"] == [f"{item}0001", 0]
        assert save["inputs"]["video"] == [f"{item}0002", 0]
    assert queued["outputs"] == ["10003", "20003", "30003"]

    price = _price(remote_sidecar, "provider_kling", "video")
    assert await _holds(api, answer["job_id"]) == [
        (f"node:{item}0002", price, "provider_kling") for item in (1, 2, 3)
    ]
    jobs = (await (await api.get(f"{V1}/jobs")).json())["jobs"]
    assert [j["job_id"] for j in jobs] == [answer["job_id"]]
    job = await (await api.get(f"{V1}/jobs/{answer['job_id']}")).json()
    assert job["credit_cost"] == pytest.approx(3 * price)
    assert [run["prompt"] for run in job["inputs"]["batch"]] == prompts


# 5. The OpenAPI document ---------------------------------------------------------------------------------


async def test_openapi_lists_the_generate_and_batch_routes_with_their_request_schemas(api):
    doc = await (await api.get(f"{V1}/openapi.json")).json()
    paths, schemas = doc["paths"], doc["components"]["schemas"]

    def body_schema(path: str) -> dict:
        ref = paths[V1 + path]["post"]["requestBody"]["content"]["application/json"]["schema"]["$ref"]
        return schemas[ref.removeprefix("#/components/schemas/")]

    for route in ("/generate/image", "/generate/video"):
        generate = body_schema(route)
        assert generate["title"] == "GenerateRequest" and generate["additionalProperties"] is False
        assert set(generate["required"]) == {"preset_id", "prompt"}
        assert (
            generate["properties"]["prompt"]["minLength"],
            generate["properties"]["prompt"]["maxLength"],
        ) == (
            1,
            2000,
        )
        assert generate["properties"]["quality_level"]["enum"] == ["low", "standard", "pro"]
    status = paths[V1 + "/generate/{job_id}"]["get"]
    assert [p["name"] for p in status["parameters"]] == ["job_id"]
    answer_ref = status["responses"]["200"]["content"]["application/json"]["schema"]["$ref"]
    assert set(schemas[answer_ref.removeprefix("#/components/schemas/")]["properties"]) == GENERATE_KEYS
    batch = body_schema("/presets/{preset_id}/batch")
    assert batch["title"] == "BatchRequest"
    assert (batch["properties"]["runs"]["minItems"], batch["properties"]["runs"]["maxItems"]) == (1, 16)
