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


# the repository's own folders: a report written there replaces a source file (or
# output that `compile` owns), and the next run reads the report as catalog
_SOURCES = ("catalog", "environments", "policies", "rendered", "schemas")


def check_report_target(target: Path, formats: Iterable[str], root: Path) -> None:
    """Stop before writing a report (`--output`) where it does harm or cannot go:

    - a bare format name (`--output json`) is almost surely meant for `--format`, as
      `-o` chose one in `list` and `explain` before issue 16; a file by that name is
      still reachable through its folder (`$PWD/json`);
    - a folder (`.`, `..`, `""`, a path ending in `/`) is no file to write;
    - a path inside the repository's catalog, environments, policies, rendered output or
      schemas would replace a file that the next run reads as input (a report over
      `catalog/customers/acme.yaml` was written, exit 0, in the issue-16 review).
    """
    names = {*formats, "table", "text", "json"}
    if target.parent == Path(".") and target.name in names:
        raise UsageError(
            f"--output {target.name} would write a file named '{target.name}'",
            f"did you mean --format {target.name}? To write that file, name its folder "
            f"too, as in $PWD/{target.name}",
        )
    if str(target) in ("", ".", "..") or target.name in ("", ".", "..") or target.is_dir():
        raise UsageError(f"--output '{target}' is a folder, not a file", "name the report file")
    resolved, repository = target.resolve(), root.resolve()
    for part in _SOURCES:
        if resolved.is_relative_to(repository / part):
            raise UsageError(
                f"--output {target} is inside the repository's {part}/",
                "a report there would replace a file gitopsc reads; write it elsewhere "
                "(CI: the job's folder, e.g. gl-code-quality.json at the repository root)",
            )
