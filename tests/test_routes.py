"""The sidecar's HTTP contract on a fake ComfyUI host: every failure a clear error, nothing half-written."""

import json
import shutil

import aiohttp
from conftest import EXAMPLES

PRESET = "color_grade_film_grain_v1"
V1 = "/ainfluencer/v1"


def _form(name: str, data: bytes, content_type: str = "application/octet-stream") -> aiohttp.FormData:
    form = aiohttp.FormData()
    form.add_field("file", data, filename=name, content_type=content_type)
    return form


async def _upload(client, name: str, data: bytes):
    return await client.post(f"{V1}/uploads", data=_form(name, data))


async def _raw_upload(client, name: str, data: bytes):
    """A multipart body with the file name exactly as given (as curl or a hostile client sends it)."""
    boundary = "ainfboundary"
    head = f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{name}"\r\n\r\n'
    body = head.encode() + data + f"\r\n--{boundary}--\r\n".encode()
    headers = {"Content-Type": f"multipart/form-data; boundary={boundary}"}
    return await client.post(f"{V1}/uploads", data=body, headers=headers)


def _job_rows(sidecar) -> int:
    return sidecar.store.list()["total"]


def _assert_error(body: dict, code: str) -> None:
    assert set(body) == {"error", "message", "remediation", "detail", "job_id"}
    assert body["error"] == code and body["message"] and body["remediation"]


async def test_version_and_presets_describe_the_pack(client):
    version = await (await client.get(f"{V1}/version")).json()
    assert version["name"] == "comfyui-ainfluencer" and version["api"] == "v1"
    presets = (await (await client.get(f"{V1}/presets")).json())["presets"]
    assert PRESET in [p["id"] for p in presets]
    preset = await (await client.get(f"{V1}/presets/{PRESET}")).json()
    assert preset["inputs"][0]["name"] == "video"
    assert set(preset["quality_levels"]) == {"low", "standard", "pro"}


async def test_upload_then_run_queues_a_bound_prompt_with_the_ui_graph(client, sidecar, host):
    up = await _upload(client, "clip.mp4", (EXAMPLES / "portrait_talking_source.mp4").read_bytes())
    assert up.status == 200
    saved = await up.json()
    assert (saved["name"], saved["subfolder"], saved["type"]) == ("clip.mp4", "", "input")
    body = {"inputs": {"video": saved["name"], "style": "warm"}, "quality_level": "pro", "engine": None,
            "seed": 7, "consent_given": False}  # fmt: skip
    resp = await client.post(f"{V1}/presets/{PRESET}/run", json=body)
    assert resp.status == 202
    job = await resp.json()
    assert (
        set(job) == {"job_id", "status", "preset_id", "estimated_time_seconds"} and job["status"] == "queued"
    )
    (queued,) = host.queued
    prompt = queued["prompt"]
    assert prompt["1"]["inputs"]["file"] == "clip.mp4"
    grade = prompt["3"]["inputs"]
    assert (grade["video"], grade["style"], grade["intensity"]) == (["1", 0], "warm", 0.85)
    assert prompt["4"]["inputs"]["seed"] == 7 and prompt["4"]["inputs"]["chroma"] == 0.15
    assert prompt["6"]["inputs"]["filename_prefix"] == f"ainfluencer/{job['job_id']}/{PRESET}"
    assert queued["extra_data"]["extra_pnginfo"]["workflow"]["extra"]["ainfluencer"]["id"] == PRESET
    stored = await (await client.get(f"{V1}/jobs/{job['job_id']}")).json()
    assert stored["inputs"]["video"] == "clip.mp4" and stored["quality_level"] == "pro"
    listed = await (await client.get(f"{V1}/jobs")).json()
    assert [j["job_id"] for j in listed["jobs"]] == [job["job_id"]]


