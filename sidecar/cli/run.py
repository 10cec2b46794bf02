"""`ainfluencer run PRESET` (queue a preset, follow it, print its outputs) and `ainfluencer presets`."""

from __future__ import annotations

import argparse
import difflib
import json
import time
from pathlib import Path
from typing import Any

from ..core.errors import AInfError, ErrorCode
from ..core.paths import WORKFLOWS_DIR
from ..jobs.presets import FILE_INPUT_TYPES, PresetCatalog
from ..jobs.store import FINAL_STATES
from ..runs.repair import REPAIR_DESCRIPTION, REPAIR_PRESET
from ..runs.timing import human_duration
from .client import SidecarClient
from .common import ProgressLines, err, server
from .jobs import render_job

POLL_INTERVAL_S = 0.5


def _parse_inputs(pairs: list[str]) -> dict[str, str]:
    inputs = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name:
            raise AInfError(ErrorCode.VALIDATION_ERROR, f"--input takes name=value, got {pair!r}.")
        inputs[name] = value
    return inputs


def _input_value(client: SidecarClient, value: str, file_input: bool) -> Any:
    """A file input's local PATH uploaded (its stored name sent); other values as JSON or text."""
    if file_input:
        return client.upload(Path(value).expanduser())["name"]
    try:
        return json.loads(value)
    except json.JSONDecodeError:
        return value


def check_preset(preset_id: str, known: list[str]) -> None:
    """PRESET_NOT_FOUND with the nearest names ("did you mean …") unless `preset_id` is one of `known`."""
    if preset_id in known:
        return
    close = difflib.get_close_matches(preset_id, known, n=3, cutoff=0.5)
    hint = f" Did you mean {' or '.join(close)}?" if close else ""
    raise AInfError(
        ErrorCode.PRESET_NOT_FOUND,
        f"There is no preset named {preset_id!r}.{hint}",
        detail={"preset_id": preset_id, "did_you_mean": close},
        remediation=["List presets with `ainfluencer presets`."],
    )


def file_inputs(catalog: PresetCatalog, preset_id: str) -> set[str]:
    """The inputs of a preset that name local files (the repair preset has none: it takes a job id)."""
    if preset_id == REPAIR_PRESET:
        return set()
    return {i.name for i in catalog.primary(preset_id).inputs if i.type in FILE_INPUT_TYPES}


def for_terminal(error: AInfError, inputs: dict[str, str]) -> AInfError:
    """A server error worded for the command line: an unknown job to repair names the --input it came from."""
    detail = error.detail if isinstance(error.detail, dict) else {}
    if error.code != ErrorCode.FILE_NOT_FOUND or "failed_job_id" not in detail:
        return error
    job_id = inputs.get("failed_job_id", detail["failed_job_id"])
    return AInfError(
        ErrorCode.FILE_NOT_FOUND,
        f"There is no job {job_id!r} to repair (--input failed_job_id={job_id}).",
        remediation=error.remediation,
        detail=detail,
    )


def check_files(inputs: dict[str, str], file_inputs: set[str]) -> None:
    """FILE_NOT_FOUND naming the path for a file input whose local file does not exist (before any upload)."""
    for name in sorted(file_inputs & set(inputs)):
        path = Path(inputs[name]).expanduser()
        if not path.is_file():
            raise AInfError(
                ErrorCode.FILE_NOT_FOUND,
                f"The file {path.absolute()} does not exist (--input {name}=…).",
                detail={"input": name, "path": str(path.absolute())},
                remediation=[f"Check the path, then pass it as --input {name}=PATH."],
            )


class _JobProgress(ProgressLines):
    """A job's status and percentage."""

    def __init__(self, as_json: bool) -> None:
        super().__init__(as_json, unit="%", bar_format="{desc} |{bar}| {n:.0f}% {elapsed}")

    def update(self, job: dict[str, Any]) -> None:
        """Show the job's latest state (with the frames and ETA of a streamed video pass under way)."""
        frames = {k: job.get(k) for k in ("frames_done", "frames_total", "eta_seconds")}
        event = {"job_id": job["job_id"], "status": job["status"], "progress": job["progress"], **frames}
        state = (job["status"], round(job["progress"], 3), frames["frames_done"])
        self.show(state, event, bar_description(job), job["progress"] * 100, 100)


def bar_description(job: dict[str, Any]) -> str:
    """`running 120/300 frames, about 12 s left` while a streamed pass runs, else the job's status."""
    if job.get("frames_done") is None or not job.get("frames_total"):
        return job["status"]
    text = f"{job['status']} {job['frames_done']}/{job['frames_total']} frames"
    eta = job.get("eta_seconds")
    return text + (f", about {human_duration(eta)} left" if eta is not None else "")


