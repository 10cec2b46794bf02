"""Every shipped preset ends with a signed save node, and what it signs says what the preset did.

Each preset's graph is converted as the pipeline converts it; the manifest of its output is read back with
c2pa-python's Reader and must list the preset's steps as C2PA actions (with the AI label where a model made
or remade the picture) and its inputs as ingredients whose sha256 is the input file's.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import replace
from pathlib import Path

import pytest
from ainfluencer.sidecar.core.paths import WORKFLOWS_DIR
from ainfluencer.sidecar.graph.convert import ui_to_api
from ainfluencer.sidecar.jobs.presets import preset_files
from ainfluencer.sidecar.provenance.graph_record import describe_graph
from ainfluencer.sidecar.provenance.manifest import GENERATED, TRANSFORMED, Engine
from ainfluencer.sidecar.provenance.outputs import UNTRACKED, output_record, sign_output
from ainfluencer.sidecar.provenance.sign import file_sha256
from ainfluencer.sidecar.provenance.verify import verify_file
from conftest import EXAMPLES
from fakes import captured_node_defs, third_party_node_defs

DEFS = {**captured_node_defs(), **third_party_node_defs()}
SHIPPED = preset_files(WORKFLOWS_DIR)
# the social export signs its own re-encoded 9:16 file, so it is a signed saver too
SIGNED_SAVERS = {
    "image": {"AInfluencerSaveImage"},
    "video": {"AInfluencerSaveVideo", "AInfluencerSocialExport"},
}
GRADE, TONE, GRAIN = "AInfluencerColorGrade", "AInfluencerToneMap", "AInfluencerFilmGrain"
GRADE_V, TONE_V, GRAIN_V = (f"{t}Video" for t in (GRADE, TONE, GRAIN))
COLOUR, FILTER, RESIZE, OPENED = "c2pa.color_adjustments", "c2pa.filtered", "c2pa.resized", "c2pa.opened"
CREATED = "c2pa.created"
ANAMORPHIC = "AInfluencerAnamorphicLook"
EDITED = "c2pa.edited"
UGC_REMOTE = [
    (CREATED, "AInfluencerProductScene", TRANSFORMED),
    (EDITED, "AInfluencerKlingImageToVideo", TRANSFORMED),
    (EDITED, "AInfluencerSyncLipSync", TRANSFORMED),
]
# preset → the actions its output's manifest lists, in order: (action, node type, digital source type)
EXPECTED: dict[str, list[tuple[str, str, str | None]]] = {
    "cinematic_finish_v1": [
        (OPENED, "input", None), (FILTER, GRAIN, None), (COLOUR, TONE, None), (COLOUR, GRADE, None),
    ],
    "cinematic_portrait_v1": [
        (CREATED, "KSampler", GENERATED), (FILTER, ANAMORPHIC, None), (FILTER, GRAIN, None),
        (COLOUR, TONE, None), (COLOUR, GRADE, None),
    ],
    "cinematic_portrait_v1@provider_fal": [
        (CREATED, "AInfluencerFalFluxPro", GENERATED), (FILTER, ANAMORPHIC, None), (FILTER, GRAIN, None),
        (COLOUR, TONE, None), (COLOUR, GRADE, None),
    ],
    "color_grade_film_grain_v1": [
        (OPENED, "input", None), (COLOUR, GRADE_V, None), (COLOUR, TONE_V, None), (FILTER, GRAIN_V, None),
    ],
    "hybrid_portrait_v1": [
        (CREATED, "KSampler", GENERATED), (RESIZE, "AInfluencerUpscale", TRANSFORMED), (FILTER, GRAIN, None),
    ],
    "cinematic_talking_head_v1": [
        (CREATED, "AInfluencerFalTalkingHead", TRANSFORMED), (COLOUR, GRADE_V, None), (FILTER, GRAIN_V, None),
        (RESIZE, "AInfluencerSocialExport", None),
    ],
    "identity_lock_portrait_v1": [(CREATED, "AInfluencerFalFluxPulid", TRANSFORMED)],
    "identity_lock_portrait_v1@provider_runware": [(CREATED, "AInfluencerRunwarePulid", TRANSFORMED)],
    "identity_lock_portrait_v1@provider_kling": [(CREATED, "AInfluencerKlingFaceReference", TRANSFORMED)],
    "identity_lock_portrait_v1@local_comfy": [(CREATED, "KSampler", GENERATED)],
    "image_to_video_v1": [(CREATED, "AInfluencerKlingImageToVideo", TRANSFORMED)],
    "image_to_video_v1@provider_fal": [(CREATED, "AInfluencerFalImageToVideo", TRANSFORMED)],
    "photoreal_portrait_v1": [(CREATED, "KSampler", GENERATED), (FILTER, GRAIN, None)],
    "photoreal_portrait_v1@provider_fal": [
        (CREATED, "AInfluencerFalFluxPro", GENERATED), (FILTER, GRAIN, None),
    ],
    # two signed outputs: the contact sheet (node 4) and every shot (node 2)
    "storyboard_builder_v1#4": [
        (CREATED, "AInfluencerStoryboardShots", GENERATED), (RESIZE, "AInfluencerContactSheet", None),
    ],
    "storyboard_builder_v1#2": [(CREATED, "AInfluencerStoryboardShots", GENERATED)],
    "talking_clip_v1": [(CREATED, "AInfluencerSyncLipSync", TRANSFORMED)],
    "talking_clip_v1@provider_fal": [
        (CREATED, "AInfluencerFalTalkingHead", TRANSFORMED), (COLOUR, GRADE_V, None), (FILTER, GRAIN_V, None),
        (RESIZE, "AInfluencerSocialExport", None),
    ],
    "talking_clip_v1@provider_liveportrait": [(CREATED, "LivePortraitProcess", TRANSFORMED)],
    "video_identity_consistency_v1": [
        (CREATED, "AInfluencerFalFaceSwapVideo", TRANSFORMED), (FILTER, "AInfluencerInterpolateVideo", None),
    ],
    "video_identity_consistency_v1@local_comfy": [
        (CREATED, "AInfluencerLocalFaceSwapVideo", TRANSFORMED),
        (FILTER, "AInfluencerInterpolateVideo", None),
    ],
    # one c2pa.created per manifest: the later model steps are edits, still labelled as model-made
    "ugc_clip_builder_v1#11": [
        *UGC_REMOTE, (COLOUR, GRADE_V, None), (RESIZE, "AInfluencerUpscaleVideo", None),
        (RESIZE, "AInfluencerSocialExport", None),
    ],
    "ugc_clip_builder_v1#10": [
        *UGC_REMOTE, (COLOUR, GRADE_V, None), (RESIZE, "AInfluencerUpscaleVideo", None),
    ],
    "upscale_deflicker_video_v1": [
        (OPENED, "input", None), (FILTER, "AInfluencerDeflickerVideo", None),
        (RESIZE, "AInfluencerUpscaleVideo", None), (FILTER, "AInfluencerInterpolateVideo", None),
    ],
    "upscale_denoise_image_v1": [(OPENED, "input", None), (RESIZE, "AInfluencerUpscaleImage", None)],
    "upscale_denoise_image_v1@provider_runware": [
        # a model remade the opened picture, so the output as a whole is labelled as such
        (OPENED, "input", TRANSFORMED), (RESIZE, "AInfluencerRunwareUpscale", TRANSFORMED),
    ],
}  # fmt: skip


def _preset(path: Path) -> tuple[dict, dict, list[dict]]:
    graph = json.loads(path.read_text(encoding="utf-8"))
    return graph, ui_to_api(graph, DEFS), graph["extra"]["ainfluencer"]["outputs"]


def test_the_expectations_cover_exactly_the_shipped_presets():
    assert sorted({key.split("#")[0] for key in EXPECTED}) == sorted(p.stem for p in SHIPPED)


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.stem)
def test_every_output_of_every_shipped_preset_is_saved_by_a_signed_save_node(path):
    _graph, prompt, outputs = _preset(path)
    assert outputs
    for output in outputs:
        assert prompt[output["node_id"]]["class_type"] in SIGNED_SAVERS[output["kind"]]
    assert not {"SaveImage", "SaveVideo"} & {n["class_type"] for n in prompt.values()}


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.stem)
def test_a_shipped_presets_output_validates_with_its_actions_and_input_hashes(path, tmp_path, canary):
    _graph, prompt, outputs = _preset(path)
    for output in outputs:
        key = path.stem if len(outputs) == 1 else f"{path.stem}#{output['node_id']}"
        _check_signed_output(path, prompt, output, EXPECTED[key], tmp_path / output["node_id"], canary)


def _check_signed_output(path, prompt, output, expected, tmp_path, canary):
    tmp_path.mkdir()
    hashed: list[tuple[str, str]] = []

    def model_hash(folder: str, name: str) -> str:
        hashed.append((folder, name))
        return "0" * 64

    facts = describe_graph(prompt, output["node_id"], model_hash=model_hash)
    inputs = [EXAMPLES / name for name in facts.input_files]
    assert all(p.is_file() for p in inputs), facts.input_files
    sample = EXAMPLES / ("portrait.png" if output["kind"] == "image" else "portrait_talking_source.mp4")
    out = tmp_path / f"{path.stem}_00001_{sample.suffix}"
    shutil.copy(sample, out)
    context = replace(UNTRACKED, job_id="job_x", preset_id=path.stem.split("@")[0], quality_level="standard")
    sign_output(out, output_record(out, facts.steps, inputs, context, "0.1.0"), tmp_path / "data")

    report = verify_file(out)
    assert report.status == "valid", report.problems
    assert [(a.action, a.step and prompt.get(a.step, {}).get("class_type", a.step), a.source_type)
            for a in report.actions] == expected  # fmt: skip
    assert {(i.title, i.sha256) for i in report.ingredients} == {(p.name, file_sha256(p)) for p in inputs}
    if "KSampler" in {n["class_type"] for n in prompt.values()}:
        assert hashed == [("checkpoints", "sd_xl_base_1.0.safetensors")]
        assert report.actions[0].engine == {
            "local_model": "sd_xl_base_1.0.safetensors",
            "local_model_sha256": "0" * 64,
        }
    assert str(tmp_path) not in json.dumps(report.as_dict()) and canary not in json.dumps(report.as_dict())


def test_the_engine_that_really_ran_a_remote_node_is_the_one_named():
    _graph, prompt, (output,) = _preset(WORKFLOWS_DIR / "hybrid_portrait_v1.json")
    upscale = next(k for k, n in prompt.items() if n["class_type"] == "AInfluencerUpscale")
    ran = Engine(provider="provider_fal", model_id="fal-ai/clarity-upscaler")
    facts = describe_graph(prompt, output["node_id"], model_hash=lambda *_: None, remote={upscale: ran})
    assert next(s.engine for s in facts.steps if s.step == upscale) == ran
    local = describe_graph(prompt, output["node_id"], model_hash=lambda *_: None)
    assert next(s.engine for s in local.steps if s.step == upscale) == Engine(provider="local_comfy")
