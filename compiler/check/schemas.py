"""Fast, cached JSON Schema validation for rendered objects and policy rules.

Why not call `kubernetes_validate.validate` per object: it reads and parses the schema
files on every call (about 15 ms), and `jsonschema` itself needs 0.3-3 ms per object with
the Kubernetes schemas: minutes for a few hundred thousand objects. So each schema is
compiled once with fastjsonschema (generated Python code, 20-100x faster) and cached
per (Kubernetes version, apiVersion, kind). The schemas themselves, and the rule for
which version's schemas apply, are kubernetes-validate's: the latest schema version not
newer than the cluster's. fastjsonschema only decides pass or fail; for an object that
fails, `jsonschema` (the reference implementation) lists every error with its path.

fastjsonschema implements drafts 4 to 7, the schemas are draft 2020-12: they use only
keywords whose meaning is the same in both (checked by `compatible`, asserted in the
tests by comparing both validators on every object of the example catalog). Schemas are
compiled with remote references disabled: validation never touches the network.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.metadata
import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import fastjsonschema
import jsonschema
from kubernetes_validate import utils as kv_utils
from packaging.version import Version
from referencing import Registry, Resource

from compiler.check.validator_cache import cached_validator

_NO_NETWORK: dict[str, Callable[[str], Any]] = {
    scheme: lambda uri: (_ for _ in ()).throw(ValueError(f"remote $ref refused: {uri}"))
    for scheme in ("http", "https", "file", "ftp")
}
CRDS = Path(__file__).resolve().parent / "crds"
_DEFS_REF = re.compile(r"^(?:/api/_definitions\.json)?#/\$defs/")

# Keywords that draft 7 lacks or reads differently from 2020-12 (unknown keywords are
# ignored by both drafts, so anything else means the same to both validators)
_DIFFERENT = frozenset(
    {
        "prefixItems", "additionalItems", "unevaluatedProperties", "unevaluatedItems",
        "dependentRequired", "dependentSchemas", "dependencies", "minContains",
        "maxContains", "$dynamicRef", "$dynamicAnchor", "$recursiveRef", "$recursiveAnchor",
        "$anchor", "$vocabulary",
    }
)  # fmt: skip
_ANNOTATIONS = frozenset({"$ref", "description", "title", "$comment", "default", "examples"})
_SCHEMA_MAPS = ("properties", "patternProperties", "definitions", "$defs")
_SCHEMA_LISTS = ("anyOf", "allOf", "oneOf")
_SCHEMA_VALUES = ("items", "additionalProperties", "not", "if", "then", "else", "contains",
                  "propertyNames")  # fmt: skip


@dataclass(frozen=True)
class SchemaError:
    """One way an object breaks its schema: a JSON pointer and a message."""

    pointer: str
    message: str


class CompiledSchema:
    """A schema compiled for speed, with the reference validator kept for the details."""

    def __init__(self, schema: dict[str, Any], registry: Registry | None = None):
        self._reference = jsonschema.Draft202012Validator(
            schema, registry=registry if registry is not None else Registry()
        )
        definitions = _definitions(schema, registry)
        self._fast = (
            _compile_fast(schema, definitions)
            if compatible(schema) and all(map(compatible, definitions.values()))
            else None
        )

    def errors(self, instance: Any) -> list[SchemaError]:
        if self._fast is not None:
            try:
                self._fast(instance)
                return []
            except fastjsonschema.JsonSchemaValueException:
                pass
        found = sorted(self._reference.iter_errors(instance), key=lambda e: list(e.path))
        return [
            SchemaError(_pointer(cause.absolute_path), _one_line(cause))
            for cause in map(_cause, found)
        ]


def _cause(error: jsonschema.ValidationError) -> jsonschema.ValidationError:
    """The error a reader can act on. A failed `anyOf`/`oneOf` says only that the value
    matched no branch and prints the whole value; its branches' own errors (`context`)
    say what is wrong. The branch that got furthest is the one the author meant: the
    deepest error wins, and a missing property (`required`) loses to a present property
    with a wrong value, so `{replicas: 1}` against "autoscaling, or replicas >= 2" reads
    `1 is less than the minimum of 2` at `/settings/replicas`."""
    while error.validator in ("anyOf", "oneOf") and error.context:
        error = max(error.context, key=lambda e: (len(e.absolute_path), e.validator != "required"))
    return error


def _one_line(error: jsonschema.ValidationError) -> str:
    """jsonschema's message, with a mapping or list it quotes cut to its size and the
    message kept to one line (a rule may fail on a settings mapping of dozens of keys)."""
    message = error.message
    value = error.instance
    if isinstance(value, dict | list):
        quoted = repr(value)
        size = f"{len(value)} {'entry' if len(value) == 1 else 'entries'}"
        shown = f"the {'mapping' if isinstance(value, dict) else 'list'} ({size})"
        message = message.replace(quoted, shown)
    message = " ".join(message.split())
    return message if len(message) <= 200 else message[:197] + "..."


def compatible(schema: Any) -> bool:
    """Whether `schema` means the same in draft 7 as in draft 2020-12."""
    if isinstance(schema, bool):
        return True
    if not isinstance(schema, dict) or _DIFFERENT & schema.keys():
        return False
    ref = schema.get("$ref")
    if ref is not None and (
        not isinstance(ref, str)
        or not (_DEFS_REF.match(ref) or ref.startswith("#/definitions/"))
        or any(key not in _ANNOTATIONS and not key.startswith("x-") for key in schema)
    ):
        return False  # other references, and siblings of $ref (ignored by draft 7)
    if isinstance(schema.get("items"), list):
        return False  # tuple form: prefixItems in 2020-12
    return (
        all(compatible(child) for key in _SCHEMA_MAPS for child in schema.get(key, {}).values())
        and all(compatible(child) for key in _SCHEMA_LISTS for child in schema.get(key, []))
        and all(compatible(schema[key]) for key in _SCHEMA_VALUES if key in schema)
    )


def _compile_fast(schema: dict[str, Any], definitions: dict[str, Any]) -> Callable[[Any], Any]:
    """Draft 7 form: `$defs` references rewritten to local `definitions`, only the
    definitions the schema reaches included (compile time grows with their number)."""
    body = _draft7(schema)
    if definitions:
        body["definitions"] = {name: _draft7(value) for name, value in definitions.items()}
    body["$schema"] = "http://json-schema.org/draft-07/schema#"
    return cached_validator(body, _NO_NETWORK)


def _definitions(schema: dict[str, Any], registry: Registry | None) -> dict[str, Any]:
    pool: dict[str, Any] = dict(schema.get("$defs", {}))
    pool.update(schema.get("definitions", {}))
    if registry is not None:
        for uri in registry:
            contents = registry.contents(uri)
            if isinstance(contents, dict):
                pool.update(contents.get("$defs", {}))
    needed: dict[str, Any] = {}
    todo = list(_references(schema))
    while todo:
        name = todo.pop()
        if name not in needed and name in pool:
            needed[name] = pool[name]
            todo += _references(pool[name])
    return dict(sorted(needed.items()))


def _references(node: Any) -> list[str]:
    found: list[str] = []
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str):
                found.append(value.rsplit("/", 1)[-1])
            elif key not in ("$defs", "definitions"):
                found += _references(value)
    elif isinstance(node, list):
        for item in node:
            found += _references(item)
    return found


def _draft7(node: Any) -> Any:
    if isinstance(node, dict):
        result = {}
        for key, value in node.items():
            if key in _DROPPED or key.startswith("x-"):
                continue  # annotations: code size and compile time, no meaning
            if key == "$ref" and isinstance(value, str):
                result[key] = "#/definitions/" + value.rsplit("/", 1)[-1]
            else:
                result[key] = _draft7(value)
        return result
    if isinstance(node, list):
        return [_draft7(item) for item in node]
    return node


_DROPPED = frozenset({"$id", "$schema", "$defs", "definitions", "description", "title",
                      "$comment", "examples"})  # fmt: skip


def _pointer(path: Any) -> str:
    return "".join(f"/{str(part).replace('~', '~0').replace('/', '~1')}" for part in path)


# ---------------------------------------------------------------- Kubernetes objects


@dataclass(frozen=True)
class NoSchema:
    """The cluster's Kubernetes version has no such apiVersion/kind (removed or unknown)."""

    schema_version: str


