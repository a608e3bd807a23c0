"""Safe `${...}` interpolation inside resolved values; deliberately not a template language.

A string may refer to facts about its instance (`${customer.domain}`, `${env.base_domain}`,
`${instance.namespace}`, ...; see `instance_context` in resolver.py) and to other values
of the same instance (`${values.ports.http}`). There are no expressions, filters, loops or
function calls. `$${` writes a literal `${`.

A string that is exactly one reference takes the referenced value's type
(`replicas: ${values.autoscaling.min_replicas}` stays an integer); a reference inside
longer text is formatted as text (`true`/`false` for booleans). Unknown references,
unterminated `${`, references to mappings or lists, and reference cycles are errors.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from compiler.errors import did_you_mean
from compiler.loader import YamlPath

_TOKEN = re.compile(r"\$\$\{|\$\{([^}]*)\}|\$\{")
_VALUES = "values."


@dataclass(frozen=True, slots=True)
class InterpolationError:
    """A reference that cannot be resolved, at the path of the string that has it."""

    path: YamlPath
    message: str
    hint: str = ""


class _Failed(Exception):
    def __init__(self, error: InterpolationError):
        self.error = error


def interpolate(
    values: dict[str, Any], context: Mapping[str, Any]
) -> tuple[dict[str, Any], dict[YamlPath, str], list[InterpolationError]]:
    """Resolve every reference in `values`.

    Returns the new values, the original template of each leaf that changed (for
    `explain`), and the errors. Trees without `${` are returned as they are.
    """
    templates: dict[YamlPath, str] = {}
    errors: list[InterpolationError] = []
    resolved: dict[YamlPath, Any] = {}

    def lookup(path: YamlPath, chain: tuple[YamlPath, ...]) -> Any:
        node: Any = values
        for segment in path:
            if (isinstance(node, dict) and segment in node) or (
                isinstance(node, list) and isinstance(segment, int) and segment < len(node)
            ):
                node = node[segment]
            else:
                return _MISSING
        if isinstance(node, str) and "${" in node:
            return render(path, node, chain)
        return node

    def render(path: YamlPath, text: str, chain: tuple[YamlPath, ...]) -> Any:
        if path in resolved:
            return resolved[path]
        if path in chain:
            cycle = " -> ".join(_VALUES + _dotted(p) for p in (*chain[chain.index(path) :], path))
            raise _Failed(InterpolationError(chain[0], f"interpolation cycle: {cycle}"))
        chain = (*chain, path)
        whole = _TOKEN.fullmatch(text)
        if whole is not None and whole.group(0) != "$${":
            result = reference(whole, chain)
        else:
            parts, position = [], 0
            for match in _TOKEN.finditer(text):
                parts.append(text[position : match.start()])
                position = match.end()
                parts.append("${" if match.group(0) == "$${" else _text(reference(match, chain)))
            parts.append(text[position:])
            result = "".join(parts)
        resolved[path] = result
        return result

    def reference(match: re.Match[str], chain: tuple[YamlPath, ...]) -> Any:
        name = match.group(1)
        if name is None:
            raise _Failed(
                InterpolationError(
                    chain[-1],
                    "unterminated '${' (no closing '}')",
                    "write '$${' for a literal '${'",
                )
            )
        name = name.strip()
        if name.startswith(_VALUES):
            value = lookup(_parse_path(name[len(_VALUES) :]), chain)
        else:
            value = context.get(name, _MISSING)
        if value is _MISSING:
            choices = list(context) if not name.startswith(_VALUES) else []
            hint = did_you_mean(name, choices) if choices else "no such value in this instance"
            raise _Failed(InterpolationError(chain[-1], f"unknown reference '${{{name}}}'", hint))
        if isinstance(value, dict | list):
            raise _Failed(
                InterpolationError(
                    chain[-1],
                    f"'${{{name}}}' is a {'mapping' if isinstance(value, dict) else 'list'}",
                    "only single values can be interpolated",
                )
            )
        return value

    def walk(node: Any, path: YamlPath) -> Any:
        if isinstance(node, dict):
            return {key: walk(value, (*path, key)) for key, value in node.items()}
        if isinstance(node, list):
            return [walk(value, (*path, index)) for index, value in enumerate(node)]
        if isinstance(node, str) and "$" in node:
            try:
                result = render(path, node, ())
            except _Failed as failed:
                errors.append(failed.error)
                return node
            if result != node:
                templates[path] = node
            return result
        return node

    if not _contains_dollar(values):
        return values, templates, errors
    return walk(values, ()), templates, errors


_MISSING = object()


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _parse_path(dotted: str) -> YamlPath:
    return tuple(int(part) if part.isdigit() else part for part in dotted.split("."))


def _dotted(path: YamlPath) -> str:
    return ".".join(str(part) for part in path)


def _contains_dollar(node: Any) -> bool:
    if isinstance(node, dict):
        return any(_contains_dollar(value) for value in node.values())
    if isinstance(node, list):
        return any(_contains_dollar(value) for value in node)
    return isinstance(node, str) and "$" in node
