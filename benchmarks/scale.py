"""Every command at several catalog sizes, as a user runs it: wall time, CPU time and
peak memory of each, and whether they grow linearly.

    python benchmarks/scale.py                                # 100, 1,000, 3,000 customers
    python benchmarks/scale.py --sizes 100,1000 --validate-sizes 10000 --checkov
    python benchmarks/scale.py --sizes 100 --json /tmp/scale.json

Per size, a synthetic catalog (generate.py: 10 customer services, 3 environments, 2
environment-wide services) is committed to a new git repository (untimed). Then each
command runs in a fresh process (interpreter start and imports included):

    validate        load, validate and resolve
    compile         into a new folder (the first compile)
    recompile       again into the same folder, nothing changed
    compile-check   `compile --check` against that folder
    check           `check` with checkov switched off (policies/config.yaml)
    check-checkov   `check` with checkov (only with --checkov: minutes at 1,000)
    affected        `affected --base main` after one customer's display name changed
    diff            `diff --base main -f markdown` after the same change

`--validate-sizes` adds sizes at which only `validate` runs (10,000 customers: loading
and resolving 300,000 instances, without writing them).

What is measured, per command: wall seconds, CPU seconds (user + system of the process
and its children, from `os.wait4`, so render workers count) and peak RSS (the largest
resident set of the process or of any child it waited for). Growth: between two sizes,
the exponent k in time ~ size^k (1.0 is linear); above 1.15 is flagged superlinear.
Interleaving and repeats: `--repeat R` runs every command R times in turn, and the
median is reported (the machine is shared; report CPU beside wall).
"""

from __future__ import annotations

import argparse
import compileall
import itertools
import json
import math
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import generate  # noqa: E402  (the sibling script; benchmarks/ is not a package)

GITOPSC = [sys.executable, "-m", "compiler.cli"]
SUPERLINEAR = 1.15


@dataclass(frozen=True)
class Run:
    command: str
    customers: int
    instances: int
    wall: float
    cpu: float
    rss_mib: float


def measured(argv: list[str], cwd: Path, ok: tuple[int, ...] = (0,)) -> tuple[float, float, float]:
    """Wall seconds, CPU seconds and peak RSS (MiB) of one command in a fresh process.
    `os.wait4` gives the child's own resource use (its children's included, since it
    waits for them), not the sum over every child this script ever had."""
    start = time.perf_counter()
    process = subprocess.Popen(
        argv, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=dict(os.environ)
    )
    _, status, usage = os.wait4(process.pid, 0)
    wall = time.perf_counter() - start
    code = os.waitstatus_to_exitcode(status)
    stderr = process.stderr.read().decode(errors="replace") if process.stderr else ""
    if code not in ok:
        raise SystemExit(f"{' '.join(argv)} exited {code}:\n{stderr[-3000:]}")
    return wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024


def byte_compiled(code: Path) -> None:
    """Write the bytecode of the compiler package in `code`, as `pip install` does: a
    process that reads its modules' source instead (an editable install where
    PYTHONDONTWRITEBYTECODE is set, as on this workplace's machines) pays 0.15 s per
    command that no installed gitopsc pays."""
    if not compileall.compile_dir(code / "compiler", quiet=1):
        raise SystemExit(f"{code / 'compiler'}: could not be byte-compiled")


def _git(root: Path, *args: str) -> None:
    subprocess.run(["git", "-C", str(root), *args], check=True, capture_output=True)


def prepare(customers: int, root: Path) -> int:
    """The catalog committed on main; returns its instance count."""
    size = generate.Size(customers, 10, 3, 2, 1)
    generate.write_catalog(size, root)
    _git(root, "init", "-q", "-b", "main")
    _git(root, "add", "-A")
    _git(root, "-c", "user.name=bench", "-c", "user.email=bench@example.net", "commit", "-qm", "x")
    return (customers * 10 + 2) * 3


def _checkov(root: Path, enabled: bool) -> None:
    config = root / "policies/config.yaml"
    text = config.read_text()
    on, off = "checkov: {enabled: true", "checkov: {enabled: false"
    config.write_text(text.replace(off, on) if enabled else text.replace(on, off))


