"""Stage 1, load: YAML files in, plain data with a source position for every node out.

Input: a repository-relative path. Output: a `Document` (plain dicts, lists and scalars,
plus a map from each node's path to its line and column) or a list of `Problem`.

Safe by construction rather than by configuration:
- libyaml (through ruamel.yaml's C parser) only *composes* the node graph; this module
  builds the values itself, so no tag can ever construct an object. Only the YAML 1.2
  core tags are accepted (str, int, float, bool, null, map, seq).
- Plain scalars follow the YAML 1.2 core schema (`yes`, `on`, `0755` with a leading
  zero and dates stay what they look like under 1.2: strings or decimal ints).
- Duplicate keys and YAML merge keys (`<<`) are errors, not silent overwrites.
- Aliases may be used, but the *expanded* size of a document (`MAX_NODES` nodes and
  `MAX_TEXT` characters of scalar text) is measured on the node graph (shared nodes
  counted once per use, memoised) before anything is built, so an alias bomb is
  rejected in time linear in the file, not expanded. Recursive aliases and nesting
  deeper than `MAX_DEPTH` are errors.
- Files over `MAX_FILE_BYTES` are refused before they are read; text must be UTF-8.
- YAML refuses control characters written raw; an escape in a double-quoted scalar
  (`"\\x7f"`, `"\\N"`, `"\\uFFFE"`) may not produce them either (see `_FORBIDDEN`).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.error import YAMLError
from ruamel.yaml.events import (
    MappingEndEvent,
    MappingStartEvent,
    SequenceEndEvent,
    SequenceStartEvent,
)
from ruamel.yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode
from ruamel.yaml.resolver import VersionedResolver

from compiler.errors import Location, Problem

MAX_FILE_BYTES = 1024 * 1024
MAX_NODES = 200_000
# characters of scalar text in the expanded document: a file without aliases holds at most
# MAX_FILE_BYTES, so only aliases come near it; 16 times that leaves room for sharing
MAX_TEXT = 16 * 1024 * 1024
MAX_DEPTH = 64
# libyaml's composer recurses once per nesting level and crashes the interpreter at about
# 100,000 levels, which fit in a 1 MiB file ("- - - - ..."). Each level needs at least one
# of these indicator characters, so text with fewer of them cannot be too deep; text with
# more is first walked as a flat event stream, which stops at the first level too many.
_DEPTH_INDICATORS = "[{-:?"
_DEPTH_SCAN_FROM = 2_000

YamlPath = tuple[str | int, ...]

_CORE = "tag:yaml.org,2002:"
_PLAIN = "gitopsc:plain"  # placeholder tag: plain scalars are typed in `_scalar` below
_NULLS = frozenset({"", "~", "null", "Null", "NULL"})
_BOOLS = {"true": True, "True": True, "TRUE": True, "false": False, "False": False, "FALSE": False}
_INT = re.compile(r"[-+]?[0-9]+\Z")
_OCT = re.compile(r"0o[0-7]+\Z")
_HEX = re.compile(r"0x[0-9a-fA-F]+\Z")
_FLOAT = re.compile(r"[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?\Z")
_INF = re.compile(r"[-+]?\.(inf|Inf|INF)\Z")
_NAN = re.compile(r"\.(nan|NaN|NAN)\Z")
_MAX_DIGITS = 40
# Characters an escape may not produce in a key or value: the C0 and C1 controls other
# than tab and newline (CR, ESC, NUL, DEL, NEL...), lone surrogates, U+FFFE and U+FFFF.
# Written raw they are already refused by the YAML reader; escaped, they would reach the
# rendered configs invisibly (the emitter can only escape them back, and a config file
# read by anything else may break or mean something else).
_FORBIDDEN = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\ud800-\udfff\ufffe\uffff]")


@dataclass(frozen=True, slots=True)
class Document:
    """One loaded YAML file: its data, and the 1-based (line, column) of every node.

    For a mapping entry the position is that of its key, which is where a reader looks
    for an unknown or misspelt key and on the same line as a scalar value.
    """

    file: str
    data: Any
    marks: Mapping[YamlPath, tuple[int, int]]
    # how each number was written (`1.30`, read as 1.3): an error can quote it back
    numbers: Mapping[YamlPath, str] = field(default_factory=dict)

    def locate(self, path: YamlPath = ()) -> Location:
        """The position of `path`, or of its nearest ancestor that has one."""
        for end in range(len(path), -1, -1):
            mark = self.marks.get(tuple(path[:end]))
            if mark is not None:
                return Location(self.file, mark[0], mark[1])
        return Location(self.file)

    def has(self, path: YamlPath) -> bool:
        return tuple(path) in self.marks


class _PlainResolver(VersionedResolver):
    """Tags every plain scalar as `_PLAIN` and every quoted one as str.

    Typing plain scalars here, in one regex table, is both faster than ruamel's versioned
    resolver (which dominated load time) and keeps the rules in one readable place.
    """

    def resolve(self, kind: Any, value: Any, implicit: Any) -> str:
        if kind is ScalarNode:
            return _PLAIN if implicit[0] else _CORE + "str"
        return _CORE + ("seq" if kind is SequenceNode else "map")


def _parser() -> YAML:
    yaml = YAML(typ="safe", pure=False)
    yaml.Resolver = _PlainResolver
    return yaml


class _Invalid(Exception):
    """A problem that stops building this document (one per file is enough)."""

    def __init__(self, node: Node, message: str, hint: str = ""):
        self.node, self.message, self.hint = node, message, hint


def load_document(root: Path, relative: str) -> tuple[Document | None, list[Problem]]:
    """Read and build one YAML file under `root`; never raises for bad content."""
    read = read_text(root, relative)
    if isinstance(read, Problem):
        return None, [read]
    return parse_text(relative, read[1])


def read_text(root: Path, relative: str) -> tuple[bytes, str] | Problem:
    """The file's bytes and its text (UTF-8, a leading byte order mark removed), or why
    it cannot be read: not a regular file, over `MAX_FILE_BYTES` (refused before it is
    read), not UTF-8. Apart from `parse_text` so that a caller keeping built Documents
    (pipeline/parse_cache.py) reads, limits and decodes every file as this does."""
    path = root / relative
    start = Location(relative)
    try:
        if not path.is_file():
            return Problem(start, "not a regular file", "catalog entries are YAML files")
        size = path.stat().st_size
    except OSError as error:  # a dangling or looping symbolic link, no permission...
        return Problem(start, f"cannot read file: {error.strerror or error}")
    if size > MAX_FILE_BYTES:
        return Problem(
            start,
            f"file is {size} bytes; the limit is {MAX_FILE_BYTES} bytes",
            "split it into smaller files, one entity per file",
        )
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as error:
        line = raw.count(b"\n", 0, error.start) + 1
        column = error.start - (raw.rfind(b"\n", 0, error.start) + 1) + 1
        return Problem(
            Location(relative, line, column),
            f"file is not valid UTF-8 (byte 0x{raw[error.start]:02x})",
            "save the file as UTF-8",
        )
    return raw, text.removeprefix("\ufeff")


def parse_text(relative: str, text: str) -> tuple[Document | None, list[Problem]]:
    """Build a `Document` from YAML text; `relative` names it in every position."""
    try:
        too_deep = _too_deep(text)
        if too_deep is not None:
            location = Location(relative, too_deep.line + 1, too_deep.column + 1)
            return None, [Problem(location, f"nesting deeper than {MAX_DEPTH} levels")]
        node = _parser().compose(text)
    except YAMLError as error:
        return None, [_yaml_error(relative, text, error)]
    if node is None:
        return Document(relative, None, {(): (1, 1)}), []
    builder = _Builder()
    try:
        _measure(node, {}, set(), 0)
        data = builder.build(node, ())
    except _Invalid as invalid:
        mark = invalid.node.start_mark
        location = Location(relative, mark.line + 1, mark.column + 1)
        return None, [Problem(location, invalid.message, invalid.hint)]
    return Document(relative, data, builder.marks, builder.numbers), []


def _too_deep(text: str) -> Any:
    """The mark where nesting first exceeds `MAX_DEPTH`, or None; see `_DEPTH_SCAN_FROM`."""
    if sum(text.count(char) for char in _DEPTH_INDICATORS) < _DEPTH_SCAN_FROM:
        return None
    depth = 0
    for event in _parser().parse(text):
        if isinstance(event, MappingStartEvent | SequenceStartEvent):
            depth += 1
            if depth > MAX_DEPTH:
                return event.start_mark
        elif isinstance(event, MappingEndEvent | SequenceEndEvent):
            depth -= 1
    return None


def _yaml_error(relative: str, text: str, error: YAMLError) -> Problem:
    """Turn a parser or scanner error into a located problem with ruamel's own wording."""
    mark = getattr(error, "problem_mark", None) or getattr(error, "context_mark", None)
    if mark is not None:
        line, column = mark.line + 1, mark.column + 1
    else:  # a reader error (bad character) carries only an offset into the text
        offset = getattr(error, "position", 0) or 0
        line = text.count("\n", 0, offset) + 1
        column = offset - (text.rfind("\n", 0, offset) + 1) + 1
    problem = getattr(error, "problem", None) or str(error).splitlines()[0]
    context = getattr(error, "context", None)
    message = f"invalid YAML: {problem}" + (f" ({context})" if context else "")
    hint = ""
    if (
        "\t" in str(problem)
        or "tab character" in str(problem)
        or ("cannot start any token" in str(problem))
    ):
        hint = "YAML indentation must use spaces, not tabs"
    else:
        hint = _indentation_hint(text, line, str(problem))
    return Problem(Location(relative, line, column), message, hint)


