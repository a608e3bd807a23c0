"""`policies/crds/`: the repository's own CustomResourceDefinitions, as schemas.

gitopsc ships strict schemas for the custom resources it emits (check/crds/). Anything
else a catalog adds (a ServiceMonitor, a Keycloak realm) was reported `crd-unknown` and
not validated, so a misspelt field went to the cluster, where the API server prunes it
silently. A repository puts the CRDs its clusters run in `policies/crds/`, as files
`kubectl apply -f` takes (apiextensions.k8s.io/v1 CustomResourceDefinition, YAML or
JSON, several documents a file allowed), and the schema check validates those objects
like the bundled ones (`crd-schema`).

Each served version's `openAPIV3Schema` becomes the strict JSON Schema the check uses by
`strict_schema`, the conversion the shipped Route schema was made with (a test derives
it again from the published CRD): unknown fields are refused where the CRD does not
preserve them. A repository CRD replaces a bundled schema of the same apiVersion and
kind: the repository knows which operator version its clusters run.

A file that is not such a CRD is a located error (exit 2), like any other input.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any, Literal

import jsonschema
from pydantic import BaseModel, ConfigDict, Field

from compiler.catalog import Document, model_errors, parse_text
from compiler.check.schemas import is_builtin
from compiler.errors import Location, Problem

FOLDER = "crds"
MAX_FILE_BYTES = 16 * 1024 * 1024  # Argo CD's ApplicationSet CRD alone is 1.4 MB
SUFFIXES = (".yaml", ".yml", ".json")
ApiKind = tuple[str, str]  # (apiVersion, kind): `monitoring.coreos.com/v1`, `ServiceMonitor`


def strict_schema(node: Any) -> Any:
    """A CRD's openAPIV3Schema as a strict JSON Schema: unknown fields refused on every
    object with properties (unless the CRD preserves them), `null` schema lists dropped
    (the API server ignores them), int-or-string spelled out, `$` inside a character
    class escaped (fastjsonschema's `$` rewrite breaks it), and a pattern in Go's syntax
    that Python's `re` does not take made Python's (`^(?i)...`: the flag moved to the
    front, where Python wants it) or, failing that, dropped: a check that cannot be
    evaluated is no check, and would stop every run."""
    if isinstance(node, dict):
        if isinstance(node.get("pattern"), str):
            pattern = _python_pattern(_class_dollars(node["pattern"]))
            node = {k: v for k, v in node.items() if k != "pattern"}
            if pattern is not None:
                node["pattern"] = pattern
        out = {
            k: strict_schema(v)
            for k, v in node.items()
            if v is not None or k not in ("anyOf", "allOf", "oneOf")
        }
        if out.get("x-kubernetes-int-or-string") and "type" not in out and "anyOf" not in out:
            out["anyOf"] = [{"type": "integer"}, {"type": "string"}]
        if (
            out.get("type") == "object"
            and "properties" in out
            and not out.get("x-kubernetes-preserve-unknown-fields")
        ):
            out.setdefault("additionalProperties", False)
        return out
    if isinstance(node, list):
        return [strict_schema(x) for x in node]
    return node


_INLINE_FLAGS = re.compile(r"\(\?[aiLmsux]+\)")


def _python_pattern(pattern: str) -> str | None:
    for candidate in (
        pattern,
        "".join(_INLINE_FLAGS.findall(pattern)) + _INLINE_FLAGS.sub("", pattern),
    ):
        try:
            re.compile(candidate)
            return candidate
        except re.error:
            continue
    return None


def _class_dollars(pattern: str) -> str:
    out, in_class, escaped = [], False, False
    for char in pattern:
        if escaped:
            out.append(char)
            escaped = False
            continue
        if char == "\\":
            out.append(char)
            escaped = True
            continue
        if char == "[" and not in_class:
            in_class = True
        elif char == "]" and in_class:
            in_class = False
        out.append("\\$" if char == "$" and in_class else char)
    return "".join(out)


# ---------------------------------------------------------------- the files


class _Read(BaseModel):
    """The parts of a CRD gitopsc reads; the rest (printer columns, subresources,
    conversion...) is the API server's business and may be anything."""

    model_config = ConfigDict(strict=True, extra="ignore", frozen=True)


_NAME = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"
_GROUP = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)+$"


class _Schema(_Read):
    openAPIV3Schema: dict[str, Any]


class _Version(_Read):
    name: Annotated[str, Field(pattern=_NAME)]
    served: bool
    storage: bool
    schema_: Annotated[_Schema, Field(alias="schema")]


class _Names(_Read):
    kind: Annotated[str, Field(pattern=r"^[A-Z][A-Za-z0-9]*$")]
    plural: Annotated[str, Field(pattern=_NAME)]


class _Spec(_Read):
    group: Annotated[str, Field(pattern=_GROUP)]  # the API server wants a dot in it
    names: _Names
    scope: Literal["Namespaced", "Cluster"]
    versions: Annotated[list[_Version], Field(min_length=1)]


class _Metadata(_Read):
    name: str


class _Crd(_Read):
    apiVersion: Literal["apiextensions.k8s.io/v1"]
    kind: Literal["CustomResourceDefinition"]
    metadata: _Metadata
    spec: _Spec