def _change_one_customer(root: Path) -> None:
    customers = sorted((root / "catalog/customers").glob("*.yaml"))
    customer = customers[len(customers) // 2]
    text = customer.read_text()
    customer.write_text(text.replace("display_name: ", "display_name: Renamed ", 1))


def rename_one_customer(root: Path, round_: int) -> None:
    """One customer's display name (the middle one), new in every round: labels,
    annotations and config of its objects change in every environment."""
    customers = sorted((root / "catalog/customers").glob("*.yaml"))
    path = customers[len(customers) // 2]
    lines = path.read_text().splitlines(keepends=True)
    lines = [
        f"display_name: Renamed {round_}\n" if line.startswith("display_name: ") else line
        for line in lines
    ]
    path.write_text("".join(lines))


def commands(root: Path, out: Path, checkov: bool) -> list[tuple[str, list[str], tuple[int, ...]]]:
    """(name, argv, exit codes that are a success) in the order they must run."""
    at = ["--root", str(root)]
    steps = [
        ("validate", [*GITOPSC, "validate", *at], (0,)),
        ("compile", [*GITOPSC, "compile", *at, "--out", str(out)], (0,)),
        ("recompile", [*GITOPSC, "compile", *at, "--out", str(out)], (0,)),
        ("compile-check", [*GITOPSC, "compile", "--check", *at, "--out", str(out)], (0,)),
        ("check", [*GITOPSC, "check", *at], (0, 1)),
    ]
    if checkov:
        steps.append(("check-checkov", [*GITOPSC, "check", *at], (0, 1)))
    steps += [
        ("affected", [*GITOPSC, "affected", "--base", "main", "-f", "json", *at], (0,)),
        ("diff", [*GITOPSC, "diff", "--base", "main", "-f", "markdown", *at], (0,)),
    ]
    return steps


KEPT_UNTIL_THE_END: list[Path] = []
"""Folders of earlier sizes, removed only after the last measurement. ext4 does not
give a new file an inode deleted in the last minutes (`recently_deleted` in the
inode allocator, which then scans block groups): 1,000-customer compiles right
after earlier outputs (57,000 files each) were deleted spent 36-42 s of system time
where one on a quiet file system spent 7 s (perf: `recently_deleted` under
`ext4_create` and `ext4_mkdir`, 20 % of all samples). A benchmark that deletes
between measured runs measures its own deletes."""


def remove_kept() -> None:
    for folder in KEPT_UNTIL_THE_END:
        shutil.rmtree(folder, ignore_errors=True)
    KEPT_UNTIL_THE_END.clear()


def run_size(customers: int, repeat: int, checkov: bool, validate_only: bool) -> list[Run]:
    folder = tempfile.mkdtemp(prefix=f"gitopsc-scale-{customers}-")
    KEPT_UNTIL_THE_END.append(Path(folder))
    # nothing under `folder` is deleted until every size is measured
    root = Path(folder) / "repo"
    instances = prepare(customers, root)
    byte_compiled(HERE.parent)
    results: dict[str, list[tuple[float, float, float]]] = {}
    for _ in range(repeat):
        out = Path(folder) / f"out-{len(results.get('compile', []))}"
        _checkov(root, False)
        _git(root, "checkout", "-q", "--", "catalog")  # the change undone
        for name, argv, ok in commands(root, out, checkov):
            if validate_only and name != "validate":
                continue
            if name == "check-checkov":
                _checkov(root, True)
            if name == "affected":
                _checkov(root, False)
                _change_one_customer(root)
            results.setdefault(name, []).append(measured(argv, root, ok))
            print(f"  {customers:>6} {name:<14} {results[name][-1][0]:8.2f} s", flush=True)
    return [
        Run(
            name,
            customers,
            instances,
            statistics.median(r[0] for r in runs),
            statistics.median(r[1] for r in runs),
            max(r[2] for r in runs),
        )
        for name, runs in results.items()
    ]


def growth(runs: list[Run]) -> list[str]:
    """Per command, the exponent of wall and CPU time between consecutive sizes."""
    lines = []
    by_command: dict[str, list[Run]] = {}
    for run in runs:
        by_command.setdefault(run.command, []).append(run)
    for command, series in by_command.items():
        series.sort(key=lambda r: r.customers)
        for small, large in itertools.pairwise(series):
            ratio = math.log(large.customers / small.customers)
            wall = math.log(large.wall / small.wall) / ratio
            cpu = math.log(large.cpu / small.cpu) / ratio if small.cpu > 0 else float("nan")
            flag = "  SUPERLINEAR" if min(wall, cpu) > SUPERLINEAR else ""
            lines.append(
                f"{command:<14} {small.customers:>6} -> {large.customers:<6} "
                f"wall ^{wall:4.2f}  cpu ^{cpu:4.2f}{flag}"
            )
    return lines


def table(runs: list[Run]) -> str:
    header = (
        f"{'command':<14} {'customers':>9} {'instances':>9} {'wall s':>8} {'cpu s':>8} "
        f"{'peak RSS MiB':>12} {'µs/inst (cpu)':>13}"
    )
    rows = [header]
    for run in sorted(runs, key=lambda r: (r.command, r.customers)):
        rows.append(
            f"{run.command:<14} {run.customers:>9,} {run.instances:>9,} {run.wall:8.2f} "
            f"{run.cpu:8.2f} {run.rss_mib:12.0f} {run.cpu / run.instances * 1e6:13.0f}"
        )
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="100,1000,3000")
    parser.add_argument("--validate-sizes", default="")
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--checkov", action="store_true")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    runs: list[Run] = []
    try:
        for size in (int(s) for s in args.sizes.split(",") if s):
            runs += run_size(size, args.repeat, args.checkov, validate_only=False)
        for size in (int(s) for s in args.validate_sizes.split(",") if s):
            runs += run_size(size, args.repeat, False, validate_only=True)
    finally:
        remove_kept()
    print(table(runs))
    print()
    print("\n".join(growth(runs)) or "(one size: no growth to report)")
    if args.json:
        args.json.write_text(json.dumps([asdict(r) for r in runs], indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
