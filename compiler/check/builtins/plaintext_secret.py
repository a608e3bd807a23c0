"""No secret written into the catalog: a literal under a secret's name, credentials in a URL,
a connection string or a header, a private key, a known token, a random key.

The catalog is in git, readable by everyone with the repository and kept forever in its
history: a password pasted into it is leaked. Secrets belong in the secret store,
referenced under `secrets:` (rendered as ExternalSecrets). Every catalog file is read
as written, before layers merge, so the finding points at the line that has the value,
and it carries the environment, customer and service the line belongs to, so that a
waiver scoped to one customer covers that customer's finding and no other's, and a
false positive can be waived by its file or fingerprint alone. The rules are plain data
in `secret_rules.py`, each with its reason; the labelled corpora in
`tests/fixtures/secrets/` measure them (precision and recall, both 100 %).
"""

from __future__ import annotations

import datetime
import functools
import json
import re
import sys
import unicodedata
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from compiler.catalog import Catalog
from compiler.check import result_cache
from compiler.check.builtins import secret_encodings, secret_rules
from compiler.check.builtins.base import Builtin
from compiler.check.builtins.secret_encodings import (
    as_text,
    asn1_kind,
    decode_base64,
    entropy,
    is_generated_name,
    is_public_value,
    looks_random,
    made_of_words,
)
from compiler.check.builtins.secret_rules import (
    ACCOUNT_WORDS,
    ATTACHED_ONLY,
    AUTH_ALGORITHM,
    AUTH_HEADER,
    AUTH_METHODS,
    AUTH_SEPARATORS,
    BLOCK_OPENER,
    CAMEL_SECRET_OBJECT_QUALIFIERS,
    CLI_USER,
    CODE_CONSTANT,
    COMPOUND_SUFFIXES,
    COOKIE_PAIR,
    CREDENTIAL_LINES,
    DIGEST_HEX,
    DIRECTIVE,
    DNS_NAME,
    ECHO_LITERAL,
    EMPTY,
    ENCODED_AS,
    ENCRYPTED,
    ENV_BY_INDEX,
    ENV_LOOKUP,
    FILE_NAME_KEY,
    FILE_SIGNATURES,
    FILE_TYPES,
    FLAG_VALUE,
    HCL_REFERENCE,
    HEADER_FLAG,
    HOOK_SEGMENT,
    HOST_CREDENTIALS,
    INLINE_SECRET_STORES,
    INLINE_STORE_NAMES,
    JWK_PRIVATE,
    JWK_PUBLIC,
    KEY_FILE_TYPES,
    KEYWORD_CREDENTIAL_LINES,
    KNOWN_TOKENS,
    LINE,
    LOWER_NAME,
    MIN_ENTROPY,
    NAME_WORDS,
    NETWORK,
    NOT_COMPOUNDS,
    NOT_SECRET_KEYS,
    NOT_SECRET_PHRASES,
    NOT_USERINFO,
    ORACLE_CREDENTIALS,
    PAIR,
    PASSWORD_HASH,
    PASSWORD_SHORT_FLAGS,
    PLACEHOLDER,
    PLAINLY_NOT_SECRET,
    PREFIXED_TOKEN,
    PRIVATE_KEYS,
    PROSE_WORDS,
    PUBLIC_KEY_NAMES,
    PUBLIC_USERINFO_HOSTS,
    PUBLIC_WORDS,
    QUERY_SECRET_WORDS,
    REFERENCE,
    SECRET_KEY_PREFIXES,
    SECRET_NAME_LISTS,
    SECRET_OBJECT_DATA,
    SECRET_OBJECT_KINDS,
    SECRET_OBJECT_NAME,
    SECRET_OBJECT_NAMES,
    SECRET_OBJECT_QUALIFIERS,
    SECRET_PHRASES,
    SECRETS_FILE_WORDS,
    SEED_BASE32,
    SEED_WORDS,
    SITE_KEY_PHRASES,
    SPACED_LINE,
    SQL_CONTEXT,
    SQL_PASSWORD,
    SQL_REACH,
    TOKEN_CHARS,
    URL_CREDENTIALS,
    URL_USER,
    USER_FLAGS,
    USER_PASSWORD,
    VERSION,
    WEAK_WORDS,
    WEBHOOKS,
    XML_ELEMENT,
)
from compiler.check.findings import Finding


