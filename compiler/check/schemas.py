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

import contextlib
import functools
import hashlib
import hmac
import importlib.util
import json
import marshal
import os
import re
import stat
import tempfile
import types
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import fastjsonschema
import jsonschema
from kubernetes_validate import utils as kv_utils
from packaging.version import Version
from referencing import Registry, Resource

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
        return [SchemaError(_pointer(error.absolute_path), error.message) for error in found]


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
    return _cached_validator(body)


def _cached_validator(body: dict[str, Any]) -> Callable[[Any], Any]:
    """fastjsonschema's validator for `body`, its compiled code kept on disk.

    Generating and compiling the code of one Kubernetes schema takes 50-300 ms: seconds
    per run, most of a small catalog's check. The code object (marshal, as in a .pyc)
    is cached under a key of the schema, fastjsonschema's version and the Python
    bytecode version, so any change to one of them misses. An unreadable or corrupt
    entry is compiled again; a cache that cannot be written is skipped.

    Loading an entry runs it, so an entry is used only when it carries an HMAC made
    with this user's own key (`cache_key()`, kept outside the cache folder, owner-only):
    a cache folder that others can write to, or one restored from another pipeline,
    can only cost a recompile, never run code of theirs.
    """
    key = hashlib.sha256(
        b"\0".join(
            (
                json.dumps(body, sort_keys=True, separators=(",", ":")).encode(),
                fastjsonschema.VERSION.encode(),
                importlib.util.MAGIC_NUMBER,
            )
        )
    ).hexdigest()
    folder = cache_folder()
    secret = cache_key() if folder else None
    path = folder / "validators" / f"{key}.marshal" if folder and secret else None
    code = _read_code(path, key, secret) if path and secret else None
    if code is None:
        source = fastjsonschema.compile_to_code(
            body, handlers=_NO_NETWORK, use_formats=False, use_default=False
        )
        code = compile(source, f"<gitopsc validator {key[:12]}>", "exec")
        if path and secret:
            _write_code(path, key, secret, code)
    namespace: dict[str, Any] = {}
    exec(code, namespace)
    return namespace["validate"]


def cache_folder() -> Path | None:
    """GITOPSC_CACHE_DIR (empty: no cache), else $XDG_CACHE_HOME/gitopsc, else
    ~/.cache/gitopsc."""
    chosen = os.environ.get("GITOPSC_CACHE_DIR")
    if chosen is not None:
        return Path(chosen) if chosen else None
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "gitopsc"


def key_file() -> Path:
    """Where this user's cache key lives: $XDG_STATE_HOME/gitopsc/cache-key (default
    ~/.local/state/...), never inside the cache folder, so that sharing or restoring a
    cache folder never shares the key."""
    base = os.environ.get("XDG_STATE_HOME") or os.path.join(
        os.path.expanduser("~"), ".local", "state"
    )
    return Path(base) / "gitopsc" / "cache-key"


_KEY_SIZE = 32


@functools.cache
def cache_key() -> bytes | None:
    """This user's 32-byte cache key, made on first use. None, and no cache, when it
    cannot be read or made, or when anyone else could have chosen or read it: whoever
    knows the key can forge entries, and entries are code that `check` runs.

    The key's folder must be a real folder (not a symlink) of the user's with no group or
    other permissions, so that nobody else can put or swap a file in it. The file is
    opened without following a symlink, checked through that descriptor (a regular file
    of the user's, owner-only) and read from the same descriptor: checking the path and
    then reading it would leave a moment to swap in a link to a key of someone else's.
    A key file of the wrong size (a crash between creating and writing it) is replaced by
    a new key; kept, it would turn the cache off for good, without a word.
    """
    path = key_file()
    try:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        folder = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        if not _owner_only(os.fstat(folder), stat.S_ISDIR):
            return None
        secret = _read_key(folder, path.name)
        if secret is not None and len(secret) != _KEY_SIZE:  # none yet, or cut short
            _new_key(folder, path.name)
            secret = _read_key(folder, path.name)
    except OSError:
        return None
    finally:
        os.close(folder)
    return secret if secret is not None and len(secret) == _KEY_SIZE else None


