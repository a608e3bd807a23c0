"""The small YAML writer the benchmark catalog generator uses, standard library only.

Why not PyYAML: the generator must run with nothing but Python (it is part of the
benchmarks, not of the compiler), and its output must be byte-stable and look like YAML
people write: block mappings, `[a, b]` lists of scalars, and `{cpu: 50m}` for small
mappings marked `Flow`. Only what the generated documents contain is supported (dict,
list, str, int, bool, None), and any string a YAML 1.2 reader could take for something
other than a string is quoted, so the catalog reads back exactly as generated.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any


class Flow(dict):
    """A mapping written in flow style (`{cpu: 50m, memory: 64Mi}`), as people write it."""


_PLAIN = re.compile(r"[A-Za-z_/$][^\n]*\Z")
_RESERVED = frozenset({"", "~", "null", "true", "false", "yes", "no", "on", "off"})


def _scalar(value: Any, flow: bool = False) -> str:
    """One scalar as YAML text; strings are quoted unless they are unambiguously plain."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float) and math.isfinite(value):  # an SLO's objective: 99.9
        return repr(value)
    if not isinstance(value, str):
        raise TypeError(f"cannot write {type(value).__name__} {value!r}")
    plain = (
        _PLAIN.match(value) is not None
        and value.lower() not in _RESERVED
        and ": " not in value
        and " #" not in value
        and not value.endswith((":", " "))
        and not (flow and any(char in value for char in ",[]{}:#"))
    )
    return value if plain else json.dumps(value, ensure_ascii=False)


def _inline(value: Any) -> str | None:
    """Flow text of a value that fits on its key's line, or None for a block."""
    if isinstance(value, Flow):
        items = ", ".join(f"{_scalar(k, True)}: {_scalar(v, True)}" for k, v in value.items())
        return "{" + items + "}"
    if isinstance(value, dict):
        return "{}" if not value else None
    if isinstance(value, list):
        if all(not isinstance(item, dict | list) for item in value):
            return "[" + ", ".join(_scalar(item, True) for item in value) + "]"
        return None
    return _scalar(value)


def _block(node: dict[str, Any], indent: int, lines: list[str]) -> None:
    pad = " " * indent
    for key, value in node.items():
        head = f"{pad}{_scalar(key)}:"
        if value is None:  # `service:` alone enables a service with no override
            lines.append(head)
            continue
        text = _inline(value)
        if text is not None:
            lines.append(f"{head} {text}")
        elif isinstance(value, dict):
            lines.append(head)
            _block(value, indent + 2, lines)
        else:
            lines.append(head)
            for item in value:
                if isinstance(item, Flow):
                    lines.append(f"{pad}  - {_inline(item)}")
                else:
                    start = len(lines)
                    _block(item, indent + 4, lines)
                    lines[start] = f"{pad}  - " + lines[start].lstrip()


def dump(node: dict[str, Any], header: str = "") -> str:
    """A YAML document for `node`, with `header` comment lines on top."""
    lines = [f"# {line}" if line else "#" for line in header.splitlines()]
    _block(node, 0, lines)
    return "\n".join(lines) + "\n"