class ManifestSchemas:
    """Validators per (cluster version, apiVersion, kind), compiled on first use.

    Core kinds come from kubernetes-validate's strict schemas (unknown fields fail, as
    `kubernetes-validate --strict` does); custom resources from the repository's CRDs
    (`custom`, policies/crds/: check/custom_crds.py), else from the strict CRD schemas
    shipped in `compiler/check/crds/`.
    """

    def __init__(self, custom: Mapping[tuple[str, str], dict[str, Any]] | None = None) -> None:
        self._custom = dict(custom or {})
        self._asked: dict[tuple[str, str, str], CompiledSchema | NoSchema] = {}
        self._compiled: dict[tuple[str, str, str], CompiledSchema | NoSchema] = {}

    @functools.cached_property
    def identity(self) -> str:
        """Everything besides an object and its cluster's Kubernetes version that decides
        its schema errors: the repository's CRDs, the shipped ones, the versions of the
        schemas and validators, and this module (how they are chosen and worded). A
        cached schema result (check/manifests.py) is keyed by it."""
        custom = sorted((list(key), schema) for key, schema in self._custom.items())
        parts = [json.dumps(custom, sort_keys=True).encode(), _shipped_digest()]
        return identity(parts)

    def is_custom(self, api_version: str, kind: str) -> bool:
        """Whether a CRD schema (the repository's or a shipped one) validates the kind."""
        return (api_version, kind) in self._custom or is_crd(api_version, kind)

    def lookup(self, version: str, api_version: str, kind: str) -> CompiledSchema | NoSchema:
        """Called per object: one dict lookup once the (version, kind) has been seen.
        Versions that share a schema set (and all versions, for a CRD) share one compile."""
        asked = (version, api_version, kind)
        found = self._asked.get(asked)
        if found is None:
            custom = self.is_custom(api_version, kind)
            key = ("crd" if custom else schema_version(version), api_version, kind)
            if key not in self._compiled:
                own = self._custom.get((api_version, kind))
                self._compiled[key] = (
                    CompiledSchema(own) if own is not None else _load(version, api_version, kind)
                )
            found = self._asked[asked] = self._compiled[key]
        return found


