"""What an expensive check found, kept on disk per content: a check after a small change
pays only for what the change touched.

checkov costs about 1.3 ms an object (benchmarks/README.md), minutes for a large
catalog, and its result on a namespace folder is a function of the folder's objects,
checkov's version, the checks registered (custom ones included) and the ids switched
off: nothing else reaches it. So the result is kept under a hash of exactly those, and a
later run on the same bytes reads it instead of running checkov. What is kept is
checkov's raw result (check id, resource, the key it evaluated, ...), never a finding:
where a finding is located (the catalog line behind the field), its customer and waivers
depend on the catalog of this run and are worked out from the raw result each time, so a
cached run reports what a cold run would, to the byte (tests/test_result_cache.py).

Trust is the validator cache's (validator_cache.py): entries live in the same folder
and carry an HMAC made with the same user-only key, checked before anything is read. An
entry is JSON data and is never executed; the HMAC matters all the same, because an
entry written by someone else could say "nothing failed" and hide a finding. A folder
shared between users or restored from another pipeline therefore costs only a cold run.
"""

from __future__ import annotations

import hashlib
import json
import zlib
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from compiler.catalog import data_digest
from compiler.check.validator_cache import cache_folder, cache_key, read_signed, write_signed

# bumped whenever what an entry holds changes meaning: old entries then simply miss
FORMAT = b"gitopsc-result-cache/1"


def content_key(kind: str, parts: Iterable[bytes]) -> str:
    """The entry name for a result of `kind` computed from exactly `parts` (each part
    length-prefixed, so no two different lists of parts hash alike)."""
    digest = hashlib.sha256(FORMAT + b"\0" + kind.encode())
    for part in parts:
        digest.update(len(part).to_bytes(8, "big"))
        digest.update(part)
    return digest.hexdigest()


Digests = Mapping[str, bytes | None]  # rendered path -> data_digest of its data


def digests(files: Iterable[Any]) -> dict[str, bytes | None]:
    """Each rendered file's data digest, taken once for every check that keys by it
    (schemas, policies, checkov); empty when there is no cache to key."""
    return {file.path: data_digest(file.data) for file in files} if active() else {}


def digest_of(path: str, data: Any, known: Digests | None) -> bytes | None:
    """The data digest of the file at `path`: the one taken already, else taken now."""
    if known is not None and path in known:
        return known[path]
    return data_digest(data)


LARGE = 256  # objects: a folder this large is kept in parts
PARTS = 64


def units(paths: Iterable[str]) -> dict[str, list[str]]:
    """The parts per-object results are kept in, each one entry: a rendered folder
    (`<env>/kubernetes/<cluster>/<namespace>`: one namespace of one customer, the unit
    a one-customer change touches), a large folder (a cluster's ArgoCD Applications, one
    per customer or instance) in parts by a hash of each path, so that a change to one
    customer's Application reads and checks again a part of them, not all of them. One
    entry per object would cost a file read per object: more than most checks."""
    folders: dict[str, list[str]] = {}
    for path in paths:
        folders.setdefault("/".join(path.split("/")[:4]), []).append(path)
    found: dict[str, list[str]] = {}
    for folder, members in folders.items():
        if len(members) <= LARGE:
            found[folder] = sorted(members)
            continue
        for path in sorted(members):
            found.setdefault(f"{folder}#{zlib.crc32(path.encode()) % PARTS}", []).append(path)
    return found


def _entry(kind: str, key: str, suffix: str = "json") -> tuple[Path, bytes] | None:
    folder = cache_folder()
    secret = cache_key() if folder else None
    if folder is None or secret is None:
        return None
    return folder / "results" / kind / key[:2] / f"{key}.{suffix}", secret


def active() -> bool:
    """Whether entries are read and written at all (a cache folder, and this user's key)."""
    return cache_folder() is not None and cache_key() is not None


def read(kind: str, key: str) -> Any | None:
    """The value kept for `key`, or None: no cache, no entry, or one this user's key did
    not sign (checked before the JSON is parsed). The signature covers the kind too, so
    an entry of one kind is never read as another."""
    payload = read_bytes(kind, key)
    if payload is None:
        return None
    try:
        return json.loads(payload)
    except ValueError:
        return None


def write(kind: str, key: str, value: Any) -> None:
    """Keep `value` (JSON data) for `key`, atomically (validator_cache.write_signed)."""
    if active():
        payload = json.dumps(value, sort_keys=True, separators=(",", ":")).encode()
        write_bytes(kind, key, payload)


def read_bytes(kind: str, key: str, suffix: str = "json") -> bytes | None:
    """The payload kept for `key` as it was written, only if this user's key signed it
    (`read`, for a caller that encodes its own data: pipeline/parse_cache.py keeps the
    order of mapping keys, which `write` sorts; pipeline/units.py writes marshal data,
    `suffix` "marshal")."""
    where = _entry(kind, key, suffix)
    return read_signed(where[0], f"{kind}/{key}", where[1]) if where else None


def write_bytes(kind: str, key: str, payload: bytes, suffix: str = "json") -> None:
    """Keep `payload` for `key`, signed, atomically; nothing without a cache."""
    where = _entry(kind, key, suffix)
    if where is not None:
        write_signed(where[0], f"{kind}/{key}", where[1], payload)