def looks_secret(key: str, value: Any, public: bool = False) -> str | None:
    """Why a value written in the catalog under `key` looks like a secret, or None.
    `public`: the value is inside something named public (a public key, a digest)."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        # YAML reads `SIP_PASSWORD: 80443921` as a number: still a literal secret
        return f"key '{key}' holds a literal value" if _named(key) == "secret" else None
    if not isinstance(value, str) or holds_nothing(value):
        return None
    text = value.strip()
    named = _named(key)
    if named == "secret" and not _is_path(text):
        return f"key '{key}' holds a literal value"
    user = USER_PASSWORD.match(text) if key in USER_FLAGS else None
    if user and not holds_nothing(user["password"]):
        return f"the value after '{key}' is a user:password pair"
    if named == "weak" and not _auth_setting(text):
        return f"key '{key}' holds a literal value"
    if named == "seed" and (SEED_BASE32.match(text) or looks_random(text, 16)):
        return f"key '{key}' holds a literal seed"
    if named == "object" and not DNS_NAME.match(text):
        return f"key '{key}' holds a literal value"
    pair = USER_PASSWORD.match(text) if _mentions_secret(key) else None
    if pair and not holds_nothing(pair["password"]) and not pair["password"].isdigit():
        return f"key '{key}' holds a user:password pair"
    object_name = bool(_words(key)) and _words(key)[-1] in NAME_WORDS and DNS_NAME.match(text)
    return secret_in_value(value, f"value of '{key}'", public=public or bool(object_name))


def holds_nothing(value: str) -> bool:
    """Empty, a boolean, a placeholder, a reference, or encrypted by design."""
    text = value.strip().strip("\"'")
    return bool(
        EMPTY.match(text)
        or PLACEHOLDER.match(text)
        or ENCRYPTED.match(text)
        or HCL_REFERENCE.match(text)
        or ENV_LOOKUP.match(text)
        or BLOCK_OPENER.match(text)
        or (REFERENCE.search(text) and not re.search(r"[A-Za-z0-9]", REFERENCE.sub("", text)))
    )


def _named(key: str) -> str | None:
    """ "secret", "weak" (a credential or a method's name), "object" (a Secret object's
    name), "seed", or None."""
    words = _words(key)
    if not words or key.lower().replace("-", "_") in NOT_SECRET_KEYS:
        return None
    if key.lower().startswith(SECRET_KEY_PREFIXES):
        return "secret"
    while len(words) > 1 and words[-1] in ENCODED_AS:
        words = words[:-1]
    words = [*words[:-1], *_split_compound(words[-1])]
    if words[-1] in ("secret", "secrets") and len(words) > 1:
        camel = "_" not in key and re.search(r"[a-z][A-Z]", key)
        if words[-2] in SECRET_OBJECT_QUALIFIERS or (
            camel and words[-2] in CAMEL_SECRET_OBJECT_QUALIFIERS
        ):
            return "object"
    if tuple(words[-2:]) in NOT_SECRET_PHRASES:
        return None
    if any(tuple(words[-n:]) in SECRET_PHRASES for n in (1, 2, 3)):
        return "secret"
    if words[-1] in WEAK_WORDS:
        return "weak"
    if words[-1] in SEED_WORDS:
        return "seed"
    return None


def _auth_setting(text: str) -> bool:
    parts = [part for part in AUTH_SEPARATORS.split(text.strip().lower()) if part]
    return bool(parts) and all(part in AUTH_METHODS or AUTH_ALGORITHM.match(part) for part in parts)


def _split_compound(word: str) -> list[str]:
    """`pgpassword` -> pg, password; `bindpw` -> bind, pw; `bypass` stays one word."""
    if word in NOT_COMPOUNDS:
        return [word]
    for suffix in COMPOUND_SUFFIXES:
        if word.endswith(suffix) and len(word) - len(suffix) >= 2:
            return [word[: -len(suffix)], suffix]
    return [word]


def _mentions_secret(key: str) -> bool:
    words = _words(key)
    return any(
        (word,) in SECRET_PHRASES or word in WEAK_WORDS or word in ("sasl", "login")
        for word in words[:-1]
    )


def _is_path(text: str) -> bool:
    """An absolute file path under a secret's name is where the secret is (`PWD: /app`,
    a secret file), not the secret; so is a URL without credentials (an endpoint), which
    rules 2-4 still judge (a webhook, a token in its query or as its user)."""
    return bool(
        re.match(r"^([\w.@-]+:)?(/[\w.@-]+)+/?$", text)  # systemd's `LoadCredential=id:/path`
        or re.match(r"^[a-z][a-z0-9+.-]*://[^\s@]+$", text)
    )


def secret_in_value(
    value: str, what: str, decoded: bool = False, public: bool = False, depth: int = 0
) -> str | None:
    """Rules 2-4, which judge the value whatever its key."""
    text = value.strip()
    if depth > 3:
        return None
    if any(pattern.search(text) for pattern in PRIVATE_KEYS):
        return f"{what} holds a private key"
    url = URL_CREDENTIALS.search(text)
    host = HOST_CREDENTIALS.match(text)
    oracle = ORACLE_CREDENTIALS.search(text)
    if oracle and (
        VERSION.match(oracle["host"])
        or not (
            oracle["port"]
            or "." in oracle["host"]
            or text[oracle.start() - 1 : oracle.start()] == ":"
        )
    ):
        oracle = None
    for match in (url, host, oracle):
        if match and not holds_nothing(match["password"]) and not _is_scheme(match):
            where = "URL" if match is url else "host address" if match is host else "connect string"
            return f"{what} has credentials in its {where}"
    for pattern in KNOWN_TOKENS:
        if pattern.search(text):
            return f"{what} holds an access token"
    why = _prefixed_token(text) if not public else None
    if why:
        return f"{what} holds {why}"
    for pattern in WEBHOOKS:
        if pattern.search(text):
            return f"{what} is a webhook URL whose path is its key"
    hook = HOOK_SEGMENT.search(text)
    if hook and looks_random(hook["segment"], 16):
        return f"{what} is a webhook URL whose path is its key"
    user = URL_USER.search(text)
    if user and not PUBLIC_USERINFO_HOSTS.search(user["host"]) and looks_random(user["user"], 20):
        return f"{what} has a token as its URL's user"
    if PASSWORD_HASH.search(text):
        return f"{what} holds a password hash"
    for header in AUTH_HEADER.finditer(text):
        why = _authorization(header)
        if why:
            return f"{what} holds {why}"
    for flag in FLAG_VALUE.finditer(text):
        if _named(flag["flag"]) == "secret" and not holds_nothing(flag["value"]):
            return f"{what} has a secret after its '--{flag['flag']}' flag"
    why = _sql_password(text) or _header_flag(text) or _echoed_secret(text)
    if why:
        return f"{what} has {why}"
    user_flag = CLI_USER.search(text)
    if user_flag and not holds_nothing(user_flag["password"]):
        return f"{what} has a user:password after its '-u' flag"
    for pair in PAIR.finditer(text):
        pair_key, pair_value = pair["key"].strip(), pair["value"].strip("\"'")
        in_query = pair.start() > 0 and text[pair.start() - 1] in "?&"
        if holds_nothing(pair_value):
            continue
        secret_word = _named(pair_key) in ("secret", "weak") or (
            in_query and _words(pair_key)[-1:] and _words(pair_key)[-1] in QUERY_SECRET_WORDS
        )
        if _named(pair_key) == "weak" and _auth_setting(pair_value):
            continue
        if secret_word and not _is_path(pair_value):
            return f"{what} has a secret in its '{pair_key}=' part"
    for pattern, form in ((XML_ELEMENT, "<{}> element"), (CODE_CONSTANT, "'{}' constant")):
        for element in pattern.finditer(text):
            element_value = element["value"].strip()
            if (
                _named(element["key"]) in ("secret", "weak")
                and not holds_nothing(element_value)
                and not _is_path(element_value)
                and not (_named(element["key"]) == "weak" and _auth_setting(element_value))
            ):
                return f"{what} has a secret in its {form.format(element['key'])}"
    why = _short_flag_password(text)
    if why:
        return f"{what} has {why}"
    if "\n" not in text:
        entry = next((m for p in KEYWORD_CREDENTIAL_LINES if (m := p.match(text))), None)
        if entry and not holds_nothing(entry["password"]):
            return f"{what} is a credentials entry"
        why = _directive(text)
        if why:
            return f"{what} has {why}"
    if text.startswith(("{", "[")) and not decoded:
        why = _judge_json(text, what)
        if why:
            return why
    if "\n" in value:  # a file's text, even of one line
        why = _in_lines(text, what)
        if why:
            return why
    if decoded or not TOKEN_CHARS.match(text) or is_public_value(text):
        return None
    raw = decode_base64(text)
    if raw is not None:
        plain = as_text(raw)
        if plain is not None:  # base64 of text is configuration: judge what it encodes
            return _judge_decoded(plain, f"{what} (base64)", depth)
        if raw.startswith(FILE_SIGNATURES):
            return None
        kind = asn1_kind(raw)
        if kind == "private":
            return f"{what} holds a private key (DER)"
        if kind == "public":
            return None
    if public or made_of_words(text) or is_generated_name(text):
        return None
    if entropy(text) >= MIN_ENTROPY:
        return f"{what} looks like a random key (entropy {entropy(text):.1f} bits/char)"
    return None


def _prefixed_token(text: str) -> str | None:
    """A vendor token by its form (see PREFIXED_TOKEN): a prefix, then a random tail."""
    for match in PREFIXED_TOKEN.finditer(text):
        tail, prefix = match["tail"], match["prefix"]
        segments = re.split(r"[_.-]", prefix.strip("_.-"))
        if (
            (len(segments) < 2 and not prefix[0].isupper())
            or re.fullmatch(r"[0-9a-f]+|[0-9A-F]+", tail)
            or any(word in PUBLIC_WORDS | NAME_WORDS for word in _words(prefix))
            or is_public_value(match[0])
        ):
            continue
        kinds = sum(bool(re.search(chars, tail)) for chars in ("[a-z]", "[A-Z]", "[0-9]"))
        # with lower case, not made of words (`spec.tls.insecureEdgeTerminationPolicy`);
        # in capitals, where runs of capitals read as words, digits among them
        random_tail = (
            not made_of_words(tail)
            if re.search("[a-z]", tail)
            else sum(char.isdigit() for char in tail) >= 2
        )
        if kinds >= 2 and random_tail and entropy(tail) >= MIN_ENTROPY:
            return "an access token (a vendor prefix and a random tail)"
    return None


def _sql_password(text: str) -> str | None:
    """A password in a SQL statement that creates or changes a login (see SQL_PASSWORD)."""
    if not SQL_CONTEXT.search(text):
        return None
    for match in SQL_PASSWORD.finditer(text):
        before = text[max(0, match.start() - SQL_REACH) : match.start()]
        statement = re.split(r";|\n\s*\n", before)[-1]
        if not SQL_CONTEXT.search(statement):
            continue
        password = match["quoted"] or match["bare"] or ""
        if password.upper() in ("PASSWORD", "VALUES", "NULL"):
            continue
        if not holds_nothing(password) and not password.startswith(":"):
            return "a password in a SQL statement"
    return None


def _echoed_secret(text: str) -> str | None:
    """A literal written into a secret's file or piped to `--password-stdin` (ECHO_LITERAL)."""
    for match in ECHO_LITERAL.finditer(text):
        value, path = match["value"], match["path"]
        if holds_nothing(value) or value.startswith("$"):
            continue
        if path is None:
            return "a password piped to '--password-stdin'"
        name = path.rstrip("/").rsplit("/", 1)[-1]
        if _named(name.lstrip(".")) == "secret":
            return f"a literal written into '{path}'"
    return None