_VALIDATORS = ("kubernetes-validate", "jsonschema", "fastjsonschema", "referencing")


def identity(parts: list[bytes], *modules: str) -> str:
    """A digest of `parts` and of what validates with them: the versions of the schemas
    and validators, this module (how errors are found and worded) and `modules` (the
    caller's: how it reads the errors). What a cached result's key holds, so that an
    upgrade or an edit of the code misses."""
    digest = hashlib.sha256()
    parts = [*parts, *(_version(name).encode() for name in _VALIDATORS)]
    parts += [Path(file).read_bytes() for file in (__file__, *modules)]
    for part in parts:
        digest.update(len(part).to_bytes(8, "big") + part)
    return digest.hexdigest()


def _version(distribution: str) -> str:
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return "none"


@functools.cache
def _shipped_digest() -> bytes:
    """The CRD schemas shipped in compiler/check/crds/, names and bytes, hashed."""
    digest = hashlib.sha256()
    for path in sorted(CRDS.iterdir()):
        if path.name.endswith(".json"):
            digest.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.digest()


def schema_version(version: str) -> str:
    """kubernetes-validate's rule: the newest schema set not newer than the cluster."""
    wanted = Version(kv_utils.major_minor(version.removeprefix("v")))
    available = [v for v in _available_versions() if Version(kv_utils.major_minor(v)) <= wanted]
    return available[-1] if available else _available_versions()[0]


@functools.cache
def _available_versions() -> list[str]:
    return kv_utils.all_versions()


def _load(version: str, api_version: str, kind: str) -> CompiledSchema | NoSchema:
    crd = _crd_schema(api_version, kind)
    if crd is not None:
        return CompiledSchema(crd)
    chosen = schema_version(version)
    folder, name = _schema_file(chosen, api_version, kind)
    try:
        schema = kv_utils.schema_contents(f"{folder}/{name}", chosen)
    except FileNotFoundError:
        return NoSchema(kv_utils.major_minor(chosen))
    return CompiledSchema(schema, _definitions_registry(folder, chosen))


def _schema_file(chosen: str, api_version: str, kind: str) -> tuple[str, str]:
    """kubernetes-validate's folder and file name of a kind's strict schema."""
    group = re.sub(r"^([^./]*)(?:\.[^/]*)?/", r"\1-", api_version)
    return f"kubernetes-json-schema/v{chosen}-local-strict", f"{kind.lower()}-{group}.json"


@functools.cache
def _definitions_registry(folder: str, chosen: str) -> Registry:
    definitions = kv_utils.schema_contents(f"{folder}/_definitions.json", chosen)
    return Resource.from_contents(definitions) @ Registry()


def _crd_schema(api_version: str, kind: str) -> dict[str, Any] | None:
    group, _, version = api_version.rpartition("/")
    name = f"{group}_{version}_{kind.lower()}.json"
    path = CRDS / name
    if not group or not path.is_file():
        return None
    return json.loads(path.read_text(encoding="utf-8"))


def is_builtin(api_version: str, kind: str) -> bool:
    """Whether the newest Kubernetes schemas have this kind: an API the cluster serves
    itself, which no CRD can replace. Only Kubernetes' own groups (`*.k8s.io`) can hold
    one: a CRD's group has a dot, and kubernetes-validate's file names keep only the
    group's first label (`apps.example.com` would look like `apps`)."""
    if not api_version.rpartition("/")[0].endswith(".k8s.io"):
        return False
    newest = _available_versions()[-1]
    folder, name = _schema_file(newest, api_version, kind)
    try:
        kv_utils.schema_contents(f"{folder}/{name}", newest)
    except FileNotFoundError:
        return False
    return True


@functools.cache
def is_crd(api_version: str, kind: str) -> bool:
    """Whether gitopsc has a CRD schema for this custom resource (its file name holds the
    kind in lower case, as `<group>_<version>_<kind>.json`)."""
    return (api_version, kind.lower()) in _crd_kinds()


@functools.cache
def _crd_kinds() -> frozenset[tuple[str, str]]:
    kinds = set()
    for path in CRDS.iterdir():
        if path.name.endswith(".json"):
            group, version, kind = path.name.removesuffix(".json").split("_")
            kinds.add((f"{group}/{version}", kind))
    return frozenset(kinds)