def load_crds(root: Path, folder: str) -> tuple[dict[ApiKind, dict[str, Any]], list[Problem]]:
    """The strict schema of each served version of each CRD under `root/folder`, by
    (apiVersion, kind), and every problem found in the files."""
    schemas: dict[ApiKind, dict[str, Any]] = {}
    first: dict[ApiKind, Location] = {}
    problems: list[Problem] = []
    for path in sorted((root / folder).iterdir()):
        relative = f"{folder}/{path.name}"
        if path.is_dir() or path.suffix not in SUFFIXES:
            problems.append(
                Problem(
                    Location(relative),
                    "not a CRD file",
                    f"policies/crds/ holds CustomResourceDefinitions ({', '.join(SUFFIXES)})",
                )
            )
            continue
        for document, found in _documents(path, relative):
            problems += found
            if document is None or document.data is None:
                continue
            for served in _served(document):
                if isinstance(served, Problem):
                    problems.append(served)
                    continue
                key, schema, where = served
                if key in first:
                    problems.append(
                        Problem(
                            where,
                            f"{key[0]} {key[1]} is defined twice",
                            f"first defined at {first[key]}",
                        )
                    )
                else:
                    first[key] = where
                    schemas[key] = schema
    return dict(sorted(schemas.items())), problems


def _documents(path: Path, relative: str) -> Iterator[tuple[Document | None, list[Problem]]]:
    """Each YAML document of a file, positioned in the file (`---` separates them)."""
    try:
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            yield None, [Problem(Location(relative), f"file is over {MAX_FILE_BYTES} bytes")]
            return
        text = path.read_bytes().decode("utf-8").removeprefix("\ufeff")
    except (OSError, UnicodeDecodeError) as error:
        yield None, [Problem(Location(relative), f"cannot read file: {error}")]
        return
    lines = text.splitlines(keepends=True)
    starts = [0] + [n for n, line in enumerate(lines) if re.match(r"---(\s|$)", line)]
    for begin, end in zip(starts, [*starts[1:], len(lines)], strict=True):
        chunk = "".join(lines[begin:end])
        if not chunk.strip() or all(
            not ln.strip() or ln.lstrip().startswith("#") or ln.startswith("---")
            for ln in lines[begin:end]
        ):
            continue
        # blank lines in front keep every position the file's own
        yield parse_text(relative, "\n" * begin + chunk)


def _served(document: Document) -> Iterator[tuple[ApiKind, dict[str, Any], Location] | Problem]:
    """Each served version of a CRD document as (key, strict schema, where its name is),
    or the problems that keep it out."""
    crd, problems = model_errors.validate(_Crd, document.data, document)
    yield from problems
    if crd is None:
        return
    spec = crd.spec
    expected = f"{spec.names.plural}.{spec.group}"
    if crd.metadata.name != expected:
        yield Problem(
            document.locate(("metadata", "name")),
            f"a CRD for {spec.names.plural} of {spec.group} is named '{expected}', "
            f"not '{crd.metadata.name}'",
            "the API server refuses any other name (<plural>.<group>)",
        )
        return
    for index, version in enumerate(spec.versions):
        if not version.served:
            continue  # the API server refuses objects of it: they stay crd-unknown
        key = (f"{spec.group}/{version.name}", spec.names.kind)
        if is_builtin(*key):
            yield Problem(
                document.locate(("spec", "names", "kind")),
                f"{key[0]} {key[1]} is a Kubernetes API, not a custom resource",
                "the API server serves it itself; its schema is kubernetes-validate's",
            )
            continue
        where = ("spec", "versions", index, "schema", "openAPIV3Schema")
        reference = next(_references(version.schema_.openAPIV3Schema), None)
        if reference is not None:
            yield Problem(
                document.locate((*where, *reference)),
                f"openAPIV3Schema of version {version.name} uses $ref, which a CRD may not",
                "the API server refuses $ref in a CRD's schema (structural schemas); "
                "write the schema out in place",
            )
            continue
        schema = strict_schema(version.schema_.openAPIV3Schema)
        try:
            jsonschema.Draft202012Validator.check_schema(schema)
        except jsonschema.SchemaError as error:
            yield Problem(
                document.locate((*where, *error.path)),
                f"openAPIV3Schema of version {version.name} is not a valid schema: {error.message}",
            )
            continue
        yield key, schema, document.locate(("spec", "versions", index, "name"))


_SCHEMA_MAPS = ("properties", "patternProperties", "definitions", "$defs")
_SCHEMA_LISTS = ("allOf", "anyOf", "oneOf")
_SCHEMA_VALUES = ("additionalProperties", "items", "not")


def _references(node: Any, path: tuple[str | int, ...] = ()) -> Iterator[tuple[str | int, ...]]:
    """Where a schema uses `$ref` (a keyword only where a schema stands, not a property
    named so). The API server refuses `$ref` in a CRD; followed, it would also be the
    one way a repository's file could make `check` read another file or a URL."""
    if not isinstance(node, dict):
        return
    if "$ref" in node:
        yield (*path, "$ref")
    for key in _SCHEMA_MAPS:
        children = node.get(key)
        if isinstance(children, dict):
            for name, child in children.items():
                yield from _references(child, (*path, key, name))
    for key in _SCHEMA_LISTS:
        children = node.get(key)
        if isinstance(children, list):
            for index, child in enumerate(children):
                yield from _references(child, (*path, key, index))
    for key in _SCHEMA_VALUES:
        child = node.get(key)
        if isinstance(child, list):
            for index, item in enumerate(child):
                yield from _references(item, (*path, key, index))
        else:
            yield from _references(child, (*path, key))
