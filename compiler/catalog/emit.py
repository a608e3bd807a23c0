"""Deterministic YAML and JSON text: for rendered objects (the writer) and for the data
of configuration files (`files:`, files.py), whose size the resolve stage must know;
and `data_digest`, which stands for such data in cache keys.
In the catalog wing, the bottom of the pipeline, because both need it.

A purpose-built emitter: rendered objects are plain trees of dicts, lists, strings,
integers, floats, booleans and None, so block-style YAML for them needs no general
serializer. It is several times faster than libyaml's C emitter driven from Python and
far faster than ruamel.yaml's (see benchmarks/README.md), and its output is fixed by this
file alone, not by a library version.

Rules: mappings keep the order the renderer built them in; block style, two-space
indent, sequences at their key's indent (as kubectl writes them); `{}` and `[]` for
empty collections; LF line ends and a final newline; a multi-line string as a literal
block (`|`, `|-`) when it reads back the same (`_literal_style`), so that a file in a
ConfigMap diffs line by line. A string is written plain only
when no YAML 1.1 or 1.2 reader could take it for anything else (a number, a boolean,
`null`, `yes`/`on`, a date, an anchor...); otherwise it is written as a JSON string,
which is a valid YAML double-quoted scalar, with every character that a YAML reader
refuses or takes for a line break escaped (`\\u0085`). A float always has a `.` in its
mantissa (`1.0e+16`), and a key longer than YAML allows an implicit key (1024
characters) is written as an explicit `? key`. So what is written reads back as the
same values of the same types with YAML 1.1 readers (PyYAML, libyaml: Ansible) and
YAML 1.2 readers (ruamel.yaml); tests/test_emit.py checks this on generated values.
"""

from __future__ import annotations

import hashlib
import json
import marshal
import math
import re
from json.encoder import encode_basestring as _json_string  # C, when built
from typing import Any

_PLAIN = re.compile(r"[A-Za-z_/][A-Za-z0-9_./-]*\Z")
# Words some YAML reader resolves to a bool or null (YAML 1.1 is what go-yaml and
# therefore kubectl and ArgoCD speak).
_RESERVED = frozenset(
    word
    for base in ("y", "yes", "n", "no", "true", "false", "on", "off", "null", "nan", "inf")
    for word in (base, base.capitalize(), base.upper())
)


# Characters a JSON string may hold raw but YAML may not: DEL, the C1 controls and
# U+FFFE/U+FFFF are refused in a YAML stream (the whole file becomes unreadable); NEL,
# LS and PS are line breaks to YAML readers, so they fold to a space, trim the spaces
# next to them, or end a key. Lone surrogates are matched only to be refused: they are
# no character, UTF-8 cannot encode them and libyaml rejects even their escape.
_UNSAFE = re.compile("[\x7f-\x9f\u2028\u2029\ud800-\udfff\ufffe\uffff]")
# YAML limits an implicit (`key: value`) key to 1024 characters; PyYAML, libyaml and
# ruamel.yaml refuse the file past that. A longer key is written as an explicit key.
_MAX_IMPLICIT_KEY = 1024

# Keys and common values repeat across every object. Only strings without a line feed
# are kept, so that a string found here is one `_block` writes inline, never as a
# literal block: it can then look a value up before anything else.
_STRINGS: dict[str, str] = {}
_STRINGS_MAX = 100_000
# key -> `key:`, for keys short enough to be implicit (the length check done once)
_KEYS: dict[str, str] = {}


def _string(value: str) -> str:
    text = _STRINGS.get(value)
    if text is None:
        if _PLAIN.match(value) and value not in _RESERVED:
            text = value
        else:
            text = _UNSAFE.sub(_escape, json.dumps(value, ensure_ascii=False))
        if len(_STRINGS) < _STRINGS_MAX and "\n" not in value:
            _STRINGS[value] = text
    return text


class Unsafe(str):
    """A string a reader must take as it is, never as a template: written with YAML's
    `!unsafe` tag, which Ansible honours (the Ansible inventory: catalog values are data,
    and Jinja in one would run on the controller that reaches every host)."""


def _escape(match: re.Match[str]) -> str:
    char = match.group()
    if "\ud800" <= char <= "\udfff":
        raise ValueError(f"cannot write the lone surrogate U+{ord(char):04X}: it is no character")
    return f"\\u{ord(char):04x}"


def scalar(value: Any) -> str:
    """One scalar as YAML text."""
    if type(value) is str:
        return _string(value)
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if not math.isfinite(value):  # the catalog refuses them; JSON cannot hold them
            raise ValueError(f"cannot write non-finite number {value!r}")
        text = repr(value)
        if "e" in text and "." not in text:  # YAML 1.1 reads 1e+16 as a string
            text = text.replace("e", ".0e")
        return text
    if isinstance(value, Unsafe):
        return "!unsafe " + _UNSAFE.sub(_escape, json.dumps(str(value), ensure_ascii=False))
    if isinstance(value, str):
        return _string(value)
    raise TypeError(f"cannot write {type(value).__name__} as YAML")


