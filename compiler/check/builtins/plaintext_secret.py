"""No secret written into the catalog: a literal under a secret's name, credentials in a URL
or host address, a private key, a random key.

The catalog is in git, readable by everyone with the repository and kept forever in its
history: a password pasted into it is leaked. Secrets belong in the secret store,
referenced under `secrets:` (rendered as ExternalSecrets). Every catalog file is read
as written, before layers merge, so the finding points at the line that has the value,
and it carries the environment, customer and service the line belongs to, so that a
waiver scoped to one customer covers that customer's finding and no other's. The rules
are plain data below, each with its reason; `tests/fixtures/secrets/corpus.yaml` is the
labelled corpus that measures them (precision and recall, both 100 %).
"""

from __future__ import annotations

import base64
import binascii
import datetime
import math
import re
from collections.abc import Iterator
from typing import Any

from compiler.catalog import Catalog
from compiler.check.builtins.base import Builtin
from compiler.check.findings import Finding

# --- rule 1: a key that names a secret, with a literal value -------------------------------
# A key names a secret when its *last* word is one of these (or its last two words one of
# the pairs): `DB_PASSWORD`, `smtp_pass`, `DB_PWD`, `apiKey`, `AWS_SECRET_ACCESS_KEY`. The
# last word is what the value *is*; a word after it says the value is something about the
# secret (`password_file`, `token_ttl`, `secretName`, `password_min_length`), which is why
# a key merely *containing* `auth` or `secret` (`postfix_smtpd_sasl_auth_enable`,
# `OAUTH_ISSUER`, `KC_SPI_AUTHENTICATOR_*`) is no longer a secret.
SECRET_WORDS = frozenset(
    {
        "password", "passwords", "passwd", "pwd", "pass", "passphrase", "htpasswd",
        "secret", "secrets", "token", "tokens", "credential", "credentials", "apikey", "psk",
    }
)  # fmt: skip
SECRET_PAIRS = frozenset(
    {
        ("api", "key"), ("private", "key"), ("access", "key"), ("signing", "key"),
        ("secret", "key"), ("auth", "key"), ("encryption", "key"), ("master", "key"),
    }
)  # fmt: skip
# keys that end like a secret but never hold one: the shell's working directory (`PWD`),
# and External Secrets' `secretKey`, the name of a key in the Secret it writes
NOT_SECRET_KEYS = frozenset({"pwd", "secretkey"})
# literal values that hold nothing: placeholders, booleans, an interpolation of the
# whole value (`${secret.X}`: the secret store fills it in)
_NOTHING = re.compile(r"^(\$\{[^{}]*\}|true|false|yes|no|null|none|changeme|)$", re.IGNORECASE)

# --- rule 2: credentials in a URL or a host address ----------------------------------------
# `scheme://user:password@host`, and the same without a scheme where a host address is
# written (`admin:hunter2@db.internal:5432`). A password that is an interpolation is a
# reference. `mailto:` and friends have a colon before the `@` but no password.
_URL_CREDENTIALS = re.compile(r"[a-z][a-z0-9+.-]*://[^\s/:@]*:(?P<password>[^\s/@]+)@", re.I)
_HOST_CREDENTIALS = re.compile(
    r"^(?P<user>[^\s/:@]+):(?P<password>[^\s/@]+)@[A-Za-z0-9.-]+(:\d+)?(/\S*)?$"
)
_NOT_USERINFO = frozenset({"mailto", "sip", "sips", "xmpp", "tel"})

# --- rule 3: a private key -------------------------------------------------------------------
# A PEM block of any private key type (RSA, EC, OPENSSH, ENCRYPTED, PGP ... BLOCK), in any
# value (a file's `content:` usually). Certificates and public keys are public.
_PRIVATE_KEY = re.compile(r"-----BEGIN ([A-Z0-9]+ )*PRIVATE KEY( BLOCK)?-----")

