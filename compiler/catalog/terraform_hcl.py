"""The `variable` blocks of a Terraform root module's variables.tf, read from the tree
bc-python-hcl2's Lark parser builds (terraform.py says why the tree and not its dict
form): apart, so that Lark is imported only when a catalog has a root module."""

from __future__ import annotations

import re
from collections.abc import Iterator
from types import MappingProxyType
from typing import Any

from lark import Token, Tree
from lark.exceptions import LarkError, UnexpectedInput

from compiler.catalog.terraform import MAX_TYPE_DEPTH, Contract, Variable
from compiler.catalog.terraform_types import COLLECTIONS, IDENTIFIER, PRIMITIVES, TfType
from compiler.errors import Location, Problem

__all__ = ["parse_variables"]


def parse_variables(relative: str, text: str) -> tuple[Contract | None, list[Problem]]:
    """The contract of an environment's root module from its variables.tf `text`."""
    # imported here: loading bc-python-hcl2 builds its Lark parser (30-45 ms), which
    # every command paid at start, though only a catalog with a root module uses it
    from hcl2.parser import hcl2 as _hcl2  # bc-python-hcl2: its Lark parser and grammar

    try:
        # the grammar needs a final newline (bc-python-hcl2's own loads adds one too)
        tree = _hcl2.lark_parser.parse(text + "\n")
    except UnexpectedInput as error:
        line = max(getattr(error, "line", 1) or 1, 1)
        column = max(getattr(error, "column", 1) or 1, 1)
        return None, [
            Problem(
                Location(relative, line, column),
                f"HCL syntax error: {_first_line(error)}",
                "the Terraform root module's variables must parse (terraform validate)",
            )
        ]
    except LarkError as error:  # the grammar's own failures, e.g. an unclosed heredoc
        return None, [Problem(Location(relative), f"HCL syntax error: {_first_line(error)}")]
    variables: dict[str, Variable] = {}
    problems: list[Problem] = []
    for block in _blocks(tree):
        labels = [_text(c) for c in block.children[1:-1]]
        if _text(block.children[0]) != "variable":
            continue
        line = block.meta.line
        if len(labels) != 1 or not IDENTIFIER.match(labels[0]):
            problems.append(
                Problem(Location(relative, line), "a variable block has one label, its name")
            )
            continue
        name = labels[0]
        if name in variables:
            problems.append(
                Problem(
                    Location(relative, line),
                    f"variable '{name}' is declared twice",
                    f"first at line {variables[name].line}",
                )
            )
            continue
        attributes = _attributes(block.children[-1])
        kind: TfType = TfType("any", line)
        if "type" in attributes:
            found = _type(attributes["type"], 0)
            if isinstance(found, Problem):
                problems.append(Problem(Location(relative, found.location.line), found.message))
                continue
            kind = found
        nullable = attributes.get("nullable")
        variables[name] = Variable(
            name,
            kind,
            required="default" not in attributes,
            nullable=not (nullable is not None and _identifier(nullable) == "false"),
            line=line,
        )
    return Contract(relative, MappingProxyType(dict(sorted(variables.items())))), problems


def _first_line(error: Exception) -> str:
    """Lark's first line, without the position it repeats (the problem has it)."""
    first = (str(error).strip().splitlines() or ["unexpected input"])[0]
    return re.sub(r",? at line \d+,? col(umn)? \d+\.?$", "", first).rstrip(".") or first


def _blocks(tree: Tree) -> Iterator[Tree]:
    body = next((c for c in tree.children if isinstance(c, Tree) and c.data == "body"), None)
    for child in body.children if body is not None else ():
        if isinstance(child, Tree) and child.data == "block":
            yield child


def _attributes(body: Tree) -> dict[str, Tree]:
    return {
        _text(child.children[0]): child.children[1]
        for child in body.children
        if isinstance(child, Tree) and child.data == "attribute"
    }