async def test_cancel_of_a_queued_job_dequeues_it(client, host):
    shutil.copy(EXAMPLES / "portrait_push_in.mp4", host.input_dir / "a.mp4")
    job = await (await client.post(f"{V1}/presets/{PRESET}/run", json={"inputs": {"video": "a.mp4"}})).json()
    cancelled = await (await client.post(f"{V1}/jobs/{job['job_id']}/cancel", json={})).json()
    assert host.cancelled == [host.queued[0]["prompt_id"]]
    logs = (await (await client.get(f"{V1}/jobs/{job['job_id']}/logs")).json())["lines"]
    assert cancelled["status"] == "queued" and logs[-1]["message"] == "cancel requested"


async def test_unknown_preset_is_preset_not_found(client):
    resp = await client.post(f"{V1}/presets/nope_v1/run", json={"inputs": {}})
    assert resp.status == 404
    _assert_error(await resp.json(), "PRESET_NOT_FOUND")


async def test_unknown_body_field_is_rejected_with_its_name(client, sidecar):
    resp = await client.post(f"{V1}/presets/{PRESET}/run", json={"inputs": {}, "turbo": True})
    assert resp.status == 422
    body = await resp.json()
    _assert_error(body, "VALIDATION_ERROR")
    assert body["detail"]["problems"][0]["field"] == "turbo"
    assert _job_rows(sidecar) == 0


async def test_missing_unknown_and_mistyped_inputs_are_named(client, sidecar, host):
    shutil.copy(EXAMPLES / "portrait_push_in.mp4", host.input_dir / "a.mp4")
    cases = [
        ({}, "missing"),
        ({"video": "a.mp4", "colour": "x"}, "unknown"),
        ({"video": "a.mp4", "grain_strength": "lots"}, "grain_strength"),
        ({"video": "a.mp4", "grain_strength": 3}, "grain_strength"),
        ({"video": "a.mp4", "style": "sepia"}, "style"),
        ({"video": 5}, "video"),
    ]
    for inputs, named in cases:
        resp = await client.post(f"{V1}/presets/{PRESET}/run", json={"inputs": inputs})
        body = await resp.json()
        assert resp.status == 422, inputs
        _assert_error(body, "VALIDATION_ERROR")
        assert named in json.dumps(body), (inputs, body)
    assert _job_rows(sidecar) == 0 and host.queued == []


async def test_wrong_types_in_the_body_are_validation_errors(client):
    for body in (
        {"inputs": []},
        {"inputs": {}, "quality_level": "ultra"},
        {"inputs": {}, "seed": -1},
        [1, 2],
    ):
        resp = await client.post(f"{V1}/presets/{PRESET}/run", json=body)
        assert resp.status == 422, body
        _assert_error(await resp.json(), "VALIDATION_ERROR")


async def test_form_and_text_bodies_are_refused_on_state_changing_routes(client, sidecar):
    resp = await client.post(f"{V1}/presets/{PRESET}/run", data={"inputs": "{}"})
    assert resp.status == 422
    _assert_error(await resp.json(), "VALIDATION_ERROR")
    resp = await client.post(f"{V1}/presets/{PRESET}/run", data="{}", headers={"Content-Type": "text/plain"})
    assert resp.status == 422
    assert _job_rows(sidecar) == 0


async def test_a_file_that_was_never_uploaded_is_file_not_found(client):
    resp = await client.post(f"{V1}/presets/{PRESET}/run", json={"inputs": {"video": "ghost.mp4"}})
    assert resp.status == 404
    _assert_error(await resp.json(), "FILE_NOT_FOUND")


async def test_path_traversal_in_inputs_and_upload_names_is_refused(client, host, tmp_path):
    resp = await client.post(f"{V1}/presets/{PRESET}/run", json={"inputs": {"video": "../user/secrets.json"}})
    _assert_error(await resp.json(), "VALIDATION_ERROR")
    clip = (EXAMPLES / "portrait_push_in.mp4").read_bytes()
    hostile = ["../evil.mp4", "..\\\\evil.mp4", "/tmp/evil.mp4"]
    for send, name in [*((_raw_upload, n) for n in hostile), (_upload, "a/../../evil.mp4")]:
        resp = await send(client, name, clip)
        assert resp.status == 422, name
        _assert_error(await resp.json(), "VALIDATION_ERROR")
    assert not list(tmp_path.rglob("evil.mp4"))
    assert [p.name for p in host.input_dir.iterdir() if p.is_file()] == []


