"""The Studio's Models section: the form offers what the catalog accepts, and in the browser a custom model
from a local file server installs only when its checksum matches (a wrong one is shown and leaves nothing on
disk), behind the spec's gates for an unknown licence and a missing checksum."""

from __future__ import annotations

import re
import typing
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from ainfluencer.sidecar.host import runtime
from ainfluencer.sidecar.models.catalog import SPEC_LICENSES, ModelType
from studio_browser import section_checks, studio_browser
from test_downloader_server import ModelServer, safetensors_bytes, serve_models, sha256

MODELS_JS = Path(__file__).resolve().parent.parent / "web" / "studio" / "sections" / "models.js"
V1 = "/ainfluencer/v1"


def _js_list(name: str) -> list[str]:
    match = re.search(rf"export const {name} = \[(.*?)\];", MODELS_JS.read_text(encoding="utf-8"), re.S)
    assert match, name
    return re.findall(r'"([^"]+)"', match.group(1))


def test_the_add_source_form_offers_every_model_type_and_exactly_the_spec_licence_choices():
    types = _js_list("MODEL_TYPES")
    assert sorted(types) == sorted(typing.get_args(ModelType))
    assert types[:5] == ["checkpoint", "lora", "embedding", "controlnet", "other"]  # the spec's five first
    assert _js_list("LICENSE_CHOICES") == list(SPEC_LICENSES)


@pytest.fixture(scope="module")
def files() -> Iterator[ModelServer]:
    """The local model file server the custom entries download from."""
    yield from serve_models()


def fresh_server(
    tmp_path_factory: pytest.TempPathFactory, name: str, env: dict[str, str] | None = None
) -> Iterator[runtime.ComfyServer]:
    """A ComfyUI with the pack on a fresh base directory of its own, stopped when the generator resumes."""
    base = tmp_path_factory.mktemp(name) / "base"
    runtime.install()
    started = runtime.start_server(
        runtime.free_port(), base_dir=base, log_path=base.parent / "comfyui.log", env=env
    )
    yield started
    started.stop()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[runtime.ComfyServer]:
    """ComfyUI with the pack whose downloader accepts this machine's own file server."""
    yield from fresh_server(tmp_path_factory, "studio_models", {"AINFLUENCER_ALLOW_LOCAL_DOWNLOADS": "1"})


def _in_browser(fn, *args):
    with ThreadPoolExecutor(max_workers=1) as pool:  # Playwright's sync API wants a loop-free thread
        return pool.submit(fn, *args).result()


def _fill_source(page, name: str, url: str, filename: str, license: str, checksum: str) -> None:
    form = page.locator("form.ainf-models-add")
    form.get_by_label("Model name").fill(name)
    form.get_by_label("Model type").select_option("lora")
    form.get_by_label("Download URL").fill(url)
    form.get_by_label("Filename").fill(filename)
    form.get_by_label("License").select_option(license)
    form.get_by_label("Checksum (SHA256)").fill(checksum)


def _add_and_install(base_url: str, url: str, filename: str, checksum: str) -> dict:
    with studio_browser(base_url) as browser:
        page, watch = browser.open_full("models")
        _fill_source(page, f"Studio {filename}", url, filename, "MIT", checksum)
        page.get_by_role("button", name="Add model source").click()
        card = page.locator("li.ainf-models-card", has_text=f"Studio {filename}")
        card.get_by_role("button", name=f"Install Studio {filename}").click()
        card.locator(".ainf-error, .ainf-badge-ok:text-is('Installed')").first.wait_for(timeout=60_000)
        error = card.locator(".ainf-error")
        seen = {
            "error_code": error.get_attribute("data-error-code") if error.count() else None,
            "error_text": error.inner_text() if error.count() else "",
            "installed": card.locator(".ainf-badge-ok", has_text="Installed").count() == 1,
            "problems": section_checks(page, watch, "models"),
        }
        return seen


@pytest.mark.integration
@pytest.mark.browser
def test_a_wrong_checksum_shows_the_failure_and_leaves_nothing_on_disk(server, files):
    data = safetensors_bytes(n_floats=20_000)
    files.add("/wrong.safetensors", body=data)
    seen = _in_browser(
        _add_and_install, server.url, files.url("/wrong.safetensors"), "wrong.safetensors", "0" * 64
    )
    assert seen["error_code"] == "CHECKSUM_MISMATCH" and not seen["installed"]
    assert "sha256 mismatch" in seen["error_text"] and "Copy details" in seen["error_text"]
    loras = server.base_dir / "models" / "loras"
    assert not loras.exists() or list(loras.iterdir()) == []  # no file, no partial file
    assert seen["problems"] == []


