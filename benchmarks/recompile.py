"""Recompiles after small changes, as a user makes them: what a compile costs when a
previous compile into the same folder is there to build on (issue 17).

    python benchmarks/recompile.py --customers 1000 --repeat 3
    python benchmarks/recompile.py --customers 1000 --repeat 4 --code /work/main --code /tmp/base
    python benchmarks/recompile.py --customers 1000 --repeat 4 --steps "one customer" ...

Per code tree given (`--code`, default this checkout; several are run interleaved, in an
order that turns each round, so a busy moment of the shared machine, or what one
code's run left behind for the next, falls on all of them alike: use an even
`--repeat` with two codes), a synthetic catalog
(generate.py, committed to git, untimed) gets a first compile into `rendered/`, then
each round runs, in a fresh `gitopsc compile` process each, with the user's cache
folder (one per code tree):

    no change       compile again, nothing edited
    one customer    one customer's display name changed (its config, DNS, AppProject)
    one service     one service default changed (element-web's memory limit: every
                    customer's element-web Deployment, in every environment)
    new folder      a first compile into a new folder (`--out`), removed afterwards:
                    what the steps above save, and whether a first compile got slower

A first round runs every step once and is not counted (`--no-warmup` counts it): the
first timed compile after the set-up pays several seconds more, whichever code it is.
Each code tree's modules are byte-compiled first (`scale.byte_compiled`), as an
installed gitopsc's are. Reported per step: the median wall seconds, CPU seconds (the
process and its render workers, `os.wait4`) and how many files the compile changed
(`git status`, which is also timed: a compile that touches unchanged files makes git
re-read them). Each timed
compile starts after a `sync`: a compile flushes the file system (`syncfs`) before it
commits, and would otherwise write back what the previous step left dirty (the other
code's compile, git's commit of its files).
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import scale

STEPS = ("no change", "one customer", "one service", "new folder")


def _gitopsc(code: Path) -> list[str]:
    return [sys.executable, "-c", f"import sys; sys.path.insert(0, {str(code)!r}); "
            "from compiler.cli import main; sys.argv[0] = 'gitopsc'; main()"]  # fmt: skip


def _edit(root: Path, step: str, round_: int) -> None:
    if step == "one customer":
        scale.rename_one_customer(root, round_)
    elif step == "one service":
        path = root / "catalog/services/element-web.yaml"
        text = path.read_text()
        old = next(m for m in ("128Mi", "160Mi", "192Mi") if f'memory: "{m}"}}' in text)
        new = {"128Mi": "160Mi", "160Mi": "192Mi", "192Mi": "128Mi"}[old]
        path.write_text(text.replace(f'memory: "{old}"}}', f'memory: "{new}"}}', 1))


def _changed_files(root: Path) -> tuple[int, float]:
    """Files `git status` reports under rendered/, and how long it took; then commit,
    so the next step counts only its own changes."""
    start = time.perf_counter()
    status = subprocess.run(
        ["git", "-C", str(root), "status", "--porcelain", "--untracked-files=all", "rendered"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    took = time.perf_counter() - start
    scale._git(root, "add", "-A")
    scale._git(
        root,
        "-c",
        "user.name=b",
        "-c",
        "user.email=b@example.net",
        "commit",
        "--allow-empty",
        "-qm",
        "s",
    )
    return len(status.splitlines()), took


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--customers", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--code", type=Path, action="append", help="source trees to compare")
    parser.add_argument(
        "--steps",
        default=",".join(STEPS),
        help=f"the steps to run, comma-separated (default: all of {', '.join(STEPS)})",
    )
    parser.add_argument(
        "--no-warmup",
        dest="warmup",
        action="store_false",
        help="count every round (by default a first, uncounted round runs each step once)",
    )
    args = parser.parse_args(argv)
    steps = [step.strip() for step in args.steps.split(",") if step.strip()]
    unknown = [step for step in steps if step not in STEPS]
    if unknown or not steps:
        parser.error(f"unknown step {', '.join(unknown) or '(none)'}; known: {', '.join(STEPS)}")
    codes = [c.resolve() for c in args.code or [Path(__file__).resolve().parents[1]]]
    work = Path(tempfile.mkdtemp(prefix="gitopsc-recompile-"))
    try:
        template = work / "template"
        scale.prepare(args.customers, template)
        roots, results = {}, {}
        for index, code in enumerate(codes):
            scale.byte_compiled(code)
            root = work / f"repo-{index}"
            shutil.copytree(template, root, symlinks=True)
            os.environ["GITOPSC_CACHE_DIR"] = str(work / f"cache-{index}")
            wall, cpu, _ = scale.measured([*_gitopsc(code), "compile", "--root", str(root)], root)
            files, _ = _changed_files(root)
            print(f"{code}: first compile {wall:.2f} s (CPU {cpu:.2f}), {files} files", flush=True)
            roots[code] = root
        # round 0 is a warm-up, not counted: the first timed compile after the set-up
        # (two first compiles and git commits of 57,000 files each) paid 8 s more, and
        # the turning order would always give it to the same code
        for round_ in range(0 if args.warmup else 1, args.repeat + 1):
            # the order turns each round: the code compiled second pays for some of what
            # the first left (3 s more on "one service", whichever code came second)
            turn = round_ % len(codes)
            for step in steps:
                for code in codes[turn:] + codes[:turn]:
                    index = codes.index(code)
                    root = roots[code]
                    os.environ["GITOPSC_CACHE_DIR"] = str(work / f"cache-{index}")
                    _edit(root, step, round_)
                    new = work / "new-folder"
                    out = ["--out", str(new)] if step == "new folder" else []
                    # the last compile's and git's dirty pages flushed first: else this
                    # compile's syncfs writes them back, and one code pays for the other
                    subprocess.run(["sync"], check=True)
                    wall, cpu, _ = scale.measured(
                        [*_gitopsc(code), "compile", "--root", str(root), *out], root
                    )
                    # set aside, removed at the end: a delete here would slow the
                    # next compile's file creation (scale.KEPT_UNTIL_THE_END)
                    if new.exists():
                        new.rename(work / f"discarded-{round_}-{index}")
                    files, status = _changed_files(root)
                    if round_:
                        results.setdefault((code, step), []).append((wall, cpu, files, status))
                    print(
                        f"round {round_ or 'warm-up'} {step:12} {code}: {wall:.2f} s wall, "
                        f"{cpu:.2f} s CPU, "
                        f"{files} files changed, git status {status:.2f} s",
                        flush=True,
                    )
        print(f"\n{args.customers} customers, medians of {args.repeat}")
        print(f"{'step':14} {'code':40} {'wall s':>8} {'CPU s':>8} {'files':>7} {'status s':>9}")
        for step in steps:
            for code in codes:
                runs = results[(code, step)]
                wall, cpu, files, status = (statistics.median(r[i] for r in runs) for i in range(4))
                print(f"{step:14} {code!s:40} {wall:8.2f} {cpu:8.2f} {files:7.0f} {status:9.2f}")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
