"""What several command modules share: stderr messages, error output, JSON lines and the server to talk to."""

from __future__ import annotations

import json
import re
import signal
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from ..core.errors import AInfError
from ..host import runtime
from .client import SidecarClient


def err(*parts: Any) -> None:
    """Print a human message on stderr (stdout stays for results and JSON lines)."""
    print(*parts, file=sys.stderr, flush=True)


def emit(data: Any, as_json: bool, text: str) -> None:
    """Print a result as one JSON line, or as its text."""
    print(json.dumps(data) if as_json else text, flush=True)


# The server's remediation names HTTP routes and JSON fields; on the terminal the same advice names the
# commands and flags that do it. Applied in order to every remediation line the CLI prints.
CLI_WORDS: tuple[tuple[re.Pattern[str], str], ...] = (
    (
        re.compile(r"Upload the file with POST /ainfluencer/v1/uploads and pass the returned name\."),
        "Pass an existing local file with --input NAME=PATH.",
    ),
    (re.compile(r" ?\(in the command line: --no-verify\)"), ""),
    (re.compile(r'connect again with "verify": false'), "run `ainfluencer keys set PROVIDER --no-verify`"),
    (
        re.compile(r'Confirm by sending (acknowledge_\w+): true \("I understand the risks"\)\.'),
        r"Confirm with --\1 (I understand the risks).",
    ),
    (re.compile(r"\((acknowledge_\w+): true\)"), r"with --\1"),
    (re.compile(r"acknowledge it explicitly"), "acknowledge it with --acknowledge-unknown-license"),
    (
        re.compile(r"or acknowledge the risk explicitly"),
        "or acknowledge the risk with --acknowledge-missing-checksum",
    ),
    (re.compile(r"\(consent_given: true\)"), "(--consent)"),
    (
        re.compile(r"Open the Setup Hub → Providers and connect one of:"),
        "Connect one with `ainfluencer keys set PROVIDER`:",
    ),
    (
        re.compile(r"Check the key in the Setup Hub and connect the provider again"),
        "Check the key and set it again with `ainfluencer keys set PROVIDER`",
    ),
    (
        re.compile(r"set one in the Studio → Budget"),
        "set one with `ainfluencer credits --budget N`",
    ),
    (re.compile(r"in the Setup Hub"), "with `ainfluencer credits --budget N`"),
    (re.compile(r"List (\w+) with GET /ainfluencer/v1/\w+ or (`ainfluencer \w+`)"), r"List \1 with \2"),
    (re.compile(r" ?\(GET /ainfluencer/v1/presets\)"), " (`ainfluencer presets`)"),
    (
        re.compile(r"release the hold with POST /ainfluencer/v1/credits/holds/release \{job_id, step_id\}"),
        "release the hold with `ainfluencer credits --release JOB_ID STEP_ID`",
    ),
)


def cli_words(step: str) -> str:
    """One remediation line of the server's, worded for the terminal (flags instead of JSON fields)."""
    for pattern, replacement in CLI_WORDS:
        step = pattern.sub(replacement, step)
    return re.sub(r"--(acknowledge_\w+)", lambda m: "--" + m.group(1).replace("_", "-"), step)


def print_error(error: AInfError, as_json: bool) -> None:
    """An error as a JSON `error` event on stdout, or as code, message and remediation on stderr.

    Both carry the remediation in CLI words (cli_words), so a script reading the JSON line shows the
    same advice as the terminal.
    """
    remediation = [cli_words(step) for step in error.remediation]
    if as_json:
        print(json.dumps({"event": "error", **error.to_dict(), "remediation": remediation}), flush=True)
        return
    err(f"error {error.code}: {error.message}")
    for step in remediation:
        err(f"  -> {step}")
    if error.detail:
        err(f"  detail: {json.dumps(error.to_dict()['detail'], default=str)}")


@contextmanager
def server(url: str | None, base_dir: Path | None, quiet: bool) -> Iterator[SidecarClient]:
    """A client for `url`, or for an ephemeral embedded server stopped afterwards, also on a stop signal.

    A SIGTERM, SIGINT or SIGHUP reaching the CLI is forwarded to the ephemeral ComfyUI, which gets a
    bounded time to exit before SIGKILL (ComfyServer.stop); then the StopRequested goes on up.
    """
    with runtime.stop_on_signals():
        embedded = None
        if url is None:
            runtime.install(say=(lambda *_: None) if quiet else (lambda m: err(m)))
            if not quiet:
                err("Starting an embedded ComfyUI …")
            embedded = runtime.start_server(runtime.free_port(), base_dir=base_dir)
            url = embedded.url
        client = SidecarClient(url)
        forwarded = signal.SIGTERM
        try:
            yield client
        except runtime.StopRequested as stop:
            forwarded = stop.signum
            raise
        finally:
            client.close()
            if embedded is not None:
                embedded.stop(forwarded)


class ProgressLines:
    """Progress as a tqdm bar on stderr or as JSON `progress` lines on stdout, skipping unchanged states."""

    def __init__(self, as_json: bool, **bar_options: Any) -> None:
        self.as_json = as_json
        self.bar_options = bar_options
        self.bar: Any = None
        self.last: tuple[Any, ...] | None = None

    def show(
        self,
        state: tuple[Any, ...],
        event: dict[str, Any],
        description: str,
        done: float,
        total: float | None,
    ) -> None:
        """Print `event` as a JSON line, or move the bar to `done` of `total`, unless `state` is unchanged."""
        if state == self.last:
            return
        self.last = state
        if self.as_json:
            print(json.dumps({"event": "progress", **event}), flush=True)
            return
        if self.bar is None:
            from tqdm import tqdm

            self.bar = tqdm(total=total, file=sys.stderr, **self.bar_options)
        if total and self.bar.total != total:
            self.bar.total = total
        self.bar.set_description_str(description, refresh=False)
        self.bar.n = done
        self.bar.refresh()

    def close(self) -> None:
        """Close the bar, if one was drawn."""
        if self.bar is not None:
            self.bar.close()
