"""Configuration files (`files:`, issue 14 item 2): what each file of an instance
becomes, and what is wrong with an instance's files.

A file is keyed by its absolute path in the container, so layers merge files by path
(`null` removes one) and a file's `data` key by key. Its text is its `content` as
written (after interpolation), or its `data` written as YAML or JSON (`format`, else
told by the extension): YAML by the emitter of the rendered objects (emit.py), which
quotes every string that some YAML 1.1 or 1.2 reader would take for something else
(consumers such as PyYAML read YAML 1.1: `no` is false there), JSON in the user's key
order. Both are the same bytes on every run; key order is kept, since it means
something to whoever reads a configuration file.

Files without secrets go into one ConfigMap per instance; each file with `secrets:`
into the template of its own ExternalSecret (External Secrets Operator, template
engine v2), so a secret's value passes through neither the catalog, nor the rendered
tree, nor a ConfigMap. In the text a secret is written `${secret.NAME}`. Interpolation
turns that into a mark that no catalog text can hold (`placeholder`: NUL characters,
which the loader refuses), so `$${secret.NAME}` stays literal text and a mark that
lands anywhere but a file's content or data is found (`misplaced_placeholders`). For
ESO the text becomes a Go template: each mark `{{ .NAME }}` (in data `{{ .NAME | toJson
}}`: a JSON string is one YAML double-quoted scalar too, whatever the value holds),
and every `{{` of the text itself escaped as `{{"{{"}}`.

In the catalog wing because the resolve stage must know each file's text (its size, its
placeholders) to report a bad file at its line; the renderer packs the same
`RenderedFile`s into objects.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections import Counter
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from compiler.catalog.emit import to_json_ordered, to_yaml
from compiler.catalog.interpolate import lookup_raw, path_order
from compiler.catalog.loader import YamlPath
from compiler.catalog.models import ConfigFile, SecretRef, Settings

MAX_BYTES = 256 * 1024  # an instance's files together; Kubernetes allows 1 MiB per object
HASH_ANNOTATION = "gitopsc.dev/files-hash"  # on the pod template: new files, new pods
CONFIG_VOLUME = "files"  # the pod volume of the instance's ConfigMap of files
_MARK = "\x00"
_MARKED = re.compile("\x00([A-Za-z_][A-Za-z0-9_]*)\x00")
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
_FORMATS = {".yaml": "yaml", ".yml": "yaml", ".json": "json"}
# the container runtime's own file systems: a mount there fails when the pod starts
_SYSTEM = ("/proc", "/sys", "/dev")
_NON_DNS = re.compile(r"[^a-z0-9-]+")
_NON_KEY = re.compile(r"[^-._a-zA-Z0-9]+")  # what a ConfigMap or Secret key may hold
_BRACES = re.compile(r"\{+")
_TOKEN_BASE = "gitopsc-secret"


@dataclass(frozen=True, slots=True)
class RenderedFile:
    """One file as it is mounted: its key in the ConfigMap (or its Secret), which is
    also the `subPath`, and its text; for a file with secrets, the template ESO fills
    in, the secrets it reads, and the names of its ExternalSecret (and Secret) and of
    its pod volume."""

    path: str
    key: str
    text: str
    secrets: tuple[tuple[str, SecretRef], ...] = ()
    name: str = ""
    volume: str = ""


@dataclass(frozen=True, slots=True)
class Generated:
    """A file gitopsc adds to an instance's files at render time, from more than the
    instance (an edge's configuration, made from every routed instance). Its text is not
    known when the instance is resolved, but its path is: the path is taken (no catalog
    file at it, over it or in it, and no writable path or volume over it), and the file
    counts towards the size limit with at least `least` bytes, so that what the catalog
    gets wrong is found by `validate`, at its line."""

    what: str  # "the edge's configuration (gitopsc writes it from its routes)"
    least: int


def config_map_name(service: str) -> str:
    """The ConfigMap of an instance's files without secrets."""
    return f"{service}-files"


def secret_name(service: str, variable: str) -> str:
    """The Secret (and ExternalSecret) that carries one `secrets:` reference."""
    return f"{service}-{_NON_DNS.sub('-', variable.lower()).strip('-')}"


def placeholder(name: str) -> str:
    """What `${secret.NAME}` interpolates to: NUL marks, which no catalog text holds."""
    return f"{_MARK}{name}{_MARK}"


def shown_placeholders(value: Any) -> Any:
    """A resolved value as people wrote it: each mark shown as `${secret.NAME}`."""
    if isinstance(value, str) and _MARK in value:
        return _MARKED.sub(lambda match: f"${{secret.{match.group(1)}}}", value)
    return value


def secret_context(merged: Mapping[str, Any]) -> dict[str, str]:
    """`secret.NAME` for each secret some file of the merged values declares, for the
    interpolation context (a name no file declares stays an unknown reference)."""
    files = merged.get("files")
    names: set[str] = set()
    for spec in files.values() if isinstance(files, dict) else ():
        secrets = spec.get("secrets") if isinstance(spec, dict) else None
        if isinstance(secrets, dict):
            names.update(n for n in secrets if isinstance(n, str) and _ENV_NAME.match(n))
    return {f"secret.{name}": placeholder(name) for name in sorted(names)}


def misplaced_placeholders(
    values: dict[str, Any], templates: Mapping[YamlPath, str]
) -> Iterator[tuple[YamlPath, str, str]]:
    """Interpolated strings outside a file's content and data that hold a secret's
    mark (`${secret.NAME}` written there, or a value that refers to one): nothing would
    fill it in, and the mark would reach the output."""
    for path in sorted(templates, key=path_order):
        if len(path) > 2 and path[0] == "files" and path[2] in ("content", "data"):
            continue
        value = lookup_raw(values, path)
        found = _MARKED.search(value) if isinstance(value, str) else None
        if found:
            yield (
                path,
                f"'${{secret.{found.group(1)}}}' stands for a secret of a file: it may "
                "appear only in the content or data of that file",
                "nothing fills it in elsewhere; give a container a secret with secrets:",
            )


def file_format(path: str, spec: ConfigFile) -> str | None:
    """How a file's data is written: its `format`, else told by its extension."""
    if spec.format is not None:
        return spec.format
    name = path.rsplit("/", 1)[1].lower()
    return next((fmt for ext, fmt in _FORMATS.items() if name.endswith(ext)), None)


def file_keys(paths: list[str]) -> dict[str, str]:
    """Each file's key in the ConfigMap or Secret: its name, made a valid key (`@+=,`
    become `-`), or, where two files would share it or it starts with `..` (which
    Kubernetes refuses), the name behind a digest of the whole path."""
    readable = {path: _NON_KEY.sub("-", path.rsplit("/", 1)[1])[:200] for path in paths}
    counts = Counter(readable.values())
    return {
        path: key if counts[key] == 1 and not key.startswith("..") else f"{_digest(path)}-{key}"
        for path, key in readable.items()
    }


def rendered_files(settings: Settings, service: str) -> list[RenderedFile]:
    """The instance's files in path order, as they are mounted."""
    files = settings.files or {}
    keys = file_keys(sorted(files))
    result = []
    for path in sorted(files):
        spec, key = files[path], keys[path]
        if not spec.secrets:
            result.append(RenderedFile(path, key, _text(path, spec)))
            continue
        slug = _NON_DNS.sub("-", key.lower()).strip("-")
        digest = _digest(path)
        result.append(
            RenderedFile(
                path,
                key,
                _template(path, spec),
                tuple(sorted(spec.secrets.items())),
                "-".join(part for part in (service, "file", slug[:40].strip("-"), digest) if part),
                "-".join(part for part in ("f", slug[:50].strip("-"), digest) if part),
            )
        )
    return result


def files_hash(files: list[RenderedFile]) -> str:
    """A digest of everything the files are made of: their paths, keys and text, and
    where their secrets come from. Mounted by subPath, a file does not follow a change
    of its ConfigMap or Secret; a new digest on the pod template rolls the pods."""
    canonical = [
        [f.path, f.key, f.text, [[n, r.key, r.property, r.store] for n, r in f.secrets]]
        for f in files
    ]
    text = json.dumps(canonical, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def file_problems(
    settings: Settings,
    service: str,
    default_store: str,
    generated: Mapping[str, Generated] | None = None,
) -> Iterator[tuple[YamlPath, str, str]]:
    """What is wrong with an instance's files, each at the path of the value that has
    it: (path, message, hint). Secret keys and stores are tenancy.py's. `generated`: the
    files the renderer adds (by path), whose paths are taken already."""
    files = settings.files or {}
    generated = generated or {}
    mounts: list[tuple[YamlPath | None, str, str]] = [
        (None, "/tmp", "/tmp, the writable directory every pod has")
    ]
    mounts += [
        (("writable_paths", p), p, f"writable path '{p}'")
        for p in sorted(settings.writable_paths or {})
    ]
    if settings.storage:
        mounts.append(
            (
                ("storage", "mount_path"),
                settings.storage.mount_path,
                "the storage volume (storage.mount_path)",
            )
        )
    yield from _generated_problems(files, generated, mounts)
    if not files:
        return
    paths = sorted(files)
    for path in paths:
        yield from _path_problems(path, paths, [(m, what) for _, m, what in mounts])
        spec = files[path]
        where: YamlPath = ("files", path)
        if spec.content is None and spec.data is None:
            yield (
                where,
                f"file '{path}' has neither content nor data",
                "content: for text, data: for values written as YAML or JSON",
            )
            continue
        if spec.content is not None and spec.format is not None:
            yield (
                (*where, "format"),
                f"format applies to data; the content of '{path}' is written as it is",
                "remove format, or give the file data instead of content",
            )
        if spec.data is not None and file_format(path, spec) is None:
            yield (
                (*where, "data"),
                f"cannot tell from the name '{path}' whether to write its data as YAML or JSON",
                "set format: yaml or format: json (.yaml, .yml and .json tell it)",
            )
        yield from _secret_problems(path, spec, default_store)
    keys = file_keys(paths)
    first: dict[str, str] = {}
    for path in paths:
        other = first.setdefault(keys[path], path)
        if other != path:
            yield (
                ("files", path),
                f"files '{other}' and '{path}' would have the same key '{keys[path]}'",
                "rename one of them",
            )
    rendered = rendered_files(settings, service)
    variables = {secret_name(service, v): v for v in settings.secrets or {}}
    for file in rendered:
        if file.name in variables:
            yield (
                ("files", file.path),
                f"file '{file.path}' and secret '{variables[file.name]}' would both "
                f"render the ExternalSecret '{file.name}'",
                "rename the secret",
            )
    sizes = {file.path: len(file.text.encode()) for file in rendered}
    total = sum(sizes.values())
    added = sum(g.least for path, g in generated.items() if path not in files)
    if total + added > MAX_BYTES:
        largest = max(paths, key=lambda p: sizes[p])
        more = (
            f", and at least {_kib(added)} KiB more for "
            + " and ".join(g.what for path, g in sorted(generated.items()) if path not in files)
            if added
            else ""
        )
        yield (
            ("files", largest),
            f"the files of this instance take {_kib(total)} KiB{more}, more than the "
            f"{MAX_BYTES // 1024} KiB allowed",
            f"the largest is '{largest}' ({_kib(sizes[largest])} KiB); a ConfigMap or "
            "Secret holds at most 1 MiB: ship large files in the image or on a volume",
        )


def _generated_problems(
    files: Mapping[str, ConfigFile],
    generated: Mapping[str, Generated],
    mounts: list[tuple[YamlPath | None, str, str]],
) -> Iterator[tuple[YamlPath, str, str]]:
    """A catalog file, writable path or volume that takes the path of a file gitopsc
    generates, covers it or lies in it: at the catalog's value (the file is mounted by
    subPath, read-only; a directory mounted over it would hide it, or it them)."""
    for target, spec in sorted(generated.items()):
        for path in sorted(files):
            if path == target:
                yield (
                    ("files", path),
                    f"file '{path}' is {spec.what}",
                    "remove it from files:, or mount your own file elsewhere",
                )
            elif _inside(target, path) or _inside(path, target):
                yield (
                    ("files", path),
                    f"file '{path}' "
                    + ("would cover" if _inside(target, path) else "is inside")
                    + f" '{target}', {spec.what}",
                    "a file is not a directory: choose another path",
                )
        for at, mount, what in mounts:
            if at is not None and (_inside(target, mount) or _inside(mount, target)):
                yield (
                    at,
                    f"{what} would "
                    + ("be mounted over" if _inside(target, mount) else "lie inside")
                    + f" '{target}', {spec.what}",
                    "a directory mounted there hides the file (or the file blocks the "
                    "mount): choose another path",
                )


def _path_problems(
    path: str, paths: list[str], mounts: list[tuple[str, str]]
) -> Iterator[tuple[YamlPath, str, str]]:
    where: YamlPath = ("files", path)
    system = next((s for s in _SYSTEM if _inside(path, s)), None)
    if system is not None:
        yield (
            where,
            f"file '{path}' is in {system}, which the container runtime provides",
            "mount configuration files elsewhere, for example under /etc or /config",
        )
    for mount, what in mounts:
        if _inside(path, mount):
            yield (
                where,
                f"file '{path}' is inside {what}",
                "a mount point in a writable directory (or on a volume) is created there and "
                "blocks its replacement: mount the file elsewhere and point the program at it",
            )
        elif _inside(mount, path):
            yield (
                where,
                f"file '{path}' would cover {what}, which lies inside it",
                "a file is not a directory: choose another path",
            )
    for other in paths:
        if other != path and _inside(other, path):
            yield (
                ("files", other),
                f"file '{other}' is inside file '{path}'",
                "a file is not a directory: choose another path",
            )


def _secret_problems(
    path: str, spec: ConfigFile, default_store: str
) -> Iterator[tuple[YamlPath, str, str]]:
    """Every placeholder names a secret of this file, every secret of it is used, and
    one store serves them all (one ExternalSecret reads one store)."""
    declared = spec.secrets or {}
    used: dict[str, YamlPath] = {}
    for where, text in _strings(("files", path), spec):
        for name in _MARKED.findall(text):
            used.setdefault(name, where)
    for name, where in used.items():
        if name not in declared:
            yield (
                where,
                f"'${{secret.{name}}}' is not a secret of file '{path}'",
                f"its secrets: {', '.join(sorted(declared)) or 'none'} (files.<path>.secrets)",
            )
    for name in sorted(declared):
        if name not in used:
            yield (
                ("files", path, "secrets", name),
                f"secret '{name}' of file '{path}' is not used in it",
                f"write ${{secret.{name}}} where its value goes, or remove it",
            )
    stores = sorted({ref.store or default_store for ref in declared.values()})
    if len(stores) > 1:
        yield (
            ("files", path, "secrets"),
            f"the secrets of file '{path}' come from {len(stores)} stores: {', '.join(stores)}",
            "one ExternalSecret reads one store: read them from one, or split the file",
        )


def _strings(path: YamlPath, spec: ConfigFile) -> Iterator[tuple[YamlPath, str]]:
    if spec.content is not None:
        yield (*path, "content"), spec.content
    elif spec.data is not None:
        yield from _leaves((*path, "data"), spec.data)


def _leaves(path: YamlPath, node: Any) -> Iterator[tuple[YamlPath, str]]:
    if isinstance(node, str):
        yield path, node
    elif isinstance(node, dict):
        for key, value in node.items():
            yield from _leaves((*path, key), value)
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from _leaves((*path, index), value)


def _text(path: str, spec: ConfigFile) -> str:
    """A file without secrets as it is written."""
    if spec.data is None:
        return spec.content or ""
    return _serialized(spec.data, file_format(path, spec) or "yaml")


def _serialized(data: Any, fmt: str) -> str:
    return to_json_ordered(data) if fmt == "json" else to_yaml(data)


def _template(path: str, spec: ConfigFile) -> str:
    """A file with secrets as the Go template ESO fills in (engine v2)."""
    if spec.data is None:
        parts = _MARKED.split(spec.content or "")  # text, name, text, ...
        return "".join(
            f"{{{{ .{part} }}}}" if index % 2 else _literal(part, index + 1 < len(parts))
            for index, part in enumerate(parts)
        )
    fmt = file_format(path, spec) or "yaml"
    whole = _serialized(spec.data, fmt)
    # a token stands for each string with a mark while the data is written; tokens
    # start with a word the written data does not hold, so each is found only where it
    # stands (it is a plain YAML scalar, a JSON string, never split or escaped)
    base = next(
        f"{_TOKEN_BASE}{'x' * n}-"
        for n in range(len(whole) + 1)
        if f"{_TOKEN_BASE}{'x' * n}-" not in whole
    )
    marked: list[str] = []

    def swap(node: Any) -> Any:
        if isinstance(node, dict):
            return {key: swap(value) for key, value in node.items()}
        if isinstance(node, list):
            return [swap(value) for value in node]
        if isinstance(node, str) and _MARK in node:
            marked.append(node)
            return f"{base}{len(marked) - 1}z"
        return node

    text = _serialized(swap(spec.data), fmt)
    quote = '"' if fmt == "json" else ""
    token = re.compile(f"{quote}{re.escape(base)}(\\d+)z{quote}")
    parts = token.split(text)  # text, index, text, ...
    return "".join(
        _action(marked[int(part)]) if index % 2 else _literal(part, index + 1 < len(parts))
        for index, part in enumerate(parts)
    )


def _action(value: str) -> str:
    """A data string with marks as one action that writes it as a JSON string:
    `{{ .PW | toJson }}`, or with text around `{{ print "a:" .PW "@b" | toJson }}`."""
    parts = _MARKED.split(value)
    if len(parts) == 3 and parts[0] == parts[2] == "":
        return f"{{{{ .{parts[1]} | toJson }}}}"
    operands = [
        f".{part}" if index % 2 else json.dumps(part, ensure_ascii=False)
        for index, part in enumerate(parts)
        if index % 2 or part
    ]
    return f"{{{{ print {' '.join(operands)} | toJson }}}}"


def _literal(text: str, before_action: bool) -> str:
    """Text of a template written out as it is: every run of two or more `{`, and a
    `{` right before an action, would open an action, so it is written by one."""

    def escape(match: re.Match[str]) -> str:
        run = match.group()
        if len(run) > 1 or (before_action and match.end() == len(text)):
            return f'{{{{"{run}"}}}}'
        return run

    return _BRACES.sub(escape, text)


def _inside(path: str, directory: str) -> bool:
    return path == directory or path.startswith(directory.rstrip("/") + "/")


def _digest(path: str) -> str:
    return hashlib.sha256(path.encode()).hexdigest()[:8]


def _kib(size: int) -> str:
    return f"{size / 1024:.1f}".removesuffix(".0")
