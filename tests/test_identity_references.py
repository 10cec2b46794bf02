"""1–3 identity references: batched for the measurement and for engines that take several, from the run's
`identity_reference` list or from a character's reference photos."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from ainfluencer.comfy_nodes.identity.faces import face_embedder
from ainfluencer.comfy_nodes.identity.references import reference_batch
from ainfluencer.sidecar.host.app import build_sidecar
from ainfluencer.sidecar.jobs.characters import CharacterCreate, ReferenceAdd
from ainfluencer.sidecar.runs.generate import GenerateRequest, to_run_request
from ainfluencer.sidecar.runs.pipeline import RunRequest
from face_samples import other_face, portrait
from PIL import Image
from pydantic import ValidationError

REPO = Path(__file__).resolve().parent.parent
FAL_KEY = "fal-test-id:fal-test-secret"
PRESET = "identity_lock_portrait_v1"


def _tensor(image: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(image.astype(np.float32) / 255.0)[None]


# -- the batch ----------------------------------------------------------------------------------------------
def test_the_first_photo_is_kept_as_it_is_and_later_ones_are_fitted_into_its_frame_aspect_kept():
    first = torch.rand(1, 64, 48, 3)
    wide = torch.ones(1, 20, 80, 3)  # 4:1, fitted to 48 wide → 12 rows of picture, the rest black
    batch = reference_batch(first, wide, None)
    assert batch.shape == (2, 64, 48, 3) and torch.equal(batch[0], first[0])
    rows = batch[1].amax(dim=(1, 2)) > 0.5
    assert int(rows.sum()) == 12 and not rows[0] and not rows[-1]


def test_at_most_three_photos_are_kept_and_none_is_refused():
    photos = [torch.rand(1, 8, 8, 3) for _ in range(4)]
    assert reference_batch(*photos).shape[0] == 3
    with pytest.raises(ValueError):
        reference_batch(None, None)


def test_a_second_reference_of_another_size_keeps_its_face_when_fitted_into_the_batch():
    second = np.asarray(Image.fromarray(other_face(portrait())).resize((300, 420)))
    batch = reference_batch(_tensor(np.asarray(portrait())), _tensor(second))
    embedder = face_embedder()
    fitted = embedder.embed((batch[1].numpy() * 255 + 0.5).astype(np.uint8))
    assert fitted is not None
    assert float(np.linalg.norm(fitted - embedder.embed(second))) < 0.3  # the same person after fitting


# -- binding ------------------------------------------------------------------------------------------------
@pytest.fixture
def identity_sidecar(tmp_path, host, monkeypatch):
    monkeypatch.setenv("AINFLUENCER_PROVIDER_FAL_API_KEY", FAL_KEY)
    folder = tmp_path / "workflows"
    (folder / "variants").mkdir(parents=True)
    shutil.copy(REPO / "workflows" / f"{PRESET}.json", folder)
    for path in (REPO / "workflows" / "variants").glob(f"{PRESET}@*.json"):
        shutil.copy(path, folder / "variants" / path.name)
    for name in ("a.png", "b.png", "c.png"):
        portrait().save(host.input_dir / name)
    sidecar = build_sidecar(host, tmp_path / "user", host.resolve_output, workflows_dir=folder)
    sidecar.ledger.set_budget(5.0)
    return sidecar


def _references_node(prompt: dict) -> dict:
    return next(n for n in prompt.values() if n["class_type"] == "AInfluencerIdentityReferences")["inputs"]


def test_the_generate_contract_binds_two_references_and_leaves_the_third_out(identity_sidecar):
    body = GenerateRequest(preset_id=PRESET, prompt="on a rooftop", identity_reference=["a.png", "b.png"],
                           consent_given=True)  # fmt: skip
    run = to_run_request("image", body, identity_sidecar.pipeline)
    assert run.inputs == {
        "prompt": "on a rooftop",
        "identity_reference": "a.png",
        "identity_reference_2": "b.png",
    }
    prompt = identity_sidecar.pipeline.estimate(PRESET, run)
    assert prompt["engine"] == "provider_fal"


async def test_a_run_with_two_references_measures_against_both_and_bypasses_the_third_loader(
    identity_sidecar, host
):
    inputs = {"prompt": "on a rooftop", "identity_reference": "a.png", "identity_reference_2": "b.png"}
    await identity_sidecar.pipeline.execute_preset(PRESET, RunRequest(inputs=inputs, consent_given=True))
    prompt = host.queued[0]["prompt"]
    refs = _references_node(prompt)
    assert prompt[refs["reference"][0]]["inputs"]["image"] == "a.png"
    assert prompt[refs["reference_2"][0]]["inputs"]["image"] == "b.png"
    assert "reference_3" not in refs and "12" not in prompt


def test_four_references_are_more_than_the_contract_takes():
    with pytest.raises(ValidationError):
        GenerateRequest(preset_id=PRESET, prompt="p", identity_reference=["a.png"] * 4, consent_given=True)


async def test_a_run_naming_a_character_takes_its_reference_photos(identity_sidecar, host):
    characters = identity_sidecar.characters
    made = characters.create(CharacterCreate(name="Mia"))
    for name in ("a.png", "b.png", "c.png"):
        characters.add_reference(made["id"], ReferenceAdd(image=name))
    request = RunRequest(inputs={"prompt": "at the harbour"}, consent_given=True, character_id=made["id"])
    await identity_sidecar.pipeline.execute_preset(PRESET, request)
    prompt = host.queued[0]["prompt"]
    refs = _references_node(prompt)
    names = [prompt[refs[k][0]]["inputs"]["image"] for k in ("reference", "reference_2", "reference_3")]
    assert names == ["a.png", "b.png", "c.png"]


async def test_a_characters_photos_still_need_consent(identity_sidecar, host):
    from ainfluencer.sidecar.core.errors import AInfError, ErrorCode

    made = identity_sidecar.characters.create(CharacterCreate(name="Mia"))
    identity_sidecar.characters.add_reference(made["id"], ReferenceAdd(image="a.png"))
    request = RunRequest(inputs={"prompt": "at the harbour"}, character_id=made["id"])
    with pytest.raises(AInfError) as caught:
        await identity_sidecar.pipeline.execute_preset(PRESET, request)
    assert caught.value.code == ErrorCode.CONSENT_MISSING and host.queued == []
