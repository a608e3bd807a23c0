"""Time `gitopsc affected` and `gitopsc diff` when one customer changes.

    python benchmarks/diff.py [--sizes 100,1000] [--repeat 3]

For each size a synthetic catalog (generate.py) is committed to a new git repository
in a temporary folder (untimed); then one customer's display name is changed in the
working tree, and each command is run as a user runs it: `gitopsc affected --base
main -o json` and `gitopsc diff --base main -f markdown`, in a fresh process, wall
time including the interpreter start and imports. The best of `--repeat` is reported.
The output is checked, so a fast wrong answer cannot pass: affected must name exactly
the changed customer, and the diff must show its objects.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import generate  # noqa: E402  (the sibling script; benchmarks/ is not a package)

GITOPSC = [sys.executable, "-m", "compiler.cli"]


def _git(root: Path, *args: str) -> None:
    subprocess.run(["git", "-C", str(root), *args], check=True, capture_output=True)


def prepare(customers: int, root: Path) -> str:
    """The catalog committed on main, one customer edited; returns that customer."""
    generate.write_catalog(generate.Size(customers, 10, 3, 2, 1), root)
    _git(root, "init", "-q", "-b", "main")
    _git(root, "add", "-A")
    _git(root, "-c", "user.name=bench", "-c", "user.email=bench@example.net", "commit", "-qm", "x")
    customer = sorted((root / "catalog/customers").glob("*.yaml"))[customers // 2]
    text = customer.read_text()
    customer.write_text(text.replace("display_name: ", "display_name: Renamed ", 1))
    return customer.stem


def timed(command: list[str], cwd: Path) -> tuple[float, str]:
    start = time.perf_counter()
    done = subprocess.run(
        command, cwd=cwd, capture_output=True, text=True, check=False, env=dict(os.environ)
    )
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed:\n{done.stderr}")
    return seconds, done.stdout


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="100,1000")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args(argv)
    rows = [("customers", "instances", "affected s", "diff s", "objects in diff")]
    for customers in (int(s) for s in args.sizes.split(",") if s):
        with tempfile.TemporaryDirectory(prefix="gitopsc-diff-bench-") as scratch:
            root = Path(scratch)
            changed = prepare(customers, root)
            affected_runs, diff_runs = [], []
            for _ in range(args.repeat):
                seconds, out = timed([*GITOPSC, "affected", "--base", "main", "-o", "json"], root)
                assert json.loads(out)["customers"] == [changed], out[:500]
                affected_runs.append(seconds)
                seconds, out = timed([*GITOPSC, "diff", "--base", "main", "-f", "json"], root)
                changes = json.loads(out)["changes"]
                assert changes and {c["customer"] for c in changes} == {changed}
                diff_runs.append(seconds)
            instances = generate.Size(customers, 10, 3, 2, 1).instances
            rows.append(
                (
                    f"{customers:,}",
                    f"{instances:,}",
                    f"{min(affected_runs):.2f}",
                    f"{min(diff_runs):.2f}",
                    str(len(changes)),
                )
            )
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    print(f"one customer changed; best of {args.repeat}; {os.cpu_count()} CPUs")
    for row in rows:
        print("  ".join(cell.rjust(width) for cell, width in zip(row, widths, strict=True)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
