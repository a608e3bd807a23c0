"""`gitopsc check` cold, warm with nothing changed and warm after one customer's change:
what the result cache (compiler/check/result_cache.py) saves, as a user runs the command.

    python benchmarks/check_cache.py --customers 1000                 # checkov off and on
    python benchmarks/check_cache.py --customers 100 --checkov off --repeat 5
    PYTHONPATH=/tmp/snap python benchmarks/check_cache.py ...         # another version

One synthetic catalog (generate.py) per checkov setting (policies/config.yaml), then
`--repeat` rounds of three runs, each `gitopsc check -f json` in a fresh process
(interpreter start and imports included):

    cold      an empty cache folder (a new CI runner: validators compiled, nothing kept)
    warm      the kept cache folder, nothing changed since the run that filled it
    change    the kept cache folder, after one customer's display name changed (a new
              name each round, so it is never in the cache)

A round's order rotates (cold-warm-change, warm-change-cold, change-cold-warm), so that a
slow spell of the shared machine does not fall on one variant; before the first round
an untimed run fills the kept folder. Reported per variant: the median wall and CPU
seconds (user + system of the process and its workers, `os.wait4`) and the findings.
The cache key stays the user's own (XDG_STATE_HOME is left alone).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import generate  # noqa: E402  (the sibling scripts; benchmarks/ is not a package)
from scale import GITOPSC, _checkov, measured, rename_one_customer  # noqa: E402

VARIANTS = ("cold", "warm", "change")


def _run(root: Path, cache: Path, report: Path) -> tuple[float, float, int]:
    os.environ["GITOPSC_CACHE_DIR"] = str(cache)
    argv = [*GITOPSC, "check", "--root", str(root), "-f", "json", "-o", str(report)]
    wall, cpu, _ = measured(argv, root, ok=(0, 1))
    return wall, cpu, len(json.loads(report.read_text())["findings"])


def measure(customers: int, checkov: bool, repeat: int, work: Path) -> dict[str, object]:
    root = work / f"catalog-{'checkov' if checkov else 'plain'}"
    generate.write_catalog(generate.Size(customers, 10, 3, 2, 1), root)
    _checkov(root, checkov)
    kept = work / "cache-kept"
    shutil.rmtree(kept, ignore_errors=True)
    report = work / "report.json"
    _run(root, kept, report)  # fills the kept folder (untimed)
    times: dict[str, list[tuple[float, float, int]]] = {name: [] for name in VARIANTS}
    for round_ in range(repeat):
        order = VARIANTS[round_ % 3 :] + VARIANTS[: round_ % 3]
        for variant in order:
            if variant == "cold":
                cold = work / "cache-cold"
                shutil.rmtree(cold, ignore_errors=True)
                times[variant].append(_run(root, cold, report))
            else:
                if variant == "change":
                    rename_one_customer(root, round_)
                times[variant].append(_run(root, kept, report))
            wall, cpu, found = times[variant][-1]
            print(f"  {customers} checkov={'on' if checkov else 'off'} round {round_} "
                  f"{variant}: {wall:.1f} s wall, {cpu:.1f} s CPU, {found} findings",
                  flush=True)  # fmt: skip
    return {
        "customers": customers,
        "checkov": checkov,
        **{
            variant: {
                "wall_s": statistics.median(t[0] for t in runs),
                "cpu_s": statistics.median(t[1] for t in runs),
                "findings": sorted({t[2] for t in runs}),
                "runs": [{"wall_s": t[0], "cpu_s": t[1]} for t in runs],
            }
            for variant, runs in times.items()
        },
    }


def table(results: list[dict]) -> str:
    lines = [
        "| customers | checkov | cold wall / CPU s | warm, no change | one customer changed |",
        "|---:|---|---:|---:|---:|",
    ]
    for result in results:
        cells = [f"{result[v]['wall_s']:.1f} / {result[v]['cpu_s']:.1f}" for v in VARIANTS]
        on = "on" if result["checkov"] else "off"
        lines.append(f"| {result['customers']:,} | {on} | {' | '.join(cells)} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--customers", type=int, default=1000)
    parser.add_argument("--checkov", choices=("off", "on", "both"), default="both")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args(argv)
    settings = {"off": [False], "on": [True], "both": [False, True]}[args.checkov]
    results = []
    with tempfile.TemporaryDirectory(prefix="gitopsc-check-cache-") as folder:
        for checkov in settings:
            results.append(measure(args.customers, checkov, args.repeat, Path(folder)))
    print(table(results))
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
