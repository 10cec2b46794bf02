"""cinematic_portrait_v1: a generated portrait through the anamorphic look and the film finish.

The graph is specified on its own (quality levels, inputs, layout); end to end it runs through the real
ComfyUI on the fal.ai variant (no SDXL checkpoint in tests) against the strict fal emulator.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from ainfluencer.sidecar.core.paths import WORKFLOWS_DIR
from ainfluencer.sidecar.jobs.presets import load_preset_file
from conftest import wait_for_job
from PIL import Image
from preset_layout import layout_problems
from test_remote_integration import _posted, client, emulators, server  # noqa: F401  (shared fixtures)

PRIMARY = WORKFLOWS_DIR / "cinematic_portrait_v1.json"
FAL = WORKFLOWS_DIR / "variants" / "cinematic_portrait_v1@provider_fal.json"
FINISH = ["AInfluencerAnamorphicLook", "AInfluencerFilmGrain", "AInfluencerToneMap", "AInfluencerColorGrade"]


def _overrides(path: Path, level: str) -> dict[tuple[str, str], object]:
    variant = load_preset_file(path)
    types = {str(n["id"]): n["type"] for n in variant.graph["nodes"]}
    return {(types[o.node_id], o.input): o.value for o in variant.manifest.quality_levels[level].overrides}


@pytest.mark.parametrize("path", [PRIMARY, FAL], ids=["local", "fal"])
def test_each_variant_runs_the_finish_in_lens_then_film_order_and_ends_signed(path):
    graph = json.loads(path.read_text(encoding="utf-8"))
    by_id = {n["id"]: n for n in graph["nodes"]}
    chain = []
    node = next(n for n in graph["nodes"] if n["type"] == "AInfluencerSaveImage")
    links = {link[0]: link for link in graph["links"]}
    while node["inputs"] and node["inputs"][0]["link"] is not None:
        node = by_id[links[node["inputs"][0]["link"]][1]]
        chain.append(node["type"])
    assert list(reversed(chain))[-4:] == FINISH


@pytest.mark.parametrize("path", [PRIMARY, FAL], ids=["local", "fal"])
def test_low_is_grain_only_standard_adds_the_tone_map_and_pro_the_grade(path):
    low, standard, pro = (_overrides(path, q) for q in ("low", "standard", "pro"))
    assert low[("AInfluencerToneMap", "white_point")] == 1.0 and low[("AInfluencerToneMap", "exposure")] == 0
    assert low[("AInfluencerColorGrade", "intensity")] == 0.0
    assert standard[("AInfluencerToneMap", "white_point")] > 1.0
    assert standard[("AInfluencerColorGrade", "intensity")] == 0.0
    assert pro[("AInfluencerColorGrade", "intensity")] > 0.0
    assert all(level[("AInfluencerFilmGrain", "strength")] > 0 for level in (low, standard, pro))
    assert all(level[("AInfluencerAnamorphicLook", "bokeh")] > 0 for level in (low, standard, pro))


def test_the_local_variant_steps_follow_the_spec_30_35_40():
    steps = [_overrides(PRIMARY, q)[("KSampler", "steps")] for q in ("low", "standard", "pro")]
    assert steps == [30, 35, 40]


@pytest.mark.parametrize("path", [PRIMARY, FAL], ids=["local", "fal"])
def test_the_prompt_is_required_and_the_scope_crop_is_an_option(path):
    manifest = load_preset_file(path).manifest
    assert manifest.input("prompt").required
    crop = manifest.input("scope_crop")
    assert crop.type == "bool" and not crop.required and crop.bind.input == "crop_to_scope"


@pytest.mark.parametrize("path", [PRIMARY, FAL], ids=["local", "fal"])
def test_the_graph_is_laid_out_for_reading(path):
    assert layout_problems(path) == []


@pytest.mark.integration
def test_the_fal_variant_makes_a_scope_frame_and_posts_fals_cost_once(client, emulators):  # noqa: F811
    fal = emulators["fal"].emulator
    before = len(fal.submits)
    body = {
        "inputs": {"prompt": "a portrait on a neon street at night", "scope_crop": True},
        "quality_level": "pro",
    }
    assert client.estimate("cinematic_portrait_v1", body)["engine"] == "provider_fal"
    done = wait_for_job(client, client.run("cinematic_portrait_v1", body)["job_id"], timeout_s=240)
    assert done["status"] == "completed", done
    assert len(fal.submits) == before + 1 and fal.submits[-1][0] == "fal-ai/flux-pro/v1.1"
    final = [a for a in done["artifacts"] if not a["metadata"].get("remote")][-1]
    remote = next(a for a in done["artifacts"] if a["metadata"].get("remote"))
    with Image.open(final["path"]) as img:
        img.load()
        assert abs(img.height - img.width / 2.39) <= 2  # 2.39:1, sides rounded to even for encoders
    assert final["sha256"] != remote["sha256"]
    assert [t["kind"] for t in _posted(client, done["job_id"])] == ["post"]
