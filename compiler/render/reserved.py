"""The objects an incremental compile keeps, as the render compares them: digests.

A recompile after a one-customer change keeps 90,000 objects per environment at 1,000
customers (pipeline/units.py) and renders a few hundred. A rendered object that takes a
kept one's name, node port or path is not let through (render `_duplicates`): the
environment is rendered whole instead, which words the problem as a compile from
nothing does. Recording every kept object's identity as data and reading it back each
compile cost a fifth of a second per environment; what the comparison needs is only
whether a rendered object meets a kept one. So each kept identity is recorded as an
8-byte digest (blake2b) of what is compared, the digests of a unit as one `bytes`, and
the comparison looks the rendered identities' digests up among them. Two values that
differ but give one digest only make the environment render whole (the outcome of a
clash, so never a wrong tree), once in 2^64 per pair.

What is compared is tagged, as `_duplicates` compares it: a file's path (`p`: a kept
object's file, before packing, or a kept ArgoCD file); a Kubernetes object's cluster,
API group, kind, namespace and name (`k`); a node port on a cluster (`n`); an ArgoCD
object's cluster, kind, namespace and name (`a`). Values are compared as Python
compares them, so a digest is taken only of plain values (str, int, None), whose
`repr` differs where they differ; a kept object with any other value is not kept
(`Unstorable`), and a rendered one makes the environment render whole
(`Reserved.first_taken`).
"""

from __future__ import annotations

import hashlib
import sys
from array import array
from collections.abc import Iterable, Mapping
from typing import Any

from compiler.render.shares import Unstorable

__all__ = ["Reserved", "argo_digests", "object_digests"]

_SIZE = 8


def _plain(part: Any) -> str | int | None:
    if part is None or type(part) is int:
        return part
    if isinstance(part, str):
        return str.__str__(part)  # a str subclass read from YAML: its value
    if isinstance(part, int) and not isinstance(part, bool):
        return int.__index__(part)
    raise Unstorable(type(part).__name__)


_PLAIN_TYPES = frozenset((str, int, type(None)))


def _digest(*parts: Any) -> bytes:
    # parts of exactly the plain types (nearly all) are their own plain values: the
    # same text, without a call per part (a third of a second per environment when
    # one service's default changes at 1,000 customers)
    if not _PLAIN_TYPES.issuperset(map(type, parts)):
        parts = tuple(map(_plain, parts))
    text = repr(parts).encode("utf-8", "surrogatepass")
    return hashlib.blake2b(text, digest_size=_SIZE).digest()


def object_digests(identity: tuple[Any, ...]) -> bytes:
    """The digests of a kept Kubernetes object (render `Identity`: path, cluster,
    group, kind, namespace, name, node ports), joined; raises `Unstorable` for a value
    that is not plain."""
    path, cluster, group, kind, namespace, name, ports = identity
    found = [_digest("p", path), _digest("k", cluster, group, kind, namespace, name)]
    found += (_digest("n", cluster, port) for port in ports)
    return b"".join(found)


def argo_digests(path: str, cluster: str, objects: Iterable[Mapping[str, Any]]) -> bytes:
    """The digests of a kept ArgoCD file (its path and its objects' kind, namespace and
    name, as its index entry lists them), joined; raises `Unstorable` as above."""
    found = [_digest("p", path)]
    found += (
        _digest("a", cluster, obj.get("kind"), obj.get("namespace"), obj.get("name"))
        for obj in objects
    )
    return b"".join(found)


class Reserved:
    """The digests of the objects kept, as `object_digests` and `argo_digests` joined
    them: never turned into a set (90,000 objects' digests as Python integers cost a
    tenth of a second per environment); the few hundred a render looks up are, and
    the kept ones are run through once against them (`first_taken`)."""

    def __init__(self, joined: bytes = b""):
        if len(joined) % _SIZE:
            raise ValueError("not whole digests")
        self._numbers = array("Q")
        self._numbers.frombytes(joined)

    def __bool__(self) -> bool:
        return bool(self._numbers)

    def first_taken(self, looked_up: Iterable[tuple[str, tuple[Any, ...]]]) -> str | None:
        """The name of the first of `looked_up` (name, what its parts tag and name:
        see the module docstring) that may be a kept object's: its digest is among the
        kept, or a value is not plain (it could equal a kept one without giving its
        digest); None if none is."""
        if not self._numbers:
            return None
        wanted: dict[int, int] = {}  # digest -> the first position that gives it
        names: list[str] = []
        unsure: int | None = None
        for position, (name, parts) in enumerate(looked_up):
            names.append(name)
            try:
                digest = int.from_bytes(_digest(*parts), sys.byteorder)
            except Unstorable:
                unsure = position if unsure is None else unsure
                continue
            wanted.setdefault(digest, position)
        hits = (
            []
            if wanted.keys().isdisjoint(self._numbers)
            else [wanted[number] for number in self._numbers if number in wanted]
        )
        if unsure is not None:
            hits.append(unsure)
        return names[min(hits)] if hits else None
