"""Turn pydantic validation errors into located, readable problems.

pydantic's `loc` mixes real keys with its own segments (union members, `[key]`,
`function-after[...]`). The real path is recovered by walking the *data* alongside the
loc: a segment that is a key or index of the value at hand is part of the path, any other
segment is pydantic's and is dropped. A missing key therefore points at the mapping that
lacks it. Unknown keys get a did-you-mean from the fields the model allows at that place.
"""

from __future__ import annotations

import types
import typing
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ValidationError

from compiler.catalog.loader import Document, YamlPath
from compiler.catalog.models import PATTERN_DESCRIPTIONS, Settings
from compiler.errors import Problem, did_you_mean

_EXPECTED = {
    "int_type": "an integer",
    "int_parsing": "an integer",
    "float_type": "a number",
    "string_type": "a string",
    "bool_type": "true or false",
    "dict_type": "a mapping",
    "model_type": "a mapping",
    "list_type": "a list",
    "date_type": "a date (YYYY-MM-DD)",
    "date_from_datetime_parsing": "a date (YYYY-MM-DD)",
    "date_parsing": "a date (YYYY-MM-DD)",
}
_YAML_TYPES = {
    str: "a string",
    int: "an integer",
    float: "a number",
    bool: "a boolean",
    dict: "a mapping",
    list: "a list",
    type(None): "null",
}


@dataclass(frozen=True, slots=True)
class FieldError:
    """One validation error: the path inside the validated data, and what is wrong."""

    path: YamlPath
    message: str
    hint: str = ""


def _keep_all(error: dict[str, Any]) -> bool:
    return True


def field_errors(
    model: type[BaseModel],
    data: Any,
    prefix: YamlPath = (),
    keep: Callable[[dict[str, Any]], bool] = _keep_all,
    numbers: Mapping[YamlPath, str] | None = None,
) -> tuple[Any, list[FieldError]]:
    """Validate `data` as `model`: the object, or None and the errors that `keep` accepts.

    `prefix` is where `data` sits in its file; messages name keys by their full path.
    A partial layer passes a `keep` that drops "missing" and null-removal errors.
    `numbers` is how each number was written in the file (by full path), for the hint
    on a number where a string belongs.
    """
    try:
        return model.model_validate(data), []
    except ValidationError as failure:
        errors = [error for error in failure.errors() if keep(error)]
    result: list[FieldError] = []
    by_path: dict[YamlPath, list[dict[str, Any]]] = {}
    for error in errors:
        by_path.setdefault(_real_path(data, error["loc"])[0], []).append(error)
    for path, group in by_path.items():
        if len(group) > 1 and all(error["type"] in _EXPECTED for error in group):
            # one value failed every member of a union (str | int | ...): say it once
            wanted = sorted({_EXPECTED[error["type"]] for error in group})
            subject = f"{_dotted(prefix + path)}: " if prefix + path else ""
            got = _YAML_TYPES.get(type(group[0].get("input")), "something else")
            message = f"{subject}expected {', '.join(wanted[:-1])} or {wanted[-1]}, got {got}"
            result.append(FieldError(path, f"{message} {_show(group[0])}"))
        else:
            result += [_field_error(model, data, prefix, error, numbers or {}) for error in group]
    return None, result


def validate(
    model: type[BaseModel],
    data: Any,
    document: Document,
    prefix: YamlPath = (),
    keep: Callable[[dict[str, Any]], bool] = _keep_all,
) -> tuple[Any, list[Problem]]:
    """`field_errors` for data found at `prefix` in `document`, as located problems."""
    result, errors = field_errors(model, data, prefix, keep, document.numbers)
    return result, [
        Problem(document.locate(prefix + error.path), error.message, error.hint) for error in errors
    ]


def _real_path(data: Any, loc: Iterable[Any]) -> tuple[YamlPath, Any]:
    """The part of pydantic's loc that names real keys, and the value found there."""
    path: list[str | int] = []
    current = data
    for segment in loc:
        if (isinstance(current, dict) and isinstance(segment, str) and segment in current) or (
            isinstance(current, list) and isinstance(segment, int) and 0 <= segment < len(current)
        ):
            path.append(segment)
            current = current[segment]
    return tuple(path), current


def _field_error(
    model: type[BaseModel],
    data: Any,
    prefix: YamlPath,
    error: dict[str, Any],
    numbers: Mapping[YamlPath, str],
) -> FieldError:
    kind = error["type"]
    loc = tuple(error["loc"])
    path, _ = _real_path(data, loc)
    where = _dotted(prefix + path)
    location = path
    if kind == "extra_forbidden":
        key = str(path[-1]) if path else str(loc[-1])
        allowed = _allowed_keys(model, path[:-1])
        owner = _dotted(prefix + path[:-1]) or "the top level"
        homes = sorted(
            field for field in allowed if key in _allowed_keys(model, (*path[:-1], field))
        )
        hint = did_you_mean(key, allowed)
        if homes and not hint.startswith("did you mean"):
            # a known key one level too high: usually dedented out of its parent
            under = " or ".join(f"'{home}:'" for home in homes[:3])
            hint = f"'{key}' is a key of {' or '.join(homes[:3])}: indent it under {under}"
        return FieldError(location, f"unknown key '{key}' in {owner}", hint)
    if kind == "missing":
        field = loc[-1] if loc else "?"
        owner = where or "the top level"
        return FieldError(location, f"missing required key '{field}' in {owner}")
    if kind == "missing_key":  # a key required by another field's value (a PTR's address)
        owner = where or "the top level"
        field = error.get("ctx", {}).get("key", "?")
        return FieldError(location, f"missing required key '{field}' in {owner}: {error['msg']}")
    subject = f"{where}: " if where else ""
    if kind == "literal_error":
        expected = error.get("ctx", {}).get("expected", "")
        choices = [choice.strip().strip("'") for choice in expected.replace(" or ", ",").split(",")]
        value = error.get("input")
        return FieldError(
            location,
            f"{subject}'{value}' is not one of {expected}",
            did_you_mean(str(value), [c for c in choices if c]),
        )
    if kind in _EXPECTED:
        got = _YAML_TYPES.get(type(error.get("input")), "something else")
        return FieldError(
            location,
            f"{subject}expected {_EXPECTED[kind]}, got {got} {_show(error)}",
            _quote_hint(kind, error.get("input"), numbers.get(prefix + path), prefix + path)
            or _dedented_hint(model, path),
        )
    if kind == "string_pattern_mismatch":
        what = PATTERN_DESCRIPTIONS.get(error.get("ctx", {}).get("pattern", ""), "valid here")
        return FieldError(location, f"{subject}'{error.get('input')}' is not {what}")
    message = error["msg"].removeprefix("Value error, ")
    if kind in (
        "greater_than_equal",
        "less_than_equal",
        "too_short",
        "too_long",
        "string_too_short",
        "string_pattern_mismatch",
        "greater_than",
        "less_than",
    ):
        message = f"{message}, got {_show(error)}"
    return FieldError(location, f"{subject}{message}")


