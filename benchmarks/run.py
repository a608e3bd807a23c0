"""Time the gitopsc pipeline on synthetic catalogs of growing size.

    python benchmarks/run.py [--sizes 100,1000,3000] [--services 10] [--environments 3]
                             [--repeat 3] [--stages load,resolve] [--keep DIR] [--json FILE]
                             [--gc cli|default] [--profile FILE]

For each size (number of customers) a catalog is generated with generate.py (not timed),
then each run happens in a fresh Python subprocess so that imports, pydantic's validator
caches and the heap of one run cannot help or hurt the next; the import of the compiler
is timed separately from the stages. Of `--repeat` runs the one with the lowest total is
reported, which filters out noise from the rest of the machine.

Why stages: the pipeline grows (compile, check, diff, affected are next); each is a
function in `STAGES` that reads what earlier stages left in a shared `state` dict, so a
later stage is benchmarked by adding one entry and naming it in `--stages`.

Columns: wall seconds per stage and in total (import excluded), the CPU seconds of the
stages (`time.process_time`; steadier than wall time when the machine is shared), the
part of the wall time spent in Python's cyclic garbage collector, µs per instance, and
the peak RSS of the child. Linearity: per row, how much the total grew against the
previous size next to how much the instance count grew; for a linear pipeline the two
ratios match and µs/instance stays flat.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import generate  # noqa: E402  (the sibling script; benchmarks/ is not a package)

# ---------------------------------------------------------------- stages (child side)


def _load(state: dict[str, Any]) -> None:
    from compiler.pipeline import load_catalog

    state["catalog"] = load_catalog(state["root"])


def _resolve(state: dict[str, Any]) -> None:
    from compiler.catalog.resolver import resolve

    instances, problems = resolve(state["catalog"])
    if problems:
        raise SystemExit(f"resolve found {len(problems)} problem(s): {problems[0].render()}")
    state["instances"] = instances


def _render(state: dict[str, Any]) -> None:
    """render + serialize every output file to bytes, in memory (the YAML emission is in
    here); with `write`, the two halves of `compile` timed apart."""
    from compiler.pipeline import Resolved, render_bytes

    catalog = state["catalog"]
    resolved = Resolved(catalog, tuple(sorted(catalog.environments)), state["instances"])
    state["tree"] = render_bytes(resolved)


def _write(state: dict[str, Any]) -> None:
    """The atomic writer alone, writing what `render` made into a new folder."""
    from compiler.output.writer import write_tree

    out = _new_output_folder(state)
    write_tree(out, [state["tree"]], sorted(state["catalog"].environments), remove_others=True)


def _compile(state: dict[str, Any]) -> None:
    """What `gitopsc compile` does after resolve: render in worker processes while the
    main process writes each environment as it arrives, into a folder that did not exist
    (a first compile)."""
    from compiler.output.writer import write_tree
    from compiler.pipeline import Resolved, render_parts

    catalog = state["catalog"]
    resolved = Resolved(catalog, tuple(sorted(catalog.environments)), state["instances"])
    out = _new_output_folder(state)
    write_tree(out, render_parts(resolved), resolved.environments, remove_others=True)


def _recompile(state: dict[str, Any]) -> None:
    """`compile` again over the tree the previous stage wrote, nothing changed (CI on a
    branch whose rendered/ is committed): unchanged files are reused. Not in the total."""
    from compiler.output.writer import write_tree
    from compiler.pipeline import Resolved, render_parts

    catalog = state["catalog"]
    resolved = Resolved(catalog, tuple(sorted(catalog.environments)), state["instances"])
    write_tree(state["out"], render_parts(resolved), resolved.environments, remove_others=True)


def _check(state: dict[str, Any]) -> None:
    """What `gitopsc check` does after resolve, checkov off: declarative policies (the
    example's starter pack, copied in by generate.py), built-ins, and every rendered
    object against its cluster's Kubernetes schemas, one worker per environment. The
    compiled validators come from the disk cache when a previous run filled it (see
    --cold)."""
    _run_check(state, checkov=False)


def _check_all(state: dict[str, Any]) -> None:
    """`gitopsc check` as configured, checkov included (a worker per environment)."""
    _run_check(state, checkov=True)


def _run_check(state: dict[str, Any], checkov: bool) -> None:
    from dataclasses import replace

    from compiler.check.policies import CheckovConfig
    from compiler.pipeline import Resolved, check_resolved, load_policy_set

    catalog = state["catalog"]
    resolved = Resolved(catalog, tuple(sorted(catalog.environments)), state["instances"])
    policy_set = load_policy_set(state["root"], catalog)
    if not checkov:
        off = policy_set.config.model_copy(update={"checkov": CheckovConfig(enabled=False)})
        policy_set = replace(policy_set, config=off)
    checked = check_resolved(resolved, policy_set, datetime.date.today())
    state["notes"]["findings"] = len(checked.findings)


def _checkov(state: dict[str, Any]) -> None:
    """checkov alone, in this process: each environment's objects rendered (untimed
    part, reported apart) and scanned. Notes the objects scanned and the seconds spent
    scanning them, for the cost per object."""
    from compiler.check.checkov_checks import CheckovRun, activate, scan
    from compiler.render import render_environment

    catalog = state["catalog"]
    root = Path(state["root"])
    activate(root, root / "policies" / "checkov")
    scanned, seconds, found = 0, 0.0, 0
    for env in sorted(catalog.environments):
        instances = [i for i in state["instances"].values() if i.environment == env]
        files, _ = render_environment(catalog, catalog.environments[env], instances, "rendered")
        start = time.perf_counter()
        found += len(
            scan(catalog, env, files, {i.id: i for i in instances}, CheckovRun("medium", ()))
        )
        seconds += time.perf_counter() - start
        scanned += sum(
            1 for f in files if f.path.split("/")[1:2] == ["kubernetes"] and f.format == "yaml"
        )
    state["notes"].update(checkov_objects=scanned, checkov_scan_s=seconds, checkov_findings=found)


def _count_applications(state: dict[str, Any]) -> None:
    """The ArgoCD Applications that compile (or render) made, root apps included, and
    the AppProjects (issue 15: a single ArgoCD past 1,000 Applications needs sharding).
    Counted by document, so either layout (an apps file per object, or per customer)
    counts the same: the emitter writes an object's own `kind:` at column 0, and any
    nested one indented."""
    if "out" in state:
        paths = list(Path(state["out"]).glob("*/argocd/*/apps/*.yaml"))
        contents = [p.read_bytes() for p in paths]
        roots = len(list(Path(state["out"]).glob("*/argocd/*/root.yaml")))
    elif "tree" in state:  # path -> bytes, in memory
        contents = [data for p, data in state["tree"].items() if "/argocd/" in p and "/apps/" in p]
        roots = sum(1 for p in state["tree"] if p.endswith("/root.yaml"))
    else:
        return

    def count(kind: bytes) -> int:
        return sum((b"\n" + data).count(b"\nkind: " + kind + b"\n") for data in contents)

    state["notes"]["applications"] = roots + count(b"Application")
    state["notes"]["appprojects"] = count(b"AppProject")


def _new_output_folder(state: dict[str, Any]) -> Path:
    """A name no earlier run used: no timed write follows the deletion of an old tree.
    (On this machine's ext4, creating inodes soon after many were freed is several
    times slower; see README.) Removed with the scratch folder at the end."""
    state["out"] = Path(state["root"]) / f"rendered-{os.getpid()}"
    return state["out"]


# name -> (column title, function). Order here is the order they run in.
STAGES: dict[str, tuple[str, Callable[[dict[str, Any]], None]]] = {
    "load": ("load+validate", _load),
    "resolve": ("resolve", _resolve),
    "render": ("render+emit", _render),
    "write": ("write", _write),
    "compile": ("compile", _compile),
    "recompile": ("recompile", _recompile),
    "check": ("check", _check),
    "checkov": ("checkov", _checkov),
    "check-all": ("check+checkov", _check_all),
}
DEFAULT_STAGES = "load,resolve,compile,recompile"
EXTRA = {"recompile", "checkov"}  # reported, but not part of `total`


class _GcClock:
    """Wall time spent in the cyclic garbage collector, from `gc.callbacks`.

    Reported on its own because it grows with the live heap, not with the work done: it
    is the first suspect when µs/instance rises with size.
    """

    def __init__(self) -> None:
        self.seconds = 0.0
        self.collections = [0, 0, 0]
        self._started = 0.0

    def __call__(self, phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            self._started = time.perf_counter()
        else:
            self.seconds += time.perf_counter() - self._started
            self.collections[info["generation"]] += 1


def child(root: Path, stages: list[str], profile: Path | None, gc_mode: str) -> None:
    """Run in the subprocess: import, run the stages, print one JSON line of timings.

    With `gc_mode` "cli" the process is set up as `gitopsc` sets itself up before a
    command (`pipeline.tune_gc()`, when the compiler has it), untimed; "default" keeps
    CPython's collector settings, to see what the tuning is worth.
    """
    import gc
    import resource

    start = time.perf_counter()
    import compiler.catalog
    import compiler.pipeline  # timed: the import cost that every command pays

    imported = time.perf_counter() - start
    tuned = gc_mode == "cli" and hasattr(compiler.pipeline, "tune_gc")
    if tuned:
        compiler.pipeline.tune_gc()
    state: dict[str, Any] = {"root": root, "notes": {}}
    timings: dict[str, float] = {}
    gc_clock = _GcClock()
    gc.callbacks.append(gc_clock)
    cpu_start = time.process_time()
    profiler = None
    if profile is not None:
        import cProfile

        profiler = cProfile.Profile()
        profiler.enable()
    for name in stages:
        start = time.perf_counter()
        STAGES[name][1](state)
        timings[name] = time.perf_counter() - start
    cpu = time.process_time() - cpu_start
    gc.callbacks.remove(gc_clock)
    _count_applications(state)  # untimed
    if profiler is not None:
        profiler.disable()
        profiler.dump_stats(profile)
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    result = {
        "import_s": imported,
        "gc_tuned": tuned,
        "stages": timings,
        "cpu_s": cpu,
        "gc_s": gc_clock.seconds,
        "gc_collections": gc_clock.collections,
        "instances": len(state.get("instances", ())),
        "peak_rss_mib": peak_kib / 1024,
        "notes": state["notes"],
    }
    print(json.dumps(result))


# ---------------------------------------------------------------- driver (parent side)


def run_once(
    root: Path, stages: list[str], gc_mode: str, profile: Path | None = None, cold: bool = False
) -> dict[str, Any]:
    """One fresh child process. `cold`: an empty validator cache (GITOPSC_CACHE_DIR), as
    on a machine's first run; otherwise the cache the user's gitopsc runs share."""
    command = [sys.executable, str(Path(__file__).resolve()), "--child", str(root)]
    command += ["--stages", ",".join(stages), "--gc", gc_mode]
    if profile is not None:
        command += ["--profile", str(profile)]
    environment = dict(os.environ)
    with tempfile.TemporaryDirectory(prefix="gitopsc-cache-") as cache:
        if cold:
            environment["GITOPSC_CACHE_DIR"] = cache
        done = subprocess.run(command, capture_output=True, text=True, check=False, env=environment)
    if done.returncode != 0:
        raise SystemExit(f"benchmark run failed for {root}:\n{done.stderr}{done.stdout}")
    result = json.loads(done.stdout.strip().splitlines()[-1])
    result["total_s"] = sum(t for name, t in result["stages"].items() if name not in EXTRA)
    return result


def measure(
    size: generate.Size, root: Path, stages: list[str], repeat: int, gc_mode: str, cold: bool
) -> dict[str, Any]:
    """Generate at `root` (untimed), then the best of `repeat` fresh-process runs."""
    summary = generate.write_catalog(size, root)
    runs = [run_once(root, stages, gc_mode, cold=cold) for _ in range(repeat)]
    best = min(runs, key=lambda run: run["total_s"])
    if "resolve" in stages and best["instances"] != size.instances:
        raise SystemExit(f"expected {size.instances} instances, resolved {best['instances']}")
    return {
        "customers": size.customers,
        "instances": size.instances,
        "files": summary["files"],
        "bytes": summary["bytes"],
        "import_s": best["import_s"],
        "gc_tuned": best["gc_tuned"],
        "stages": best["stages"],
        "total_s": best["total_s"],
        "cpu_s": best["cpu_s"],
        "gc_s": best["gc_s"],
        "gc_collections": best["gc_collections"],
        "us_per_instance": best["total_s"] / size.instances * 1e6,
        "peak_rss_mib": best["peak_rss_mib"],
        "notes": best["notes"],
        "runs": [{"total_s": run["total_s"], "stages": run["stages"]} for run in runs],
    }


def table(results: list[dict[str, Any]], stages: list[str]) -> str:
    """A plain, fixed-width table; the last two columns compare with the row above."""
    titles = [STAGES[name][0] + " s" for name in stages]
    head = ["customers", "instances", "files", "import s", *titles, "total s", "cpu s", "gc s"]
    head += ["µs/inst"]
    head += ["total ×prev", "size ×prev", "peak RSS MiB"]
    rows = [head]
    previous = None
    for result in results:
        row = [
            f"{result['customers']:,}",
            f"{result['instances']:,}",
            f"{result['files']:,}",
            f"{result['import_s']:.2f}",
            *(f"{result['stages'][name]:.2f}" for name in stages),
            f"{result['total_s']:.2f}",
            f"{result['cpu_s']:.2f}",
            f"{result['gc_s']:.2f}",
            f"{result['us_per_instance']:.0f}",
        ]
        if previous is None:
            row += ["-", "-"]
        else:
            row += [
                f"{result['total_s'] / previous['total_s']:.2f}",
                f"{result['instances'] / previous['instances']:.2f}",
            ]
        row.append(f"{result['peak_rss_mib']:.0f}")
        rows.append(row)
        previous = result
    widths = [max(len(row[i]) for row in rows) for i in range(len(head))]
    return "\n".join(
        "  ".join(cell.rjust(width) for cell, width in zip(row, widths, strict=True))
        for row in rows
    )


def machine() -> dict[str, Any]:
    return {
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="100,1000,3000", help="customers, comma-separated")
    parser.add_argument("--services", type=int, default=10, help="customer-scoped services")
    parser.add_argument("--env-services", type=int, default=2)
    parser.add_argument("--environments", type=int, default=3)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--argocd-applications",
        choices=("per-instance", "per-customer"),
        default="per-instance",
        help="every environment's argocd.applications; the Application count is reported",
    )
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--stages", default=DEFAULT_STAGES, help=f"from {', '.join(STAGES)}")
    parser.add_argument("--keep", type=Path, help="generate into DIR/c<N> and keep it")
    parser.add_argument("--json", type=Path, help="also write the results to FILE")
    parser.add_argument(
        "--profile", type=Path, help="cProfile the stages of one run per size into FILE.<N>"
    )
    parser.add_argument(
        "--gc",
        choices=("cli", "default"),
        default="cli",
        help="cli: tune the collector as gitopsc does (pipeline.tune_gc); default: CPython's",
    )
    parser.add_argument(
        "--cold", action="store_true", help="each run starts with an empty validator cache"
    )
    parser.add_argument("--child", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    stages = [name for name in args.stages.split(",") if name]
    unknown = [name for name in stages if name not in STAGES]
    if unknown:
        parser.error(f"unknown stage(s) {', '.join(unknown)}; choose from {', '.join(STAGES)}")
    stages = [name for name in STAGES if name in stages]  # run in pipeline order
    if "recompile" in stages and not {"write", "compile"} & set(stages):
        parser.error("stage recompile writes over what write or compile made; name one")
    if "write" in stages and "render" not in stages:
        parser.error("stage write writes what render made; name both")
    if {"check", "checkov", "check-all"} & set(stages) and not {"load", "resolve"} <= set(stages):
        parser.error("stages check, check-all and checkov need load and resolve; name them")
    if args.child is not None:
        child(args.child, stages, args.profile, args.gc)
        return 0
    sizes = [int(part) for part in args.sizes.split(",") if part]

    results = []
    with tempfile.TemporaryDirectory(prefix="gitopsc-bench-") as scratch:
        for customers in sizes:
            size = generate.Size(
                customers,
                args.services,
                args.environments,
                args.env_services,
                args.seed,
                args.argocd_applications,
            )
            root = (args.keep or Path(scratch)) / f"c{customers}"
            result = measure(size, root, stages, args.repeat, args.gc, args.cold)
            results.append(result)
            runs = ", ".join(f"{run['total_s']:.2f}" for run in result["runs"])
            print(
                f"{customers} customers: total {result['total_s']:.2f} s (runs: {runs})",
                file=sys.stderr,
            )
            if args.profile is not None:
                target = args.profile.with_name(f"{args.profile.name}.{customers}")
                run_once(root, stages, args.gc, target)
                print(f"profile written to {target}", file=sys.stderr)
    report = {
        "date": datetime.date.today().isoformat(),
        "machine": machine(),
        "services": args.services,
        "env_services": args.env_services,
        "environments": args.environments,
        "seed": args.seed,
        "argocd_applications": args.argocd_applications,
        "repeat": args.repeat,
        "gc": args.gc,
        "stages": stages,
        "results": results,
    }
    print(
        f"gitopsc benchmark {report['date']}: {args.services} customer-scoped + "
        f"{args.env_services} environment-scoped services x {args.environments} environments, "
        f"best of {args.repeat}, {machine()['cpus']} CPUs, Python {machine()['python']}, "
        f"gc {'tuned (pipeline.tune_gc)' if results[0]['gc_tuned'] else 'CPython default'}"
    )
    print(table(results, stages))
    for result in results:
        notes = result["notes"]
        if notes.get("checkov_objects"):
            print(
                f"{result['customers']:,} customers: checkov scanned "
                f"{notes['checkov_objects']:,} objects in {notes['checkov_scan_s']:.1f} s, "
                f"{notes['checkov_scan_s'] / notes['checkov_objects'] * 1e3:.2f} ms/object, "
                f"{notes['checkov_findings']:,} failed checks"
            )
        if "applications" in notes:
            print(
                f"{result['customers']:,} customers, {args.argocd_applications}: "
                f"{notes['applications']:,} Applications (root apps included), "
                f"{notes['appprojects']:,} AppProjects"
            )
        if "findings" in notes:
            print(f"{result['customers']:,} customers: check found {notes['findings']:,} findings")
    if args.json is not None:
        args.json.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