def _indentation_hint(text: str, line: int, problem: str) -> str:
    """Most syntax errors in a hand-edited catalog are indentation: ruamel reports what
    it could not parse, not the cause, so say which column the line should start at."""
    lines = text.splitlines()
    if not 1 <= line <= len(lines):
        return ""
    here = lines[line - 1]
    indent = len(here) - len(here.lstrip(" "))
    numbered = [
        (number, previous)
        for number, previous in reversed(list(enumerate(lines[: line - 1], 1)))
        if previous.strip() and not previous.lstrip().startswith("#")
    ]
    above = [previous for _, previous in numbered]
    if "mapping values are not allowed" in problem:
        if above and indent > len(above[0]) - len(above[0].lstrip(" ")):
            return (
                f"line {line} is indented deeper than line {numbered[0][0]} above it, which "
                "already has a value: start it in the same column as its sibling keys (or "
                f"indent line {numbered[0][0]} under its parent); a value that contains ': ' "
                "must be quoted"
            )
        return "a value that contains ': ' must be quoted (\"like: this\")"
    if "expected key" in problem or "expected <block end>" in problem:
        columns = sorted(
            {len(previous) - len(previous.lstrip(" ")) for previous in above} - {indent},
        )
        near = ", ".join(str(column + 1) for column in columns[:4])
        return (
            f"line {line} starts at column {indent + 1}, in line with nothing above it: indent "
            f"it like its siblings (the lines above start at column {near})"
            if near
            else f"check the indentation of line {line}: sibling keys start in the same column"
        )
    return ""