def _header_flag(text: str) -> str | None:
    """An HTTP header on a command line (see HEADER_FLAG)."""
    for match in HEADER_FLAG.finditer(text):
        name, value = match["name"], match["value"].strip()
        if name.lower() == "cookie":
            for cookie in COOKIE_PAIR.finditer(value):
                if not holds_nothing(cookie["value"]) and looks_random(cookie["value"], 16):
                    return f"a session in its '{name}' header"
        elif (
            name.lower() != "authorization"  # judged by AUTH_HEADER
            and _named(name) in ("secret", "weak")
            and value
            and not holds_nothing(value)
            and not _auth_setting(value)
        ):
            return f"a secret in its '{name}' header"
    return None


def _authorization(header: re.Match[str]) -> str | None:
    """`Basic` carries base64 of `user:password`; `Bearer` and `Token` a token (not a
    word, which is prose: "Bearer authentication")."""
    cred = header["cred"]
    if header["scheme"] == "Basic":
        raw = decode_base64(cred)
        plain = as_text(raw) if raw is not None else None
        if plain is not None and re.match(r"^[^:\s]*:\S+$", plain):
            return "HTTP basic credentials"
        return None
    if made_of_words(cred):
        return None
    return f"a {header['scheme']} token"


def _judge_decoded(plain: str, what: str, depth: int) -> str | None:
    """Decoded text: a JSON document is judged as catalog data (a docker config's
    `auths.<registry>.auth`), any other text by rules 2-4."""
    if plain.lstrip().startswith(("{", "[")):
        try:
            json.loads(plain)
        except ValueError:  # an ini file's `[section]`, not JSON
            pass
        else:
            return _judge_json(plain.strip(), what)
    return secret_in_value(plain, what, decoded=True, depth=depth + 1)