def to_yaml(data: Any) -> str:
    """A whole document: a mapping or sequence in block style, LF, final newline."""
    lines: list[str] = []
    _block(data, "", lines)
    return "\n".join(lines) + "\n"


def _block(node: Any, indent: str, lines: list[str]) -> None:
    """Append the lines of a mapping or sequence at `indent`. The common members (a
    cached key, a string, a non-empty dict or list, an int) are written in the loop;
    anything else goes the general way (`_member`)."""
    append = lines.append
    strings = _STRINGS
    if isinstance(node, dict):
        if not node:
            append(indent + "{}")
            return
        keys = _KEYS
        inner = indent + "  "
        for key, value in node.items():
            head = keys.get(key)
            if head is None:
                head = _key(key, indent, lines)
            kind = type(value)
            if kind is str:
                text = strings.get(value)
                if text is not None:
                    append(f"{indent}{head} {text}")
                    continue
            elif kind is dict:
                if value:
                    append(indent + head)
                    _block(value, inner, lines)
                    continue
            elif kind is list:
                if value:
                    append(indent + head)
                    _block(value, indent, lines)
                    continue
            elif kind is int:
                append(f"{indent}{head} {value}")
                continue
            _member(f"{indent}{head}", value, inner, lines)
        return
    if isinstance(node, list):
        if not node:
            append(indent + "[]")
            return
        inner = indent + "  "
        dash = indent + "- "
        for item in node:
            kind = type(item)
            if kind is str:
                text = strings.get(item)
                if text is not None:
                    append(dash + text)
                    continue
            if isinstance(item, dict | list) and item:
                start = len(lines)
                _block(item, inner, lines)
                lines[start] = dash + lines[start][len(inner) :]
            elif type(item) is str and "\n" in item and (style := _literal_style(item)):
                append(f"{dash}{style}")
                _literal_lines(item, inner, lines)
            else:
                append(dash + _inline(item))
        return
    append(indent + scalar(node))


def _key(key: Any, indent: str, lines: list[str]) -> str:
    """`key:` for a key not seen before (kept for the next time), or, for a key longer
    than an implicit key may be, its explicit `? key` line appended and `:` returned."""
    text = _STRINGS.get(key) or scalar(key)
    if len(text) > _MAX_IMPLICIT_KEY:
        lines.append(f"{indent}? {text}")
        return ":"
    if type(key) is str and len(_KEYS) < _STRINGS_MAX:  # 1 == True: only strings kept
        _KEYS[key] = text + ":"
    return text + ":"


def _member(head: str, value: Any, inner: str, lines: list[str]) -> None:
    """One mapping member the loop in `_block` did not write (`head` is its indented
    `key:`): a collection of another type, a multi-line string, any other scalar."""
    indent = inner[:-2]
    if isinstance(value, dict) and value:
        lines.append(head)
        _block(value, inner, lines)
    elif isinstance(value, list) and value:
        lines.append(head)
        _block(value, indent, lines)
    elif type(value) is str and "\n" in value and (style := _literal_style(value)):
        lines.append(f"{head} {style}")
        _literal_lines(value, inner, lines)
    else:
        lines.append(f"{head} {_inline(value)}")


# What a literal block (`|`) may hold as it is: tab, line feed and the printable
# characters of YAML 1.1 and 1.2, less NEL, LS, PS and the byte-order mark
_NOT_LITERAL = re.compile(
    "[^\t\n\x20-\x7e\xa0-\u2027\u202a-\ud7ff\ue000-\ufefe\uff00-\ufffd\U00010000-\U0010ffff]"
)
_TRAILING_BLANK = re.compile(r"[ \t]\n|[ \t]\Z")


def _literal_style(value: str) -> str | None:
    """`|` (one final line feed) or `|-` (none) when a multi-line string reads back the
    same as a literal block, so that a configuration file in a ConfigMap diffs line by
    line; None otherwise (it is then a JSON string). Left to the JSON string: other
    control characters, blanks at a line's end or a first line that starts with one
    (the block's indentation would take them), and more than one final line feed."""
    if _NOT_LITERAL.search(value) or _TRAILING_BLANK.search(value) or value.endswith("\n\n"):
        return None
    if value.lstrip("\n")[:1] in ("", " ", "\t"):  # only line feeds, or a leading blank
        return None
    return "|" if value.endswith("\n") else "|-"


def _literal_lines(value: str, indent: str, lines: list[str]) -> None:
    for line in value.removesuffix("\n").split("\n"):
        lines.append(indent + line if line else "")


def _inline(value: Any) -> str:
    if isinstance(value, dict):
        return "{}"
    if isinstance(value, list):
        return "[]"
    return scalar(value)