def _measure(
    node: Node, sizes: dict[int, tuple[int, int]], active: set[int], depth: int
) -> tuple[int, int]:
    """Expanded size of `node`: (nodes, characters of scalar text), memoised per node, so
    aliases cost nothing to count. Both are bounded: few nodes can still hold much text
    (3,000 aliases of one 60 KB string: 173 MB of output from a 125 KB file).

    Over a limit, the error is at the entry that passes it: in a mapping its key, which
    is on the alias's line (the composed graph keeps no position for an alias itself;
    the shared node has its anchor's), in a sequence the sequence."""
    key = id(node)
    if key in sizes:
        return sizes[key]
    if key in active:
        raise _Invalid(node, "recursive alias: this node contains itself")
    if depth > MAX_DEPTH:
        raise _Invalid(node, f"nesting deeper than {MAX_DEPTH} levels")
    nodes, text = 1, 0
    if isinstance(node, ScalarNode):
        text = len(node.value)
    else:
        active.add(key)
        pairs = (
            ((node, item) for item in node.value)
            if isinstance(node, SequenceNode)
            else (
                (key_node, child) for key_node, value in node.value for child in (key_node, value)
            )
        )
        for entry, child in pairs:
            child_nodes, child_text = _measure(child, sizes, active, depth + 1)
            nodes, text = nodes + child_nodes, text + child_text
            if nodes > MAX_NODES:
                raise _Invalid(
                    node,
                    f"document expands to more than {MAX_NODES} nodes (alias bomb?)",
                    "use fewer aliases; the catalog's layers share values without them",
                )
            if text > MAX_TEXT:
                raise _Invalid(
                    entry,
                    f"document expands to more than {MAX_TEXT} characters of text "
                    "(aliases of long values?)",
                    "use fewer aliases of long text; each one is written out in full",
                )
        active.discard(key)
    sizes[key] = nodes, text
    return nodes, text