def _judge_json(text: str, what: str) -> str | None:
    """A JSON document in a value (a file's content, a docker config) is catalog-like
    data: its keys name its values."""
    try:
        data = json.loads(text)
    except ValueError:
        return None
    for path, why in scan(data, settings=False):
        return f"{what} has {why} at {'/'.join(map(str, path))}"
    return None


def _in_lines(text: str, what: str) -> str | None:
    """A configuration file's text: each `key = value`, `KEY=value`, `key: value` (and
    `key value`) line judged as if the key were a catalog key."""
    for number, line in enumerate(text.splitlines(), 1):
        entry = next((m for p in CREDENTIAL_LINES if (m := p.match(line))), None)
        if entry and not holds_nothing(entry["password"]):
            return f"{what} has a credentials entry on line {number}"
        match = LINE.match(line) or SPACED_LINE.match(line)
        if not match:
            why = _directive(line)
            if why:
                return f"{what} has {why} on line {number}"
            continue
        value = match["value"].rstrip().rstrip(",;").strip().strip("\"'")
        why = _line_secret(match["key"], value)
        if why:
            return f"{what} has a secret on line {number} ({why})"
    return None


def _line_secret(key: str, value: str) -> str | None:
    """A line's key and value, judged like a catalog key's (rules 1-4). Not prose: a
    capitalised word before a sentence (`Token: expires in 1 hour`) is no key, and a
    random run of base64 (a PEM body's line) is no key either."""
    if not value or holds_nothing(value) or BLOCK_OPENER.match(value):
        return None
    if re.search(r"\s", value) and re.fullmatch(r"[A-Z][a-z]+", key):
        return None
    if not made_of_words(key) and not re.search(r"[_.-]", key):
        return None
    public = any(word in PUBLIC_WORDS for word in _words(key))
    why = looks_secret(key, value, public=public)
    return why.removeprefix("key ") if why else None


