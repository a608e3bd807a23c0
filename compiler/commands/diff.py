"""`gitopsc diff --base REF [--env E] [--format text|markdown|json] [--output FILE]
[--shard K/N]`.

What the change in the working tree does to the rendered output against REF, object by
object. Exit 0 whatever it finds (a diff is for reading; `check` is the gate), 2 on bad
input, including a base revision that cannot be found or does not compile.
"""

from __future__ import annotations

from pathlib import Path

from rich.console import Console

from compiler import pipeline
from compiler.commands import check_report_target
from compiler.errors import UsageError
from compiler.output import write_file_atomically
from compiler.review import diff


def run(
    root: Path,
    base: str,
    environments: list[str] | None,
    format_: str,
    output: Path | None,
    max_bytes: int,
    console: Console,
    shard_spec: str | None = None,
) -> int:
    if format_ not in diff.FORMATS:
        raise UsageError(f"unknown format '{format_}'", f"choose from {', '.join(diff.FORMATS)}")
    if output is not None:
        check_report_target(output, diff.FORMATS, root)
    shard = pipeline.parse_shard(shard_spec)
    result = pipeline.diff(root, base, environments, shard=shard)
    text = (
        diff.to_markdown(result, max_bytes)
        if format_ == "markdown"
        else diff.FORMATS[format_](result)
    )
    if output is not None:
        write_file_atomically(output, text.encode())
    else:
        console.out(text, end="", highlight=False)
    return 0
