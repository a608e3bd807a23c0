"""Located problems: every user-facing error names a file, line and column.

Stages never print and never exit. They return lists of `Problem`; the pipeline decides
to stop by raising `CatalogInvalid`, and the CLI's one error boundary turns that into
exit code 2. Problems sort by file, line and column, so output is stable and a reader
can walk the catalog top to bottom.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True, order=True, slots=True)
class Location:
    """A place in a source file: repo-relative POSIX path, 1-based line and column."""

    file: str
    line: int = 1
    column: int = 1

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.column}"


@dataclass(frozen=True, order=True, slots=True)
class Problem:
    """One thing wrong with the input, where it is, and what to do about it."""

    location: Location
    message: str
    hint: str = ""

    def render(self) -> str:
        text = f"{self.location}: error: {self.message}"
        if self.hint:
            text += f"\n  hint: {self.hint}"
        return text


class CatalogInvalid(Exception):
    """The input cannot be compiled; carries every problem found, sorted and unique."""

    def __init__(self, problems: Iterable[Problem]):
        self.problems = sorted(set(problems))
        super().__init__(f"{len(self.problems)} problem(s) in the catalog")


class UsageError(Exception):
    """The command line asks for something that does not exist (exit code 2)."""

    def __init__(self, message: str, hint: str = ""):
        self.message = message
        self.hint = hint
        super().__init__(message)


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    """A short hint naming the closest known choice, or listing the choices when few."""
    options = sorted(set(choices))
    close = difflib.get_close_matches(word, options, n=1, cutoff=0.6)
    if close:
        return f"did you mean '{close[0]}'?"
    if not options:
        return ""
    if len(options) <= 8:
        return "expected one of: " + ", ".join(options)
    return "expected one of: " + ", ".join(options[:8]) + ", ..."
