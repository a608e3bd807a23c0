"""Built catalog Documents kept between runs: a command after a small change parses only
the files whose bytes changed (issue 17, item 1: recompile in proportion to the change).

Every command starts by loading every catalog file (catalog/loader.py: compose, our own
builder with a position for every node, the alias-bomb measure). At 1,000 customers
(1,019 files) that is about half a second of the main process's time in every
command, almost all of it spent on files that did not change since the last run. So
each file's `Document` (its data, the position of every node and the text of every
number) is kept, and a later run whose file has the same bytes reads it back instead.

What is kept: one entry per catalog folder (one signed file to read per command; an
entry per file costs a file read, a signature and a JSON parse per file: at 1,000
customers 0.09 s to read against 0.06 s, 0.17 s to write the first time against
0.04 s), holding for each file that loaded its relative path, the sha256 of
its bytes, its data, its positions and its numbers. Files whose bytes changed are parsed
and the entry written again with them; files that were removed leave it. A file that
does not load is never kept: it is parsed on every run, and its problems are the
loader's, word for word. Reading a file, its size limit and its UTF-8 check still come
first (`read_text`): the sha256 needs the bytes.

Why a kept Document is the one the loader would build:
- The entry's name covers the loader's code (loader.py and this module, byte for
  byte), the versions of ruamel.yaml, its C parser and Python, and this format: a
  change to any of them reads no old entry. A file's record is used only when the
  sha256 of the bytes read now is the one it was built from.
- It is JSON, which holds exactly the loader's values: mappings with string keys (a YAML
  key is always kept as its text), in their order (`json` keeps it; the entry is written
  without sorting), lists, str, int (of any size), float (written as its repr, which
  reads back to the same float, -0.0 and 1e400's infinity included), bool and None.
  Positions are not stored with their paths: the loader records them in the order it
  builds the nodes, which is the order of a walk of the data (parent first, keys and
  items in order), so the entry holds the (line, column) pairs in that order and the
  paths are walked again from the data, as tuples of str keys and int indexes. A
  Document for which that is not so, or whose text cannot be written as UTF-8 (a lone
  surrogate, which the loader never lets through), is simply not kept.
- Nothing in it is executed (no pickle): reading it is `json.loads` and a walk.
- It lives in the cache folder beside the check results and carries an HMAC made with
  the user's key (result_cache.py, validator_cache.py): an entry written by someone
  else, cut short or edited, is not read, and every file is parsed as if there were
  none. A signed entry of an unexpected shape is a miss too, never a crash.
- Without a cache folder (`GITOPSC_CACHE_DIR=""`, as in CI) nothing is read or written.

Which entry a load uses is named by the catalog folder (`cache_as`): a working tree's
own, and its base revision's (`check --affected-base`, `diff`) another, named by the
working tree: the base is extracted to a new temporary folder each run, whose own name
would leave a new entry behind every time.
"""

from __future__ import annotations

import functools
import hashlib
import inspect
import json
import sys
from collections.abc import Sequence
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

from compiler.catalog import Document, YamlPath, load_document, parse_text, read_text
from compiler.check import result_cache
from compiler.errors import Problem

KIND = "parsed"
FORMAT = b"gitopsc-parse-cache/1"  # bumped when what an entry holds changes meaning

Loaded = tuple[Document | None, list[Problem]]
Record = list[Any]  # [sha256, data, [line, column, line, column, ...], [[index, text], ...]]


def load_documents(
    root: Path, relatives: Sequence[str], cache_as: str | None = None
) -> list[Loaded]:
    """Each file's Document or problems, as `load_document` gives them, in order: from
    the kept entry when a file's bytes are the ones it was built from, parsed otherwise.
    The entry is written again when a file was parsed or one it held is gone; before
    returning, so that nothing a later stage does to a Document can reach it."""
    if not result_cache.active():
        return [load_document(root, relative) for relative in relatives]
    key = entry_key(cache_as if cache_as is not None else str(root.resolve()))
    kept = _read(key)
    results: list[Loaded] = []
    entry: dict[str, Record] = {}
    parsed = False
    for relative in relatives:
        read = read_text(root, relative)
        if isinstance(read, Problem):
            results.append((None, [read]))
            continue
        sha = hashlib.sha256(read[0]).hexdigest()
        record = kept.get(relative)
        document = decode(relative, sha, record) if record is not None else None
        if document is None:
            document, problems = parse_text(relative, read[1])
            if document is None:
                results.append((None, problems))
                continue
            record = encode(sha, document)
            parsed = parsed or record is not None
        if record is not None:
            entry[relative] = record
        results.append((document, []))
    if parsed or entry.keys() != kept.keys():
        _write(key, entry)
    return results