# --- rule 4: a random key --------------------------------------------------------------------
# Tokens whose issuers publish a recognisable form so that scanners find them.
KNOWN_TOKENS = (
    re.compile(r"^eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]+$"),  # a JWT
    re.compile(r"^gh[pousr]_[A-Za-z0-9]{30,}$"),  # GitHub
    re.compile(r"^glpat-[A-Za-z0-9_-]{20,}$"),  # GitLab
    re.compile(r"^xox[abprs]-[A-Za-z0-9-]{10,}$"),  # Slack
    re.compile(r"^AKIA[0-9A-Z]{16}$"),  # an AWS access key id
)
# Otherwise a random key is a long run of base64 / URL-safe characters (no dots: host
# names, versions and file names have them; no `:`: digests and URLs) that is not made of
# words, has high entropy, and is none of the public random-looking identifiers below.
# Made of words: at least three quarters of its letters and digits are in runs of three
# or more letters (`ENABLE_ROOM_DIRECTORY_V2`, `msc3575SlidingSyncEnabled`,
# `/var/lib/postgresql/data/pgdata15`); a random string of mixed case and digits has
# short runs (`q8Zr2Kx7Lm4Np9`), a random hex string almost none.
_TOKEN_CHARS = re.compile(r"^[A-Za-z0-9+/=_-]{20,}$")
_LETTER_RUN = re.compile(r"[A-Z]?[a-z]+|[A-Z]+(?![a-z])")
_WORDS_SHARE = 0.75
_MIN_ENTROPY = 3.5  # bits per character: 20+ random characters of 16+ symbols have more
PUBLIC_IDENTIFIERS = (
    re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$", re.I),  # UUID
    re.compile(r"^([0-9a-f]{40}|[0-9a-f]{64})$"),  # a git commit id, a sha256 checksum
)


def looks_secret(key: str, value: Any) -> str | None:
    """Why a value written in the catalog under `key` looks like a secret, or None."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        # YAML reads `SIP_PASSWORD: 80443921` as a number: still a literal secret
        return f"key '{key}' holds a literal value" if names_a_secret(key) else None
    if not isinstance(value, str) or _NOTHING.match(value.strip()):
        return None
    if names_a_secret(key):
        return f"key '{key}' holds a literal value"
    return secret_in_value(value, f"value of '{key}'")


def names_a_secret(key: str) -> bool:
    """Rule 1: the key's last word (or last two) names a secret."""
    words = _words(key)
    if not words or key.lower().replace("-", "_") in NOT_SECRET_KEYS:
        return False
    return words[-1] in SECRET_WORDS or tuple(words[-2:]) in SECRET_PAIRS


def secret_in_value(value: str, what: str, decoded: bool = False) -> str | None:
    """Rules 2-4, which judge the value whatever its key."""
    text = value.strip()
    url = _URL_CREDENTIALS.search(text)
    host = _HOST_CREDENTIALS.match(text)
    for match in (url, host):
        if match and not _NOTHING.match(match["password"]) and not _is_scheme(match):
            return f"{what} has credentials in its {'URL' if match is url else 'host address'}"
    if _PRIVATE_KEY.search(text):
        return f"{what} holds a private key"
    if any(pattern.match(text) for pattern in KNOWN_TOKENS):
        return f"{what} is an access token"
    if decoded or not _TOKEN_CHARS.match(text) or _public(text):
        return None
    plain = _base64_text(text)
    if plain is not None:  # base64 of text is configuration: judge what it encodes
        return secret_in_value(plain, f"{what} (base64)", decoded=True)
    if _made_of_words(text):
        return None
    if _entropy(text) >= _MIN_ENTROPY:
        return f"{what} looks like a random key (entropy {_entropy(text):.1f} bits/char)"
    return None


def _words(key: str) -> list[str]:
    """`DB_PWD` -> db, pwd; `apiKey` -> api, key; `tls-secret.name` -> tls, secret, name."""
    spaced = re.sub(r"([a-z0-9])([A-Z])", r"\1 \2", key)
    return [w.lower() for w in re.split(r"[^A-Za-z0-9]+", spaced) if w]


def _is_scheme(match: re.Match[str]) -> bool:
    return "user" in match.groupdict() and match["user"].lower() in _NOT_USERINFO


def _made_of_words(text: str) -> bool:
    in_words = sum(len(run) for run in _LETTER_RUN.findall(text) if len(run) >= 3)
    return in_words >= _WORDS_SHARE * sum(char.isalnum() for char in text)


