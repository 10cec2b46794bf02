"""Signed outputs from the real embedded ComfyUI: presets run through the route end with signed files whose
manifests say what the job did, verifiable through the route, and free of keys and local paths."""

from __future__ import annotations

from pathlib import Path

import c2pa
import httpx
import pytest
from ainfluencer.sidecar.cli.client import SidecarClient
from ainfluencer.sidecar.provenance.manifest import GENERATED
from ainfluencer.sidecar.provenance.sign import file_sha256
from ainfluencer.sidecar.provenance.verify import verify_file
from conftest import CANARY, EXAMPLES, wait_for_job

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def api(comfy_url):
    client = SidecarClient(comfy_url, timeout=120)
    yield client
    client.close()


def _run(api, preset: str, inputs: dict) -> tuple[dict, Path]:
    started = api.run(preset, {"inputs": inputs, "quality_level": "standard"})
    job = wait_for_job(api, started["job_id"])
    assert job["status"] == "completed", job["error"]
    (artifact,) = job["artifacts"]
    out = Path(artifact["path"])
    assert artifact["sha256"] == file_sha256(out)  # recorded after signing: the file as delivered
    return job, out


def test_a_graded_clip_is_signed_with_its_steps_and_the_uploaded_clip_as_parent(api, comfy_url):
    source = EXAMPLES / "portrait_talking_source.mp4"
    name = api.upload(source)["name"]
    job, out = _run(api, "color_grade_film_grain_v1", {"video": name, "style": "warm"})
    report = verify_file(out)
    assert report.status == "valid" and not report.trusted and report.signer == "AInfluencer content signer"
    assert [a.action for a in report.actions] == [
        "c2pa.opened", "c2pa.color_adjustments", "c2pa.color_adjustments", "c2pa.filtered",
    ]  # fmt: skip
    (ingredient,) = report.ingredients
    assert (ingredient.relationship, ingredient.sha256) == ("parentOf", file_sha256(source))
    with out.open("rb") as fh:
        answer = httpx.post(
            f"{comfy_url}/ainfluencer/v1/verify", files={"file": (out.name, fh, "video/mp4")}, timeout=60
        ).json()
    assert answer["status"] == "valid" and answer["actions"][1]["action"] == "c2pa.color_adjustments"
    panel = httpx.get(f"{comfy_url}/ainfluencer/v1/jobs/{job['job_id']}/credentials", timeout=60).json()
    assert [o["status"] for o in panel["outputs"]] == ["valid"]


def test_a_finished_still_is_signed_and_its_manifest_holds_no_key_or_local_path(comfy_server, api):
    if isinstance(comfy_server, str):
        pytest.fail("the path scan needs the suite's own server (unset AINF_TEST_COMFY_URL)")
    name = api.upload(EXAMPLES / "portrait.png")["name"]
    job, out = _run(api, "cinematic_finish_v1", {"image": name})
    report = verify_file(out)
    assert report.status == "valid" and out.suffix == ".png"
    assert [a.action for a in report.actions] == [
        "c2pa.opened", "c2pa.filtered", "c2pa.color_adjustments", "c2pa.color_adjustments",
    ]  # fmt: skip
    assert GENERATED not in {a.source_type for a in report.actions}  # no model made this picture
    with out.open("rb") as fh, c2pa.Reader("image/png", fh) as reader:
        manifest = reader.detailed_json()
    assert CANARY not in manifest and str(comfy_server.base_dir) not in manifest
    assert job["preset_id"] in manifest and job["job_id"] in manifest
