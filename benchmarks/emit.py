"""Per-object cost of YAML emission: gitopsc's emitter against libyaml and ruamel.yaml.

    python benchmarks/emit.py [--root DIR] [--repeat 5]

Renders the example catalog (or the repository at --root), takes every YAML object it
produces, and times turning all of them into text with each emitter, best of --repeat.
Before timing, every emitter's output is read back and compared with the object, so the
three are shown to produce the same data (the bytes differ in style). ruamel.yaml writes
YAML 1.2, so its output is read back with ruamel; the others are read with PyYAML
(YAML 1.1, as most Kubernetes tooling reads them).
"""

from __future__ import annotations

import argparse
import io
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml
from ruamel.yaml import YAML

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from compiler import pipeline  # noqa: E402
from compiler.output import to_yaml  # noqa: E402


def _libyaml(obj: Any) -> str:
    return yaml.dump(obj, Dumper=yaml.CSafeDumper, sort_keys=False, default_flow_style=False)


_RUAMEL = YAML(typ="rt", pure=True)


def _ruamel(obj: Any) -> str:
    buffer = io.StringIO()
    _RUAMEL.dump(obj, buffer)
    return buffer.getvalue()


_YAML12 = YAML(typ="safe", pure=True)

# name -> (emit, read back)
EMITTERS: dict[str, tuple[Callable[[Any], str], Callable[[str], Any]]] = {
    "gitopsc (compiler/output/emit.py)": (to_yaml, yaml.safe_load),
    "libyaml C emitter (PyYAML CSafeDumper)": (_libyaml, yaml.safe_load),
    "ruamel.yaml (round-trip, pure Python)": (_ruamel, _YAML12.load),
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--root", type=Path, default=HERE.parent)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args(argv)
    resolved = pipeline.run(args.root)
    objects = [
        file.data
        for files in pipeline.render(resolved, "rendered").values()
        for file in files
        if file.format == "yaml"
    ]
    print(f"{len(objects)} rendered objects from {args.root}")
    print(f"{'emitter':42} {'µs/object':>10} {'× gitopsc':>10}")
    baseline = None
    for name, (emit, read) in EMITTERS.items():
        for obj in objects:
            if read(emit(obj)) != obj:
                raise SystemExit(f"{name} does not round-trip {obj.get('kind')}")
        best = float("inf")
        for _ in range(args.repeat):
            start = time.perf_counter()
            for obj in objects:
                emit(obj)
            best = min(best, time.perf_counter() - start)
        per_object = best / len(objects) * 1e6
        baseline = baseline or per_object
        print(f"{name:42} {per_object:10.1f} {per_object / baseline:10.1f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
