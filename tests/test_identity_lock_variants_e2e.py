"""identity_lock_portrait_v1 on Runware and Kling, and with several references, end to end through the real
ComfyUI against the strict emulators: consent enforced, the output decodable at its size, the provider's
face-reference request as documented, the ledger posted, and the identity measured against every reference."""

from __future__ import annotations

import base64
import io
from pathlib import Path

import pytest
from ainfluencer.sidecar.core.errors import AInfError, ErrorCode
from conftest import wait_for_job
from face_samples import other_face, other_face_png, portrait
from PIL import Image
from test_remote_integration import _posted, client, emulators, server  # noqa: F401  (shared fixtures)

pytestmark = pytest.mark.integration
PRESET = "identity_lock_portrait_v1"
RUN = {"inputs": {"identity_reference": "portrait.png", "prompt": "her on a rooftop at dusk"}}


def _final(job: dict) -> Path:
    return Path(next(a for a in job["artifacts"] if not a["metadata"].get("remote"))["path"])


def _run(client, engine: str, **extra) -> dict:  # noqa: F811
    job = client.run(PRESET, {**RUN, "engine": engine, "consent_given": True, **extra})
    done = wait_for_job(client, job["job_id"], timeout_s=240)
    assert done["status"] == "completed", done["error_detail"]
    assert done["engine_used"] == engine
    return done


@pytest.mark.parametrize("engine", ["provider_runware", "provider_kling"])
def test_without_consent_nothing_is_sent_to_the_provider(client, emulators, engine):  # noqa: F811
    emulator = emulators[engine.removeprefix("provider_")].emulator
    before = len(emulator.submits)
    with pytest.raises(AInfError) as refused:
        client.run(PRESET, {**RUN, "engine": engine})
    assert refused.value.code == ErrorCode.CONSENT_MISSING and len(emulator.submits) == before


def test_on_runware_pulid_keeps_the_face_and_posts_runwares_reported_cost(client, emulators):  # noqa: F811
    done = _run(client, "provider_runware", seed=31)
    task_type, task = emulators["runware"].emulator.submits[-1]
    assert task_type == "imageInference" and task["model"] == "runware:101@1"
    assert len(task["puLID"]["inputImages"]) == 1 and task["puLID"]["idWeight"] == 1
    with Image.open(_final(done)) as image:
        assert image.size == (768, 1024)
    assert [(t["kind"], t["credits"]) for t in _posted(client, done["job_id"])] == [("post", 0.002)]
    (check,) = done["identity"]["checks"]
    assert check["worst"] < 0.6 and done["warnings"] == []


def test_on_runware_an_output_with_another_face_is_flagged(client, emulators):  # noqa: F811
    runware = emulators["runware"].emulator
    runware.pulid_render = other_face_png()
    try:
        done = _run(client, "provider_runware", seed=32)
    finally:
        runware.pulid_render = None
    assert done["warnings"] and done["warnings"][0].startswith("identity drift in shot 1")


def test_on_kling_the_face_reference_keeps_the_face_and_posts_the_held_unit(client, emulators):  # noqa: F811
    done = _run(client, "provider_kling", seed=33)
    _path, body = emulators["kling"].emulator.submits[-1]
    assert (body["model_name"], body["image_reference"], body["aspect_ratio"]) == (
        "kling-v1-5",
        "face",
        "3:4",
    )
    with Image.open(_final(done)) as image:
        assert image.size == (768, 1024)
    assert [(t["kind"], t["credits"]) for t in _posted(client, done["job_id"])] == [("post", 0.126)]
    (check,) = done["identity"]["checks"]
    assert check["worst"] < 0.6 and done["warnings"] == []


def test_an_output_with_the_face_of_the_second_reference_holds_since_every_reference_is_measured(
    client,  # noqa: F811
    emulators,  # noqa: F811
    tmp_path,
):
    second = tmp_path / "second_reference.png"
    Image.fromarray(other_face(portrait())).resize((384, 384)).save(second)  # smaller than the first
    client.upload(second)
    fal = emulators["fal"].emulator
    fal.pulid_render = other_face_png()  # drifts from the first reference (see the fal identity test)
    try:
        done = _run(
            client, "provider_fal", inputs={**RUN["inputs"], "identity_reference_2": second.name}, seed=34
        )
    finally:
        fal.pulid_render = None
    assert fal.submits[-1][0] == "fal-ai/flux-pulid"  # fal takes one photo: the first
    (check,) = done["identity"]["checks"]
    assert check["worst"] < 0.6 and done["warnings"] == []


def test_the_kling_request_carries_the_first_reference_photo(client, emulators):  # noqa: F811
    _run(client, "provider_kling", seed=35)
    _path, body = emulators["kling"].emulator.submits[-1]
    with Image.open(io.BytesIO(base64.b64decode(body["image"]))) as sent:
        assert sent.size == portrait().size