async def test_oversized_upload_is_refused_and_leaves_no_file(client, host, monkeypatch):
    monkeypatch.setenv("AINFLUENCER_MAX_UPLOAD_MB", "0.1")
    resp = await _upload(client, "big.mp4", (EXAMPLES / "portrait_push_in.mp4").read_bytes())
    assert resp.status == 413
    _assert_error(await resp.json(), "PAYLOAD_TOO_LARGE")
    assert [p for p in host.input_dir.rglob("*") if p.is_file()] == []


async def test_non_video_content_is_refused_at_upload_and_as_a_video_input(client, sidecar, host):
    resp = await _upload(client, "fake.mp4", b"this is not a video at all" * 100)
    assert resp.status == 415
    _assert_error(await resp.json(), "INVALID_MEDIA")
    png = await (await _upload(client, "face.png", (EXAMPLES / "portrait.png").read_bytes())).json()
    resp = await client.post(f"{V1}/presets/{PRESET}/run", json={"inputs": {"video": png["name"]}})
    assert resp.status == 415
    _assert_error(await resp.json(), "INVALID_MEDIA")
    assert sorted(p.name for p in host.input_dir.iterdir() if p.is_file()) == ["face.png"]
    assert _job_rows(sidecar) == 0


async def test_uploads_never_overwrite_an_existing_file(client, host):
    first = (EXAMPLES / "portrait.png").read_bytes()
    other = _png_with_other_pixels(first)
    names = [(await (await _upload(client, "p.png", data)).json())["name"] for data in (first, other)]
    assert names == ["p.png", "p (1).png"]
    assert (host.input_dir / "p.png").read_bytes() == first


async def test_the_same_file_uploaded_again_is_stored_once(client, host):
    data = (EXAMPLES / "portrait.png").read_bytes()
    names = [(await (await _upload(client, "p.png", data)).json())["name"] for _ in range(3)]
    assert names == ["p.png"] * 3
    assert sorted(p.name for p in host.input_dir.iterdir() if p.is_file()) == ["p.png"]


def _png_with_other_pixels(png: bytes) -> bytes:
    """The sample portrait with one pixel changed, re-encoded as PNG."""
    import io

    from PIL import Image

    with Image.open(io.BytesIO(png)) as img:
        changed = img.convert("RGB")
    changed.putpixel((0, 0), (1, 2, 3))
    out = io.BytesIO()
    changed.save(out, format="PNG")
    return out.getvalue()


async def test_unknown_job_and_bad_queries_answer_in_the_error_shape(client):
    resp = await client.get(f"{V1}/jobs/job_nope")
    assert resp.status == 404
    _assert_error(await resp.json(), "JOB_NOT_FOUND")
    for query in ("?limit=abc", "?limit=0", "?status=weird"):
        resp = await client.get(f"{V1}/jobs{query}")
        assert resp.status == 422
        _assert_error(await resp.json(), "VALIDATION_ERROR")


async def test_the_canary_never_reaches_a_response_or_a_file(client, sidecar, host, canary, tmp_path):
    shutil.copy(EXAMPLES / "portrait_push_in.mp4", host.input_dir / "a.mp4")
    bodies = [
        {"inputs": {"video": "a.mp4", canary: 1}},
        {"inputs": {"video": canary}},
        {"inputs": {"video": "a.mp4"}, "api_key": canary},
    ]
    for body in bodies:
        resp = await client.post(f"{V1}/presets/{PRESET}/run", json=body)
        assert canary not in await resp.text()
    await client.post(f"{V1}/presets/{PRESET}/run", json={"inputs": {"video": "a.mp4", "style": "warm"}})
    for path in tmp_path.rglob("*"):
        if path.is_file():
            assert canary.encode() not in path.read_bytes(), path