def _directive(line: str) -> str | None:
    """A directive line (`stats auth ops:pw`, `sentinel auth-pass mymaster pw`,
    `rocommunity pw 10.0.0.0/8`): a keyword that names a secret among its first three
    words, and after it a word that is none of a plain word, a number, a host, a path, a
    network (the names a directive's other arguments are)."""
    if not DIRECTIVE.match(line):
        return None
    words = [word.strip("\"'") for word in line.split()]
    if any(word.lower() in PROSE_WORDS for word in words):
        return None
    for at, keyword in enumerate(words[:3]):
        named = _named(keyword)
        if named not in ("secret", "weak"):
            continue
        bare = (keyword.lower(),) in SECRET_PHRASES or keyword.lower() in WEAK_WORDS
        for value in words[at + 1 : at + 3]:
            if named == "weak" and _auth_setting(value):
                break
            if _plain_argument(value) or (bare and LOWER_NAME.match(value)):
                continue
            return f"a secret after its '{keyword}' directive"
    return None


def _plain_argument(word: str) -> bool:
    return bool(
        not word
        or holds_nothing(word)
        or PLAINLY_NOT_SECRET.match(word)
        or NETWORK.match(word)
        or word in "{}()[];"
        or word.startswith("-")  # a command's flag
    )


def _short_flag_password(text: str) -> str | None:
    """A client program's password flag in a command line: `sshpass -p pw`, `mysql -ppw`,
    `redis-cli -a pw`, `ldapsearch -w pw` (see PASSWORD_SHORT_FLAGS)."""
    words = [word.strip("\"'") for word in text.split()]
    program = None
    for at, word in enumerate(words):
        name = word.rsplit("/", 1)[-1]
        if name in PASSWORD_SHORT_FLAGS:
            program = name
            continue
        if program is None:
            continue
        if word in ("|", "||", "&&", ";") or word.endswith(";"):
            program = None
            continue
        flag = PASSWORD_SHORT_FLAGS[program]
        if word.startswith(flag) and len(word) > len(flag) and not word.startswith("--"):
            password = word[len(flag) :]
        elif word == flag and program not in ATTACHED_ONLY and at + 1 < len(words):
            password = words[at + 1]
        else:
            continue
        if not holds_nothing(password) and not password.lstrip("\"'").startswith("$"):
            return f"a password after {program}'s '{flag}' flag"  # `$...`: the shell's
    return None