def entry_key(place: str) -> str:
    """The name of the entry for the catalog at `place`, under this loader's code (a
    path's bytes as the file system has them: not every path is UTF-8)."""
    return result_cache.content_key(KIND, (_code(), place.encode("utf-8", "surrogateescape")))


@functools.cache
def _code() -> bytes:
    """What a built Document depends on besides the file's bytes (module docstring)."""
    digest = hashlib.sha256(FORMAT)
    for part in (
        Path(inspect.getfile(parse_text)).read_bytes(),
        Path(__file__).read_bytes(),
        _version("ruamel.yaml").encode(),
        _version("ruamel.yaml.clib").encode(),
        sys.version.encode(),
    ):
        digest.update(len(part).to_bytes(8, "big"))
        digest.update(part)
    return digest.digest()


def _version(name: str) -> str:
    try:
        return version(name)
    except PackageNotFoundError:
        return ""


def _read(key: str) -> dict[str, Any]:
    """The files of the entry, or none: no entry, not ours (result_cache.read_bytes
    checks the signature first), not JSON or not of this shape."""
    payload = result_cache.read_bytes(KIND, key)
    if payload is None:
        return {}
    try:
        files = json.loads(payload)
    except ValueError:  # UnicodeDecodeError included
        return {}
    return files if type(files) is dict else {}


def _write(key: str, entry: dict[str, Record]) -> None:
    """Written as UTF-8 text, not `\\u` escapes: an escaped lone surrogate next to
    another would read back as one character. A string that cannot be UTF-8 (only a lone
    surrogate) fails the encoding; then each file is tried alone and those that fail are
    left out."""
    try:
        payload = _dumps(entry)
    except UnicodeEncodeError:
        kept = {}
        for relative, record in entry.items():
            try:
                _dumps(record)
            except UnicodeEncodeError:
                continue
            kept[relative] = record
        payload = _dumps(kept)
    result_cache.write_bytes(KIND, key, payload)


def _dumps(value: Any) -> bytes:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def encode(sha: str, document: Document) -> Record | None:
    """The record of `document` built from bytes of digest `sha`, or None when its
    positions are not in the order of a walk of its data (module docstring): then it is
    not kept rather than kept wrong."""
    paths = walk(document.data)
    if paths != list(document.marks):
        return None
    index = {path: number for number, path in enumerate(paths)}
    if any(path not in index for path in document.numbers):
        return None
    flat = [part for mark in document.marks.values() for part in mark]
    numbers = [[index[path], text] for path, text in document.numbers.items()]
    return [sha, document.data, flat, numbers]


def decode(relative: str, sha: str, record: Any) -> Document | None:
    """The Document `record` holds for `relative`, if it was built from bytes of digest
    `sha` and has the shape `encode` gives; None (parse it) otherwise."""
    try:
        kept, data, flat, numbers = record
        if kept != sha or type(flat) is not list or type(numbers) is not list:
            return None
        paths = walk(data)
        if len(flat) != 2 * len(paths):
            return None
        marks = dict(zip(paths, zip(flat[0::2], flat[1::2], strict=True), strict=True))
        texts = {}
        for number, text in numbers:
            if type(number) is not int or not 0 <= number < len(paths) or type(text) is not str:
                return None
            texts[paths[number]] = text
    except (TypeError, ValueError, IndexError):
        return None
    return Document(relative, data, marks, texts)


def walk(data: Any) -> list[YamlPath]:
    """Every node's path, parent first, keys and items in order: the order in which the
    loader's builder records positions."""
    paths: list[YamlPath] = []
    _walk(data, (), paths)
    return paths


def _walk(value: Any, path: YamlPath, paths: list[YamlPath]) -> None:
    paths.append(path)
    if type(value) is dict:
        for key, child in value.items():
            _walk(child, (*path, key), paths)
    elif type(value) is list:
        for index, child in enumerate(value):
            _walk(child, (*path, index), paths)
