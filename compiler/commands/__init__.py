"""One module per command; each exposes `run(...) -> int` (the exit code)."""

from __future__ import annotations

import importlib.metadata
from collections.abc import Iterable
from pathlib import Path

from compiler.errors import UsageError


def version() -> str:
    """gitopsc's version as installed (`gitopsc --version`, SARIF's tool version, the
    publish commit's trailer): one reading, so the three never disagree."""
    try:
        return importlib.metadata.version("gitopsc")
    except importlib.metadata.PackageNotFoundError:
        return "0"


def refuse_format_as_file(target: Path, formats: Iterable[str]) -> None:
    """`--output json` names a file called `json` (`-o` is a file in every command); a
    bare format name there is almost surely a format meant for `--format`, as `-o`
    chose one in `list` and `explain` before issue 16: stop before writing it. A file
    by that name is still reachable through its folder (`$PWD/json`)."""
    names = {*formats, "table", "text", "json"}
    if target.parent == Path(".") and target.name in names:
        raise UsageError(
            f"--output {target.name} would write a file named '{target.name}'",
            f"did you mean --format {target.name}? To write that file, name its folder "
            f"too, as in $PWD/{target.name}",
        )
