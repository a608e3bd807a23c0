"""Safe `${...}` interpolation inside resolved values; deliberately not a template language.

A string may refer to facts about its instance (`${customer.domain}`, `${env.base_domain}`,
`${instance.namespace}`, ...; see `instance_context` in resolver.py) and to other values
of the same instance (`${values.ports.http}`). There are no expressions, filters, loops or
function calls. `$${` writes a literal `${`.

A string that is exactly one reference takes the referenced value's type
(`replicas: ${values.autoscaling.min_replicas}` stays an integer); a reference inside
longer text is formatted as text (`true`/`false` for booleans). Unknown references,
unterminated `${`, references to mappings, and reference cycles are errors. A list from
the instance's facts (`${customer.domains}`) may be a whole value, never part of a text.

Some subtrees are declared once per item (`for_each: domains` on a DNS record or the
ingress, issue 14): `Each` names their roots and the items, and their strings are
resolved once per item, with the item as `${domain}`. `${domain}` is unknown outside
them, and a string outside them may not refer into them (it would silently take the
first item's value): whatever varies per domain stays inside its record or ingress.

References to references are bounded, because each level can double a string
(`C0: ${values.C1}${values.C1}`, ...: 41 lines asked for terabytes): a chain may be
`MAX_DEPTH` strings deep, a string interpolation builds at most `MAX_LENGTH` characters,
and all it builds for one instance at most `MAX_INSTANCE` (else thousands of lines that
each copy one long value would do what the doubling does). A whole reference shares the
value in memory, but each copy is written out: it counts toward `MAX_INSTANCE` too (3,000
whole references to one 60 KB value made 173 MB of output), though not toward
`MAX_LENGTH`. Lengths are added up before a string is joined, so a refused string never
costs its memory. The limits are constants, not settings: whether a catalog compiles
must not depend on who runs it or on a setting the catalog itself could raise, and no
interpolation a deployment needs comes near them (long text is a literal value).
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
ITEM = "domain"  # what `for_each: domains` calls the current item
MAX_DEPTH = 32  # strings holding references, nested: C0 -> C1 -> ... -> C31
MAX_LENGTH = 64 * 1024  # characters in one string that interpolation builds
MAX_INSTANCE = 1024 * 1024  # characters built for one instance, as much as a file may hold


@dataclass(frozen=True, slots=True)
class Each:
    """Subtrees resolved once per item: the strings under each of `roots` see
    `${domain}` as each of `items` in turn; `roots` do not nest."""

    roots: tuple[YamlPath, ...]
    items: tuple[str, ...]

    def root_of(self, path: YamlPath) -> YamlPath | None:
        return next((root for root in self.roots if path[: len(root)] == root), None)


@dataclass(frozen=True, slots=True)
class InterpolationError:
    """A reference that cannot be resolved, at the path of the string that has it."""

    path: YamlPath
    message: str
    hint: str = ""


class _Failed(Exception):
    def __init__(self, error: InterpolationError):
        self.error = error


class _OverBudget(_Failed):
    """MAX_INSTANCE is spent: every later string of the instance would fail the same way."""


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
    result, templates, errors, _ = interpolate_each(values, context, paths)
    return result, templates, errors


def interpolate_each(
    values: dict[str, Any],
    context: Mapping[str, Any],
    paths: Sequence[YamlPath] | None = None,
    each: Each | None = None,
) -> tuple[
    dict[str, Any], dict[YamlPath, str], list[InterpolationError], dict[YamlPath, list[Any]]
]:
    """`interpolate`, with the subtrees at `each.roots` resolved once per item: the
    values hold the first item's; the fourth result holds, per root, the subtree for
    every item in order. One budget (MAX_INSTANCE) for everything built."""
    templates: dict[YamlPath, str] = {}
    errors: list[InterpolationError] = []
    renderer = _Renderer(values, context, each)
    outside: dict[YamlPath, Any] = {}
    inside: list[dict[YamlPath, Any]] = [{} for _ in (each.items if each else ())]
    todo = paths if paths is not None else sorted(template_paths(values), key=path_order)
    for path in todo:
        text = lookup_raw(values, path)
        if not isinstance(text, str) or "${" not in text:
            continue  # a higher layer replaced this template with a plain value
        per_item = each is not None and each.root_of(path) is not None
        for variant in range(len(inside)) if per_item else (None,):
            renderer.variant = variant
            try:
                result = renderer.render(path, text, ())
            except _Failed as failed:
                if failed.error not in errors:
                    errors.append(failed.error)
                if isinstance(failed, _OverBudget):
                    return values, templates, errors, {}
                break
            if result != text:
                templates[path] = text
                (outside if variant is None else inside[variant])[path] = result
    resolved = _replaced(values, {**outside, **(inside[0] if inside else {})})
    expanded: dict[YamlPath, list[Any]] = {}
    for root in each.roots if each else ():
        expanded[root] = [
            lookup_raw(_replaced(values, {**outside, **item}), root)
            if index
            else lookup_raw(resolved, root)
            for index, item in enumerate(inside)
        ]
    return resolved, templates, errors, expanded


class _Renderer:
    """Resolves the strings of one instance. A class rather than nested closures: closures
    that call each other form reference cycles, and at 90,000 instances the garbage
    collector's work to free them grew faster than the instance count.

    A string that failed is remembered as failed: the strings of a failed chain then
    report its one error instead of one each, and are not walked again."""

    def __init__(self, values: dict[str, Any], context: Mapping[str, Any], each: Each | None):
        self.values = values
        self.context = context
        self.each = each
        self.variant: int | None = None  # the item whose copy of a per-item string is built
        self.resolved: dict[tuple[YamlPath, int | None], Any] = {}
        self.built = 0  # characters of the strings built so far, against MAX_INSTANCE

    def _per_item(self, path: YamlPath) -> bool:
        return self.each is not None and self.each.root_of(path) is not None

    def lookup(self, path: YamlPath, chain: tuple[YamlPath, ...], name: str) -> Any:
        if self._per_item(path) and not self._per_item(chain[-1]):
            raise _Failed(
                InterpolationError(
                    chain[-1],
                    f"'${{{name}}}' is declared once per domain (for_each)",
                    "refer to it from inside a record or ingress with `for_each: domains`, "
                    "or use ${customer.domain}, the first domain",
                )
            )
        node = lookup_raw(self.values, path)
        if isinstance(node, str) and "${" in node:
            return self.render(path, node, chain)
        return node

    def render(self, path: YamlPath, text: str, chain: tuple[YamlPath, ...]) -> Any:
        key = (path, self.variant if self._per_item(path) else None)
        known = self.resolved.get(key, _MISSING)
        if isinstance(known, _Failed):
            raise known
        if known is not _MISSING:
            return known
        if path in chain:
            cycle = " -> ".join(_VALUES + _dotted(p) for p in (*chain[chain.index(path) :], path))
            raise _Failed(InterpolationError(chain[0], f"interpolation cycle: {cycle}"))
        if len(chain) == MAX_DEPTH:
            ends = f"{_VALUES}{_dotted(chain[0])} -> ... -> {_VALUES}{_dotted(path)}"
            raise _Failed(
                InterpolationError(
                    chain[0],
                    f"references nest deeper than {MAX_DEPTH} levels: {ends}",
                    "refer to the value at the end of the chain directly",
                )
            )
        try:
            result = self._build((*chain, path), text)
        except _Failed as failed:
            self.resolved[key] = failed
            raise
        self.resolved[key] = result
        return result

    def _build(self, chain: tuple[YamlPath, ...], text: str) -> Any:
        """The string with its references replaced, counted as it is built: a string
        over a limit is refused before it is joined."""
        whole = _TOKEN.fullmatch(text)
        if whole is not None and whole.group(0) != "$${":
            value = self.reference(whole, chain, whole=True)
            if isinstance(value, str | list):  # shared in memory, written out once per copy
                length = len(value) if isinstance(value, str) else sum(len(v) for v in value)
                self._check(chain, length, whole=True)
                self.built += length
            return value
        parts, position, length = [], 0, 0
        for match in _TOKEN.finditer(text):
            piece = "${" if match.group(0) == "$${" else _text(self.reference(match, chain))
            parts += [text[position : match.start()], piece]
            length += match.start() - position + len(piece)
            position = match.end()
            self._check(chain, length)
        parts.append(text[position:])
        length += len(text) - position
        self._check(chain, length)
        self.built += length
        return "".join(parts)

    def _check(self, chain: tuple[YamlPath, ...], length: int, whole: bool = False) -> None:
        """Refuse a string over MAX_LENGTH (not a whole reference: it only copies a value
        the file size or another limit already bounds), or one that would take the
        instance past MAX_INSTANCE."""
        if length > MAX_LENGTH and not whole:
            message = f"interpolated string is longer than {MAX_LENGTH} characters"
            hint = "write long text as a literal value, or refer to it whole"
            raise _Failed(InterpolationError(chain[-1], message, hint))
        if self.built + length > MAX_INSTANCE:
            message = f"interpolation builds more than {MAX_INSTANCE} characters for this instance"
            hint = "every reference copies its value into the output: copy long text less often"
            raise _OverBudget(InterpolationError(chain[-1], message, hint))

    def reference(
        self, match: re.Match[str], chain: tuple[YamlPath, ...], whole: bool = False
    ) -> Any:
        """The value `${name}` refers to; a list of the facts only as a whole value."""
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
        each = self.each
        if name.startswith(_VALUES):
            value = self.lookup(_parse_path(name[len(_VALUES) :]), chain, name)
        elif each is not None and name == ITEM and self._per_item(chain[-1]):
            value = each.items[self.variant or 0]
        else:
            value = self.context.get(name, _MISSING)
        if value is _MISSING and name == ITEM:
            raise _Failed(
                InterpolationError(
                    chain[-1],
                    f"'${{{name}}}' is only known inside a DNS record or ingress declared "
                    "with `for_each: domains`",
                    "add `for_each: domains` to the record (or ingress), or use "
                    "${customer.domain}, the first domain",
                )
            )
        if value is _MISSING:
            choices = list(self.context) if not name.startswith(_VALUES) else []
            hint = did_you_mean(name, choices) if choices else "no such value in this instance"
            raise _Failed(InterpolationError(chain[-1], f"unknown reference '${{{name}}}'", hint))
        if isinstance(value, tuple) and whole:  # a list of the facts, as a whole value
            return list(value)
        if isinstance(value, tuple):
            raise _Failed(
                InterpolationError(
                    chain[-1],
                    f"'${{{name}}}' is a list: only a value that is exactly '${{{name}}}' "
                    "becomes the list",
                    "inside text, use ${customer.domain} (the first domain), or declare "
                    "the record or ingress with `for_each: domains` and use ${domain}",
                )
            )
        if isinstance(value, dict | list):
            raise _Failed(
                InterpolationError(
                    chain[-1],
                    f"'${{{name}}}' is a {'mapping' if isinstance(value, dict) else 'list'}",
                    "only single values can be interpolated",
                )
            )
        return value


def refers_to(text: Any, name: str) -> bool:
    """`text` is a string with a reference to `name` (`${domain}`, not `$${domain}`)."""
    return isinstance(text, str) and any(
        m.group(1) is not None and m.group(1).strip() == name for m in _TOKEN.finditer(text)
    )


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
