"""The optional invisible watermark: it reads back after JPEG and resizing, stays invisible, is off by
default, and goes in before the C2PA signature so the manifest still validates."""

from __future__ import annotations

import hashlib
import io
import json
import shutil
from pathlib import Path

import aiohttp
import numpy as np
import pytest
from ainfluencer.sidecar.cli.client import SidecarClient
from ainfluencer.sidecar.cli.main import main
from ainfluencer.sidecar.core.errors import AInfError
from ainfluencer.sidecar.provenance.image_marks import (
    WatermarkFinding,
    mark_file,
    read_mark,
    set_watermark,
    watermark_enabled,
)
from ainfluencer.sidecar.provenance.manifest import GENERATED, Step
from ainfluencer.sidecar.provenance.outputs import JobContext, output_record, sign_output
from ainfluencer.sidecar.provenance.verify import verify_file
from ainfluencer.sidecar.provenance.watermark import Payload, embed, extract
from conftest import EXAMPLES, wait_for_job
from PIL import Image, PngImagePlugin

PORTRAIT = EXAMPLES / "portrait.png"
JOB = Payload.for_job("job-7f3a")


def _portrait() -> np.ndarray:
    return np.asarray(Image.open(PORTRAIT).convert("RGB"))


def _synthetic(width: int = 640, height: int = 480, seed: int = 2) -> np.ndarray:
    """Gradients, a sine pattern and sensor-like noise."""
    y, x = np.mgrid[0:height, 0:width]
    pattern = 128 + 60 * np.sin(x / 17.0) * np.cos(y / 23.0)
    image = np.stack([x * 255 / width, y * 255 / height, pattern], axis=-1)
    image += np.random.default_rng(seed).normal(0, 8, image.shape)
    return np.clip(image, 0, 255).astype(np.uint8)


IMAGES = {"portrait": _portrait, "synthetic": _synthetic}


def _jpeg(pixels: np.ndarray, quality: int = 75) -> np.ndarray:
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="JPEG", quality=quality)
    return np.asarray(Image.open(buffer).convert("RGB"))


def _resized(pixels: np.ndarray, factor: float = 0.75) -> np.ndarray:
    image = Image.fromarray(pixels)
    size = (round(image.width * factor), round(image.height * factor))
    return np.asarray(image.resize(size, Image.Resampling.LANCZOS))


def _psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return float(10 * np.log10(255**2 / mse))


def _record(path: Path):
    step = Step("c2pa.created", "AInfluencerSaveImage", "9", None, GENERATED)
    return output_record(path, [step], [], JobContext("job-7f3a", None, None, None, ()), "0.1.0")


def _saved_png(folder: Path) -> Path:
    """A PNG as ComfyUI's Save Image writes it: the prompt and workflow in text chunks."""
    text = PngImagePlugin.PngInfo()
    text.add_text("prompt", json.dumps({"9": {"class_type": "AInfluencerSaveImage"}}))
    out = folder / "ainf_00001_.png"
    Image.fromarray(_portrait()).save(out, pnginfo=text)
    return out


@pytest.fixture
def data_folder(tmp_path: Path) -> Path:
    folder = tmp_path / "user" / "__ainfluencer"
    folder.mkdir(parents=True)
    return folder


@pytest.mark.parametrize("image", IMAGES)
def test_a_mark_reads_back_as_the_tag_and_the_jobs_hash_prefix(image):
    assert extract(embed(IMAGES[image](), JOB)) == JOB
    assert JOB.text() == "AInf:" + hashlib.sha256(b"job-7f3a").hexdigest()[:8]


@pytest.mark.parametrize("image", IMAGES)
@pytest.mark.parametrize(
    "change",
    [_jpeg, _resized, lambda p: _jpeg(_resized(p))],
    ids=["jpeg q75", "resize 0.75x", "resize then jpeg"],
)
def test_the_mark_survives_jpeg_quality_75_and_a_resize_to_three_quarters(image, change):
    assert extract(change(embed(IMAGES[image](), JOB))) == JOB


@pytest.mark.parametrize(
    "unmarked",
    [
        _portrait(),
        _jpeg(_portrait()),
        _synthetic(),
        _synthetic(1024, 1536, seed=4),
        _synthetic(256, 256, seed=3),
        np.full((512, 512, 3), 128, dtype=np.uint8),
        np.random.default_rng(5).integers(0, 256, (300, 400, 3), dtype=np.uint8),
    ],
    ids=["portrait", "portrait jpeg", "synthetic", "tall synthetic", "small synthetic", "flat grey", "noise"],
)
def test_an_unmarked_image_reports_no_mark(unmarked):
    assert extract(unmarked) is None


@pytest.mark.parametrize("image", IMAGES)
def test_the_marked_image_is_at_least_38_db_from_the_original(image):
    original = IMAGES[image]()
    assert _psnr(original, embed(original, JOB)) >= 38


def test_an_output_of_no_job_carries_zeros_for_the_job_hash():
    assert Payload.for_job(None).text() == "AInf:00000000"