class _Builder:
    """Builds plain values from composed nodes and records where each one was."""

    def __init__(self) -> None:
        self.marks: dict[YamlPath, tuple[int, int]] = {}
        self.numbers: dict[YamlPath, str] = {}

    def build(self, node: Node, path: YamlPath) -> Any:
        if path not in self.marks:
            self.marks[path] = (node.start_mark.line + 1, node.start_mark.column + 1)
        if isinstance(node, ScalarNode):
            _check_escapes(node)
            value = _scalar(node)
            if isinstance(value, int | float) and not isinstance(value, bool):
                self.numbers[path] = node.value
            return value
        if isinstance(node, SequenceNode):
            if node.tag != _CORE + "seq":
                raise _Invalid(node, f"tag {_tag(node.tag)} is not allowed", "remove the tag")
            return [self.build(item, (*path, index)) for index, item in enumerate(node.value)]
        if node.tag != _CORE + "map":
            raise _Invalid(node, f"tag {_tag(node.tag)} is not allowed", "remove the tag")
        return self._mapping(node, path)

    def _mapping(self, node: MappingNode, path: YamlPath) -> dict[str, Any]:
        result: dict[str, Any] = {}
        for key_node, value_node in node.value:
            if not isinstance(key_node, ScalarNode):
                raise _Invalid(key_node, "mapping keys must be plain strings")
            _check_escapes(key_node)
            key = key_node.value
            if key == "<<" and key_node.tag == _PLAIN:
                raise _Invalid(
                    key_node,
                    "YAML merge keys (<<) are not supported",
                    "layer values with service defaults, plans and overrides instead",
                )
            if key in result:
                first = self.marks[(*path, key)][0]
                raise _Invalid(key_node, f"duplicate key '{key}'", f"first defined on line {first}")
            child = (*path, key)
            self.marks[child] = (key_node.start_mark.line + 1, key_node.start_mark.column + 1)
            result[key] = self.build(value_node, child)
        return result


def _check_escapes(node: ScalarNode) -> None:
    """Refuse a `_FORBIDDEN` character; only double quotes have escapes that make one."""
    if node.style == '"':
        found = _FORBIDDEN.search(node.value)
        if found:
            code = ord(found.group())
            what = (
                "a lone surrogate"
                if 0xD800 <= code <= 0xDFFF
                else "a noncharacter"
                if code >= 0xFFFE
                else "a control character"
            )
            raise _Invalid(
                node,
                f"escape produces {what} (U+{code:04X})",
                "remove the escape: catalog text may hold no control characters (but \\t and"
                " \\n), U+FFFE, U+FFFF or lone surrogates",
            )


def _tag(tag: str) -> str:
    return "!!" + tag[len(_CORE) :] if tag.startswith(_CORE) else tag


def _scalar(node: ScalarNode) -> Any:
    """Type a scalar by the YAML 1.2 core schema, or by its explicit core tag."""
    value, tag = node.value, node.tag
    if tag in (_CORE + "str", "!"):
        return value
    if tag == _PLAIN:
        if value in _NULLS:
            return None
        if value in _BOOLS:
            return _BOOLS[value]
        return _number(node) if value[0] in "0123456789+-." else value
    if tag == _CORE + "null" and value in _NULLS:
        return None
    if tag == _CORE + "bool" and value in _BOOLS:
        return _BOOLS[value]
    if tag in (_CORE + "int", _CORE + "float"):
        number = _number(node)
        if not isinstance(number, str):
            return float(number) if tag.endswith("float") else number
    if tag.startswith(_CORE) and tag[len(_CORE) :] in ("null", "bool", "int", "float"):
        raise _Invalid(node, f"'{value}' is not a valid !!{tag[len(_CORE) :]}")
    raise _Invalid(
        node, f"tag {_tag(tag)} is not allowed", "remove the tag; plain YAML values only"
    )


def _number(node: ScalarNode) -> Any:
    """An int or float for number-shaped text, the text itself otherwise."""
    value = node.value
    if len(value) > _MAX_DIGITS and (_INT.match(value) or _FLOAT.match(value)):
        raise _Invalid(node, f"number has more than {_MAX_DIGITS} digits", "quote it if it is text")
    if _INT.match(value):
        return int(value, 10)
    if _OCT.match(value):
        return int(value[2:], 8)
    if _HEX.match(value):
        return int(value[2:], 16)
    if _FLOAT.match(value) and math.isfinite(float(value)):
        return float(value)
    if _FLOAT.match(value) or _INF.match(value) or _NAN.match(value):  # 1e400 is infinite too
        raise _Invalid(
            node, f"'{value}' is not a finite number", "JSON outputs cannot hold it; quote it"
        )
    return value