def _text(node: Any) -> str:
    """An identifier's or a string label's text."""
    if isinstance(node, Tree) and node.data == "identifier":
        return str(node.children[0])
    text = str(node)
    return text[1:-1] if text.startswith('"') and text.endswith('"') else text


def _unwrap(node: Any) -> Any:
    """The expression inside `expr_term` wrappers (and parentheses)."""
    while isinstance(node, Tree) and node.data == "expr_term" and node.children:
        inner = [c for c in node.children if not (isinstance(c, Token) and c in "()")]
        if len(inner) != 1:
            return node
        node = inner[0]
    return node


def _identifier(node: Any) -> str | None:
    node = _unwrap(node)
    if isinstance(node, Tree) and node.data == "identifier":
        return str(node.children[0])
    return None


def _line(node: Any, fallback: int = 1) -> int:
    meta = getattr(node, "meta", None)
    if meta is not None and not meta.empty:
        return meta.line
    return getattr(node, "line", None) or fallback


def _type(node: Any, depth: int) -> TfType | Problem:
    """The type constraint written as `node`, or the problem with it (located by line)."""
    line = _line(node)
    if depth > MAX_TYPE_DEPTH:
        return _bad(line, f"type constraint nested deeper than {MAX_TYPE_DEPTH} levels")
    node = _unwrap(node)
    line = _line(node, line)
    name = _identifier(node)
    if name is not None:
        if name in PRIMITIVES:
            return TfType(name, line)
        if name in COLLECTIONS:  # Terraform's shorthand: bare `list` is `list(any)`
            return TfType(name, line, TfType("any", line))
        return _bad(line, f"unknown type '{name}'")
    if isinstance(node, Token) and str(node).startswith('"'):
        return _bad(
            line,
            f"quoted type constraint {node}: Terraform 0.12+ writes types bare (type = string)",
        )
    if not (isinstance(node, Tree) and node.data == "function_call"):
        return _bad(line, "not a type constraint")
    function = _text(node.children[0])
    arguments = node.children[1].children if len(node.children) > 1 else []
    if function in COLLECTIONS and len(arguments) == 1:
        element = _type(arguments[0], depth + 1)
        return element if isinstance(element, Problem) else TfType(function, line, element)
    if function == "tuple" and len(arguments) == 1:
        items = _unwrap(arguments[0])
        if not (isinstance(items, Tree) and items.data == "tuple"):
            return _bad(line, "tuple takes a list of types: tuple([string, number])")
        parsed = [_type(item, depth + 1) for item in items.children]
        bad = next((p for p in parsed if isinstance(p, Problem)), None)
        return bad or TfType("tuple", line, items=tuple(parsed))  # type: ignore[arg-type]
    if function == "object" and len(arguments) == 1:
        return _object(arguments[0], line, depth)
    return _bad(line, f"'{function}(...)' with {len(arguments)} argument(s) is not a type")


def _object(node: Any, line: int, depth: int) -> TfType | Problem:
    body = _unwrap(node)
    if not (isinstance(body, Tree) and body.data == "object"):
        return _bad(line, "object takes attributes: object({name = string})")
    attributes: list[tuple[str, TfType, bool]] = []
    for element in body.children:
        key = _identifier(element.children[0]) or _text(_unwrap(element.children[0]))
        value = _unwrap(element.children[-1])
        optional = (
            isinstance(value, Tree)
            and value.data == "function_call"
            and _text(value.children[0]) == "optional"
        )
        if optional:
            arguments = value.children[1].children if len(value.children) > 1 else []
            if len(arguments) not in (1, 2):
                return _bad(_line(value, line), "optional takes a type and an optional default")
            value = arguments[0]
        parsed = _type(value, depth + 1)
        if isinstance(parsed, Problem):
            return parsed
        if any(key == name for name, _, _ in attributes):
            return _bad(_line(element, line), f"object attribute '{key}' is declared twice")
        attributes.append((key, parsed, optional))
    return TfType("object", line, attributes=tuple(attributes))


def _bad(line: int, message: str) -> Problem:
    return Problem(Location("", line), message)


# --- providers ------------------------------------------------------------------------
