"""How far one CI job goes: `--shard K/N` against the whole, per command (issue 17).

    python benchmarks/shard.py [--sizes 100,300] [--shards 4] [--repeat 3]
                               [--checkov-repeat 1] [--commands "check,diff"] [--json FILE]

For each size (customers; 10 customer-scoped services, 3 environments, as run.py) a
catalog is generated, compiled and committed to a git repository (not timed), then
these commands run as the `gitopsc` command line in fresh processes:

    compile --check              the drift gate
    check (checkov off)          policies, built-ins, schemas
    check (checkov on)           and checkov
    diff --base HEAD             after a change to one service's default (every
                                 customer's instance of it changes: diff's worst case)

each whole and as shards 1/N (the one with the platform and the shared files) and 2/N.
Every run is cold, as a CI job is (`GITOPSC_CACHE_DIR=""`: no compiled validators nor
checkov results from an earlier run). Variants are interleaved (whole, 1/N, 2/N, whole,
...) so that a busy neighbour on a shared machine slows all of them alike; the medians
are reported, with the CPU time (user + system of the child and the workers it forks)
beside the wall time, and the child's peak RSS.
Customers per minute = the customers a job is responsible for (all of them whole, 1/N
of them in a shard) / its wall minutes: what one job of that kind gets through, for
choosing N (docs/ci.md). Shard 1/N also carries the platform and the shared files.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import generate  # noqa: E402  (the sibling script; benchmarks/ is not a package)

GITOPSC = "import sys; from compiler.cli import main; sys.argv[0] = 'gitopsc'; main()"
COMMANDS = {
    "compile --check": ["compile", "--check"],
    "check": ["check", "--format", "json", "--output", "{tmp}/findings.json"],
    "check + checkov": ["check", "--format", "json", "--output", "{tmp}/findings.json"],
    "diff": ["diff", "--base", "HEAD", "--format", "json", "--output", "{tmp}/diff.json"],
}


def _git(root: Path, *args: str) -> None:
    subprocess.run(["git", "-C", str(root), *args], check=True, capture_output=True)


def prepare(customers: int, root: Path) -> None:
    """Generate, compile and commit; then change one service's default (for diff)."""
    generate.write_catalog(generate.Size(customers=customers, services=10, environments=3), root)
    _gitopsc(root, ["compile"])
    _git(root, "init", "-q", "-b", "main")
    _git(root, "-c", "user.name=b", "-c", "user.email=b@example.net", "add", "-A")
    _git(root, "-c", "user.name=b", "-c", "user.email=b@example.net", "commit", "-qm", "base")
    service = sorted((root / "catalog/services").glob("*.yaml"))[0]
    text = service.read_text()
    service.write_text(text.replace("  replicas: 1\n", "  replicas: 3\n", 1))


def _checkov(root: Path, on: bool) -> None:
    config = root / "policies/config.yaml"
    text = config.read_text()
    old, new = ("enabled: false", "enabled: true") if on else ("enabled: true", "enabled: false")
    config.write_text(text.replace(f"checkov: {{{old}", f"checkov: {{{new}", 1))


def _gitopsc(root: Path, args: list[str]) -> dict[str, float]:
    """One fresh `gitopsc ARGS` in `root`: wall and CPU seconds (with the workers it
    forks), its peak RSS in MiB (os.wait4: this child's, not the largest so far)."""
    with tempfile.TemporaryFile() as errors:
        start = time.perf_counter()
        child = subprocess.Popen(
            [sys.executable, "-c", GITOPSC, *args],
            cwd=root,
            stdout=subprocess.DEVNULL,
            stderr=errors,
            # as in CI (.gitlab-ci.yml): no validator or checkov result cache between jobs
            env={**os.environ, "PYTHONPATH": str(HERE.parent), "GITOPSC_CACHE_DIR": ""},
        )
        _, status, usage = os.wait4(child.pid, 0)
        wall = time.perf_counter() - start
        child.returncode = os.waitstatus_to_exitcode(status)
        if child.returncode not in (0, 1):
            errors.seek(0)
            raise SystemExit(f"gitopsc {' '.join(args)} failed:\n{errors.read().decode()}")
    cpu = usage.ru_utime + usage.ru_stime
    return {"wall_s": wall, "cpu_s": cpu, "rss_mib": usage.ru_maxrss / 1024}


def measure(
    customers: int, shards: int, repeat: int, checkov_repeat: int, commands: list[str]
) -> list[dict[str, Any]]:
    rows = []
    with tempfile.TemporaryDirectory(prefix="gitopsc-shard-") as folder:
        root = Path(folder) / "repo"
        prepare(customers, root)
        variants = [None, f"1/{shards}", f"2/{shards}"]
        for name, command in COMMANDS.items():
            if name not in commands:
                continue
            _checkov(root, name == "check + checkov")
            runs: dict[str | None, list[dict[str, float]]] = {v: [] for v in variants}
            times = checkov_repeat if name == "check + checkov" else repeat
            for _ in range(times):
                for variant in variants:  # interleaved: noise hits every variant alike
                    args = [a.replace("{tmp}", folder) for a in command]
                    args += ["--shard", variant] if variant else []
                    runs[variant].append(_gitopsc(root, args))
            for variant in variants:
                wall = statistics.median(r["wall_s"] for r in runs[variant])
                rows.append(
                    {
                        "customers": customers,
                        "command": name,
                        "shard": variant or "whole",
                        "runs": len(runs[variant]),
                        "wall_s": wall,
                        "cpu_s": statistics.median(r["cpu_s"] for r in runs[variant]),
                        "peak_rss_mib": max(r["rss_mib"] for r in runs[variant]),
                        # what the job gets through: its own part of the customers
                        "customers_per_min": customers / (shards if variant else 1) / (wall / 60),
                    }
                )
                print(_line(rows[-1]), flush=True)
        _checkov(root, True)
    return rows


def _line(row: dict[str, Any]) -> str:
    return (
        f"{row['customers']:>6} {row['command']:<16} {row['shard']:>6} "
        f"wall {row['wall_s']:7.2f} s  cpu {row['cpu_s']:7.2f} s  "
        f"rss {row['peak_rss_mib']:6.0f} MiB  {row['customers_per_min']:8.0f} customers/min"
        f"  (median of {row['runs']})"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="100,300", help="customers, comma-separated")
    parser.add_argument("--shards", type=int, default=4, help="N of --shard K/N")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--checkov-repeat", type=int, default=1)
    parser.add_argument(
        "--commands", default=",".join(COMMANDS), help=f"from {', '.join(COMMANDS)}"
    )
    parser.add_argument("--json", type=Path, help="also write the rows to FILE")
    args = parser.parse_args(argv)
    rows = []
    for size in (int(s) for s in args.sizes.split(",")):
        commands = [c.strip() for c in args.commands.split(",")]
        unknown = set(commands) - set(COMMANDS)
        if unknown:
            parser.error(
                f"unknown command {sorted(unknown)[0]!r}; choose from {', '.join(COMMANDS)}"
            )
        rows += measure(size, args.shards, args.repeat, args.checkov_repeat, commands)
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
