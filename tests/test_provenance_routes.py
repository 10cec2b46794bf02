"""Reading content credentials back: `POST /verify`, a job's credentials, and `ainfluencer verify|signing`."""

from __future__ import annotations

import json
import shutil
from dataclasses import replace
from pathlib import Path

import aiohttp
import pytest
from ainfluencer.sidecar.cli.main import main
from ainfluencer.sidecar.provenance.manifest import GENERATED, Engine, Step
from ainfluencer.sidecar.provenance.outputs import UNTRACKED, output_record, sign_output
from conftest import EXAMPLES
from test_provenance_sign import _flip_payload_byte, _user_chain

V1 = "/ainfluencer/v1"


def _signed_png(folder: Path, data_folder: Path, name: str = "portrait_00001_.png") -> Path:
    out = folder / name
    shutil.copy(EXAMPLES / "portrait.png", out)
    engine = Engine(provider="provider_fal", model_id="fal-ai/flux-pro/v1.1")
    step = Step("c2pa.created", "AInfluencerFalFluxPro", "1", engine, GENERATED)
    sign_output(
        out,
        output_record(out, [step], [], replace(UNTRACKED, preset_id="photoreal_portrait_v1"), "0.1.0"),
        data_folder,
    )
    return out


def _form(path: Path, name: str | None = None) -> aiohttp.FormData:
    form = aiohttp.FormData()
    form.add_field(
        "file", path.read_bytes(), filename=name or path.name, content_type="application/octet-stream"
    )
    return form


def _leftovers(sidecar) -> list[Path]:
    return list(sidecar.data_dir.glob(".verify-*"))


async def test_verify_answers_valid_with_the_signer_actions_and_engine(client, sidecar, tmp_path):
    signed = _signed_png(tmp_path, sidecar.data_dir)
    response = await client.post(f"{V1}/verify", data=_form(signed))
    assert response.status == 200
    body = await response.json()
    assert (
        body["status"] == "valid" and body["signer"] == "AInfluencer content signer" and not body["trusted"]
    )
    assert body["actions"] == [
        {
            "action": "c2pa.created",
            "source_type": GENERATED,
            "step": "1",
            "engine": {"provider": "provider_fal", "model_id": "fal-ai/flux-pro/v1.1"},
        }
    ]
    assert _leftovers(sidecar) == []


async def test_verify_answers_tampered_when_a_byte_of_the_picture_changed(client, sidecar, tmp_path):
    signed = _signed_png(tmp_path, sidecar.data_dir)
    _flip_payload_byte(signed)
    body = await (await client.post(f"{V1}/verify", data=_form(signed))).json()
    assert body["status"] == "tampered" and body["problems"]


async def test_verify_answers_none_for_a_file_without_credentials(client):
    body = await (
        await client.post(f"{V1}/verify", data=_form(EXAMPLES / "portrait_talking_source.mp4"))
    ).json()
    assert body == {
        "status": "none", "signer": None, "trusted": False, "title": None, "generator": None,
        "actions": [], "ingredients": [], "problems": [], "watermark": None,
    }  # fmt: skip


async def test_verify_refuses_a_format_without_credentials_a_json_body_and_an_oversized_file(
    client, sidecar, tmp_path, monkeypatch
):
    text = tmp_path / "notes.txt"
    text.write_text("hello")
    response = await client.post(f"{V1}/verify", data=_form(text))
    assert response.status == 415 and (await response.json())["error"] == "INVALID_MEDIA"
    response = await client.post(f"{V1}/verify", json={"file": "x.png"})
    assert (await response.json())["error"] == "VALIDATION_ERROR"
    monkeypatch.setenv("AINFLUENCER_MAX_UPLOAD_MB", "0.01")
    response = await client.post(f"{V1}/verify", data=_form(_signed_png(tmp_path, sidecar.data_dir)))
    assert (await response.json())["error"] == "PAYLOAD_TOO_LARGE"
    assert _leftovers(sidecar) == []


async def test_a_jobs_credentials_list_each_output_with_its_verdict(client, sidecar, tmp_path):
    job_id = sidecar.store.create(source="api", preset_id="photoreal_portrait_v1", inputs={})
    signed = _signed_png(tmp_path, sidecar.data_dir)
    plain = tmp_path / "plain.png"
    shutil.copy(EXAMPLES / "portrait.png", plain)
    for path in (signed, plain):
        sidecar.store.add_artifact(job_id, path, kind="image", filename=path.name, subfolder="")
    body = await (await client.get(f"{V1}/jobs/{job_id}/credentials")).json()
    assert [(o["filename"], o["status"]) for o in body["outputs"]] == [
        (signed.name, "valid"),
        ("plain.png", "none"),
    ]
    assert body["outputs"][0]["summary"].startswith("valid: signed by AInfluencer content signer")


async def test_the_verify_route_is_in_the_openapi_document(client):
    paths = (await (await client.get(f"{V1}/openapi.json")).json())["paths"]
    assert "post" in paths[f"{V1}/verify"] and "get" in paths[f"{V1}/jobs/{{job_id}}/credentials"]


def test_cli_verify_exits_by_verdict_and_prints_a_readable_summary(tmp_path, capsys):
    signed = _signed_png(tmp_path, tmp_path / "data")
    assert main(["verify", str(signed)]) == 0
    out = capsys.readouterr().out
    assert "valid: signed by AInfluencer content signer (untrusted signer" in out
    action = "action: c2pa.created [trainedAlgorithmicMedia] 1"
    assert f"{action} model_id=fal-ai/flux-pro/v1.1, provider=provider_fal" in out
    assert main(["verify", str(EXAMPLES / "portrait.png"), "--json"]) == 3
    assert json.loads(capsys.readouterr().out)["status"] == "none"
    _flip_payload_byte(signed)
    assert main(["verify", str(signed)]) == 1
    assert main(["verify", str(tmp_path / "missing.png")]) == 2


def test_cli_signing_uses_a_good_user_certificate_and_refuses_a_bad_one_saying_why(tmp_path, capsys):
    base = tmp_path / "base"
    cert, key = _user_chain(tmp_path / "good")
    assert main(["signing", "use", str(cert), str(key), "--base-dir", str(base)]) == 0
    assert "signing as Example Studio: your certificate" in capsys.readouterr().out
    bad_cert, bad_key = _user_chain(tmp_path / "bad", eku=())
    assert main(["signing", "use", str(bad_cert), str(bad_key), "--base-dir", str(base)]) == 2
    assert "no extended key usage" in capsys.readouterr().err
    assert main(["signing", "show", "--base-dir", str(base), "--json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown == {"signer": "Example Studio", "made_here": False, "watermark": False}
    assert main(["signing", "reset", "--base-dir", str(base)]) == 0
    assert "made here (untrusted signer in public viewers)" in capsys.readouterr().out


@pytest.mark.parametrize("args", [["signing", "use"], ["signing", "use", "only_cert.pem"]])
def test_cli_signing_use_needs_both_files(tmp_path, args, capsys):
    assert main([*args, "--base-dir", str(tmp_path)]) == 2
    assert "CERT and KEY" in capsys.readouterr().err
