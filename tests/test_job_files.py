"""Every file a preset run writes lives in its job's folder and is a listed artifact of the job.

Each saving node of a run gets a `filename_prefix` inside `output/ainfluencer/<job_id>/`, and a social export
whose video a later node saves is only a preview in ComfyUI's temp folder (the save node writes the
deliverable once). End to end: the hero preset (photo + speech → 9:16 talking head, whose 9:16 export feeds
the signed save node) through the real ComfyUI against the fal.ai emulator.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from ainfluencer.sidecar.core.paths import WORKFLOWS_DIR
from ainfluencer.sidecar.jobs.presets import PresetCatalog
from ainfluencer.sidecar.runs.job_files import feeds_another_node, job_prefixes
from conftest import wait_for_job
from fakes import captured_node_defs
from test_remote_integration import client, emulators, server  # noqa: F401  (shared fixtures)

HERO = "cinematic_talking_head_v1"


def test_every_saving_node_of_a_run_writes_inside_the_jobs_folder():
    graph = json.loads((WORKFLOWS_DIR / f"{HERO}.json").read_text())
    manifest = PresetCatalog(WORKFLOWS_DIR).primary(HERO)
    prefixes = job_prefixes(graph, captured_node_defs(), manifest, HERO, "job_1")
    assert prefixes == {
        ("9", "filename_prefix"): "ainfluencer/job_1/cinematic_talking_head_v1",  # the manifest's output
        ("8", "filename_prefix"): "ainfluencer/job_1/cinematic_talking_head_v1_social",  # the 9:16 export
    }


def test_an_output_node_another_node_goes_on_with_is_an_intermediate():
    prompt = {
        "8": {"class_type": "AInfluencerSocialExport", "inputs": {"video": ["6", 0], "platform": "tiktok"}},
        "9": {"class_type": "AInfluencerSaveVideo", "inputs": {"video": ["8", 0], "filename_prefix": "x"}},
    }
    assert feeds_another_node(prompt, "8") and feeds_another_node(prompt, "6")
    assert not feeds_another_node(prompt, "9") and not feeds_another_node(None, "9")


def _files(root: Path) -> set[Path]:
    return {p for p in root.rglob("*") if p.is_file()}


@pytest.mark.integration
def test_a_run_with_a_social_export_leaves_no_file_outside_its_listed_artifacts(client, server):  # noqa: F811
    output = server.base_dir / "output"
    before = _files(output)
    body = {"inputs": {"image": "portrait.png", "audio": "speech.wav"}, "consent_given": True}
    done = wait_for_job(client, client.run(HERO, body)["job_id"], timeout_s=600)
    assert done["status"] == "completed", done["error_detail"]
    written = _files(output) - before
    listed = {Path(a["path"]) for a in done["artifacts"]}
    assert written == listed, sorted(map(str, written ^ listed))
    folder = output / "ainfluencer" / done["job_id"]
    assert all(folder in path.parents for path in written)
    finals = [a for a in done["artifacts"] if not a["metadata"].get("remote")]
    assert [a["node_id"] for a in finals] == ["9"]  # the signed 9:16 clip, once
