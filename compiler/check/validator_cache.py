"""Compiled schema validators kept on disk, signed so that only their owner's run them.

Generating and compiling fastjsonschema's code for one Kubernetes schema takes 50-300 ms,
so the code object is cached (`GITOPSC_CACHE_DIR`). Loading an entry runs it: every entry
carries an HMAC made with a key only this user holds, kept outside the cache folder, and
is checked before anything is unmarshalled (docs/policies.md, "The validator cache").
Apart from schemas.py so that the trust rules are one module to read.
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
import stat
import tempfile
import types
from collections.abc import Callable
from pathlib import Path
from typing import Any

import fastjsonschema


def cached_validator(
    body: dict[str, Any], handlers: dict[str, Callable[[str], Any]]
) -> Callable[[Any], Any]:
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
            body, handlers=handlers, use_formats=False, use_default=False
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


def _signature(key: str, secret: bytes, payload: bytes | memoryview) -> bytes:
    """The HMAC of `key` and `payload`, the payload hashed where it lies (not copied
    behind the key: entries of tens of MB, pipeline/units.py)."""
    signature = hmac.new(secret, key.encode() + b"\0", hashlib.sha256)
    signature.update(payload)
    return signature.digest()


def read_signed(path: Path, key: str, secret: bytes) -> bytes | None:
    """The payload of the entry at `path`, only if its HMAC over `key` and the payload is
    ours (checked before the caller parses anything); None otherwise."""
    try:
        with path.open("rb", buffering=0) as entry:  # the payload read apart, unbuffered:
            # read once into its bytes, never copied (20 MB)
            signature, payload = entry.read(32), entry.read()
    except OSError:
        return None
    if len(signature) < 32 or not hmac.compare_digest(signature, _signature(key, secret, payload)):
        return None
    return payload


def write_signed(path: Path, key: str, secret: bytes, payload: bytes) -> None:
    """Atomic (temporary file, then rename): a reader sees a whole entry or none. A cache
    that cannot be written is skipped: it only costs the next run the work again."""
    temporary = None
    try:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=path.parent, delete=False) as temporary:
            temporary.write(_signature(key, secret, payload))
            temporary.write(payload)
        os.replace(temporary.name, path)
    except OSError:
        if temporary is not None:
            Path(temporary.name).unlink(missing_ok=True)


def _read_code(path: Path, key: str, secret: bytes) -> types.CodeType | None:
    """The entry's code, only if its HMAC is ours (checked before unmarshalling)."""
    payload = read_signed(path, key, secret)
    if payload is None:
        return None
    try:
        code = marshal.loads(payload)
    except (ValueError, EOFError, TypeError):
        return None
    return code if isinstance(code, types.CodeType) else None


def _write_code(path: Path, key: str, secret: bytes, code: types.CodeType) -> None:
    write_signed(path, key, secret, marshal.dumps(code))
