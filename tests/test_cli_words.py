"""The CLI speaks CLI: flags instead of JSON fields, paths that do not exist named, near preset names
suggested, a job shown as a readable summary, and the installed models listed with their paths."""

from __future__ import annotations

import json

import pytest
from ainfluencer.sidecar.cli import main as cli
from ainfluencer.sidecar.cli.common import cli_words
from ainfluencer.sidecar.cli.jobs import render_job
from ainfluencer.sidecar.core.errors import AInfError, ErrorCode
from ainfluencer.sidecar.core.paths import data_dir
from ainfluencer.sidecar.core.storage import open_database
from ainfluencer.sidecar.jobs.store import JobStore


@pytest.mark.parametrize(
    ("server_words", "cli_says"),
    [
        (AInfError(ErrorCode.FILE_NOT_FOUND).remediation[0],
         "Pass an existing local file with --input NAME=PATH."),
        ("If you trust the publisher, acknowledge it (acknowledge_pickle: true).",
         "If you trust the publisher, acknowledge it with --acknowledge-pickle."),
        ('Confirm by sending acknowledge_unknown_license: true ("I understand the risks").',
         "Confirm with --acknowledge-unknown-license (I understand the risks)."),
        ("Or acknowledge the risk (acknowledge_missing_checksum: true).",
         "Or acknowledge the risk with --acknowledge-missing-checksum."),
        ('To store the key without a check, connect again with "verify": false '
         "(in the command line: --no-verify).",
         "To store the key without a check, run `ainfluencer keys set PROVIDER --no-verify`."),
        (AInfError(ErrorCode.CONSENT_MISSING).remediation[0],
         "Confirm you have the person's consent (--consent) and run again."),
        (AInfError(ErrorCode.PRESET_NOT_FOUND).remediation[0], "List presets with `ainfluencer presets`."),
        (AInfError(ErrorCode.AUTH_FAILED).remediation[0],
         "Check the key and set it again with `ainfluencer keys set PROVIDER`."),
        (AInfError(ErrorCode.INSUFFICIENT_FUNDS).remediation[0],
         "The budget starts at 0: set one with `ainfluencer credits --budget N`."),
        ("Open the Setup Hub → Providers and connect one of: provider_fal",
         "Connect one with `ainfluencer keys set PROVIDER`: provider_fal"),
    ],
)  # fmt: skip
def test_server_remediation_is_reworded_with_cli_flags_and_commands(server_words, cli_says):
    assert cli_words(server_words) == cli_says


def test_an_error_printed_by_the_cli_carries_the_flag_not_the_json_field(capsys):
    error = AInfError(
        ErrorCode.VALIDATION_ERROR,
        ".ckpt files are pickles.",
        remediation=["If you trust the publisher, acknowledge it (acknowledge_pickle: true)."],
    )
    cli.print_error(error, False)
    assert "--acknowledge-pickle" in capsys.readouterr().err
    cli.print_error(error, True)
    event = json.loads(capsys.readouterr().out)
    assert event["event"] == "error" and "--acknowledge-pickle" in event["remediation"][0]


def test_a_wrong_preset_name_gets_did_you_mean_before_any_server_starts(capsys):
    assert cli.main(["run", "color_grade_film_grain", "--server", "http://127.0.0.1:9"]) == 2
    err = capsys.readouterr().err
    assert "error PRESET_NOT_FOUND" in err and "Did you mean color_grade_film_grain_v1?" in err


def test_a_missing_local_file_is_named_with_its_path_not_the_upload_route(tmp_path, capsys):
    missing = tmp_path / "nowhere.mp4"
    argv = [
        "run",
        "color_grade_film_grain_v1",
        "--input",
        f"video={missing}",
        "--server",
        "http://127.0.0.1:9",
    ]
    assert cli.main(argv) == 2
    err = capsys.readouterr().err
    assert f"The file {missing} does not exist" in err and "/ainfluencer/v1/uploads" not in err


def _job(**changes) -> dict:
    job = {
        "job_id": "job_1", "status": "failed", "preset_id": "color_grade_film_grain_v1",
        "quality_level": "low", "source": "cli", "engine": "local_comfy", "progress": 0.42,
        "progress_text": "grading frame 21/50",
        "credit_cost": 0.0, "created_at": "2023-11-14T22:13:20+00:00",
        "started_at": "2023-11-14T22:13:22+00:00", "finished_at": "2023-11-14T22:14:52.500000+00:00",
        "artifacts": [], "error": None, "error_code": None, "remediation": None,
    }  # fmt: skip
    return {**job, **changes}


def test_a_job_summary_says_where_it_stands_in_words_with_times_outputs_and_remediation():
    error = AInfError(ErrorCode.CONSENT_MISSING, job_id="job_1").to_dict()
    text = render_job(
        _job(error=error["message"], error_code=error["error"], remediation=error["remediation"])
    )
    assert "job       job_1  failed" in text and "engine    local_comfy" in text
    assert "progress  failed at 42% — grading frame 21/50" in text and "(ran 1m30s)" in text
    assert "cost      0 credits" in text and "outputs   none" in text
    assert "error     CONSENT_MISSING" in text and "(--consent)" in text
    art = {"kind": "video", "path": "/out/a.mp4", "size_bytes": 3 * 1024**2}
    done = render_job(_job(status="completed", progress=1.0, error=None, artifacts=[art]))
    assert "progress  finished, all outputs written" in done and "video   /out/a.mp4 (3.0 MiB)" in done


def test_jobs_id_prints_the_summary_and_json_prints_the_record(tmp_path, capsys):
    folder = data_dir(tmp_path / "base" / "user")
    store = JobStore(open_database(folder), folder)
    job_id = store.create(
        source="cli", preset_id="color_grade_film_grain_v1", inputs={}, engine="local_comfy"
    )
    store.mark_running(job_id)
    store.set_progress(job_id, 0.5)
    assert cli.main(["jobs", job_id, "--base-dir", str(tmp_path / "base")]) == 0
    assert "progress  running, 50% done" in capsys.readouterr().out
    assert cli.main(["jobs", job_id, "--base-dir", str(tmp_path / "base"), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["job_id"] == job_id


def test_models_list_installed_shows_only_installed_models_with_their_paths(tmp_path, capsys):
    models = tmp_path / "base" / "models" / "checkpoints"
    models.mkdir(parents=True)
    (models / "sd_xl_base_1.0.safetensors").write_bytes(b"x")
    assert cli.main(["models", "list", "--installed", "--base-dir", str(tmp_path / "base")]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[-1] == "1 model(s) installed"
    assert out[0].startswith("sdxl-base-1.0") and out[0].endswith(str(models / "sd_xl_base_1.0.safetensors"))


def test_a_hold_kept_for_a_submit_in_doubt_is_released_with_a_flag_not_a_route():
    from ainfluencer.sidecar.remote.adapters.http_policy import SubmitUnconfirmed

    steps = [cli_words(step) for step in SubmitUnconfirmed("provider_fal", "fal.ai", "500", None).remediation]
    assert any("`ainfluencer credits --release JOB_ID STEP_ID`" in step for step in steps)
    assert not any("/ainfluencer/v1/" in step for step in steps)


def test_running_out_of_budget_names_the_studio_place_there_and_the_credits_command_on_the_terminal():
    studio = AInfError(ErrorCode.INSUFFICIENT_FUNDS).remediation
    terminal = [cli_words(step) for step in studio]
    assert "Studio → Budget" in studio[0] and "ainfluencer credits" not in studio[0]
    assert "`ainfluencer credits --budget N`" in terminal[0] and "Studio" not in terminal[0]