def _announce(started: dict[str, Any], as_json: bool) -> None:
    """Say the job is queued (and which job it repairs)."""
    if as_json:
        print(json.dumps({"event": "queued", **started}), flush=True)
    else:
        repairs = f" (repairs job {started['repair_of']})" if started.get("repair_of") else ""
        err(f"job {started['job_id']} queued{repairs}")


def _follow(client: SidecarClient, started: dict[str, Any], as_json: bool) -> dict[str, Any]:
    """Announce a queued job and poll it to the end; Ctrl-C or a stop signal cancels it, then goes on up.

    The announcement is inside the guarded block: a stop that arrives the moment the job is announced
    (a script reading the "queued" line and signalling at once) still cancels the job and says so.
    """
    job_id = started["job_id"]
    progress = _JobProgress(as_json)
    try:
        _announce(started, as_json)
        while True:
            job = client.job(job_id)
            progress.update(job)
            if job["status"] in FINAL_STATES:
                return job
            time.sleep(POLL_INTERVAL_S)
    except KeyboardInterrupt:
        try:
            client.cancel(job_id)
            err(f"job {job_id} cancelled")
        except AInfError as error:  # the server may be stopping too (Ctrl-C reaches the whole group)
            err(f"job {job_id} could not be cancelled: {error.message}")
        raise
    finally:
        progress.close()


def show_estimate(estimate: dict[str, Any], as_json: bool) -> None:
    """Say, before the run starts, how long it should take (and whether that was measured) and its price."""
    if as_json:
        print(json.dumps({"event": "estimate", **estimate}), flush=True)
        return
    basis = "measured on this machine" if estimate["time_basis"] == "measured" else "preset default"
    err(
        f"estimate  about {human_duration(estimate['estimated_time_seconds'])} ({basis}), "
        f"{estimate['credits']:g} credits, engine {estimate['engine']}"
    )
    if estimate.get("time_note"):
        err(f"note      {estimate['time_note']}")


def cmd_run(args: argparse.Namespace) -> int:
    """Run a preset and wait for it."""
    catalog = PresetCatalog(WORKFLOWS_DIR)
    check_preset(args.preset, [*catalog.ids(), REPAIR_PRESET])
    raw = _parse_inputs(args.input)
    files = file_inputs(catalog, args.preset)
    check_files(raw, files)
    with server(args.server, args.base_dir, args.json) as client:
        inputs = {name: _input_value(client, value, name in files) for name, value in raw.items()}
        body = {
            "inputs": inputs,
            "quality_level": args.quality,
            "engine": args.engine,
            "seed": args.seed,
            "consent_given": args.consent,
        }
        try:
            show_estimate(client.estimate(args.preset, body), args.json)
            started = client.run(args.preset, body)
        except AInfError as error:
            raise for_terminal(error, raw) from None
        job = _follow(client, started, args.json)
    if args.json:
        print(json.dumps({"event": "finished", **job}), flush=True)
    else:
        print(render_job(job))
    return 0 if job["status"] == "completed" else 1


def cmd_presets(args: argparse.Namespace) -> int:
    """List the presets."""
    catalog = PresetCatalog(WORKFLOWS_DIR)
    described = [catalog.describe(pid) for pid in catalog.ids()] + [REPAIR_DESCRIPTION]
    if args.json:
        print(json.dumps(described))
        return 0
    for preset in described:
        inputs = ", ".join(f"{i['name']}{'' if i['required'] else '?'}:{i['type']}" for i in preset["inputs"])
        print(
            f"{preset['id']:<30} {preset['name']}  [{', '.join(preset['quality_levels'])}]  inputs: {inputs}"
        )
    return 0


def add_run_commands(sub: Any) -> None:
    """Register run and presets on the CLI's subparsers."""
    run = sub.add_parser("run", help="run a preset and wait for its outputs")
    run.add_argument("preset")
    run.add_argument("--input", action="append", default=[], metavar="NAME=PATH|VALUE")
    run.add_argument("--quality", choices=["low", "standard", "pro"])
    run.add_argument("--engine")
    run.add_argument("--seed", type=int)
    run.add_argument("--consent", action="store_true", help="confirm consent for identity-based runs")
    run.add_argument("--server", help="URL of a running ComfyUI with the pack (default: start one)")
    run.add_argument("--base-dir", type=Path)
    run.add_argument("--json", action="store_true", help="JSON lines instead of a progress bar")
    run.set_defaults(func=cmd_run)

    presets = sub.add_parser("presets", help="list presets")
    presets.add_argument("--json", action="store_true")
    presets.set_defaults(func=cmd_presets)
