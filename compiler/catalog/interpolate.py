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
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from compiler.catalog.loader import YamlPath
from compiler.errors import did_you_mean

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


def template_paths(node: Any, path: YamlPath = ()) -> list[YamlPath]:
    """Paths of the strings in `node` that interpolation has to look at."""
    if isinstance(node, dict):
        return [p for key, value in node.items() for p in template_paths(value, (*path, key))]
    if isinstance(node, list):
        return [
            p for index, value in enumerate(node) for p in template_paths(value, (*path, index))
        ]
    return [path] if isinstance(node, str) and "${" in node else []


def interpolate(
    values: dict[str, Any], context: Mapping[str, Any], paths: Sequence[YamlPath] | None = None
) -> tuple[dict[str, Any], dict[YamlPath, str], list[InterpolationError]]:
    """Resolve every reference in `values` (only at `paths`, when the caller knows them).

    Returns new values, the original template of each leaf that changed (for `explain`),
    and the errors. `values` itself is never changed: it may be shared between instances,
    so changed leaves are written into copies of the mappings and lists above them.
    """
    templates: dict[YamlPath, str] = {}
    errors: list[InterpolationError] = []
    renderer = _Renderer(values, context)
    replacements: dict[YamlPath, Any] = {}
    for path in paths if paths is not None else sorted(template_paths(values), key=path_order):
        text = lookup_raw(values, path)
        if not isinstance(text, str) or "${" not in text:
            continue  # a higher layer replaced this template with a plain value
        try:
            result = renderer.render(path, text, ())
        except _Failed as failed:
            errors.append(failed.error)
            continue
        if result != text:
            templates[path] = text
            replacements[path] = result
    return _replaced(values, replacements), templates, errors


class _Renderer:
    """Resolves the strings of one instance. A class rather than nested closures: closures
    that call each other form reference cycles, and at 90,000 instances the garbage
    collector's work to free them grew faster than the instance count."""

    def __init__(self, values: dict[str, Any], context: Mapping[str, Any]):
        self.values = values
        self.context = context
        self.resolved: dict[YamlPath, Any] = {}

    def lookup(self, path: YamlPath, chain: tuple[YamlPath, ...]) -> Any:
        node = lookup_raw(self.values, path)
        if isinstance(node, str) and "${" in node:
            return self.render(path, node, chain)
        return node

    def render(self, path: YamlPath, text: str, chain: tuple[YamlPath, ...]) -> Any:
        if path in self.resolved:
            return self.resolved[path]
        if path in chain:
            cycle = " -> ".join(_VALUES + _dotted(p) for p in (*chain[chain.index(path) :], path))
            raise _Failed(InterpolationError(chain[0], f"interpolation cycle: {cycle}"))
        chain = (*chain, path)
        whole = _TOKEN.fullmatch(text)
        if whole is not None and whole.group(0) != "$${":
            result = self.reference(whole, chain)
        else:
            parts, position = [], 0
            for match in _TOKEN.finditer(text):
                parts.append(text[position : match.start()])
                position = match.end()
                parts.append(
                    "${" if match.group(0) == "$${" else _text(self.reference(match, chain))
                )
            parts.append(text[position:])
            result = "".join(parts)
        self.resolved[path] = result
        return result

    def reference(self, match: re.Match[str], chain: tuple[YamlPath, ...]) -> Any:
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
            value = self.lookup(_parse_path(name[len(_VALUES) :]), chain)
        else:
            value = self.context.get(name, _MISSING)
        if value is _MISSING:
            choices = list(self.context) if not name.startswith(_VALUES) else []
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


def lookup_raw(values: Any, path: YamlPath) -> Any:
    node = values
    for segment in path:
        if (isinstance(node, dict) and segment in node) or (
            isinstance(node, list) and isinstance(segment, int) and segment < len(node)
        ):
            node = node[segment]
        else:
            return _MISSING
    return node


def path_order(path: YamlPath) -> tuple[str, ...]:
    """A total order on paths that mix keys and list indices (for stable error order)."""
    return tuple(str(part) for part in path)


def _replaced(values: dict[str, Any], replacements: dict[YamlPath, Any]) -> dict[str, Any]:
    """A copy of `values` with the leaves at `replacements` swapped; untouched parts shared."""
    if not replacements:
        return values
    root: Any = dict(values)
    copied = {id(root)}
    for path, value in replacements.items():
        node = root
        for segment in path[:-1]:
            child = node[segment]
            if id(child) not in copied:
                child = dict(child) if isinstance(child, dict) else list(child)
                copied.add(id(child))
                node[segment] = child
            node = child
        node[path[-1]] = value
    return root


_MISSING = object()


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _parse_path(dotted: str) -> YamlPath:
    return tuple(int(part) if part.isdigit() else part for part in dotted.split("."))


def _dotted(path: YamlPath) -> str:
    return ".".join(str(part) for part in path)
