"""The model catalog: honest curated entries, user entries with acknowledgments, installed status, and a
preset that names the catalog id of a missing model until it is installed from a (local) source."""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from ainfluencer.sidecar.core.errors import AInfError, ErrorCode
from ainfluencer.sidecar.core.paths import WORKFLOWS_DIR, data_dir
from ainfluencer.sidecar.core.storage import open_database
from ainfluencer.sidecar.host.app import build_sidecar
from ainfluencer.sidecar.models.catalog import (
    LICENSES,
    TYPE_FOLDERS,
    AddCustomModelRequest,
    ModelCatalog,
    ModelEntry,
    load_curated,
)
from ainfluencer.sidecar.models.service import DownloadModelRequest, ModelsService
from ainfluencer.sidecar.runs.pipeline import RunRequest
from conftest import EXAMPLES
from pydantic import ValidationError
from test_downloader_server import ModelServer, safetensors_bytes, serve_models, sha256

PRESET = "color_grade_film_grain_v1"
NEEDS_MODEL = Path(__file__).parent / "data" / "models" / "needs_upscaler_v1.json"


@pytest.fixture
def model_server() -> Iterator[ModelServer]:
    """A local HTTP model server on 127.0.0.1."""
    yield from serve_models()


@pytest.fixture
def models_root(tmp_path: Path) -> Path:
    """A ComfyUI-like models folder."""
    root = tmp_path / "models"
    root.mkdir()
    return root


def folders_under(root: Path):
    """A `model_folders(kind)` lookup over one models root (what ComfyBridge answers in ComfyUI)."""
    return lambda kind: [root / kind]


@pytest.fixture
def catalog(tmp_path: Path, models_root: Path) -> ModelCatalog:
    """The shipped catalog over an empty models folder."""
    return ModelCatalog(open_database(data_dir(tmp_path / "user")), folders_under(models_root))


def _custom(**fields) -> AddCustomModelRequest:
    body = {
        "name": "My portrait LoRA",
        "type": "lora",
        "url": "https://example.com/files/portrait.safetensors",
        "filename": "portrait.safetensors",
        "license": "apache-2.0",
        "sha256": "a" * 64,
    }
    body.update(fields)
    return AddCustomModelRequest.model_validate(body)


def test_curated_entries_carry_the_required_fields_and_name_their_sources():
    entries = load_curated()
    assert {"checkpoint", "upscaler", "ip_adapter", "instantid"} <= {e.type for e in entries}
    for entry in entries:
        assert entry.url.startswith("https://") and entry.filename and entry.license in LICENSES
        assert entry.size_mb and entry.tier and entry.tags and entry.recommended_use and entry.hardware_notes
        assert entry.license_source and entry.sha256_source
        assert entry.folder == TYPE_FOLDERS[entry.type]
        if entry.verified:
            assert re.fullmatch(r"[0-9a-f]{64}", entry.sha256 or "")
        else:
            assert entry.name.startswith("Example:") and not entry.recommended and entry.sha256 is None


def test_licence_traps_and_pickles_are_flagged_and_examples_never_recommended(catalog):
    described = {m["id"]: m for m in (catalog.describe(e) for e in catalog.entries())}
    faceid = described["example-ip-adapter-faceid-plusv2-sdxl"]
    assert faceid["commercial_use"] is False and "non-commercial" in faceid["license_flags"]
    assert faceid["pickle"] is True and not faceid["recommended"]
    assert described["example-4x-ultrasharp"]["license_flags"] == ["non-commercial"]
    assert described["realesrgan-x4plus"]["pickle"] is True and described["realesrgan-x4plus"]["verified"]
    assert described["sdxl-base-1.0"]["recommended"] and not described["sdxl-base-1.0"]["installed"]
    assert all(not m["recommended"] for m in described.values() if m["name"].startswith("Example:"))


def test_an_unverified_curated_entry_must_be_labelled_example():
    base = {
        "id": "x",
        "type": "vae",
        "license": "mit",
        "url": "https://e.com/x.safetensors",
        "filename": "x.safetensors",
    }
    with pytest.raises(ValidationError):
        ModelEntry.model_validate({**base, "name": "Looks official"})
    entry = ModelEntry.model_validate({**base, "name": "Example: x", "recommended": True})
    assert entry.recommended is False
    with pytest.raises(ValidationError):
        ModelEntry.model_validate({**base, "name": "Verified without digest", "verified": True})


def test_installed_status_follows_the_models_folder(catalog, models_root):
    entry = catalog.get("sdxl-base-1.0")
    assert catalog.installed_path(entry) is None
    (models_root / "checkpoints").mkdir()
    (models_root / "checkpoints" / entry.filename).write_bytes(b"x")
    assert catalog.describe(entry)["installed"] is True


def test_a_custom_entry_is_stored_with_a_custom_id(catalog):
    entry = catalog.add_custom(_custom(tags=["portrait"]))
    assert entry.id.startswith("custom-my-portrait-lora-") and entry.custom
    assert [e.id for e in catalog.custom_entries()] == [entry.id]
    assert catalog.get(entry.id).tags == ["portrait"]


