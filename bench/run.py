"""`make bench`: run every `bench/bench_*.py` module's `run()` and merge their figures into results.json.

Each module's `run(report)` measures against its real peer in the same run, prints its own table through
`report(line)`, and returns a flat dict of figures; results.json is one flat JSON object keyed by figure.
Benchmarks are never tests: nothing here asserts on time.
"""

from __future__ import annotations

import importlib.util
import json
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results.json"


def main(names: list[str]) -> int:
    """Run the selected benchmarks (all when none are named) and update results.json."""
    modules = sorted(HERE.glob("bench_*.py"))
    if names:
        modules = [m for m in modules if m.stem.removeprefix("bench_") in names]
    results = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    for path in modules:
        spec = importlib.util.spec_from_file_location(path.stem, path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        print(f"== {path.stem}", flush=True)
        started = time.perf_counter()
        figures = module.run(lambda line: print(f"  {line}", flush=True))
        print(f"  ({time.perf_counter() - started:.1f} s)", flush=True)
        results.update(figures)
    RESULTS.write_text(json.dumps(results, indent=2, sort_keys=True) + "\n")
    print(f"figures written to {RESULTS}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
