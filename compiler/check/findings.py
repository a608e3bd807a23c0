"""One finding model for every check: policies, built-ins, schemas, kubernetes-validate, checkov.

A finding says what is wrong (id, severity, message, remediation), where the cause lies
(a catalog file and line when one can be named, else the rendered file), and what it
concerns (environment, instance). Its fingerprint identifies the same problem across
runs and machines: it hashes what the problem is about, never line numbers or absolute
paths, so moving a block in a file or checking out elsewhere does not make GitLab or a
SARIF viewer report it as new.

Enforcement (enforcement.py) later decides each finding's outcome: fail, warn, waived or
ignored. Reports read only this module's types.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field, replace
from typing import Literal

from compiler.errors import Location

Severity = Literal["info", "low", "medium", "high", "critical"]
SEVERITIES: tuple[Severity, ...] = ("info", "low", "medium", "high", "critical")
Source = Literal["schema", "policy", "builtin", "kubernetes-validate", "checkov"]
Outcome = Literal["fail", "warn", "waived", "ignored"]


def severity_rank(severity: Severity) -> int:
    return SEVERITIES.index(severity)


@dataclass(frozen=True, slots=True)
class Finding:
    """One problem found by one check. `key` says which part of the subject is at fault
    (a JSON pointer into the instance or object, or a name); it feeds the fingerprint."""

    id: str
    severity: Severity
    message: str
    source: Source
    location: Location | None = None
    rendered: str | None = None
    environment: str | None = None
    instance: str | None = None
    customer: str | None = None
    service: str | None = None
    remediation: str = ""
    title: str = ""
    key: str = ""
    outcome: Outcome = "fail"
    waiver: str = ""  # why it is waived: the waiver's reason, owner and expiry
    pointer: str = ""  # the JSON pointer into the rendered object, where there is one
    # the other checks that found the same mistake on the same subject, folded into this
    # finding (equivalence.py); a waiver for any of them covers it
    equivalents: tuple[str, ...] = ()
    fingerprint: str = field(default="", compare=False)

    def __post_init__(self) -> None:
        if not self.fingerprint:
            subject = "\x1f".join(
                (
                    self.id,
                    self.source,
                    self.environment or "",
                    self.instance or "",
                    self.rendered or "",
                    self.key,
                    "" if self.rendered or self.instance else _file_of(self.location),
                )
            )
            object.__setattr__(self, "fingerprint", hashlib.sha256(subject.encode()).hexdigest())

    @property
    def where(self) -> str:
        """The place a reader should open: catalog file:line, else the rendered file."""
        if self.location is not None:
            return str(self.location)
        return self.rendered or ""

    @property
    def label(self) -> str:
        """The id, and the ids of the checks folded into it: `image-pinned (= CKV_K8S_14)`."""
        return f"{self.id} (= {', '.join(self.equivalents)})" if self.equivalents else self.id

    def with_outcome(self, outcome: Outcome, waiver: str = "") -> Finding:
        return replace(self, outcome=outcome, waiver=waiver)

    def sort_key(self) -> tuple[object, ...]:
        return (
            self.location.file if self.location else "~",
            self.location.line if self.location else 0,
            self.rendered or "",
            self.id,
            self.instance or "",
            self.key,
            self.message,
        )


def _file_of(location: Location | None) -> str:
    return location.file if location is not None else ""
