"""`ainfluencer serve` (the graph editor with the pack) and `ainfluencer comfy install|path`."""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

from ..host import runtime
from .common import err


def cmd_serve(args: argparse.Namespace) -> int:
    """Start the graph editor with the pack and keep it running until ComfyUI exits or a stop signal."""
    runtime.install(say=err)
    with runtime.stop_on_signals():
        server = runtime.start_server(args.port, args.listen, args.base_dir, extra_args=args.comfy_args)
        try:
            err(
                f"ComfyUI with AInfluencer at {server.url} (pid {server.pid}, log: {server.log_path}); "
                "Ctrl-C or SIGTERM stops it."
            )
            while server.process.poll() is None:
                time.sleep(1)
        except runtime.StopRequested as stop:
            err(f"{stop}: stopping ComfyUI (pid {server.pid}) …")
            server.stop(stop.signum)
            return 0
        finally:
            server.stop()
    return server.process.returncode or 0


def cmd_comfy(args: argparse.Namespace) -> int:
    """`comfy install` prepares the runtime; `comfy path` prints where it is."""
    if args.action == "install":
        print(runtime.install(say=err))
    else:
        print(runtime.comfy_path())
    return 0


def add_serve_commands(sub: Any) -> None:
    """Register comfy and serve on the CLI's subparsers."""
    comfy = sub.add_parser("comfy", help="prepare or locate the embedded ComfyUI")
    comfy.add_argument("action", choices=["install", "path"])
    comfy.set_defaults(func=cmd_comfy)

    serve = sub.add_parser("serve", help="start the graph editor with the pack")
    serve.add_argument("--port", type=int, default=8188)
    serve.add_argument("--listen", default="127.0.0.1")
    serve.add_argument("--base-dir", type=Path)
    serve.add_argument("comfy_args", nargs="*", help="extra ComfyUI arguments after --")
    serve.set_defaults(func=cmd_serve)
