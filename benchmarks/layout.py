"""What each output layout costs git: files, disk, `git add`, `.git`, `git status` (issue 17).

    python benchmarks/layout.py --customers 1000 --runs 2 [--json /tmp/layout.json]
    python benchmarks/layout.py --customers 1000 --runs 1 --layouts documents

Generates one catalog (generate.py), then for each run and each layout, interleaved
(`objects` then `documents` in odd runs, the other way round in even ones, so that a
slow spell of the shared machine does not fall on one layout only):

1. sets `output: {layout: L}` in every environment.yaml of the catalog;
2. `gitopsc compile --out <repo>/rendered` into a new folder (timed);
3. counts the files and measures the disk use of `rendered/` (`du -s`: blocks on disk;
   `du -s --apparent-size`: the bytes of the files);
4. `git init`, `git add -A` (timed), `git commit`; `.git` size with `du -s` right after
   the commit (loose objects: what a clone that commits every compile carries until its
   next gc) and after `git gc` (`size-pack` of `git count-objects -v`: what a remote and
   a fresh clone hold);
5. `gitopsc compile` again with nothing changed (timed), then `git status --porcelain`
   (timed; it must print nothing).

Every command runs in a fresh process; wall time and the CPU time of the process and its
children (user + system, `getrusage(RUSAGE_CHILDREN)`) are reported, medians over runs.
Only the standard library is used; the compiler is run from this checkout.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
LAYOUTS = ("objects", "documents")
GIT = ["git", "-c", "user.name=bench", "-c", "user.email=bench@example.net", "-c", "gc.auto=0"]


def timed(command: list[str], cwd: Path) -> tuple[float, float, str]:
    """(wall s, CPU s of the process and its children, stdout) of one command."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run(command, cwd=cwd, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed ({done.returncode}):\n{done.stderr}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu, done.stdout


def gitopsc(*args: str) -> list[str]:
    code = "import sys; from compiler.cli import main; sys.argv[0] = 'gitopsc'; main()"
    return [sys.executable, "-c", code, *args]


def du(path: Path, apparent: bool = False) -> int:
    flags = ["-s", "-B1", *(["--apparent-size"] if apparent else [])]
    out = subprocess.run(["du", *flags, str(path)], capture_output=True, text=True, check=True)
    return int(out.stdout.split()[0])


def set_layout(catalog: Path, layout: str) -> None:
    for path in sorted((catalog / "environments").glob("*/environment.yaml")):
        text = path.read_text()
        kept = text.split("\noutput:", 1)[0].rstrip("\n") + "\n"
        path.write_text(f"{kept}output:\n  layout: {layout}\n")


def measure(catalog: Path, work: Path, layout: str) -> dict[str, Any]:
    set_layout(catalog, layout)
    repo = work / f"repo-{layout}"
    shutil.rmtree(repo, ignore_errors=True)
    repo.mkdir()
    out = repo / "rendered"
    row: dict[str, Any] = {"layout": layout}
    row["compile_s"], row["compile_cpu_s"], _ = timed(
        gitopsc("compile", "--root", str(catalog), "--out", str(out)), catalog
    )
    row["files"] = sum(len(files) for _, _, files in os.walk(out))
    row["disk_bytes"] = du(out)
    row["apparent_bytes"] = du(out, apparent=True)
    timed([*GIT, "init", "-q"], repo)
    row["git_add_s"], row["git_add_cpu_s"], _ = timed([*GIT, "add", "-A"], repo)
    row["git_commit_s"], row["git_commit_cpu_s"], _ = timed(
        [*GIT, "commit", "-q", "-m", "compile"], repo
    )
    row["git_dir_bytes"] = du(repo / ".git")
    row["git_gc_s"], row["git_gc_cpu_s"], _ = timed([*GIT, "gc", "-q"], repo)
    counts = timed([*GIT, "count-objects", "-v"], repo)[2]
    fields = dict(line.split(": ") for line in counts.splitlines())
    row["git_pack_bytes"] = int(fields["size-pack"]) * 1024
    row["recompile_s"], row["recompile_cpu_s"], _ = timed(
        gitopsc("compile", "--root", str(catalog), "--out", str(out)), catalog
    )
    row["git_status_s"], row["git_status_cpu_s"], status = timed(
        [*GIT, "status", "--porcelain"], repo
    )
    if status.strip():
        raise SystemExit(f"a no-change recompile changed files ({layout}):\n{status[:2000]}")
    shutil.rmtree(repo)
    return row