@pytest.mark.parametrize(
    ("fields", "code", "needed"),
    [
        ({"license": "unknown"}, ErrorCode.LICENSE_UNKNOWN, ["acknowledge_unknown_license"]),
        ({"sha256": None}, ErrorCode.CHECKSUM_MISSING, ["acknowledge_missing_checksum"]),
        (
            {"license": "other", "sha256": None},
            ErrorCode.LICENSE_UNKNOWN,
            ["acknowledge_unknown_license", "acknowledge_missing_checksum"],
        ),
        (
            {"license": "other", "sha256": None, "acknowledge_unknown_license": True},
            ErrorCode.CHECKSUM_MISSING,
            ["acknowledge_missing_checksum"],
        ),
    ],
)
def test_unknown_licence_and_missing_checksum_need_explicit_acknowledgments(catalog, fields, code, needed):
    with pytest.raises(AInfError) as info:
        catalog.add_custom(_custom(**fields))
    assert info.value.code == code and info.value.detail["required_acknowledgments"] == needed
    assert catalog.custom_entries() == []


def test_both_acknowledgments_admit_an_entry_without_licence_or_checksum(catalog):
    entry = catalog.add_custom(
        _custom(
            license="unknown",
            sha256=None,
            acknowledge_unknown_license=True,
            acknowledge_missing_checksum=True,
        )
    )
    assert entry.sha256 is None and "license-unknown" in entry.public()["license_flags"]


@pytest.mark.parametrize(
    "fields",
    [
        {"url": "ftp://example.com/x.safetensors"},
        {"url": "file:///etc/passwd"},
        {"filename": "../x.safetensors"},
        {"filename": "x.exe"},
        {"filename": "x.ckpt"},
    ],
)
def test_custom_entries_refuse_bad_urls_filenames_and_unacknowledged_pickles(catalog, fields):
    with pytest.raises(AInfError) as info:
        catalog.add_custom(_custom(**fields))
    assert info.value.code == ErrorCode.VALIDATION_ERROR


@pytest.mark.parametrize(
    "fields",
    [{"license": "free-for-all"}, {"sha256": "xyz"}, {"type": "script"}, {"surprise": 1}],
)
def test_the_custom_request_model_forbids_unknown_fields_and_values(fields):
    with pytest.raises(ValidationError):
        _custom(**fields)


def test_a_pickle_is_admitted_with_its_acknowledgment(catalog):
    entry = catalog.add_custom(_custom(filename="x.ckpt", type="checkpoint", acknowledge_pickle=True))
    assert entry.pickle and "Pickle format" in " ".join(entry.public()["warnings"])


@pytest.fixture
def workflows(tmp_path: Path) -> Path:
    """A workflows folder holding a small preset (LoadVideo -> SaveVideo) that needs `test-upscaler`."""
    folder = tmp_path / "workflows"
    folder.mkdir()
    shutil.copy(NEEDS_MODEL, folder / NEEDS_MODEL.name)
    return folder


async def test_a_missing_model_names_its_catalog_id_and_the_run_passes_once_it_is_installed(
    tmp_path, host, workflows, model_server, models_root, monkeypatch
):
    monkeypatch.setenv("AINFLUENCER_ALLOW_LOCAL_DOWNLOADS", "1")
    data = safetensors_bytes(n_floats=4096)
    model_server.add("/upscaler.safetensors", body=data)
    entry = ModelEntry(
        id="test-upscaler",
        name="Test 4x upscaler",
        type="upscaler",
        license="apache-2.0",
        url=model_server.url("/upscaler.safetensors"),
        filename="test-4x.safetensors",
        sha256=sha256(data),
        size_bytes=len(data),
        verified=True,
    )
    user_dir = tmp_path / "user"
    service = ModelsService(open_database(data_dir(user_dir)), folders_under(models_root), curated=[entry])
    sidecar = build_sidecar(
        host, user_dir, host.resolve_output, workflows_dir=workflows, models=service.catalog
    )
    shutil.copy(EXAMPLES / "portrait_push_in.mp4", host.input_dir / "a.mp4")
    request = RunRequest(inputs={"video": "a.mp4"})

    with pytest.raises(AInfError) as info:
        await sidecar.pipeline.execute_preset("needs_upscaler_v1", request)
    assert info.value.code == ErrorCode.DEPENDENCY_MISSING
    missing = info.value.detail["missing_models"]
    assert [(m["id"], m["name"], m["folder"]) for m in missing] == [
        ("test-upscaler", "Test 4x upscaler", "upscale_models")
    ]
    assert "ainfluencer models download test-upscaler" in info.value.remediation[0]

    installed = service.fetch("test-upscaler", DownloadModelRequest())
    assert installed == models_root / "upscale_models" / "test-4x.safetensors"
    job = await sidecar.pipeline.execute_preset("needs_upscaler_v1", request)
    assert job["status"] == "queued" and len(host.queued) == 1


def test_a_preset_needing_an_unknown_model_says_it_is_not_in_the_catalog(catalog):
    from ainfluencer.sidecar.jobs.presets import PresetCatalog

    preset = PresetCatalog(WORKFLOWS_DIR).primary(PRESET).model_copy(update={"required_models": ["nope"]})
    assert catalog.missing(preset) == [{"id": "nope", "name": "nope", "reason": "not in the model catalog"}]
