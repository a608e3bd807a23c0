"""Stage 7, report: findings in the formats CI systems and reviewers read.

    text         rich, grouped by file (the terminal)
    json         every field of every finding (for scripts)
    junit        one test case per check and subject; GitLab shows them as tests
    codequality  GitLab Code Quality (the merge-request widget): failing and warning findings
    sarif        SARIF 2.1.0 (code scanning viewers)
    markdown     a summary for a merge-request comment

Every function takes the enforced, sorted findings and returns text; nothing here
decides outcomes. Ignored findings appear only in json. Output is deterministic.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Sequence
from xml.sax.saxutils import escape, quoteattr

from rich.console import Console
from rich.markup import escape as markup

from compiler.check.findings import SEVERITIES, Finding

_VISIBLE = ("fail", "warn", "waived")
_CODEQUALITY_SEVERITY = {
    "info": "info",
    "low": "minor",
    "medium": "major",
    "high": "critical",
    "critical": "blocker",
}
_SARIF_LEVEL = {"fail": "error", "warn": "warning", "waived": "note", "ignored": "none"}


def _visible(findings: Sequence[Finding]) -> list[Finding]:
    return [f for f in findings if f.outcome in _VISIBLE]


def summary(findings: Sequence[Finding]) -> str:
    counts = Counter(f.outcome for f in findings)
    return (
        f"{counts['fail']} failing, {counts['warn']} warning, {counts['waived']} waived, "
        f"{counts['ignored']} ignored"
    )


def text(findings: Sequence[Finding], console: Console) -> None:
    """Grouped by the file a reader opens, failing first within each file."""
    current = None
    style = {"fail": "bold red", "warn": "yellow", "waived": "dim"}
    for finding in _visible(findings):
        file = finding.location.file if finding.location else finding.rendered or ""
        if file != current:
            console.print(f"\n[bold]{markup(file)}[/bold]")
            current = file
        line = f":{finding.location.line}" if finding.location else ""
        console.print(
            f"  [{style[finding.outcome]}]{finding.outcome:6}[/] {line:6} "
            f"{finding.severity:8} [cyan]{markup(finding.label)}[/cyan] {markup(finding.message)}",
            highlight=False,
        )
        if finding.outcome == "waived":
            console.print(f"{'':17}waived: {markup(finding.waiver)}", highlight=False)
        elif finding.remediation:
            console.print(f"{'':17}fix: {markup(finding.remediation)}", highlight=False)
    console.print(f"\n{summary(findings)}", highlight=False)


def to_json(findings: Sequence[Finding]) -> str:
    return (
        json.dumps(
            {
                "summary": dict(Counter(f.outcome for f in findings)),
                "findings": [_as_dict(f) for f in findings],
            },
            indent=2,
            sort_keys=True,
        )
        + "\n"
    )


def _as_dict(finding: Finding) -> dict[str, object]:
    return {
        "id": finding.id,
        "equivalents": list(finding.equivalents),
        "title": finding.title,
        "severity": finding.severity,
        "outcome": finding.outcome,
        "message": finding.message,
        "source": finding.source,
        "file": finding.location.file if finding.location else None,
        "line": finding.location.line if finding.location else None,
        "column": finding.location.column if finding.location else None,
        "rendered": finding.rendered,
        "environment": finding.environment,
        "instance": finding.instance,
        "customer": finding.customer,
        "service": finding.service,
        "remediation": finding.remediation,
        "waiver": finding.waiver or None,
        "fingerprint": finding.fingerprint,
    }


def junit(findings: Sequence[Finding], checks: Sequence[str]) -> str:
    """One suite per check; a failing finding is a <failure>, a warning or waiver a
    passing case with the note in <system-out>; a check with no finding is one passing
    case, so the report lists everything that was checked."""
    by_check: dict[str, list[Finding]] = {check: [] for check in checks}
    for finding in _visible(findings):
        by_check.setdefault(finding.id, []).append(finding)
    failures = sum(1 for f in findings if f.outcome == "fail")
    cases = sum(max(1, len(items)) for items in by_check.values())
    lines = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        f'<testsuites name="gitopsc check" tests="{cases}" failures="{failures}" errors="0">',
    ]
    for check in sorted(by_check):
        items = by_check[check]
        failed = sum(1 for f in items if f.outcome == "fail")
        lines.append(
            f'  <testsuite name={quoteattr(check)} tests="{max(1, len(items))}" '
            f'failures="{failed}" errors="0" skipped="0">'
        )
        if not items:
            lines.append(f"    <testcase name={quoteattr(check)} classname={quoteattr(check)}/>")
        for finding in items:
            name = quoteattr(finding.instance or finding.rendered or finding.where)
            lines.append(f"    <testcase name={name} classname={quoteattr(check)}>")
            body = escape(f"{finding.where}: {finding.message}")
            if finding.outcome == "fail":
                lines.append(
                    f"      <failure message={quoteattr(finding.message)} "
                    f"type={quoteattr(finding.severity)}>{body}\n"
                    f"{escape(finding.remediation)}</failure>"
                )
            else:
                note = f"{finding.outcome}: {finding.where}: {finding.message}"
                if finding.waiver:
                    note += f" (waived: {finding.waiver})"
                lines.append(f"      <system-out>{escape(note)}</system-out>")
            lines.append("    </testcase>")
        lines.append("  </testsuite>")
    lines.append("</testsuites>")
    return "\n".join(lines) + "\n"


def codequality(findings: Sequence[Finding]) -> str:
    """GitLab Code Quality: description, check_name, fingerprint, severity, location.path
    and location.lines.begin are what GitLab requires of each entry."""
    entries = [
        {
            "description": f"[{f.outcome}] {f.message}",
            "check_name": f.id,
            "fingerprint": f.fingerprint,
            "severity": _CODEQUALITY_SEVERITY[f.severity],
            "location": {
                "path": f.location.file if f.location else f.rendered or "",
                "lines": {"begin": f.location.line if f.location else 1},
            },
        }
        for f in findings
        if f.outcome in ("fail", "warn")
    ]
    return json.dumps(entries, indent=2, sort_keys=True) + "\n"


def sarif(findings: Sequence[Finding], version: str, rules: dict[str, tuple[str, str]]) -> str:
    """SARIF 2.1.0: one run, one rule per check (title, remediation as help)."""
    used = sorted({f.id for f in _visible(findings)} | set(rules))
    index = {rule: position for position, rule in enumerate(used)}
    results = []
    for f in _visible(findings):
        location = {
            "physicalLocation": {
                "artifactLocation": {"uri": f.location.file if f.location else f.rendered or ""},
                **(
                    {"region": {"startLine": f.location.line, "startColumn": f.location.column}}
                    if f.location
                    else {}
                ),
            }
        }
        result: dict[str, object] = {
            "ruleId": f.id,
            "ruleIndex": index[f.id],
            "level": _SARIF_LEVEL[f.outcome],
            "message": {"text": f.message},
            "locations": [location],
            "partialFingerprints": {"gitopscFingerprint/v1": f.fingerprint},
            "properties": {
                "severity": f.severity,
                "outcome": f.outcome,
                "source": f.source,
                **({"environment": f.environment} if f.environment else {}),
                **({"instance": f.instance} if f.instance else {}),
                **({"rendered": f.rendered} if f.rendered else {}),
                **({"equivalents": list(f.equivalents)} if f.equivalents else {}),
            },
        }
        if f.outcome == "waived":
            result["suppressions"] = [{"kind": "external", "justification": f.waiver}]
        results.append(result)
    titles = {f.id: (f.title, f.remediation) for f in findings}
    titles.update(rules)
    driver_rules = [
        {
            "id": rule,
            "shortDescription": {"text": titles.get(rule, (rule, ""))[0] or rule},
            "help": {"text": titles.get(rule, (rule, ""))[1] or rule},
        }
        for rule in used
    ]
    document = {
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [
            {
                "tool": {
                    "driver": {
                        "name": "gitopsc",
                        "version": version,
                        "informationUri": "https://gitlab.com/gitopsc/gitopsc",
                        "rules": driver_rules,
                    }
                },
                "results": results,
            }
        ],
    }
    return json.dumps(document, indent=2, sort_keys=True) + "\n"


def markdown(findings: Sequence[Finding], limit: int = 50) -> str:
    """A merge-request comment: counts per outcome and severity, then the failing and
    warning findings (prod first), capped at `limit` rows with what was left out."""
    visible = _visible(findings)
    lines = ["### gitopsc check", "", f"**{summary(findings)}**", ""]
    if visible:
        lines += ["| severity | fail | warn | waived |", "|---|---|---|---|"]
        for severity in reversed(SEVERITIES):
            row = Counter(f.outcome for f in visible if f.severity == severity)
            if row:
                lines.append(f"| {severity} | {row['fail']} | {row['warn']} | {row['waived']} |")
        lines.append("")
        ordered = sorted(
            visible,
            key=lambda f: (_VISIBLE.index(f.outcome), f.environment != "prod", f.sort_key()),
        )
        lines += ["| outcome | check | where | message |", "|---|---|---|---|"]
        for finding in ordered[:limit]:
            lines.append(
                f"| {finding.outcome} | `{finding.label}` | `{finding.where}` | "
                f"{_cell(finding.message)} |"
            )
        if len(ordered) > limit:
            lines += ["", f"_{len(ordered) - limit} more finding(s) not shown; see the job's "
                      "JSON or JUnit report._"]  # fmt: skip
    else:
        lines.append("No findings.")
    return "\n".join(lines) + "\n"


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


FORMATS: dict[str, Callable[..., str]] = {
    "json": to_json,
    "junit": junit,
    "codequality": codequality,
    "sarif": sarif,
    "markdown": markdown,
}