def _words(key: str) -> list[str]:
    """`DB_PWD` -> db, pwd; `apiKey` -> api, key; `tls-secret.name` -> tls, secret, name."""
    spaced = re.sub(r"([a-z0-9])([A-Z])", r"\1 \2", key)
    return [w.lower() for w in re.split(r"[^A-Za-z0-9]+", spaced) if w]


def _is_scheme(match: re.Match[str]) -> bool:
    return "user" in match.groupdict() and match["user"].lower() in NOT_USERINFO


# --- where a value is, and whose it is ----------------------------------------------------------

# Keys under which anything is data the service reads (a config file's content, its
# values, an extra object, a patch, Ansible variables): a `secrets` key there is the
# application's own, not the catalog's reference layer.
FREE_DATA = frozenset({"data", "content", "config", "extra_resources", "patches", "vars"})
# Keys whose children are names (a service, a file path, an environment), not fields.
NAME_HOLDERS = frozenset({"services", "environments", "files", "customers"})


def scan(data: Any, settings: bool = True) -> Iterator[tuple[tuple[str | int, ...], str]]:
    """Every (path, why) in one document's data that looks like a secret. The entity's
    own `secrets:` layer holds references by design (`settings`: `data` is a catalog
    document, where that layer exists), and an image's digest is random on purpose."""
    for path, key, value, parent in _leaves(data, ()):
        if (settings and _in_secrets_layer(path)) or key in ("image", "digest"):
            continue
        why = _judge_leaf(path, key, value, parent)
        if not why and isinstance(value, str) and _in_secret_object(data, path):
            why = _secret_object_literal(path, value)
        if why:
            yield path, why


def _in_secret_object(data: Any, path: tuple) -> bool:
    """The value is an entry of a Kubernetes Secret's `data` or `stringData`."""
    if len(path) < 2 or path[-2] not in SECRET_OBJECT_DATA:
        return False
    node = data
    for step in path[:-2]:
        if (isinstance(node, dict) and step in node) or (
            isinstance(node, list) and isinstance(step, int) and step < len(node)
        ):
            node = node[step]
        else:
            return False
    return isinstance(node, dict) and node.get("kind") in SECRET_OBJECT_KINDS


def _secret_object_literal(path: tuple, value: str) -> str | None:
    """A Secret's entry is a secret by its kind (see SECRET_OBJECT_KINDS), unless it is
    plainly none, a name, public material, or a file (judged by its lines already)."""
    words = _words(str(path[-1]))
    if not words or set(words) & (SECRET_OBJECT_NAMES | PUBLIC_WORDS):
        return None
    if "." in str(path[-1]) and words[-1] in FILE_TYPES:
        return None
    text = value.strip()
    if path[-2] == "data":
        raw = decode_base64(text)
        if raw is None:
            return None
        plain = as_text(raw)
        if plain is None:  # binary: a key unless a file or public DER
            if raw.startswith(FILE_SIGNATURES) or asn1_kind(raw) == "public" or len(raw) < 8:
                return None
            return "a Kubernetes Secret's data holds a binary key"
        text = plain.strip()
    if (
        not text
        or "\n" in text.strip()
        or text.startswith(("{", "[", "-----BEGIN"))
        or holds_nothing(text)
        or PLAINLY_NOT_SECRET.match(text)
        or _is_path(text)
    ):
        return None
    return f"a Kubernetes Secret's {path[-2]} holds a literal under '{path[-1]}'"