def _public(text: str) -> bool:
    return any(pattern.match(text) for pattern in PUBLIC_IDENTIFIERS)


def _base64_text(text: str) -> str | None:
    """The text a base64 value encodes (a certificate, a JSON document), or None when it
    is not base64 or encodes bytes that are not text (a key)."""
    if len(text) % 4:
        return None
    try:
        plain = base64.b64decode(text.replace("-", "+").replace("_", "/"), validate=True)
        decoded = plain.decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None
    return decoded if all(char.isprintable() or char.isspace() for char in decoded) else None


def _entropy(text: str) -> float:
    counts: dict[str, int] = {}
    for char in text:
        counts[char] = counts.get(char, 0) + 1
    return -sum(n / len(text) * math.log2(n / len(text)) for n in counts.values())


# --- where a value is, and whose it is ----------------------------------------------------------


def scan(data: Any) -> Iterator[tuple[tuple[str | int, ...], str]]:
    """Every (path, why) in one document's data that looks like a secret. Under `secrets:`
    are references by design, and an image's digest is random on purpose."""
    for path, key, value in _leaves(data, ()):
        if "secrets" in path or key in ("image", "digest"):
            continue
        why = looks_secret(key, value)
        if why:
            yield path, why


def _leaves(data: Any, path: tuple[str | int, ...]) -> Iterator[tuple[tuple, str, Any]]:
    """(path, the key that names the value, value) for every scalar. A list item is named
    by the nearest key above it; a `value` by its sibling `name` (an `env` entry of a
    container: `{name: DB_PASSWORD, value: hunter2}`), or by the last step of its
    sibling `path` (a JSON patch operation: `{op: add, path: /data/DB_PASSWORD, ...}`)."""
    if isinstance(data, dict):
        for key, value in data.items():
            if isinstance(value, dict | list):
                yield from _leaves(value, (*path, key))
            else:
                yield (*path, key), _name_of(data, str(key)), value
    elif isinstance(data, list):
        for index, value in enumerate(data):
            if isinstance(value, dict | list):
                yield from _leaves(value, (*path, index))
            else:
                name = next((str(p) for p in reversed(path) if isinstance(p, str)), "")
                yield (*path, index), name, value


def _name_of(mapping: dict, key: str) -> str:
    if key != "value":
        return key
    if isinstance(mapping.get("name"), str):
        return mapping["name"]
    if isinstance(mapping.get("op"), str) and isinstance(mapping.get("path"), str):
        return mapping["path"].rsplit("/", 1)[-1]
    return key


def subject(kind: str, name: str, path: tuple[str | int, ...]) -> dict[str, str]:
    """The environment, customer and service a catalog line belongs to (what waivers are
    scoped by): the file's own entity, and the `environments.<e>` and `services.<s>` it is
    written under (a customer's layers 5 and 6, an environment's layer 4)."""
    found = {kind: name} if kind in ("customer", "service", "environment") else {}
    steps = [str(step) for step in path]
    for at, step in enumerate(steps[:-1]):
        if step == "environments" and kind == "customer" and at == 0:
            found["environment"] = steps[at + 1]
        elif (
            step == "services"
            and kind in ("customer", "environment")
            and (at == 0 or (at == 2 and steps[0] == "environments" and kind == "customer"))
        ):
            found["service"] = steps[at + 1]
    return found


def check(catalog: Catalog, today: datetime.date) -> Iterator[Finding]:
    for (kind, name), source in sorted(catalog.sources.items()):
        document = source.document
        data = document.data
        for step in source.prefix:  # a list file (plans, teams) holds several entities
            data = data[step] if isinstance(data, dict | list) else None
        for path, why in scan(data):
            full = (*source.prefix, *path)
            yield BUILTIN.finding(
                f"possible plaintext secret: {why}",
                document.locate(full),
                key=f"{document.file}#{'/'.join(map(str, full))}",
                **subject(kind, name, path),
            )


BUILTIN = Builtin(
    "plaintext-secret",
    "No plaintext secrets in the catalog",
    "critical",
    "store the value in the secret store and reference it under `secrets:`",
    "catalog",
    check,
    __doc__,
)