def _owner_only(status: os.stat_result, is_kind: Callable[[int], bool]) -> bool:
    """Of that kind, the user's, no group or other bits: nobody else may read or change it."""
    mode = status.st_mode
    return is_kind(mode) and status.st_uid == os.geteuid() and not mode & 0o077


def _read_key(folder: int, name: str) -> bytes | None:
    """The bytes of the key file `name` in `folder` (b"" if there is none), or None if it
    is not a regular file of the user's that only the user may read and write. A symlink
    is not opened (O_NOFOLLOW: an OSError)."""
    try:
        descriptor = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=folder)
    except FileNotFoundError:
        return b""
    try:
        if not _owner_only(os.fstat(descriptor), stat.S_ISREG):
            return None
        return os.read(descriptor, _KEY_SIZE + 1)
    finally:
        os.close(descriptor)


def _new_key(folder: int, name: str) -> None:
    """Put a new random key at `name` in `folder` in one step: written and synced under a
    temporary name (0600), then renamed over it, so that a crash leaves the old file or
    the whole new one, never an empty key. Two first runs at once may each make a key;
    the later rename wins, which costs the other's entries one compile."""
    temporary = f".{name}-{os.urandom(8).hex()}"
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
    descriptor = os.open(temporary, flags, 0o600, dir_fd=folder)
    try:
        try:
            os.write(descriptor, os.urandom(_KEY_SIZE))
            os.fsync(descriptor)
        finally:
            os.close(descriptor)
        os.replace(temporary, name, src_dir_fd=folder, dst_dir_fd=folder)
    except OSError:
        with contextlib.suppress(OSError):
            os.unlink(temporary, dir_fd=folder)
        raise


def _signature(key: str, secret: bytes, payload: bytes) -> bytes:
    return hmac.new(secret, key.encode() + b"\0" + payload, hashlib.sha256).digest()


def _read_code(path: Path, key: str, secret: bytes) -> types.CodeType | None:
    """The entry's code, only if its HMAC is ours (checked before unmarshalling)."""
    try:
        entry = path.read_bytes()
    except OSError:
        return None
    signature, payload = entry[:32], entry[32:]
    if len(signature) < 32 or not hmac.compare_digest(signature, _signature(key, secret, payload)):
        return None
    try:
        code = marshal.loads(payload)
    except (ValueError, EOFError, TypeError):
        return None
    return code if isinstance(code, types.CodeType) else None


def _write_code(path: Path, key: str, secret: bytes, code: types.CodeType) -> None:
    """Atomic (temporary file, then rename): a reader sees a whole entry or none."""
    temporary = None
    payload = marshal.dumps(code)
    try:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=path.parent, delete=False) as temporary:
            temporary.write(_signature(key, secret, payload) + payload)
        os.replace(temporary.name, path)
    except OSError:
        if temporary is not None:
            Path(temporary.name).unlink(missing_ok=True)


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
    `kubernetes-validate --strict` does); the custom resources gitopsc emits from the
    strict CRD schemas shipped in `compiler/check/crds/`.
    """

    def __init__(self) -> None:
        self._asked: dict[tuple[str, str, str], CompiledSchema | NoSchema] = {}
        self._compiled: dict[tuple[str, str, str], CompiledSchema | NoSchema] = {}

    def lookup(self, version: str, api_version: str, kind: str) -> CompiledSchema | NoSchema:
        """Called per object: one dict lookup once the (version, kind) has been seen.
        Versions that share a schema set (and all versions, for a CRD) share one compile."""
        asked = (version, api_version, kind)
        found = self._asked.get(asked)
        if found is None:
            custom = is_crd(api_version, kind)
            key = ("crd" if custom else schema_version(version), api_version, kind)
            if key not in self._compiled:
                self._compiled[key] = _load(version, api_version, kind)
            found = self._asked[asked] = self._compiled[key]
        return found


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
    folder = f"kubernetes-json-schema/v{chosen}-local-strict"
    group = re.sub(r"^([^./]*)(?:\.[^/]*)?/", r"\1-", api_version)
    try:
        schema = kv_utils.schema_contents(f"{folder}/{kind.lower()}-{group}.json", chosen)
    except FileNotFoundError:
        return NoSchema(kv_utils.major_minor(chosen))
    return CompiledSchema(schema, _definitions_registry(folder, chosen))


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