@pytest.mark.integration
@pytest.mark.browser
def test_the_right_checksum_installs_the_file_and_shows_the_installed_badge(server, files):
    data = safetensors_bytes(n_floats=30_000, fill=3)
    files.add("/right.safetensors", body=data)
    seen = _in_browser(
        _add_and_install, server.url, files.url("/right.safetensors"), "right.safetensors", sha256(data)
    )
    assert seen["installed"] and seen["error_code"] is None
    assert sha256((server.base_dir / "models" / "loras" / "right.safetensors").read_bytes()) == sha256(data)
    assert seen["problems"] == []


def _walk_the_gates(base_url: str, url: str) -> dict:
    with studio_browser(base_url) as browser:
        page, watch = browser.open_full("models")
        form = page.locator("form.ainf-models-add")
        submit = form.get_by_role("button", name="Add model source")
        _fill_source(page, "Studio unknown terms", url, "unknown.safetensors", "Unknown", "")
        steps = {"blocked_at_first": submit.is_disabled()}
        steps["risk_warning"] = form.get_by_text("Download at your risk").is_visible()
        form.get_by_label(re.compile("licence is unknown")).check()
        steps["blocked_by_checksum"] = submit.is_disabled()
        form.get_by_label("I understand the risks").check()
        submit.click()
        dialog = page.get_by_role("dialog", name="No licence and no checksum")
        confirm = dialog.get_by_role("button", name="Add anyway")
        steps["dialog_needs_ack"] = confirm.is_disabled()
        dialog.get_by_label("I understand the risks").check()
        confirm.click()
        page.locator("li.ainf-models-card", has_text="Studio unknown terms").wait_for()
        _fill_source(page, "Studio no checksum", url, "nosum.safetensors", "MIT", "")
        steps["checksum_only_blocked"] = submit.is_disabled()
        form.get_by_label("I understand the risks").check()
        submit.click()  # a known licence: no dialog, the entry is added
        page.locator("li.ainf-models-card", has_text="Studio no checksum").wait_for()
        steps["problems"] = watch.problems()
        return steps


@pytest.mark.integration
@pytest.mark.browser
def test_an_unknown_licence_and_a_missing_checksum_each_need_their_acknowledgment_and_both_a_dialog(
    server, files
):
    files.add("/gate.safetensors", body=safetensors_bytes(n_floats=64))
    steps = _in_browser(_walk_the_gates, server.url, files.url("/gate.safetensors"))
    assert steps == {
        "blocked_at_first": True,
        "risk_warning": True,
        "blocked_by_checksum": True,
        "dialog_needs_ack": True,
        "checksum_only_blocked": True,
        "problems": [],
    }
    custom = {m["name"]: m for m in httpx.get(f"{server.url}{V1}/models/custom").json()["models"]}
    assert (
        custom["Studio unknown terms"]["license"] == "unknown"
        and custom["Studio unknown terms"]["sha256"] is None
    )
    assert (
        custom["Studio no checksum"]["license"] == "mit"
        and "license-unknown" not in custom["Studio no checksum"]["license_flags"]
    )


def _start_then_cancel(base_url: str, url: str) -> dict:
    with studio_browser(base_url) as browser:
        page, watch = browser.open_full("models")
        _fill_source(page, "Studio slow", url, "slow.safetensors", "MIT", "1" * 64)
        page.get_by_role("button", name="Add model source").click()
        card = page.locator("li.ainf-models-card", has_text="Studio slow")
        card.get_by_role("button", name="Install Studio slow").click()
        bar = card.get_by_role("progressbar", name="Download of Studio slow")
        page.wait_for_function("(bar) => bar.value > 0", arg=bar.element_handle())
        seen = {"progress_shown": bar.is_visible()}
        card.get_by_role("button", name="Cancel the download of Studio slow").click()
        card.get_by_role("status").filter(has_text="Download cancelled").wait_for()
        seen["bar_after"] = bar.is_visible()
        seen["problems"] = watch.problems()
        return seen


@pytest.mark.integration
@pytest.mark.browser
def test_a_running_install_shows_its_progress_and_cancel_stops_it_without_leaving_a_file(server, files):
    files.add("/slow.safetensors", body=safetensors_bytes(n_floats=400_000), delay_per_chunk=0.2)
    seen = _in_browser(_start_then_cancel, server.url, files.url("/slow.safetensors"))
    assert seen == {"progress_shown": True, "bar_after": False, "problems": []}
    loras = server.base_dir / "models" / "loras"
    assert not (loras / "slow.safetensors").exists()
