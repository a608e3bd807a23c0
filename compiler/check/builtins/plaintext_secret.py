"""No secret-sounding key with a literal value, no high-entropy token in the catalog.

The catalog is in git, readable by everyone with the repository and kept forever in its
history: a password pasted into it is leaked. Secrets belong in the secret store,
referenced under `secrets:` (rendered as ExternalSecrets). Every catalog file is read
as written, before layers merge, so the finding points at the line that has the value.
"""

from __future__ import annotations

import datetime
import math
import re
from collections.abc import Iterator
from typing import Any

from compiler.catalog import Catalog
from compiler.check.builtins.base import Builtin
from compiler.check.findings import Finding

_SECRET_KEY = re.compile(
    r"(pass(word|wd|phrase)?|secret|token|api[_-]?key|private[_-]?key|credential|"
    r"client[_-]?secret|access[_-]?key|signing[_-]?key|auth)",
    re.IGNORECASE,
)
_HARMLESS = re.compile(r"^(\$\{.*\}|true|false|null|none|changeme|)$", re.IGNORECASE)
_TOKEN_LIKE = re.compile(r"^[A-Za-z0-9+/=_\-.]{24,}$")


def _entropy(text: str) -> float:
    counts: dict[str, int] = {}
    for char in text:
        counts[char] = counts.get(char, 0) + 1
    return -sum(n / len(text) * math.log2(n / len(text)) for n in counts.values())


# keys whose value names where a secret is, not the secret: `*_file`, `*_PATH`, `*-ref`,
# camelCase `secretName`, `tokenFile`; and External Secrets' `secretKey`, the name of a
# key inside the Kubernetes Secret it writes
_REFERENCE_KEYS = frozenset({"secretKey"})


def _names_a_reference(key: str) -> bool:
    lower = key.lower()
    camel = key[-4:] in ("File", "Path", "Name") or key[-3:] == "Ref"
    return (
        key in _REFERENCE_KEYS
        or camel
        or lower.endswith(("_file", "_path", "_ref", "_name", "-file", "-path", "-ref", "-name"))
    )


def looks_secret(key: str, value: Any) -> str | None:
    """Why a value written in the catalog looks like a secret, or None.

    A secret-sounding key (password, token, api_key...) with a literal string value, or
    any long token-like string with high entropy (random keys, not words or names).
    Interpolations (`${...}`) and secret references are never flagged.
    """
    if not isinstance(value, str) or _HARMLESS.match(value.strip()):
        return None
    if _SECRET_KEY.search(key) and not _names_a_reference(key):
        return f"key '{key}' holds a literal value"
    if _TOKEN_LIKE.match(value) and _entropy(value) >= 4.0 and not value.startswith("sha256:"):
        return f"value of '{key}' looks like a random key (entropy {_entropy(value):.1f} bits/char)"
    return None


def check(catalog: Catalog, today: datetime.date) -> Iterator[Finding]:
    seen: set[str] = set()
    for (_, _name), source in sorted(catalog.sources.items()):
        document = source.document
        if document.file in seen:
            continue
        seen.add(document.file)
        for path, key, value in _leaves(document.data, ()):
            if "secrets" in path or key in ("image", "digest"):
                continue  # references by design; image digests are high-entropy on purpose
            why = looks_secret(key, value)
            if why:
                yield BUILTIN.finding(
                    f"possible plaintext secret: {why}",
                    document.locate(path),
                    key=f"{document.file}#{'/'.join(map(str, path))}",
                )


def _leaves(data: Any, path: tuple[str | int, ...]) -> Iterator[tuple[tuple, str, Any]]:
    if isinstance(data, dict):
        for key, value in data.items():
            if isinstance(value, dict | list):
                yield from _leaves(value, (*path, key))
            else:
                yield (*path, key), str(key), value
    elif isinstance(data, list):
        for index, value in enumerate(data):
            if isinstance(value, dict | list):
                yield from _leaves(value, (*path, index))
            else:
                name = next((str(p) for p in reversed(path) if isinstance(p, str)), "")
                yield (*path, index), name, value


BUILTIN = Builtin(
    "plaintext-secret",
    "No plaintext secrets in the catalog",
    "critical",
    "store the value in the secret store and reference it under `secrets:`",
    "catalog",
    check,
    __doc__,
)