def to_json(data: Any) -> str:
    """Canonical JSON text: sorted keys, two-space indent, final newline.

    NaN and infinities are refused rather than written as `NaN`, which is not JSON.

    The text is exactly `json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False)`.
    With an indent, `json` uses its pure-Python encoder, a generator per level: the
    index of a 3,000-customer environment (28,000 files) took 1.1 s that way, a third
    as long written here (issue 17). Anything but plain dicts with string keys, lists,
    tuples, strings, ints, finite floats, booleans and None (a subclass, another key
    type, a cycle, NaN) goes to `json.dumps` itself, so it is written, or refused, as
    `json` does.
    """
    parts: list[str] = []
    try:
        _json(data, "\n", parts)
    except (_NotPlain, RecursionError):
        if _holds_verbatim(data):  # never written as a JSON string by json.dumps
            raise ValueError("Verbatim text among values that are not plain") from None
        parts = [json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False, allow_nan=False)]
    parts.append("\n")
    return "".join(parts)


def to_json_member(data: Any, depth: int) -> str:
    """`data` as `to_json` writes it as a member `depth` levels down (an index entry is
    two: `files`, then its path), so that it can be given back as `Verbatim`."""
    newline = "\n" + "  " * depth
    parts: list[str] = []
    try:
        _json(data, newline, parts)
    except (_NotPlain, RecursionError):
        text = json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False, allow_nan=False)
        return text.replace("\n", newline)
    return "".join(parts)


class Verbatim(str):
    """A value `to_json` writes as this text, unchanged: the text `to_json` wrote for
    it before, at the same place (a kept file's entry in an index, output/writer.py),
    so that it is not parsed and written again."""


def _holds_verbatim(node: Any, seen: frozenset[int] = frozenset()) -> bool:
    """Whether `node` holds a `Verbatim` (a cycle is left to `json.dumps` to refuse)."""
    if isinstance(node, Verbatim):
        return True
    if id(node) in seen:
        return False
    inner = seen | {id(node)}
    if isinstance(node, dict):
        return any(_holds_verbatim(v, inner) for v in node.values())
    if isinstance(node, (list, tuple)):
        return any(_holds_verbatim(v, inner) for v in node)
    return False


class _NotPlain(Exception):
    """A value `_json` leaves to `json.dumps`."""


def _json(node: Any, newline: str, parts: list[str]) -> None:
    """Append `node` as `json.dumps(..., indent=2, sort_keys=True)` writes it, `newline`
    being the line break and indent of the line it starts on. A scalar member is
    written in its container's loop, without a call: most members are scalars."""
    kind = type(node)
    if kind is dict:
        if not node:
            parts.append("{}")
            return
        inner = newline + "  "
        lead = "{" + inner
        for key in sorted(node):
            if type(key) is not str:
                raise _NotPlain
            value = node[key]
            head = lead + _json_string(key) + ": "
            lead = "," + inner
            text = _json_scalar(value)
            if text is None:
                parts.append(head)
                _json(value, inner, parts)
            else:
                parts.append(head + text)
        parts.append(newline + "}")
    elif kind is list or kind is tuple:
        if not node:
            parts.append("[]")
            return
        inner = newline + "  "
        lead = "[" + inner
        for item in node:
            text = _json_scalar(item)
            if text is None:
                parts.append(lead)
                _json(item, inner, parts)
            else:
                parts.append(lead + text)
            lead = "," + inner
        parts.append(newline + "]")
    else:
        text = _json_scalar(node)
        if text is None:
            raise _NotPlain
        parts.append(text)


def _json_scalar(value: Any) -> str | None:
    """A plain scalar's JSON text; None for a dict, list or tuple; `_NotPlain` for
    anything `json.dumps` must decide about."""
    kind = type(value)
    if kind is str:
        return _json_string(value)
    if kind is dict or kind is list or kind is tuple:
        return None
    if kind is Verbatim:
        return str.__str__(value)
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if kind is int:
        return int.__repr__(value)
    if kind is float and math.isfinite(value):
        return float.__repr__(value)
    raise _NotPlain


def to_json_ordered(data: Any) -> str:
    """JSON that keeps the order of mappings (a configuration file's keys mean something
    to whoever reads it), two-space indent, final newline; the characters `_UNSAFE`
    names escaped as in YAML, since some readers take LS and PS for line ends."""
    text = json.dumps(data, indent=2, ensure_ascii=False, allow_nan=False)
    return _UNSAFE.sub(_escape, text) + "\n"


def data_digest(*values: Any) -> bytes | None:
    """A digest of plain data (dicts, lists, strings, numbers, booleans, None), cheap
    enough to take per rendered object on every run, for keys that stand for an
    object's content (the compile's content marks, the check's result cache). marshal's
    version 0 writes each value's exact type and content (True is not 1, 1.0 is not 1,
    a tuple is not a list, a key's order is kept) and never shares references, so equal
    digests mean equal data, and anything derived from the data alone (its YAML, its
    schema errors) is the same. About a third of the time of emitting the object's YAML.
    None for a value marshal cannot write (a subclass of str, say): never cached."""
    try:
        return hashlib.sha256(marshal.dumps(values, 0)).digest()
    except ValueError:
        return None