def _judge_leaf(path: tuple, key: str, value: Any, parent: dict | None) -> str | None:
    steps = [str(step) for step in path]
    if parent is not None and str(parent.get("type", "")).upper() == "TXT":
        return None  # a DNS TXT record is published to the world
    if parent is not None and "kty" in parent and steps[-1] in JWK_PUBLIC:
        return None
    if parent is not None and "kty" in parent and steps[-1] in JWK_PRIVATE:
        return "a private member of a JSON Web Key" if isinstance(value, str) else None
    if "encryptedData" in steps and isinstance(value, str) and len(value) >= 64:
        return None  # a SealedSecret's ciphertext: encrypted for the cluster, safe in git
    if isinstance(value, str) and _in_inline_store(steps) and not holds_nothing(value):
        return "a literal value in an External Secrets fake provider"
    if key == SHORT_FLAG_VALUE:
        return (
            "a password after a client's password flag" if not holds_nothing(str(value)) else None
        )
    if isinstance(value, str) and ("\n" in value or key == "content"):
        why = _secrets_file(steps, value)
        if why:
            return why
    if key == UNNAMED_ENV:
        if isinstance(value, str) and not holds_nothing(value):
            why = secret_in_value(value, "the value")
            if why or not PLAINLY_NOT_SECRET.match(value.strip()):
                where = parent.get("path") if parent is not None else ""
                return f"a JSON patch sets an env entry by position ({where}) to a literal"
        return None
    if isinstance(value, str) and _digest_of_file(key, value):
        return None
    if (
        parent is None  # a list item
        and isinstance(value, str)
        and _words(key)[-1:] in ([w] for w in SECRET_NAME_LISTS)
        and SECRET_OBJECT_NAME.match(value)
        and made_of_words(value)
    ):
        return None  # `secrets: [pg_password]` names the secrets a service mounts
    public = any(
        word in PUBLIC_WORDS
        for step in steps
        if not step.startswith("/")  # a file's path names folders, not the value
        for word in _words(step)
    ) or any(step.lower() in PUBLIC_KEY_NAMES for step in steps)
    last = tuple(_words(key)[-2:])
    public = public or last[-1:] in ((word,) for word in ACCOUNT_WORDS)
    public = public or any(last[-len(phrase) :] == phrase for phrase in SITE_KEY_PHRASES)
    return looks_secret(key, value, public=public)


def _digest_of_file(key: str, value: str) -> bool:
    """A file's content digest under the file's name (see DIGEST_HEX)."""
    name = FILE_NAME_KEY.match(key)
    return bool(
        name
        and name["ext"].lower() not in KEY_FILE_TYPES
        and _named(key[: -len(name["ext"]) - 1].rsplit("/", 1)[-1]) is None  # `secret.txt`
        and DIGEST_HEX.match(value.strip())
    )


def _in_inline_store(steps: list[str]) -> bool:
    """Under `provider.fake.data` of a SecretStore, and not the remote key's name."""
    if steps[-1] in INLINE_STORE_NAMES:
        return False
    for store in INLINE_SECRET_STORES:
        for at in range(len(steps) - len(store)):
            if tuple(steps[at : at + len(store)]) == store:
                return True
    return False


def _secrets_file(steps: list[str], text: str) -> str | None:
    """A file named for its secrets (`/etc/rsyncd.secrets`): every line that is not a
    comment and whose last word is not a path is one."""
    name = next((step for step in reversed(steps) if step.startswith("/")), None)
    if name is None:
        return None
    words = _words(name.rsplit("/", 1)[-1])
    if not words or words[-1] not in SECRETS_FILE_WORDS:
        return None
    for number, line in enumerate(text.splitlines(), 1):
        stripped = line.strip()
        if not stripped or stripped.startswith(("#", ";", "//")):
            continue
        last = stripped.split()[-1].strip("\"'")
        if not holds_nothing(last) and not _is_path(last):
            return f"a line of a secrets file ({name}, line {number})"
    return None


def _in_secrets_layer(path: tuple) -> bool:
    """The `secrets:` of a settings layer (or of a file, `files.<f>.secrets`), not a
    `secrets` key inside a config file's data (MAS' own `secrets:` holds private keys)."""
    steps = [str(step) for step in path]
    for at, step in enumerate(steps[:-1]):
        is_field = at == 0 or steps[at - 1] not in NAME_HOLDERS
        if step == "secrets" and is_field:
            return True
        if step in FREE_DATA and is_field:
            return False
    return False


UNNAMED_ENV = "\0env-by-index"
SHORT_FLAG_VALUE = "\0short-password-flag"
_FLAG = re.compile(r"^--[A-Za-z][\w-]*$")


