"""`gitopsc check [--env E] [--format F --output FILE]... [--date D]`: the policy gate.

Exit 0 when no finding fails, 1 when one does, 2 on bad input (the error boundary).
Any number of reports in one run: each `--format` pairs with the `--output` at the same
position; a format without an output goes to stdout (only one may).
"""

from __future__ import annotations

import datetime
import importlib.metadata
import io
from pathlib import Path

from rich.console import Console

from compiler import pipeline, report
from compiler.check import known_checks
from compiler.check.builtin import BUILTINS
from compiler.errors import UsageError
from compiler.writer import write_file_atomically

FORMATS = ("text", *report.FORMATS)


def run(
    root: Path,
    environments: list[str] | None,
    formats: list[str],
    outputs: list[Path],
    today: datetime.date,
    console: Console,
) -> int:
    formats = formats or ["text"]
    if len(outputs) > len(formats):
        raise UsageError("more --output than --format options", "give one --format per --output")
    unknown = [f for f in formats if f not in FORMATS]
    if unknown:
        raise UsageError(f"unknown format '{unknown[0]}'", f"choose from {', '.join(FORMATS)}")
    targets: list[Path | None] = [*outputs, *[None] * (len(formats) - len(outputs))]
    if targets.count(None) > 1:
        raise UsageError("more than one format would go to stdout", "give each an --output FILE")
    checked = pipeline.check(root, environments, today)
    findings = checked.findings
    checks = sorted(known_checks(checked.policy_set.policies))
    rules = {
        **{b.id: (b.title, b.remediation) for b in BUILTINS.values()},
        **{p.id: (p.title, p.remediation) for p in checked.policy_set.policies.values()},
    }
    for kind, target in zip(formats, targets, strict=True):
        if kind == "text" and target is None:
            report.text(findings, console)
            continue
        if kind == "text":
            buffer = io.StringIO()
            report.text(findings, Console(file=buffer, width=120, no_color=True))
            content = buffer.getvalue()
        elif kind == "junit":
            content = report.junit(findings, checks)
        elif kind == "sarif":
            content = report.sarif(findings, _version(), rules)
        else:
            content = report.FORMATS[kind](findings)
        if target is None:
            console.out(content, end="", highlight=False)
        else:
            write_file_atomically(target, content.encode())
    return 1 if any(f.outcome == "fail" for f in findings) else 0


def _version() -> str:
    try:
        return importlib.metadata.version("gitopsc")
    except importlib.metadata.PackageNotFoundError:
        return "0"
