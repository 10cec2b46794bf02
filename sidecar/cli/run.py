"""`ainfluencer run PRESET` (queue a preset, follow it, print its outputs) and `ainfluencer presets`."""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

from ..core.errors import AInfError, ErrorCode
from ..core.paths import WORKFLOWS_DIR
from ..jobs.presets import PresetCatalog
from ..jobs.store import FINAL_STATES
from .client import SidecarClient
from .common import ProgressLines, err, print_error, server

POLL_INTERVAL_S = 0.5


def _parse_inputs(pairs: list[str]) -> dict[str, str]:
    inputs = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name:
            raise AInfError(ErrorCode.VALIDATION_ERROR, f"--input takes name=value, got {pair!r}.")
        inputs[name] = value
    return inputs


def _input_value(client: SidecarClient, value: str) -> Any:
    path = Path(value).expanduser()
    if path.is_file():
        return client.upload(path)["name"]
    try:
        return json.loads(value)
    except json.JSONDecodeError:
        return value


class _JobProgress(ProgressLines):
    """A job's status and percentage."""

    def __init__(self, as_json: bool) -> None:
        super().__init__(as_json, unit="%", bar_format="{desc} |{bar}| {n:.0f}% {elapsed}")

    def update(self, job: dict[str, Any]) -> None:
        """Show the job's latest state."""
        event = {"job_id": job["job_id"], "status": job["status"], "progress": job["progress"]}
        state = (job["status"], round(job["progress"], 3))
        self.show(state, event, job["status"], job["progress"] * 100, 100)


def _follow(client: SidecarClient, job_id: str, as_json: bool) -> dict[str, Any]:
    """Poll a job until it finishes; Ctrl-C or a stop signal cancels it, then goes on up."""
    progress = _JobProgress(as_json)
    try:
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


def _print_finished(job: dict[str, Any]) -> None:
    print(f"job: {job['job_id']}")
    print(f"status: {job['status']}")
    for art in job["artifacts"]:
        print(f"{art['kind']}: {art['path']}")
    if job["error"]:
        error = job["error"]
        print_error(
            AInfError(
                ErrorCode(error["error"]),
                error["message"],
                remediation=error["remediation"],
                detail=error["detail"],
            ),
            False,
        )


def cmd_run(args: argparse.Namespace) -> int:
    """Run a preset and wait for it."""
    with server(args.server, args.base_dir, args.json) as client:
        inputs = {k: _input_value(client, v) for k, v in _parse_inputs(args.input).items()}
        body = {
            "inputs": inputs,
            "quality_level": args.quality,
            "engine": args.engine,
            "seed": args.seed,
            "consent_given": args.consent,
        }
        started = client.run(args.preset, body)
        job_id = started["job_id"]
        if args.json:
            print(json.dumps({"event": "queued", **started}), flush=True)
        else:
            err(f"job {job_id} queued (estimated {started['estimated_time_seconds']:.0f}s)")
        job = _follow(client, job_id, args.json)
    if args.json:
        print(json.dumps({"event": "finished", **job}), flush=True)
    else:
        _print_finished(job)
    return 0 if job["status"] == "completed" else 1


def cmd_presets(args: argparse.Namespace) -> int:
    """List the presets."""
    catalog = PresetCatalog(WORKFLOWS_DIR)
    described = [catalog.describe(pid) for pid in catalog.ids()]
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