def _leaves(data: Any, path: tuple[str | int, ...]) -> Iterator[tuple[tuple, str, Any, Any]]:
    """(path, the key that names the value, value, its mapping) for every scalar. A list
    item is named by the nearest key above it; a `value` by its sibling `name` (an `env`
    entry of a container: `{name: DB_PASSWORD, value: hunter2}`), or by the last step of
    its sibling `path` (a JSON patch operation: `{op: add, path: /data/DB_PASSWORD, ...}`)."""
    if isinstance(data, dict):
        for key, value in data.items():
            if isinstance(value, dict | list):
                yield from _leaves(value, (*path, key))
            else:
                yield (*path, key), _name_of(data, str(key)), value, data
    elif isinstance(data, list):
        for index, value in enumerate(data):
            if isinstance(value, dict | list):
                yield from _leaves(value, (*path, index))
            else:
                name = next((str(p) for p in reversed(path) if isinstance(p, str)), "")
                before = data[index - 1] if index else None
                if isinstance(before, str) and (_FLAG.match(before) or before in USER_FLAGS):
                    name = before  # `args: [--password, hunter2]`: named by its flag
                program = str(data[0]).rsplit("/", 1)[-1] if data else ""
                if (
                    index >= 2
                    and program in PASSWORD_SHORT_FLAGS
                    and program not in ATTACHED_ONLY
                    and before == PASSWORD_SHORT_FLAGS[program]
                ):
                    name = SHORT_FLAG_VALUE  # `[sshpass, -p, pw, ssh, host]`
                yield (*path, index), name, value, None


def _name_of(mapping: dict, key: str) -> str:
    if key != "value":
        return key
    if isinstance(mapping.get("name"), str):
        return mapping["name"]
    if isinstance(mapping.get("op"), str) and isinstance(mapping.get("path"), str):
        if ENV_BY_INDEX.search(mapping["path"]):
            return UNNAMED_ENV
        last = mapping["path"].rsplit("/", 1)[-1]
        return last.replace("~1", "/").replace("~0", "~")
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
    entities = []
    for (kind, name), source in sorted(catalog.sources.items()):
        data = source.document.data
        for step in source.prefix:  # a list file (plans, teams) holds several entities
            data = data[step] if isinstance(data, dict | list) else None
        entities.append((kind, name, source, data))
    scans = _scans([data for _, _, _, data in entities])
    for (kind, name, source, _), found in zip(entities, scans, strict=True):
        document = source.document
        for path, why in found:
            full = (*source.prefix, *path)
            yield BUILTIN.finding(
                f"possible plaintext secret: {why}",
                document.locate(full),
                key=f"{document.file}#{'/'.join(map(str, full))}",
                **subject(kind, name, path),
            )


Scan = list[tuple[tuple[str | int, ...], str]]


def _scans(datas: Sequence[Any]) -> list[Scan]:
    """`scan` of each entity's data, kept per content in the result cache: a catalog's
    1,024 documents took a second to scan on every check at 1,000 customers, in the
    main process, before any environment is checked. What a scan finds is a function
    of the data and this check's code alone (its words and rules), so the catalog's
    results are one entry keyed by the code, mapping each entity's data digest to its
    (path, why) pairs; an entity whose data changed is scanned again. The entry is
    JSON, signed like every result (result_cache.py)."""
    code = _code()
    if not result_cache.active() or code is None:
        return [list(scan(data)) for data in datas]
    key = result_cache.content_key("plaintext-secret", [code])
    kept = result_cache.read("plaintext-secret", key)
    kept = kept if isinstance(kept, dict) else {}
    found: list[Scan] = []
    learned: dict[str, Any] = {}
    for data in datas:
        digest = result_cache.data_digest(data)
        name = digest.hex() if digest is not None else None
        entry = kept.get(name) if name is not None else None
        if isinstance(entry, list):
            found.append([(tuple(path), why) for path, why in entry])
        else:
            found.append(list(scan(data)))
        if name is not None:
            learned[name] = [[list(path), why] for path, why in found[-1]]
    if learned != kept:
        result_cache.write("plaintext-secret", key, learned)
    return found


@functools.cache
def _code() -> bytes | None:
    """This check's code, the words and encodings it judges by, and the Python (its
    regular expressions' and Unicode tables' version); None where the source cannot be
    read (nothing is kept then)."""
    try:
        sources = [
            Path(module.__file__ or "").read_bytes()
            for module in (sys.modules[__name__], secret_encodings, secret_rules)
        ]
    except OSError:
        return None
    python = f"{sys.version}\0{unicodedata.unidata_version}".encode()
    return b"\0".join([python, *sources])


BUILTIN = Builtin(
    "plaintext-secret",
    "No plaintext secrets in the catalog",
    "critical",
    "store the value in the secret store and reference it under `secrets:`",
    "catalog",
    check,
    __doc__,
)
