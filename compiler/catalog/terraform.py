"""The Terraform contract of an environment: environments/<env>/terraform/variables.tf in,
the variables its root module declares (name, type constraint, required, line) out
(issue 15); terraform_types.py holds a tfvars value to them. Also the rule that keeps
every tfvars entry's `provider` set once any is (`provider_problems`).

gitopsc writes `catalog.auto.tfvars.json` for a root module it does not own. Without
reading the module's `variable` blocks, a changed type or a new required variable passes
`compile --check` and `check` and fails only at `terraform plan`, or not at all: Terraform
converts a number to a string, and silently drops object attributes a type does not
declare (a `provider` the module cannot see is a database created in the wrong cloud).
So the contract is stricter than Terraform's conversion rules: every value must already
be of its declared type, every attribute gitopsc writes must be declared, every
attribute the type requires must be written. The file and the catalog are reviewed
together, so a change on one side must be made on the other in the same merge request.

Parsing: bc-python-hcl2 (the HCL2 grammar checkov pins and ships; module `hcl2`) parses
the file with Lark. Its dict form renders type expressions back into text
(`${map(object({'a': '${string}'}))}`) that would need a second parser, so this module
reads Lark's tree instead, which keeps the line of every variable and of every
attribute inside a type. Type constraints follow Terraform's documentation (Type
Constraints): string, number, bool, any, list(T), set(T), map(T), tuple([T, ...]),
object({name = T, name = optional(T[, default])}); `type` missing means any.

Hostile files: over `MAX_FILE_BYTES` they are refused unread; types nested deeper than
`MAX_TYPE_DEPTH` are an error (the walk below recurses once per level); a syntax error
is a located problem, never a traceback.

The parser is reached through `hcl2.parser.hcl2.lark_parser`, and the tree's rule names
(`block`, `attribute`, `function_call`, `object_elem`) are bc-python-hcl2's grammar
(hcl2.lark): pyproject.toml pins the 0.4 series, which checkov pins exactly.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

from lark import Token, Tree
from lark.exceptions import LarkError, UnexpectedInput

from compiler.catalog.terraform_types import COLLECTIONS, IDENTIFIER, PRIMITIVES, TfType
from compiler.errors import Location, Problem

MAX_FILE_BYTES = 256 * 1024  # a root module's variables.tf is a few KiB
MAX_TYPE_DEPTH = 32


@dataclass(frozen=True, slots=True)
class Variable:
    name: str
    type: TfType
    required: bool  # no `default`: the tfvars (or the operator) must set it
    nullable: bool  # `nullable = false` refuses null as the whole value
    line: int


@dataclass(frozen=True)
class Contract:
    """The variables of one environment's root module, from `file` (repo-relative)."""

    file: str
    variables: Mapping[str, Variable] = field(default_factory=lambda: MappingProxyType({}))

    def at(self, line: int) -> Location:
        return Location(self.file, line)


def contract_path(environment: str) -> str:
    return f"environments/{environment}/terraform/variables.tf"


def load_contract(root: Path, environment: str) -> tuple[Contract | None, list[Problem]]:
    """The environment's contract, or None when it has no variables.tf (then there is no
    contract to check: gitopsc does not know what the root module reads)."""
    relative = contract_path(environment)
    path = root / relative
    if not path.exists() and not path.is_symlink():
        return None, []
    if not path.is_file():  # a folder or a dangling link: not "no contract"
        return None, [Problem(Location(relative), "is not a file: the contract cannot be read")]
    if not path.resolve().is_relative_to(root.resolve()):
        # as for catalog files (layout.py): the repository alone says what is compiled
        return None, [
            Problem(Location(relative), "file is a link that leads out of the repository")
        ]
    if path.stat().st_size > MAX_FILE_BYTES:
        return None, [
            Problem(Location(relative), f"file is larger than {MAX_FILE_BYTES} bytes; not read")
        ]
    try:
        text = path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as error:
        return None, [Problem(Location(relative), f"file is not UTF-8 text: {error.reason}")]
    return parse_contract(relative, text)


def parse_contract(relative: str, text: str) -> tuple[Contract | None, list[Problem]]:
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


def provider_problems(catalog: Any) -> list[Problem]:
    """A provider named for a cluster, database engine, `dns` or `buckets` needs the
    environment's own `provider` as well: with none, the things no override reaches
    would carry `provider: null`, which a root module dispatching on `v.provider ==
    "aws"` skips without a word (a database never created). An environment that names
    no provider anywhere writes null throughout: a single-provider module ignores it."""
    problems = []
    for name, env in sorted(catalog.environments.items()):
        if env.provider is not None:
            continue
        source = catalog.source("environment", name)
        overrides: list[tuple[tuple[str | int, ...], str]] = [
            (("clusters", index, "provider"), f"cluster '{cluster.name}'")
            for index, cluster in enumerate(env.clusters)
            if cluster.provider is not None
        ]
        overrides += [
            (("databases", engine, "provider"), f"database engine '{engine}'")
            for engine, database in sorted(env.databases.items())
            if database.provider is not None
        ]
        overrides += [
            ((what, "provider"), what)
            for what in ("dns", "buckets")
            if getattr(env, what) is not None
        ]
        problems += [
            Problem(
                source.locate(*path),
                f"{what} names a provider, but environment '{name}' has no `provider`",
                "set the environment's `provider:` (the default for everything else), so no "
                "tfvars entry is left with provider null",
            )
            for path, what in overrides
        ]
    return problems