def table(rows: list[dict[str, Any]]) -> str:
    """Medians per layout, CPU beside wall, and objects / documents (when both ran)."""
    layouts = [layout for layout in LAYOUTS if any(r["layout"] == layout for r in rows)]
    medians = {
        layout: {
            key: statistics.median(r[key] for r in rows if r["layout"] == layout)
            for key in rows[0]
            if key != "layout"
        }
        for layout in layouts
    }
    both = len(layouts) == 2
    lines = [
        f"| measure | {' | '.join(layouts)} |{' objects / documents |' if both else ''}",
        "|---|" + "---|" * (len(layouts) + both),
    ]
    shown = [
        ("files", "files", None, "{:,.0f}"),
        ("disk (du -s)", "disk_bytes", None, "MB"),
        ("apparent size (du -s --apparent-size)", "apparent_bytes", None, "MB"),
        ("first compile, wall (CPU) s", "compile_s", "compile_cpu_s", "s"),
        ("`git add -A`, wall (CPU) s", "git_add_s", "git_add_cpu_s", "s"),
        ("`git commit`, wall (CPU) s", "git_commit_s", "git_commit_cpu_s", "s"),
        ("`.git` after the commit (du -s)", "git_dir_bytes", None, "MB"),
        ("`git gc`, wall (CPU) s", "git_gc_s", "git_gc_cpu_s", "s"),
        ("`.git` after `git gc` (size-pack)", "git_pack_bytes", None, "MB"),
        ("no-change recompile, wall (CPU) s", "recompile_s", "recompile_cpu_s", "s"),
        ("`git status` after it, wall (CPU) s", "git_status_s", "git_status_cpu_s", "s"),
    ]
    for label, key, cpu, unit in shown:
        cells = []
        for layout in layouts:
            value = medians[layout][key]
            if unit == "MB":
                cells.append(f"{value / 1e6:,.1f} MB")
            elif unit == "s":
                cells.append(f"{value:.2f} ({medians[layout][cpu]:.2f})")
            else:
                cells.append(unit.format(value))
        ratio = ""
        if both:
            ratio = f" ×{medians['objects'][key] / max(medians['documents'][key], 1e-9):.2f} |"
        lines.append(f"| {label} | {' | '.join(cells)} |{ratio}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--customers", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=2)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--work", type=Path, help="folder for the catalog and repositories")
    parser.add_argument("--json", type=Path, help="write every run's figures here")
    parser.add_argument(
        "--layouts",
        default=",".join(LAYOUTS),
        help="comma-separated; one alone measures only that layout (no ratio column)",
    )
    args = parser.parse_args(argv)
    layouts = [layout for layout in LAYOUTS if layout in args.layouts.split(",")]
    work = args.work or Path(tempfile.mkdtemp(prefix="gitopsc-layout-"))
    catalog = work / "catalog"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    os.environ.update(env)
    subprocess.run(
        [sys.executable, str(HERE / "generate.py"), "--customers", str(args.customers),
         "--seed", str(args.seed), "--out", str(catalog)],
        check=True, capture_output=True,
    )  # fmt: skip
    rows = []
    for run in range(args.runs):
        for layout in layouts if run % 2 == 0 else reversed(layouts):
            row = measure(catalog, work, layout) | {"run": run + 1}
            rows.append(row)
            print(json.dumps(row), flush=True)
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2) + "\n")
    print(f"\n{args.customers} customers, {args.runs} run(s) per layout, medians:\n")
    print(table([{k: v for k, v in r.items() if k != "run"} for r in rows]))
    if not args.work:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
