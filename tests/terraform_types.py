"""Check values against Terraform type constraints read with python-hcl2 (test helper).

python-hcl2 returns a variable's `type` as text such as
`${map(object({'plan': '${string}', 'domains': '${list(string)}'}))}`; this parses it
into a small tree and checks a JSON value against it with Terraform's rules: `null` is
allowed for any type, object attributes must all be present and no others, numbers are
ints or floats (not booleans).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import hcl2

_TOKEN = re.compile(
    r"\s*(?:(?P<name>[A-Za-z_][A-Za-z0-9_]*)|'(?P<key>[^']*)'|(?P<punct>[(){},:=]))"
)


def _normalise(text: str) -> str:
    text = re.sub(r"'\$\{([^']*)\}'", r"\1", text)
    while text.startswith("${") and text.endswith("}"):
        text = text[2:-1]
    return text


def parse_type(text: str) -> Any:
    """('string'|'number'|'bool'|'any') or ('list'|'set'|'map', T) or ('object', {k: T})."""
    tokens = [
        (m.group("name") or m.group("key") or m.group("punct"))
        for m in _TOKEN.finditer(_normalise(text))
    ]
    position = 0

    def take() -> str:
        nonlocal position
        position += 1
        return tokens[position - 1]

    def parse() -> Any:
        name = take()
        if name in ("string", "number", "bool", "any"):
            return name
        assert take() == "("
        if name in ("list", "set", "map", "optional"):
            inner = parse()
            assert take() == ")"
            return (name, inner)
        assert name == "object" and take() == "{"
        fields = {}
        while tokens[position] != "}":
            key = take()
            assert take() in (":", "=")
            fields[key] = parse()
            if tokens[position] == ",":
                take()
        take()
        assert take() == ")"
        return ("object", fields)

    return parse()


def variables(path: Path) -> dict[str, Any]:
    """Variable name -> parsed type, from a variables.tf file."""
    with path.open() as handle:
        data = hcl2.load(handle)
    result = {}
    for block in data.get("variable", []):
        for name, body in block.items():
            result[name] = parse_type(body["type"][0])
    return result


def type_errors(value: Any, kind: Any, where: str = "") -> list[str]:
    """Every place where `value` does not fit `kind`."""
    if value is None or kind == "any":
        return []
    if kind == "string":
        return [] if isinstance(value, str) else [f"{where}: expected string, got {value!r}"]
    if kind == "number":
        ok = isinstance(value, int | float) and not isinstance(value, bool)
        return [] if ok else [f"{where}: expected number, got {value!r}"]
    if kind == "bool":
        return [] if isinstance(value, bool) else [f"{where}: expected bool, got {value!r}"]
    outer, inner = kind
    if outer == "optional":
        return type_errors(value, inner, where)
    if outer in ("list", "set"):
        if not isinstance(value, list):
            return [f"{where}: expected {outer}"]
        return [
            e for i, item in enumerate(value) for e in type_errors(item, inner, f"{where}[{i}]")
        ]
    if not isinstance(value, dict):
        return [f"{where}: expected {outer}"]
    if outer == "map":
        return [e for k, item in value.items() for e in type_errors(item, inner, f"{where}.{k}")]
    errors = [f"{where}: unexpected attribute {k}" for k in value if k not in inner]
    errors += [
        f"{where}: missing attribute {k}"
        for k, t in inner.items()
        if k not in value and not (isinstance(t, tuple) and t[0] == "optional")
    ]
    return errors + [
        e for k, t in inner.items() if k in value for e in type_errors(value[k], t, f"{where}.{k}")
    ]