def test_a_save_with_the_default_settings_writes_no_watermark(tmp_path, data_folder):
    out = _saved_png(tmp_path)
    before = np.asarray(Image.open(out))
    sign_output(out, _record(out), data_folder)
    assert not watermark_enabled(data_folder)
    assert np.array_equal(np.asarray(Image.open(out)), before)
    assert verify_file(out).watermark.status == "none"


def test_with_the_watermark_on_a_signed_image_is_marked_and_its_manifest_still_validates(
    tmp_path, data_folder
):
    set_watermark(data_folder, True)
    out = _saved_png(tmp_path)
    sign_output(out, _record(out), data_folder)
    report = verify_file(out)
    assert report.status == "valid" and not report.problems
    assert report.watermark.as_dict() == {"status": "found", "payload": JOB.text()}
    assert "AInfluencerSaveImage" in Image.open(out).text["prompt"]  # ComfyUI's graph is kept
    set_watermark(data_folder, False)
    again = shutil.copy(PORTRAIT, tmp_path / "after_off.png")
    sign_output(again, _record(Path(again)), data_folder)
    assert read_mark(again).status == "none"


def test_a_marked_image_still_reads_after_a_platform_re_encodes_it_without_credentials(tmp_path, data_folder):
    set_watermark(data_folder, True)
    out = _saved_png(tmp_path)
    sign_output(out, _record(out), data_folder)
    reposted = tmp_path / "reposted.jpg"
    Image.fromarray(_resized(np.asarray(Image.open(out).convert("RGB")))).save(reposted, quality=75)
    report = verify_file(reposted)
    assert report.status == "none"
    assert report.summary().splitlines()[-1] == f"watermark: found ({JOB.text()})"


def test_the_cli_turns_the_watermark_on_and_off_and_show_reports_it(tmp_path, capsys):
    base = tmp_path / "base"
    assert main(["signing", "show", "--base-dir", str(base), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["watermark"] is False
    assert main(["signing", "watermark", "on", "--base-dir", str(base)]) == 0
    assert "watermark on images: on" in capsys.readouterr().out
    assert main(["signing", "show", "--base-dir", str(base), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["watermark"] is True
    assert main(["signing", "watermark", "off", "--base-dir", str(base)]) == 0
    assert "watermark on images: off" in capsys.readouterr().out


def test_cli_verify_names_the_watermark_of_an_image(tmp_path, capsys):
    marked = tmp_path / "marked.png"
    Image.fromarray(embed(_portrait(), JOB)).save(marked)
    assert main(["verify", str(marked)]) == 3  # no content credentials: the verdict still says none
    assert capsys.readouterr().out.splitlines() == [
        "none: the file carries no content credentials",
        f"watermark: found ({JOB.text()})",
    ]


async def test_the_verify_route_reports_the_watermark_of_an_uploaded_image(client, tmp_path):
    marked = tmp_path / "marked.png"
    Image.fromarray(embed(_portrait(), JOB)).save(marked)
    none = {"status": "none", "payload": None}
    for path, expected in ((marked, {"status": "found", "payload": JOB.text()}), (PORTRAIT, none)):
        form = aiohttp.FormData()
        form.add_field("file", path.read_bytes(), filename=path.name, content_type="image/png")
        body = await (await client.post("/ainfluencer/v1/verify", data=form)).json()
        assert body["watermark"] == expected


def test_marking_a_broken_image_fails_with_the_reason_and_a_tiny_one_is_left_unmarked(tmp_path):
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"not a picture")
    with pytest.raises(AInfError) as failure:
        mark_file(broken, JOB)
    assert failure.value.message == "The output could not be watermarked." and failure.value.detail["reason"]
    tiny = tmp_path / "tiny.png"
    Image.fromarray(_synthetic(48, 48)).save(tiny)
    before = tiny.read_bytes()
    assert mark_file(tiny, JOB) is False and tiny.read_bytes() == before


@pytest.mark.integration
def test_the_signed_save_node_of_a_real_run_marks_the_image_before_signing_it(comfy_server):
    if isinstance(comfy_server, str):
        pytest.fail("turning the watermark on needs the suite's own server (unset AINF_TEST_COMFY_URL)")
    base = ["--base-dir", str(comfy_server.base_dir)]
    assert main(["signing", "watermark", "on", *base]) == 0
    api = SidecarClient(comfy_server.url, timeout=120)
    try:
        started = api.run("cinematic_finish_v1", {"inputs": {"image": api.upload(PORTRAIT)["name"]}})
        job = wait_for_job(api, started["job_id"])
    finally:
        api.close()
        assert main(["signing", "watermark", "off", *base]) == 0
    assert job["status"] == "completed", job["error"]
    report = verify_file(job["artifacts"][0]["path"])
    assert report.status == "valid" and not report.problems
    assert report.watermark == WatermarkFinding("found", Payload.for_job(job["job_id"]).text())