def _dedented_hint(model: type[BaseModel], path: YamlPath) -> str:
    """`replicas: 3` written one level too shallow, beside `synapse:` in a `services:`
    mapping instead of under it, is read as an entry named `replicas`; its wrong type is
    the symptom, the indentation the cause. Said when the key names a field of the very
    entry it was taken for."""
    if not path or not isinstance(path[-1], str) or path[-1] not in _allowed_keys(model, path):
        return ""
    owner = _dotted(path[:-1])
    return (
        f"'{path[-1]}' is a key of each entry of {owner}, not an entry: "
        f"indent it under the entry above it"
    )


def _quote_hint(kind: str, value: Any, written: str | None, path: YamlPath) -> str:
    """A number where a string belongs is usually a version YAML read as a number:
    `1.30` is the number 1.3, `16` the integer 16. Say how to quote it as written when
    the number lost something (a trailing zero, a leading zero, `1e3`), and always for a
    version-like key, whose value is text even when it looks like a number."""
    if kind != "string_type" or isinstance(value, bool) or not isinstance(value, int | float):
        return ""
    text = written if written is not None else str(value)
    key = str(path[-1]) if path and isinstance(path[-1], str) else ""
    if text != str(value):
        return f'quote it: "{text}" (unquoted, YAML reads {text} as the number {value})'
    if "version" in key.lower() or isinstance(value, float):
        return f'quote it: "{text}"'
    return ""


def _show(error: dict[str, Any]) -> str:
    """The offending value as YAML would write it, shortened."""
    value = error.get("input")
    if isinstance(value, dict | list):
        return f"({len(value)} {'entry' if len(value) == 1 else 'entries'})"
    if value is None:
        text = "null"
    elif isinstance(value, bool):
        text = "true" if value else "false"
    else:
        text = repr(value)
    return f"({text[:40]}...)" if len(text) > 40 else f"({text})"


def _dotted(path: YamlPath) -> str:
    text = ""
    for segment in path:
        text += f"[{segment}]" if isinstance(segment, int) else ("." if text else "") + segment
    return text


def _allowed_keys(model: type[BaseModel], path: YamlPath) -> set[str]:
    """Field names of the model(s) that the value at `path` is validated against."""
    candidates: list[Any] = [model]
    for segment in path:
        candidates = [child for kind in candidates for child in _children(kind, segment)]
    keys: set[str] = set()
    for kind in candidates:
        for member in _members(kind):
            if isinstance(member, type) and issubclass(member, BaseModel):
                keys.update(member.model_fields)
    return keys


def _members(annotation: Any) -> list[Any]:
    """Flatten Annotated and unions to the plain types a value may have."""
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        return _members(typing.get_args(annotation)[0])
    if origin in (typing.Union, types.UnionType):
        return [member for arg in typing.get_args(annotation) for member in _members(arg)]
    return [annotation]


def _is_layer(annotation: Any) -> bool:
    """Whether a mapping's values are layers (`Layer`, or `Layer | None`): dicts that
    the model keeps as they are and `Settings` checks later."""
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        return any(map(_is_layer, typing.get_args(annotation)))
    if typing.get_origin(annotation) is not typing.Annotated:
        return False
    return any(
        isinstance(getattr(meta, "json_schema_extra", None), dict)
        and meta.json_schema_extra.get("x-gitopsc-layer")
        for meta in typing.get_args(annotation)[1:]
    )


def _children(annotation: Any, segment: str | int) -> list[Any]:
    """The annotations a value at `segment` inside a value of `annotation` is checked against."""
    children = []
    for member in _members(annotation):
        origin = typing.get_origin(member)
        if isinstance(member, type) and issubclass(member, BaseModel):
            field = member.model_fields.get(str(segment))
            extra = field.json_schema_extra if field is not None else None
            if isinstance(extra, dict) and extra.get("x-gitopsc-layer"):
                children.append(Settings)  # a layer: a dict here, checked as settings later
            elif field is not None:
                children.append(field.annotation)
        elif origin is dict and isinstance(segment, str):
            value = typing.get_args(member)[1]
            children.append(Settings if _is_layer(value) else value)
        elif origin is list and isinstance(segment, int):
            children.append(typing.get_args(member)[0])
    return children
