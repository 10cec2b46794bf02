"""`ainfluencer` command line: the parser over the command modules, and the exit codes of errors."""

from __future__ import annotations

import argparse
import sys

from ..core.errors import AInfError
from ..host import runtime
from .common import err, print_error
from .jobs import add_jobs_command
from .models import add_models_commands
from .run import add_run_commands
from .serve import add_serve_commands
from .setup import add_setup_commands
from .verify import add_verify_commands


def build_parser() -> argparse.ArgumentParser:
    """The argument parser."""
    parser = argparse.ArgumentParser(prog="ainfluencer", description="AInfluencer presets on ComfyUI.")
    sub = parser.add_subparsers(dest="command", required=True)
    add_serve_commands(sub)
    add_run_commands(sub)
    add_jobs_command(sub)
    add_setup_commands(sub)
    add_models_commands(sub)
    add_verify_commands(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the console script."""
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except AInfError as error:
        print_error(error, getattr(args, "json", False))
        return 2
    except runtime.RuntimeErrorWithLog as error:
        err(f"error ENGINE_OFFLINE: {error}")
        return 2
    except runtime.StopRequested as stop:
        return stop.exit_code
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
