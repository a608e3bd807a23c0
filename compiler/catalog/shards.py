"""Which of N parallel CI jobs owns a customer, a rendered file, a finding (issue 17).

`gitopsc compile --check`, `check` and `diff` take `--shard K/N`: shard K of N does the
part of the work that belongs to it, and the N shards together do exactly what one
unsharded run does, each file and each finding in exactly one shard.

Assignment is by customer: sha256 of the customer's name, read as a number, modulo N.
Not Python's `hash()` (salted per process) and not a position in the catalog, so a
customer's shard depends on its name and N only: adding or removing another customer
moves no one, and every job of a pipeline agrees without talking to the others.
What belongs to no single customer (environment-scoped platform services, and files
shared by several customers or by none: tfvars, inventories, root apps, the
kustomization listing every namespace, `index.json`) goes to shard 1.

A rendered file's owner follows the instances it came from (`OutputFile.instances`, or
`index.json`'s `instances` for a file already written): the one customer all of them
belong to, else shard 1. It is the same rule that gives a finding about that file its
customer (check/builtins/base.py `about_file`), so a finding's shard is its customer's.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from dataclasses import dataclass

from compiler.errors import UsageError

_SPEC = re.compile(r"^\s*(\d+)\s*/\s*(\d+)\s*$")


@dataclass(frozen=True, slots=True)
class Shard:
    """Shard `index` of `count`, both counted from 1."""

    index: int
    count: int

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"

    def owns_customer(self, customer: str | None) -> bool:
        return shard_of(customer, self.count) == self.index

    def owns_instances(self, customers: Iterable[str | None]) -> bool:
        """A file made from instances of these customers (None: a platform instance)."""
        return shard_of(sole_customer(customers), self.count) == self.index


def shard_of(customer: str | None, count: int) -> int:
    """The shard (1..count) of a customer; None (no customer: platform, shared) is 1."""
    if customer is None or count == 1:
        return 1
    digest = hashlib.sha256(customer.encode()).digest()
    return 1 + int.from_bytes(digest[:8], "big") % count


def sole_customer(customers: Iterable[str | None]) -> str | None:
    """The customer all these belong to; None when there is none, or more than one, or
    a platform instance among them."""
    found = set(customers)
    return found.pop() if len(found) == 1 else None


def customer_of_id(instance_id: str) -> str | None:
    """`prod/acme/synapse` -> acme; `prod/rspamd` (environment-scoped) -> None. For
    files already written, whose instances may no longer be in the catalog."""
    parts = instance_id.split("/")
    return parts[1] if len(parts) == 3 else None


def parse_shard(text: str | None) -> Shard | None:
    """`K/N` with 1 <= K <= N, integers; None for no option or for `1/1` (the whole)."""
    if text is None:
        return None
    match = _SPEC.match(text)
    hint = "write it as K/N with whole numbers 1 <= K <= N, e.g. --shard 2/4"
    if match is None:
        raise UsageError(f"--shard {text!r} is not K/N", hint)
    index, count = int(match[1]), int(match[2])
    if count < 1 or not 1 <= index <= count:
        raise UsageError(f"--shard {text}: K must be between 1 and N", hint)
    return None if count == 1 else Shard(index, count)
