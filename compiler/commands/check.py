"""`gitopsc check [--env E] [--format F --output FILE]... [--date D] [--affected-base REF]
[--catalog-only] [--shard K/N] [--list]`: the policy gate.

Exit 0 when no finding fails, 1 when one does, 2 on bad input (the error boundary).
Any number of reports in one run: each `--format` pairs with the `--output` at the same
position; a format without an output goes to stdout (only one may).
"""

from __future__ import annotations

import datetime
import io
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console
from rich.table import Table

from compiler import pipeline
from compiler.check import BUILTINS, PolicySet, report
from compiler.commands import check_report_target, version
from compiler.errors import UsageError
from compiler.output import write_file_atomically

FORMATS = ("text", *report.FORMATS)


def run(
    root: Path,
    environments: list[str] | None,
    formats: list[str],
    outputs: list[Path],
    today: datetime.date,
    console: Console,
    affected_base: str | None = None,
    catalog_only: bool = False,
    shard_spec: str | None = None,
) -> int:
    formats = formats or ["text"]
    if len(outputs) > len(formats):
        raise UsageError("more --output than --format options", "give one --format per --output")
    unknown = [f for f in formats if f not in FORMATS]
    if unknown:
        raise UsageError(f"unknown format '{unknown[0]}'", f"choose from {', '.join(FORMATS)}")
    targets: list[Path | None] = [*outputs, *[None] * (len(formats) - len(outputs))]
    for output in outputs:
        check_report_target(output, FORMATS, root)
    resolved = [output.resolve() for output in outputs]
    if len(set(resolved)) < len(resolved):
        raise UsageError("two --output options name one file", "give each format its own file")
    if targets.count(None) > 1:
        raise UsageError("more than one format would go to stdout", "give each an --output FILE")
    if catalog_only and (environments or affected_base):
        raise UsageError("--catalog-only checks no environment", "drop --env and --affected-base")
    shard = pipeline.parse_shard(shard_spec)
    if catalog_only and shard is not None:
        raise UsageError("--catalog-only is not sharded", "drop --shard; it runs in seconds")
    checked = (
        pipeline.check_catalog_only(root, today)
        if catalog_only
        else pipeline.check(root, environments, today, affected_base=affected_base, shard=shard)
    )
    findings = checked.findings
    catalogue = _checks(checked.policy_set)
    checks = [c.id for c in catalogue if c.status != "disabled"]
    rules = {c.id: (c.title, c.remediation) for c in catalogue}
    for kind, target in zip(formats, targets, strict=True):
        if kind == "text" and target is None:
            report.text(findings, console)
            continue
        if kind == "text":
            buffer = io.StringIO()
            report.text(findings, Console(file=buffer, width=120, no_color=True, emoji=False))
            content = buffer.getvalue()
        elif kind == "junit":
            content = report.junit(findings, checks)
        elif kind == "sarif":
            content = report.sarif(findings, version(), rules)
        else:
            content = report.FORMATS[kind](findings)
        if target is None:
            console.out(content, end="", highlight=False)
        else:
            write_file_atomically(target, content.encode())
    return 1 if any(f.outcome == "fail" for f in findings) else 0


@dataclass(frozen=True)
class _Check:
    id: str
    source: str
    severity: str
    status: str
    title: str
    remediation: str
    same_as: tuple[str, ...] = ()  # the checks that report the same mistake (equivalence.py)


def _checks(policy_set: PolicySet) -> list[_Check]:
    """Every check this run knows, with the severity and status config.yaml gives it."""
    config = policy_set.config
    found = [
        *((b.id, "builtin", b.severity, b.title, b.remediation) for b in BUILTINS.values()),
        *(
            (p.id, "policy", p.severity, p.title, p.remediation)
            for p in policy_set.policies.values()
        ),
        *(
            (check, "checkov", own or config.checkov.severity, title, "see checkov's docs")
            for check, (title, own) in policy_set.checkov_checks.items()
        ),
    ]
    same_as: dict[str, list[str]] = {}
    for policy, checks in policy_set.equivalents.items():
        for check in checks:
            same_as.setdefault(policy, []).append(check)
            same_as.setdefault(check, []).append(policy)
    result = []
    for check, source, severity, title, remediation in sorted(found):
        override = config.checks.get(check)
        status = "enabled"
        if override is not None and not override.enabled:
            status = "disabled"
        elif override is not None and override.severity is not None:
            status, severity = f"re-graded from {severity}", override.severity
        twins = tuple(same_as.get(check, ()))
        result.append(_Check(check, source, severity, status, title, remediation, twins))
    return result


def list_checks(root: Path, console: Console) -> int:
    """`gitopsc check --list`: what can be named in config.yaml and waivers.yaml."""
    policy_set = pipeline.load_policy_set(root, pipeline.load_catalog(root))
    table = Table("id", "source", "severity", "status", "same as", "title", box=None)
    for check in _checks(policy_set):
        same_as = ", ".join(check.same_as) or "-"
        table.add_row(check.id, check.source, check.severity, check.status, same_as, check.title)
    console.print(table)
    return 0
