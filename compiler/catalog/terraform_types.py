"""Terraform type constraints, and a JSON value held to one (issue 15).

A `TfType` is what a `type = ...` of a variable block says, with the line each part is
written on, so that a value that breaks it is located at the attribute, not only at
the variable. `mismatches` follows Terraform's documentation (Type Constraints) with
one difference, on purpose: nothing is converted. Terraform turns 20 into "20" for a
string and drops object attributes its type does not list; a contract that allowed that
would let a type change or a lost attribute (`provider`) pass unseen.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

# Terraform identifiers: a letter or underscore, then letters, digits, '_' and '-'
IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*\Z")
PRIMITIVES = ("string", "number", "bool", "any")
COLLECTIONS = ("list", "set", "map")


@dataclass(frozen=True, slots=True)
class TfType:
    """One type constraint and the line it is written on. `element`: of list, set, map;
    `items`: of a tuple; `attributes`: of an object, each (name, type, optional)."""

    kind: str
    line: int
    element: TfType | None = None
    items: tuple[TfType, ...] = ()
    attributes: tuple[tuple[str, TfType, bool], ...] = ()

    def __str__(self) -> str:
        if self.kind in PRIMITIVES:
            return self.kind
        if self.kind in COLLECTIONS:
            return f"{self.kind}({self.element})"
        if self.kind == "tuple":
            return f"tuple([{', '.join(map(str, self.items))}])"
        return "object({" + ", ".join(name for name, _, _ in self.attributes) + "})"


@dataclass(frozen=True, slots=True)
class Mismatch:
    """Where a value does not fit its type: the type's line, the value's path (Terraform
    spelling, `databases["acme-synapse-db"].storage_gb`), what is wrong, and which of
    the kinds of wrong it is (type, length, undeclared, required: what one type change
    makes every entry break the same way)."""

    line: int
    path: tuple[str | int, ...]
    message: str
    reason: str = "type"


def mismatches(value: Any, kind: TfType, path: tuple[str | int, ...]) -> Iterator[Mismatch]:
    """Every place where `value` (JSON data) does not fit `kind`; null fits any type (as
    in Terraform: a null attribute is an unset one)."""
    if value is None or kind.kind == "any":
        return
    if kind.kind in ("string", "number", "bool"):
        if not _primitive(value, kind.kind):
            yield Mismatch(kind.line, path, f"is {_describe(value)}, the type is {kind.kind}")
        return
    if kind.kind in ("list", "set", "tuple"):
        if not isinstance(value, list):
            yield Mismatch(kind.line, path, f"is {_describe(value)}, the type is {kind.kind}(...)")
            return
        if kind.kind == "tuple":
            if len(value) != len(kind.items):
                yield Mismatch(
                    kind.line,
                    path,
                    f"has {len(value)} items, the tuple {len(kind.items)}",
                    "length",
                )
                return
            for index, (item, item_type) in enumerate(zip(value, kind.items, strict=True)):
                yield from mismatches(item, item_type, (*path, index))
            return
        assert kind.element is not None
        for index, item in enumerate(value):
            yield from mismatches(item, kind.element, (*path, index))
        return
    if not isinstance(value, dict):
        yield Mismatch(kind.line, path, f"is {_describe(value)}, the type is {kind.kind}(...)")
        return
    if kind.kind == "map":
        assert kind.element is not None
        for key, item in value.items():
            yield from mismatches(item, kind.element, (*path, key))
        return
    declared = {name: (item_type, optional) for name, item_type, optional in kind.attributes}
    for key in value:
        if key not in declared:
            yield Mismatch(
                kind.line,
                (*path, key),
                "is not an attribute of the object type (Terraform would drop it unseen)",
                "undeclared",
            )
    for name, (item_type, optional) in declared.items():
        if name not in value:
            if not optional:
                yield Mismatch(
                    item_type.line,
                    (*path, name),
                    "is required by the type and not written",
                    "required",
                )
            continue
        yield from mismatches(value[name], item_type, (*path, name))


def _primitive(value: Any, kind: str) -> bool:
    if kind == "string":
        return isinstance(value, str)
    if kind == "bool":
        return isinstance(value, bool)
    return isinstance(value, int | float) and not isinstance(value, bool)


def _describe(value: Any) -> str:
    if isinstance(value, bool):
        return f"a bool ({str(value).lower()})"
    if isinstance(value, int | float):
        return f"a number ({value})"
    if isinstance(value, str):
        shown = value if len(value) <= 40 else value[:37] + "..."
        return f'a string ("{shown}")'
    if isinstance(value, list):
        return "a list"
    return "an object"


def spelled(path: tuple[str | int, ...]) -> str:
    """A value path as Terraform writes it: `databases["acme-synapse-db"].storage_gb`."""
    text = str(path[0]) if path else ""
    for depth, segment in enumerate(path[1:], start=1):
        if isinstance(segment, int):
            text += f"[{segment}]"
        elif depth == 1 or not IDENTIFIER.match(segment):
            text += f'["{segment}"]'
        else:
            text += f".{segment}"
    return text
