"""`gitopsc schema [--out DIR]`: the JSON Schema of each kind of catalog file, for editors.

The schemas are generated from the pydantic models, so they cannot drift from what the
validator accepts. Two adjustments make them fit how the files are written:
- every settings layer (marked `x-gitopsc-layer` in models/settings.py) points at `Settings`;
- inside `Settings` nothing is required, because a layer may leave any key to another
  layer, and any single value may instead be a string with a `${...}` reference; the
  merged, interpolated result is checked by gitopsc itself.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pydantic import BaseModel
from rich.console import Console

from compiler.catalog import Customer, Environment, PlanList, Service, Settings, TeamList
from compiler.check import Config, Policy, WaiverList
from compiler.errors import UsageError
from compiler.output import write_file_atomically

SCHEMA_FILES: dict[str, type[BaseModel]] = {
    "service.schema.json": Service,
    "customer.schema.json": Customer,
    "environment.schema.json": Environment,
    "plans.schema.json": PlanList,
    "teams.schema.json": TeamList,
    "policy.schema.json": Policy,
    "policy-config.schema.json": Config,
    "waivers.schema.json": WaiverList,
}
_LAYER = "x-gitopsc-layer"
_DRAFT = "https://json-schema.org/draft/2020-12/schema"


def catalog_schemas() -> dict[str, str]:
    """File name -> schema text (sorted keys, two-space indent, final newline)."""
    settings = Settings.model_json_schema()
    layer_defs = {name: _layer(d) for name, d in settings.pop("$defs", {}).items()}
    layer_defs["Settings"] = _layer(settings)
    result = {}
    for file_name, model in SCHEMA_FILES.items():
        schema = _point_layers_at_settings(model.model_json_schema())
        if _uses_layers(schema):
            schema.setdefault("$defs", {}).update(layer_defs)
        schema = {"$schema": _DRAFT, "$id": file_name, **schema}
        result[file_name] = json.dumps(schema, indent=2, sort_keys=True) + "\n"
    return result


def run(out: Path, console: Console) -> int:
    """Write each schema that changed, atomically (an editor never reads half a file);
    a folder that cannot be made or written is a usage error naming it."""
    try:
        out.mkdir(parents=True, exist_ok=True)
        for name, text in catalog_schemas().items():
            target = out / name
            if target.exists() and target.read_text(encoding="utf-8") == text:
                console.print(f"unchanged {target}", highlight=False)
                continue
            write_file_atomically(target, text.encode("utf-8"))
            console.print(f"wrote {target}", highlight=False)
    except OSError as error:
        raise UsageError(
            f"cannot write the schemas to {out}: {error.strerror or error}",
            "give --out a folder you can write to",
        ) from None
    return 0


_REFERENCE = {"type": "string", "pattern": r"\$\{"}
_SCALAR_TYPES = ("string", "integer", "number", "boolean")


def _layer(schema: dict[str, Any]) -> dict[str, Any]:
    """A def as it applies inside a layer: nothing required, references allowed."""
    return _allow_references({key: value for key, value in schema.items() if key != "required"})


def _allow_references(node: Any) -> Any:
    if isinstance(node, list):
        return [_allow_references(item) for item in node]
    if not isinstance(node, dict):
        return node
    if node.get("type") in _SCALAR_TYPES or "enum" in node or "const" in node:
        return {"anyOf": [node, _REFERENCE]}
    return {key: _allow_references(value) for key, value in node.items()}


def _point_layers_at_settings(node: Any) -> Any:
    if isinstance(node, dict):
        if node.get(_LAYER):
            return {"$ref": "#/$defs/Settings"}
        return {key: _point_layers_at_settings(value) for key, value in node.items()}
    if isinstance(node, list):
        return [_point_layers_at_settings(item) for item in node]
    return node


def _uses_layers(node: Any) -> bool:
    return "#/$defs/Settings" in json.dumps(node)
