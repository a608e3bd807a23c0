"""`gitopsc schema [--out DIR]`: write the JSON Schema of each catalog file kind."""

from __future__ import annotations

from pathlib import Path

from rich.console import Console

from compiler.schema import catalog_schemas


def run(out: Path, console: Console) -> int:
    out.mkdir(parents=True, exist_ok=True)
    for name, text in catalog_schemas().items():
        target = out / name
        if not target.exists() or target.read_text(encoding="utf-8") != text:
            target.write_text(text, encoding="utf-8", newline="\n")
        console.print(f"wrote {target}", highlight=False)
    return 0
