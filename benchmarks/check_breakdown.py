"""Where a `check` spends its time: every stage and every built-in, CPU seconds, in one
process (no workers, so that each stage's time is its own).

    python benchmarks/check_breakdown.py /tmp/cat                   # checkov as configured
    python benchmarks/check_breakdown.py /tmp/cat --checkov off
    GITOPSC_CACHE_DIR=/tmp/c python benchmarks/check_breakdown.py /tmp/cat   # a cache of its own

Run it twice on the same cache folder for a warm check (the first run fills it), or
after editing the catalog for the cost of a change. Each stage function of
`compiler.check.runner` and `compiler.pipeline.checks` is wrapped with a CPU timer (a
generator is drained inside it); the built-ins are timed one by one. Stages nest:
`check_resolved` holds all the others but load, resolve and the report.
"""

from __future__ import annotations

import argparse
import collections
import dataclasses
import datetime
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

TIMES: dict[str, float] = collections.defaultdict(float)


def timed(name: str, function: Callable[..., Any], drain: bool = False) -> Callable[..., Any]:
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        start = time.process_time()
        try:
            result = function(*args, **kwargs)
            return list(result) if drain else result
        finally:
            TIMES[name] += time.process_time() - start

    return wrapper


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("root", type=Path)
    parser.add_argument("--checkov", choices=("on", "off", "config"), default="config")
    args = parser.parse_args(argv)
    wall, cpu = time.perf_counter(), time.process_time()

    from compiler.check import builtins, report, runner
    from compiler.check.policies import CheckovConfig
    from compiler.pipeline import check_resolved, load_catalog, load_policy_set, resolve_catalog

    stages = sys.modules["compiler.pipeline.checks"]
    start = time.process_time()
    catalog = load_catalog(args.root)
    TIMES["load"] = time.process_time() - start
    start = time.process_time()
    resolved = resolve_catalog(catalog, None)
    TIMES["resolve"] = time.process_time() - start
    policy_set = load_policy_set(args.root, resolved.catalog)
    if args.checkov != "config":
        setting = CheckovConfig(enabled=args.checkov == "on")
        config = policy_set.config.model_copy(update={"checkov": setting})
        policy_set = dataclasses.replace(policy_set, config=config)
    stages.workers = lambda resolved: 1  # type: ignore[attr-defined]
    for name, label, drain in (
        ("render_environment", "render", False),
        ("evaluate", "policies on instances", False),
        ("evaluate_objects", "policies on objects", False),
        ("schema_checks", "schemas", True),
        ("scan", "checkov", False),
        ("shown_names", "shown names (layout)", False),
        ("argo_objects", "argo objects", False),
    ):
        if hasattr(runner, name):
            setattr(runner, name, timed(label, getattr(runner, name), drain))
    for key, builtin in list(builtins.BUILTINS.items()):
        if builtin.check is not None:
            wrapped = timed(f"builtin {key}", builtin.check, drain=True)
            builtins.BUILTINS[key] = dataclasses.replace(builtin, check=wrapped)
    for name in ("check_catalog", "argocd_checks", "enforce"):
        setattr(stages, name, timed(name, getattr(stages, name)))
    start = time.process_time()
    checked = check_resolved(resolved, policy_set, datetime.date.today())
    TIMES["check_resolved"] = time.process_time() - start
    start = time.process_time()
    report.FORMATS["json"](checked.findings)
    TIMES["report (json)"] = time.process_time() - start
    print(f"{len(checked.findings)} findings; wall {time.perf_counter() - wall:.1f} s, "
          f"CPU {time.process_time() - cpu:.1f} s")  # fmt: skip
    for name, seconds in sorted(TIMES.items(), key=lambda item: -item[1]):
        print(f"{seconds:8.2f}  {name}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
