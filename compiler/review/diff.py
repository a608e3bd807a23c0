"""What a change does to the rendered output, object by object, for a reviewer.

Pure functions: two sets of rendered files (base and working tree) in, a `Diff` out,
and the `Diff` as text, markdown (a merge-request comment) or json. Every rendered
file is one object (or one tfvars file, one inventory), so a file that differs is an
object that changes. Production comes first: it is what a reviewer must not miss; and
before any object, the persistent data the change destroys (`persistent-data-loss`).
Files are compared, and shown, without the generated header: it names the catalog
files behind a file, not what ArgoCD, AWX or Terraform read from it.
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from compiler.check import Finding
from compiler.output import without_header

Change = Literal["added", "removed", "changed"]
_TIER_ORDER = {"prod": 0, "staging": 1, "dev": 2}


@dataclass(frozen=True)
class Rendered:
    """One output file as the diff sees it: its bytes and whom it belongs to."""

    content: bytes
    customer: str | None
    service: str | None


@dataclass(frozen=True)
class ObjectChange:
    path: str
    change: Change
    environment: str
    tier: str
    customer: str | None
    service: str | None
    diff: str  # unified diff of the file's text
    partial: bool = False  # an environment-wide file shown for the affected part only


@dataclass(frozen=True)
class Diff:
    base: str
    changes: tuple[ObjectChange, ...]
    renamed: tuple[tuple[str, str], ...]  # customers whose objects moved to a new name
    reasons: tuple[str, ...]
    # the change checks' findings (persistent-data-loss, application-replaced), enforced
    losses: tuple[Finding, ...] = ()

    def count(self, change: Change) -> int:
        return sum(1 for c in self.changes if c.change == change)


def compare(
    base_ref: str,
    base: Mapping[str, Rendered],
    head: Mapping[str, Rendered],
    tiers: Mapping[str, str],
    partial: Sequence[str] = (),
    reasons: Sequence[str] = (),
    losses: Sequence[Finding] = (),
) -> Diff:
    """`partial`: paths rendered from part of their environment (tfvars, inventory when
    only some customers changed); their diff is right for that part, and says so."""
    changes = []
    for path in sorted(set(base) | set(head)):
        old, new = base.get(path), head.get(path)
        # the generated header names the file's sources, not what its consumer reads:
        # a file whose header alone differs is no change (issue 15)
        if old is not None and new is not None and _body(old) == _body(new):
            continue
        change: Change = "added" if old is None else "removed" if new is None else "changed"
        owner = new or old
        assert owner is not None
        env = path.split("/", 1)[0]
        changes.append(
            ObjectChange(
                path,
                change,
                env,
                tiers.get(env, ""),
                owner.customer,
                owner.service,
                _unified(path, old, new),
                path in partial,
            )
        )
    changes.sort(key=lambda c: (_TIER_ORDER.get(c.tier, 3), c.environment, c.customer or "",
                                c.service or "", c.path))  # fmt: skip
    losses = sorted(losses, key=lambda f: (_TIER_ORDER.get(tiers.get(f.environment or ""), 3),
                                           f.environment or "", f.customer or ""))  # fmt: skip
    return Diff(base_ref, tuple(changes), _renames(changes), tuple(reasons), tuple(losses))


def _body(file: Rendered) -> bytes:
    return without_header(file.content)


def _unified(path: str, old: Rendered | None, new: Rendered | None) -> str:
    before = _body(old).decode().splitlines(keepends=True) if old else []
    after = _body(new).decode().splitlines(keepends=True) if new else []
    lines = difflib.unified_diff(
        before, after, f"a/{path}" if old else "/dev/null", f"b/{path}" if new else "/dev/null"
    )
    return "".join(line if line.endswith("\n") else line + "\n" for line in lines)


def _renames(changes: Sequence[ObjectChange]) -> tuple[tuple[str, str], ...]:
    """A customer whose objects all went away while another's appeared with the same
    services in the same environments: most likely renamed (reviewers should know
    that the old name's resources are deleted, the new ones created)."""
    gone: dict[str, set[tuple[str, str | None]]] = {}
    came: dict[str, set[tuple[str, str | None]]] = {}
    for c in changes:
        if c.customer and c.change != "changed":
            side = gone if c.change == "removed" else came
            side.setdefault(c.customer, set()).add((c.environment, c.service))
    touched = {c.customer for c in changes if c.change == "changed"}
    pairs = []
    for old, footprint in sorted(gone.items()):
        match = [new for new, other in sorted(came.items()) if other == footprint]
        if old not in came and old not in touched and len(match) == 1:
            pairs.append((old, match[0]))
    return tuple(pairs)


# ---------------------------------------------------------------- reports


def to_json(diff: Diff) -> str:
    return (
        json.dumps(
            {
                "base": diff.base,
                "summary": {k: diff.count(k) for k in ("added", "removed", "changed")},
                "renamed_customers": [{"from": a, "to": b} for a, b in diff.renamed],
                "reasons": list(diff.reasons),
                "data_loss": [_loss_data(f) for f in diff.losses if f.id == "persistent-data-loss"],
                "change_findings": [_loss_data(f) for f in diff.losses],
                "changes": [
                    {
                        "path": c.path,
                        "change": c.change,
                        "environment": c.environment,
                        "tier": c.tier,
                        "customer": c.customer,
                        "service": c.service,
                        "partial": c.partial,
                        "diff": c.diff,
                    }
                    for c in diff.changes
                ],
            },
            indent=2,
        )
        + "\n"
    )


def _loss_data(finding: Finding) -> dict[str, Any]:
    return {
        "id": finding.id,
        "severity": finding.severity,
        "outcome": finding.outcome,
        "message": finding.message,
        "environment": finding.environment,
        "customer": finding.customer,
        "service": finding.service,
        "location": finding.where,
        "waiver": finding.waiver or None,
        "remediation": finding.remediation,
    }


# what a reviewer reads above the objects, per change check (check/builtins, scope base)
_HEADINGS = {
    "persistent-data-loss": "This change destroys persistent data",
    "application-replaced": "This change recreates running objects",
    "statefulset-immutable": "This change alters what a running StatefulSet cannot change",
}


def _loss_lines(diff: Diff, markdown: bool) -> list[str]:
    """What the change destroys or recreates, one line a customer and environment,
    first, under a heading per change check."""
    lines: list[str] = []
    for check in sorted({f.id for f in diff.losses}, key=lambda i: (i not in _HEADINGS, i)):
        found = [f for f in diff.losses if f.id == check]
        heading = _HEADINGS.get(check, f"This change: {check}")
        lines += [f"#### ⚠ {heading}", ""] if markdown else ["", heading.upper()]
        for f in found:
            outcome = f"{f.outcome.upper()} {f.severity}"
            waived = f"; waived: {f.waiver}" if f.waiver else ""
            if markdown:
                lines.append(f"- **{outcome}** `{f.id}` at `{f.where}`: {f.message}{waived}")
            else:
                lines.append(f"  {outcome:14} {f.where}: {f.message}{waived}")
        remedy = found[0].remediation
        lines += ["", f"To proceed: {remedy}.", ""] if markdown else [f"  to proceed: {remedy}"]
    return lines


def _groups(diff: Diff) -> dict[tuple[str, str, str | None, str | None], list[ObjectChange]]:
    groups: dict[tuple[str, str, str | None, str | None], list[ObjectChange]] = {}
    for c in diff.changes:
        groups.setdefault((c.tier, c.environment, c.customer, c.service), []).append(c)
    return groups


def _summary_line(diff: Diff) -> str:
    prod = sum(1 for c in diff.changes if c.tier == "prod")
    return (
        f"{len(diff.changes)} object(s) differ from {diff.base}: {diff.count('added')} added, "
        f"{diff.count('removed')} removed, {diff.count('changed')} changed"
        + (f"; {prod} in production" if prod else "")
    )


def to_text(diff: Diff) -> str:
    out = [_summary_line(diff)]
    out += _loss_lines(diff, markdown=False)
    out += [f"  renamed customer: {a} -> {b}" for a, b in diff.renamed]
    for (tier, env, customer, service), changes in _groups(diff).items():
        flag = "PRODUCTION " if tier == "prod" else ""
        out.append(f"\n{flag}{env} / {customer or '(environment)'} / {service or '(shared)'}")
        for c in changes:
            note = " (affected part only)" if c.partial else ""
            out.append(f"  {c.change:8} {c.path}{note}")
            out += ["    " + line for line in c.diff.rstrip("\n").splitlines()]
    return "\n".join(out) + "\n"


def to_markdown(diff: Diff, max_bytes: int = 60_000) -> str:
    """A summary table, then each group in a collapsible section, until `max_bytes`;
    what did not fit is counted at the end, never silently dropped."""
    head = ["### gitopsc: rendered changes", "", _summary_line(diff), ""]
    head += _loss_lines(diff, markdown=True)
    if diff.renamed:
        head += [f"- renamed customer `{a}` → `{b}`" for a, b in diff.renamed] + [""]
    if not diff.changes:
        return "\n".join([*head, "No rendered object changes."]) + "\n"
    head += [
        "| environment | customer | service | added | removed | changed |",
        "|---|---|---|---|---|---|",
    ]
    groups = _groups(diff)
    for (tier, env, customer, service), changes in groups.items():
        name = f"**{env}** (production)" if tier == "prod" else env
        counts = [sum(1 for c in changes if c.change == k) for k in ("added", "removed", "changed")]
        head.append(
            f"| {name} | {customer or '—'} | {service or '—'} | "
            + " | ".join(map(str, counts))
            + " |"
        )
    head.append("")
    body: list[str] = []
    size = sum(len(line) + 1 for line in head)
    left_out = 0
    for (_, env, customer, service), changes in groups.items():
        for c in changes:
            block = [
                f"<details><summary>{c.change} <code>{c.path}</code>"
                + (" (affected part only)" if c.partial else "")
                + f" — {env} / {customer or 'environment'} / {service or 'shared'}</summary>",
                "",
                "```diff",
                c.diff.rstrip("\n").replace("```", "` ` `"),
                "```",
                "</details>",
                "",
            ]
            cost = sum(len(line) + 1 for line in block)
            if size + cost > max_bytes:
                left_out += 1
                continue
            body += block
            size += cost
    if left_out:
        body.append(
            f"_{left_out} object diff(s) left out to keep this comment under {max_bytes:,} "
            "bytes; run `gitopsc diff` locally or see the job's artifact for all of them._"
        )
    return "\n".join(head + body) + "\n"


FORMATS = {"text": to_text, "markdown": to_markdown, "json": to_json}
