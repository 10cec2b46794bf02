"""`ainfluencer` command line: comfy install|path, serve, run, presets, jobs, keys, credits, doctor."""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from ..core.errors import AInfError, ErrorCode
from ..core.paths import WORKFLOWS_DIR, data_dir
from ..core.storage import open_database
from ..host import runtime
from ..jobs.presets import PresetCatalog
from ..jobs.store import FINAL_STATES, JobStore
from .client import SidecarClient
from .models import add_models_commands
from .setup import add_setup_commands

POLL_INTERVAL_S = 0.5


def _err(*parts: Any) -> None:
    print(*parts, file=sys.stderr, flush=True)


def _print_error(error: AInfError, as_json: bool) -> None:
    if as_json:
        print(json.dumps({"event": "error", **error.to_dict()}), flush=True)
        return
    _err(f"error {error.code}: {error.message}")
    for step in error.remediation:
        _err(f"  -> {step}")
    if error.detail:
        _err(f"  detail: {json.dumps(error.to_dict()['detail'], default=str)}")


@contextmanager
def _server(url: str | None, base_dir: Path | None, quiet: bool) -> Iterator[SidecarClient]:
    """A client for `url`, or for an ephemeral embedded server that is stopped afterwards."""
    server = None
    if url is None:
        runtime.install(say=(lambda *_: None) if quiet else (lambda m: _err(m)))
        if not quiet:
            _err("Starting an embedded ComfyUI …")
        server = runtime.start_server(runtime.free_port(), base_dir=base_dir)
        url = server.url
    client = SidecarClient(url)
    try:
        yield client
    finally:
        client.close()
        if server is not None:
            server.stop()


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


class _Progress:
    """A terminal progress bar (tqdm) or JSON lines."""

    def __init__(self, as_json: bool) -> None:
        self.as_json = as_json
        self.bar = None
        self.last: tuple[str, float] | None = None

    def update(self, job: dict[str, Any]) -> None:
        state = (job["status"], round(job["progress"], 3))
        if state == self.last:
            return
        self.last = state
        if self.as_json:
            print(
                json.dumps(
                    {
                        "event": "progress",
                        "job_id": job["job_id"],
                        "status": job["status"],
                        "progress": job["progress"],
                    }
                ),
                flush=True,
            )
            return
        if self.bar is None:
            from tqdm import tqdm

            self.bar = tqdm(
                total=100, unit="%", file=sys.stderr, bar_format="{desc} |{bar}| {n:.0f}% {elapsed}"
            )
        self.bar.set_description_str(job["status"])
        self.bar.n = job["progress"] * 100
        self.bar.refresh()

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def cmd_run(args: argparse.Namespace) -> int:
    """Run a preset and wait for it."""
    with _server(args.server, args.base_dir, args.json) as client:
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
            _err(f"job {job_id} queued (estimated {started['estimated_time_seconds']:.0f}s)")
        progress = _Progress(args.json)
        try:
            while True:
                job = client.job(job_id)
                progress.update(job)
                if job["status"] in FINAL_STATES:
                    break
                time.sleep(POLL_INTERVAL_S)
        except KeyboardInterrupt:
            client.cancel(job_id)
            _err(f"job {job_id} cancelled")
            return 130
        finally:
            progress.close()
    if args.json:
        print(json.dumps({"event": "finished", **job}), flush=True)
    else:
        print(f"job: {job_id}")
        print(f"status: {job['status']}")
        for art in job["artifacts"]:
            print(f"{art['kind']}: {art['path']}")
        if job["error"]:
            _print_error(
                AInfError(
                    ErrorCode(job["error"]["error"]),
                    job["error"]["message"],
                    remediation=job["error"]["remediation"],
                    detail=job["error"]["detail"],
                ),
                False,
            )
    return 0 if job["status"] == "completed" else 1


def _local_store(base_dir: Path | None) -> JobStore:
    folder = data_dir((base_dir or runtime.default_base_dir()) / "user")
    return JobStore(open_database(folder), folder)


def cmd_jobs(args: argparse.Namespace) -> int:
    """List jobs or show one (reads the store directly unless --server is given)."""
    if args.server:
        client = SidecarClient(args.server)
        data = client.job(args.job_id) if args.job_id else client.jobs(args.limit)
        client.close()
    else:
        store = _local_store(args.base_dir)
        data = store.get(args.job_id) if args.job_id else store.list(limit=args.limit)
    if args.json or args.job_id:
        print(json.dumps(data, indent=None if args.json else 2))
        return 0
    for job in data["jobs"]:
        when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(job["created_at"]))
        print(f"{job['job_id']}  {when}  {job['status']:<9}  {job['preset_id'] or '-':<28}  {job['source']}")
    print(f"{data['total']} job(s)")
    return 0


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


def cmd_serve(args: argparse.Namespace) -> int:
    """Start the graph editor with the pack and keep it running."""
    runtime.install(say=_err)
    server = runtime.start_server(args.port, args.listen, args.base_dir, extra_args=args.comfy_args)
    _err(f"ComfyUI with AInfluencer at {server.url} (log: {server.log_path}); Ctrl-C stops it.")
    try:
        while server.process.poll() is None:
            time.sleep(1)
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
    return server.process.returncode or 0


def cmd_comfy(args: argparse.Namespace) -> int:
    """`comfy install` prepares the runtime; `comfy path` prints where it is."""
    if args.action == "install":
        print(runtime.install(say=_err))
    else:
        print(runtime.comfy_path())
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The argument parser."""
    parser = argparse.ArgumentParser(prog="ainfluencer", description="AInfluencer presets on ComfyUI.")
    sub = parser.add_subparsers(dest="command", required=True)

    comfy = sub.add_parser("comfy", help="prepare or locate the embedded ComfyUI")
    comfy.add_argument("action", choices=["install", "path"])
    comfy.set_defaults(func=cmd_comfy)

    serve = sub.add_parser("serve", help="start the graph editor with the pack")
    serve.add_argument("--port", type=int, default=8188)
    serve.add_argument("--listen", default="127.0.0.1")
    serve.add_argument("--base-dir", type=Path)
    serve.add_argument("comfy_args", nargs="*", help="extra ComfyUI arguments after --")
    serve.set_defaults(func=cmd_serve)

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

    jobs = sub.add_parser("jobs", help="list jobs or show one")
    jobs.add_argument("job_id", nargs="?")
    jobs.add_argument("--limit", type=int, default=20)
    jobs.add_argument("--server")
    jobs.add_argument("--base-dir", type=Path)
    jobs.add_argument("--json", action="store_true")
    jobs.set_defaults(func=cmd_jobs)

    add_setup_commands(sub)
    add_models_commands(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the console script."""
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except AInfError as error:
        _print_error(error, getattr(args, "json", False))
        return 2
    except runtime.RuntimeErrorWithLog as error:
        _err(f"error ENGINE_OFFLINE: {error}")
        return 2


if __name__ == "__main__":
    sys.exit(main())
