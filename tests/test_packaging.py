"""The pack's shape: importable without ComfyUI, V3-only registration, literal `AInfluencer` node ids."""

import ast
import subprocess
import sys
import tomllib
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def test_importing_the_sidecar_pulls_in_nothing_from_comfyui():
    code = (
        "import sys, ainfluencer, ainfluencer.sidecar.http.routes, ainfluencer.sidecar.cli.main\n"
        "roots = ('comfy', 'comfy_api', 'server', 'nodes', 'torch')\n"
        "bad = [m for m in sys.modules if m.split('.')[0] in roots]\n"
        "assert not bad, bad\n"
        "assert not hasattr(ainfluencer, 'comfy_entrypoint')\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


def test_nodes_register_only_through_comfy_entrypoint():
    sources = [REPO / "__init__.py", *(REPO / "comfy_nodes").rglob("*.py"), *(REPO / "sidecar").rglob("*.py")]
    offenders = [
        str(path)
        for path in sources
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
        if isinstance(node, ast.Name) and node.id == "NODE_CLASS_MAPPINGS" and isinstance(node.ctx, ast.Store)
    ]
    assert offenders == []
    assert "comfy_entrypoint" in (REPO / "__init__.py").read_text()


# Node schemas are built through these helpers, whose first argument is the node id.
SCHEMA_HELPERS = {"node_schema", "remote_schema"}


def _called(call: ast.Call) -> str | None:
    return getattr(call.func, "attr", None) or getattr(call.func, "id", None)


def test_every_node_id_is_a_string_literal_prefixed_ainfluencer():
    ids = []
    for path in (REPO / "comfy_nodes").glob("*.py"):
        for call in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(call, ast.Call) or _called(call) not in {"Schema", *SCHEMA_HELPERS}:
                continue
            given = [k.value for k in call.keywords if k.arg == "node_id"] + call.args[:1]
            if given and isinstance(given[0], ast.Name) and given[0].id == "node_id":
                continue  # a helper passing its own argument through
            assert given and isinstance(given[0], ast.Constant), f"{path.name}: node_id must be a literal"
            ids.append(given[0].value)
    assert ids and all(i.startswith("AInfluencer") for i in ids), ids
    assert len(ids) == len(set(ids))


def test_pyproject_maps_the_repo_root_to_ainfluencer_with_the_console_script_and_registry_metadata():
    meta = tomllib.loads((REPO / "pyproject.toml").read_text())
    assert meta["project"]["name"] == "comfyui-ainfluencer"
    assert meta["project"]["scripts"]["ainfluencer"] == "ainfluencer.sidecar.cli.main:main"
    assert meta["tool"]["setuptools"]["package-dir"]["ainfluencer"] == "."
    assert meta["tool"]["comfy"]["PublisherId"]
    pinned = [
        line for line in (REPO / "requirements.txt").read_text().splitlines() if not line.startswith("#")
    ]
    assert not [line for line in pinned if line.lower().startswith("torch")]


def test_ci_runs_exactly_the_readme_test_command():
    assert "make test" in (REPO / ".ci" / "run").read_text()
    readme = (REPO / "README.md").read_text()
    assert "make demo" in readme and "make test" in readme
