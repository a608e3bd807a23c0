"""No secret written into the catalog: a literal under a secret's name, credentials in a URL,
a connection string or a header, a private key, a known token, a random key.

The catalog is in git, readable by everyone with the repository and kept forever in its
history: a password pasted into it is leaked. Secrets belong in the secret store,
referenced under `secrets:` (rendered as ExternalSecrets). Every catalog file is read
as written, before layers merge, so the finding points at the line that has the value,
and it carries the environment, customer and service the line belongs to, so that a
waiver scoped to one customer covers that customer's finding and no other's. The rules
are plain data below, each with its reason; the labelled corpora in
`tests/fixtures/secrets/` measure them (precision and recall, both 100 %).
"""

from __future__ import annotations

import base64
import binascii
import datetime
import json
import math
import re
from collections.abc import Iterator
from typing import Any

from compiler.catalog import Catalog
from compiler.check.builtins.base import Builtin
from compiler.check.findings import Finding

# --- rule 1: a key that names a secret, with a literal value -------------------------------
# A key names a secret when its last words are one of these phrases: `DB_PASSWORD`,
# `smtp_pass`, `DB_PWD`, `LDAP_BIND_PW`, `apiKey`, `AWS_SECRET_ACCESS_KEY`, Rails'
# `SECRET_KEY_BASE`. The last word is what the value *is*; a word after it says the value
# is something about the secret (`password_file`, `token_ttl`, `secretName`,
# `password_min_length`), which is why a key merely *containing* `auth` or `secret`
# (`postfix_smtpd_sasl_auth_enable`, `OAUTH_ISSUER`, `KC_SPI_AUTHENTICATOR_*`) is none.
SECRET_PHRASES = frozenset(
    {
        ("password",), ("passwords",), ("passwd",), ("pwd",), ("pw",), ("pass",),
        ("passphrase",), ("htpasswd",), ("secret",), ("secrets",), ("token",), ("tokens",),
        ("credential",), ("credentials",), ("apikey",), ("psk",),
        ("api", "key"), ("private", "key"), ("access", "key"), ("signing", "key"),
        ("secret", "key"), ("auth", "key"), ("encryption", "key"), ("master", "key"),
        ("account", "key"),  # Azure storage `AccountKey=`
        ("session", "key"), ("client", "key"), ("hmac", "key"), ("jwt", "key"),
        ("cookie", "key"), ("csrf", "key"), ("shared", "key"), ("decryption", "key"),
        ("app", "key"),  # Laravel's APP_KEY

        ("secret", "key", "base"),  # Rails: the app's master secret
    }
)  # fmt: skip
# One-word keys that end in a secret word: `PGPASSWORD` (libpq), `DBPASS`, `bindpw`
# (nslcd, sssd), `requirepass` and `masterauth` (redis), `clientsecret`. The word before
# the suffix must have two letters or more, and the English words that end like one are
# not compounds.
COMPOUND_SUFFIXES = (
    "password", "passwd", "passphrase", "pass", "pwd", "pw", "secret", "token", "apikey",
    "auth",
)  # fmt: skip
NOT_COMPOUNDS = frozenset(
    {
        "bypass", "compass", "encompass", "overpass", "underpass", "surpass", "trespass",
        "impass", "oauth",  # OAuth is a protocol's name
        "oldpwd",  # the shell's previous working directory
    }
)  # fmt: skip
# Trailing words that say how the secret is written, not what it is about:
# `DB_PASSWORD_B64` is the password, in base64.
ENCODED_AS = frozenset({"b64", "base64", "hex", "raw", "plain", "plaintext", "value"})
# `auth` as the last word names the credential (`REDISCLI_AUTH`, `REGISTRY_AUTH`, a
# docker config's `auth`) or the way to authenticate (`smtp_auth: plain`): a literal is
# a secret unless it is the name of a method or mode.
WEAK_WORDS = frozenset({"auth"})
AUTH_METHODS = frozenset(
    {
        "none", "basic", "digest", "bearer", "token", "oauth", "oauth2", "oidc", "openid",
        "ldap", "saml", "kerberos", "gssapi", "ntlm", "negotiate", "plain", "login",
        "cram-md5", "digest-md5", "xoauth2", "scram-sha-1", "scram-sha-256", "scram-sha-512",
        "md5", "trust", "peer", "ident", "cert", "tls", "mtls", "password", "jwt", "apikey",
        "api-key", "sasl", "required", "optional", "request", "require", "on", "off",
        "enabled", "disabled", "internal", "external", "local", "anonymous", "hmac", "iam",
        "aws", "sigv4", "header", "query", "form", "session", "cookie", "mutual", "any",
        "all", "client", "server", "default", "true", "false", "verify-ca", "verify-full",
        "verify-peer", "verify", "strict", "lax", "want", "need", "ssl", "starttls", "pam",
        "htpasswd", "radius", "x509", "spnego", "webauthn", "totp", "otp", "mfa", "2fa",
    }
)  # fmt: skip
# an `auth` value that is one method or several (`ldap,local`, `basic digest`)
_AUTH_SEPARATORS = re.compile(r"[\s,|;+]+")
# keys that end like a secret but never hold one: External Secrets' `secretKey`, the name
# of a key in the Secret it writes
NOT_SECRET_KEYS = frozenset({"secretkey"})
# ... and phrases: nginx passes a request *to* an upstream (`proxy_pass http://app;`)
NOT_SECRET_PHRASES = frozenset(
    {("proxy", "pass"), ("fastcgi", "pass"), ("uwsgi", "pass"), ("grpc", "pass"),
     ("scgi", "pass"), ("memcached", "pass")}
)  # fmt: skip
# A key whose last word is `secret(s)` after one of these names a Kubernetes Secret object
# (`existingSecret`, `imagePullSecrets`, `envFromSecrets`, `tls_secret`): a DNS-1123 name
# under it is the object's name, not the secret. Any other value is one.
SECRET_OBJECT_QUALIFIERS = frozenset(
    {
        "existing", "pull", "from", "tls", "ssl", "cert", "certificate", "ca", "mounted",
        "volume", "k8s", "kube", "kubernetes", "target", "source", "ref",
    }
)  # fmt: skip
# ... and in Helm's camelCase only (`passwordSecret`, `tokenSecret`, `envSecret`): an
# upper-case `SMTP_PASSWORD_SECRET` is an environment variable, which holds values.
CAMEL_SECRET_OBJECT_QUALIFIERS = frozenset(
    {"password", "passwords", "token", "tokens", "credentials", "credential", "key", "keys", "env"}
)
_DNS_NAME = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")

# --- values that hold nothing ---------------------------------------------------------------
# booleans and nulls
_EMPTY = re.compile(r"^(true|false|yes|no|on|off|null|none|nil|~|)$", re.I)
# References: the value is filled in from elsewhere, at render, deploy or run time. An
# interpolation (`${secret.X}`, `${VAR}`), a Jinja expression (`{{ vault_x }}`, AWX and
# Ansible lookups), Kubernetes' dependent env var (`$(POSTGRES_PASSWORD)`), a shell's
# command substitution (`$(cat /run/secrets/db)`), ERB, and pipeline token replacement
# (`__PASSWORD__`, `#{Password}#`, `@password@`, `%PASSWORD%`).
_REFERENCE = re.compile(
    r"\$\{[^{}]*\}|\{\{.{0,500}?\}\}|\{%.{0,500}?%\}|\$\([^()]*\)|`[^`]*`|<%=?.{0,500}?%>"
    r"|^__\w+__$|^#\{\w+\}#?$|^@\w+@$|^%\w+%$",
    re.S,
)
# Encrypted by design, safe to commit: SOPS (`ENC[AES256_GCM,...]`), Ansible Vault, and
# references to a secret manager (vals' `ref+vault://`, bank-vaults' `vault:path#key`,
# 1Password's `op://`).
_ENCRYPTED = re.compile(
    r"^(ENC\[[A-Z0-9_]+,.*\]|\$ANSIBLE_VAULT;.*|ref\+[a-z0-9]+://\S+|vault:\S+#\S+|op://\S+)$",
    re.S,
)
# Placeholders someone has to replace: `<set-in-vault>`, `********`, `xxx`, `TODO`,
# `REPLACE_ME`, `your-api-key`. `changeit` is the JDK's documented default keystore
# password, public knowledge rather than a secret.
_PLACEHOLDER = re.compile(
    r"^(<[^<>]+>|[*xX•#.]{3,}|\[[a-z _-]+\]"
    r"|todo|tbd|fixme|redacted|placeholder|changeme|change[-_ ]me|changeit"
    r"|replace[-_ ]?me|set[-_ ]?me|fill[-_ ]?me|fill[-_ ]in|your[-_ ][\w -]*)$",
    re.I,
)

# --- rule 2: credentials in a URL, a host address, a connection string, a header ----------
# `scheme://user:password@host`, the same without a scheme where a host address is written
# (`admin:hunter2@db.internal:5432`, redis' `:hunter2@redis:6379`), and Oracle's
# `user/password@host` (`jdbc:oracle:thin:scott/tiger@db:1521/ORCL`). A password that is
# a reference is none. `mailto:` and friends have a colon before the `@` but no password.
_URL_CREDENTIALS = re.compile(
    r"(?<![a-z0-9+.-])[a-z][a-z0-9+.-]*://[^\s/:@]*:(?P<password>[^\s/@]+)@", re.I
)
_HOST_CREDENTIALS = re.compile(
    r"^(?P<user>[^\s/:@]*):(?P<password>[^\s/@]+)@"
    r"([A-Za-z0-9.-]+(:\d+)?|(tcp|udp|unix)\([^)\s]*\))(/\S*)?$"  # Go's `@tcp(db:3306)`
)
# Oracle's form needs a sign that it is one: after `jdbc:oracle:thin:` (any `:`), or a
# host with a dot or a port (`nginx/nginx@1.25` and `x/tools@v0.1.0` are versions).
_ORACLE_CREDENTIALS = re.compile(
    r"(?:^|(?<=[:\s]))(?P<user>[A-Za-z][A-Za-z0-9_$#]*)/(?P<password>[^\s/@:]+)"
    r"@(//)?(?P<host>[A-Za-z0-9][A-Za-z0-9.-]*)(?P<port>:\d+)?(/[A-Za-z0-9_.]*)?(?=$|[\s?;])"
)
_VERSION = re.compile(r"^v?\d+(\.\d+)*$")
_NOT_USERINFO = frozenset({"mailto", "sip", "sips", "xmpp", "tel"})
# The user of a URL alone can be the credential (`https://ghp_...@github.com`): a random
# user name is a token. Sentry's DSN key is public by design (it ships in browser code).
_URL_USER = re.compile(
    r"(?<![a-z0-9+.-])[a-z][a-z0-9+.-]*://(?P<user>[^\s/:@]+)@(?P<host>[^\s/:]+)", re.I
)
PUBLIC_USERINFO_HOSTS = re.compile(r"(^|\.)sentry\.io$|^sentry\.", re.I)
# `key=value` pairs inside a value: connection strings (ADO.NET `Password=x;`, libpq
# `password=x`, JDBC `;password=x` and `?password=x`), URL queries (`?token=x`), dotenv
# lines, command-line flags (`--password=x`, `-Djavax.net.ssl.keyStorePassword=x`). The
# pair's key is judged by rule 1; in a URL query `sig` and `signature` (a pre-signed
# URL's) are credentials too.
_PAIR = re.compile(
    r"(?:^|(?<=[;\s&?,]))(?:export\s+|-{1,2}D?)?"
    r"(?P<key>[A-Za-z_][A-Za-z0-9_.-]*(?: [A-Za-z][A-Za-z0-9_]*)?)[ \t]*=[ \t]*"
    r"(?P<value>\"[^\"]*\"|'[^']*'|\$\{[^}]*\}|\{\{.{0,500}?\}\}|(?!=)[^;&\s,\"']+)"
)
QUERY_SECRET_WORDS = frozenset({"sig", "signature"})
# A command line's long flag naming a secret, then its value (`--password hunter2`, in one
# string or as two `args` items), and curl's `-u user:password`.
_FLAG_VALUE = re.compile(r"(?:^|(?<=\s))--(?P<flag>[A-Za-z][\w-]*)[ \t]+(?P<value>[^\s-]\S*)")
_CLI_USER = re.compile(r"(?:^|(?<=\s))(-u|--user)[ \t=]+[^\s:]+:(?P<password>\S+)")
USER_FLAGS = frozenset({"-u", "--user"})
# An HTTP Authorization value: `Bearer <token>`, `Basic <base64 of user:password>`.
_AUTH_HEADER = re.compile(r"\b(?P<scheme>Bearer|Basic|Token)\s+(?P<cred>[A-Za-z0-9._~+/=-]{8,})")
# Webhook URLs whose path is the credential: whoever has the URL can post.
WEBHOOKS = (
    re.compile(r"hooks\.slack\.com/(services|workflows|triggers)/\S+"),
    re.compile(r"discord(app)?\.com/api/webhooks/\d+/[\w-]+"),
    re.compile(r"\.webhook\.office\.com/webhookb2/\S+|outlook\.office(365)?\.com/webhook/\S+"),
    re.compile(r"api\.telegram\.org/bot\d+:[\w-]+"),
    re.compile(r"events\.pagerduty\.com/integration/[a-f0-9]{32}"),
    re.compile(r"hooks\.zapier\.com/hooks/catch/\d+/\w+"),
    re.compile(r"maker\.ifttt\.com/trigger/[^/\s]+/with/key/[\w-]+"),
)
# Elsewhere, a random path segment right after `/hooks/` or `/webhook(s)/` (Mattermost,
# Gitea, self-hosted relays): the segment is the key.
_HOOK_SEGMENT = re.compile(r"/(hooks|webhooks?)/(?P<segment>[A-Za-z0-9_-]{16,})(?=[/?#]|$)")
# A user:password pair as a whole value, under a key that names a credential but not as
# its last word (postfix `smtp_sasl_password_maps: static:mailer:Pa55word`).
# postfix' sasl_passwd line has the relay first: `[smtp.example.net]:587 mailer:Pa55word`.
# Credential files by their format: `.netrc` (`machine h login u password p`) and
# `.pgpass` (`host:port:database:user:password`), one entry a line.
CREDENTIAL_LINES = (
    re.compile(r"^\s*(machine\s+\S+|default)\b.*\bpassword\s+(?P<password>\S+)"),
    re.compile(r"^[^:\s]+:(\d+|\*):[^:\s]+:[^:\s]+:(?P<password>\S+)$"),
)
_USER_PASSWORD = re.compile(
    r"^(?:\S+\s+)?(?:[a-z]+:)?[^\s:/@]+(@[^\s:/]+)?:(?P<password>[^\s:/]+)$"
)

# --- rule 3: a private key or a password hash -----------------------------------------------
# A PEM block of any private key type (RSA, EC, OPENSSH, ENCRYPTED, PGP ... BLOCK), a PuTTY
# key file, an age identity, in any value (a file's `content:` usually). Certificates and
# public keys are public.
PRIVATE_KEYS = (
    re.compile(r"-----BEGIN ([A-Z0-9]+ )*PRIVATE KEY( BLOCK)?-----"),
    re.compile(r"PuTTY-User-Key-File-\d+:[\s\S]*Private-Lines:"),
    re.compile(r"AGE-SECRET-KEY-1[0-9A-Z]{20,}"),
)
# A password hash (htpasswd `user:$apr1$...`, bcrypt `$2y$`, crypt `$6$`, argon2, LDAP's
# `{SSHA}`): cracked offline by whoever reads it, and it logs in wherever it is installed.
_PASSWORD_HASH = re.compile(
    r"(^|[\s:\"'])(\$(apr1|2[abxy]?|1|5|6|y|argon2(id|i|d)|scrypt|pbkdf2[-\w]*)\$[./A-Za-z0-9$=,+-]{8,}"
    r"|\{(SSHA|SHA|SHA256|SSHA256|SHA512|SSHA512|MD5|SMD5|CRYPT|PBKDF2[-\w]*)\}[A-Za-z0-9+/.=$]{8,})"
)

# --- rule 4: a known token, a random key ----------------------------------------------------
# Tokens whose issuers publish a recognisable form so that scanners find them, found
# anywhere inside a value (a URL, a header, a file) between word boundaries.
KNOWN_TOKENS = tuple(
    re.compile(rf"(?<![A-Za-z0-9_-])({pattern})(?![A-Za-z0-9_-])")
    for pattern in (
        r"eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]*",  # a JWT
        r"gh[pousr]_[A-Za-z0-9]{30,}|github_pat_[A-Za-z0-9_]{40,}",  # GitHub
        r"gl(pat|dt|rt|ptt|ft|imt|soat|oas|cbt|agent)-[A-Za-z0-9_-]{20,}",  # GitLab
        r"glsa_[A-Za-z0-9]{32}_[a-f0-9]{8}|glc_[A-Za-z0-9+/]{32,}={0,2}",  # Grafana
        r"xox[abposre]-[A-Za-z0-9-]{10,}|xapp-\d-[A-Z0-9]+-\d+-[a-f0-9]+",  # Slack
        r"(AKIA|ASIA|ABIA|ACCA)[0-9A-Z]{16}",  # an AWS access key id
        r"(sk|rk)_(live|test)_[A-Za-z0-9]{16,}",  # Stripe secret and restricted keys
        r"AIza[0-9A-Za-z_-]{35}",  # Google API key
        r"sk-(proj|svcacct|admin)-[A-Za-z0-9_-]{20,}|sk-ant-[a-z]{3}\d\d-[A-Za-z0-9_-]{20,}"
        r"|sk-[A-Za-z0-9]{48}",  # OpenAI, Anthropic
        r"SG\.[A-Za-z0-9_-]{22}\.[A-Za-z0-9_-]{43}",  # SendGrid
        r"npm_[A-Za-z0-9]{36}|pypi-AgE[A-Za-z0-9_-]{50,}|hf_[A-Za-z]{34}",  # npm, PyPI, HF
        r"do[por]_v1_[a-f0-9]{64}|shp(at|ca|pa|ss)_[a-fA-F0-9]{32}",  # DigitalOcean, Shopify
        r"hv[sb]\.[A-Za-z0-9_-]{24,}",  # HashiCorp Vault
        r"\d{8,10}:AA[A-Za-z0-9_-]{33}",  # a Telegram bot token
        r"sy[tr]_[A-Za-z0-9]+_[A-Za-z0-9]{20}_[A-Za-z0-9]{6}|m[ac]t_[A-Za-z0-9]{30}_[A-Za-z0-9]{6}",
        # ^ Matrix: Synapse and MAS access and refresh tokens
    )
)
# Otherwise a random key is a long run of base64 / URL-safe characters (no dots: host
# names, versions and file names have them; no `:`: digests and URLs) that is not made of
# words, has high entropy, and is none of the public random-looking values below.
# Made of words: at least three quarters of its letters and digits are in runs of three
# or more letters (`ENABLE_ROOM_DIRECTORY_V2`, `msc3575SlidingSyncEnabled`,
# `/var/lib/postgresql/data/pgdata15`); a random string of mixed case and digits has
# short runs (`q8Zr2Kx7Lm4Np9`), a random hex string almost none.
_TOKEN_CHARS = re.compile(r"^[A-Za-z0-9+/=_-]{20,}$")
_LETTER_RUN = re.compile(r"[A-Z]?[a-z]+|[A-Z]+(?![a-z])")
_WORDS_SHARE = 0.75
_MIN_ENTROPY = 3.5  # bits per character: 20+ random characters of 16+ symbols have more
# Random-looking but public by design.
PUBLIC_VALUES = (
    re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$", re.I),  # UUID
    re.compile(r"^age1[02-9ac-hj-np-z]{58}$"),  # an age recipient: the public half
    re.compile(r"^pk_(live|test)_[A-Za-z0-9]+$"),  # Stripe publishable key: ships in pages
    re.compile(r"^(sha256|sha384|sha512)-[A-Za-z0-9+/]{43,86}={0,2}$"),  # SRI integrity
    re.compile(r"^[a-z0-9-]*(verification|challenge)=[A-Za-z0-9_+/=-]+$", re.I),  # DNS TXT
)
# Binary files by their signature (images, fonts: a favicon, a logo in base64) are files,
# not keys, whatever their entropy.
FILE_SIGNATURES = (
    b"\x89PNG\r\n\x1a\n", b"GIF87a", b"GIF89a", b"\xff\xd8\xff", b"\x00\x00\x01\x00",
    b"wOFF", b"wOF2", b"RIFF",
)  # fmt: skip
# A name Kubernetes generated or hashed (kustomize's `synapse-config-5c8d7f9g2h`, a
# pod-template hash): words, then one short segment of 5 to 10 characters.
_GENERATED_NAME = re.compile(r"^(?P<stem>[a-z0-9]+(-[a-z0-9]+)*)-(?P<suffix>[a-z0-9]{5,10})$")
# A random-looking value under a key (or inside a mapping) with one of these words is
# public: public keys (`wg_peer_public`, `recaptcha_public_key`, Synapse's
# `trusted_key_servers[].verify_keys`), recipients, digests and fingerprints in any case
# and length, commits, identifiers. A hex string elsewhere (`openssl rand -hex 32`, MAS'
# `secrets.encryption`) is a random key.
PUBLIC_WORDS = frozenset(
    {
        "public", "pub", "pubkey", "publickey", "verify", "verification", "trusted",
        "recipient", "recipients", "fingerprint", "fingerprints", "checksum", "checksums",
        "digest", "sha", "sha1", "sha256", "sha384", "sha512", "md5", "integrity", "hash",
        "commit", "revision", "rev", "tag", "tags", "version", "etag", "id", "ids", "ulid",
        "uuid", "kid",
        "cert", "certificate", "certificates", "crt", "ca",
    }
)  # fmt: skip
# Words that say the value is the *name* of an object (`configMapRef`, `secretName`): a
# DNS-1123 name under them is a name.
NAME_WORDS = frozenset({"name", "names", "ref", "refs"})
# Members of a JSON Web Key (RFC 7518): the public ones, and the private ones (a key with
# `d` is a private key).
JWK_PUBLIC = frozenset({"n", "e", "x", "y", "crv", "kty", "kid", "alg", "use", "x5c", "x5t"})
JWK_PRIVATE = frozenset({"d", "p", "q", "dp", "dq", "qi", "k", "oth"})

# --- an env entry whose name the catalog does not show ---------------------------------------
# A JSON patch that sets `.../env/3/value` writes into an env entry chosen by position:
# the catalog does not say which variable it is. Its literal is reported unless it is
# plainly not a secret (a number, a size or a duration, one word, a host, a path, a URL
# without credentials): a reviewer cannot clear what they cannot name, and a patch by
# name (a strategic merge `{name: X, value: Y}`) says what it sets.
_ENV_BY_INDEX = re.compile(r"/env/\d+/value$")
_PLAINLY_NOT_SECRET = re.compile(
    r"^(\d+(\.\d+)*[A-Za-z]{0,3}|[A-Za-z]+([-_.][A-Za-z]+)*"
    r"|[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+(:\d+)?|/\S*|[a-z][a-z0-9+.-]*://\S*)$"
)
# config files: `key = value`, `KEY=value`, `key: value`, and `key value` (redis,
# nslcd, slapd: `requirepass x`, `bindpw x`, lower-case keys only, one token of value)
_LINE = re.compile(
    r"^\s*(?:export\s+|-\s+)?[\"']?(?P<key>[A-Za-z_][A-Za-z0-9_.-]*)[\"']?"
    r"\s*(=|:(?=\s|$))\s*(?P<value>.*)$"
)
_SPACED_LINE = re.compile(r"^\s*(?P<key>[a-z_][a-z0-9_]*)\s+(?P<value>\S+)\s*$")


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
    user = _USER_PASSWORD.match(text) if key in USER_FLAGS else None
    if user and not holds_nothing(user["password"]):
        return f"the value after '{key}' is a user:password pair"
    if named == "weak" and not _auth_setting(text):
        return f"key '{key}' holds a literal value"
    if named == "object" and not _DNS_NAME.match(text):
        return f"key '{key}' holds a literal value"
    pair = _USER_PASSWORD.match(text) if _mentions_secret(key) else None
    if pair and not holds_nothing(pair["password"]) and not pair["password"].isdigit():
        return f"key '{key}' holds a user:password pair"
    object_name = bool(_words(key)) and _words(key)[-1] in NAME_WORDS and _DNS_NAME.match(text)
    return secret_in_value(value, f"value of '{key}'", public=public or bool(object_name))


def holds_nothing(value: str) -> bool:
    """Empty, a boolean, a placeholder, a reference, or encrypted by design."""
    text = value.strip().strip("\"'")
    return bool(
        _EMPTY.match(text)
        or _PLACEHOLDER.match(text)
        or _ENCRYPTED.match(text)
        or (_REFERENCE.search(text) and not re.search(r"[A-Za-z0-9]", _REFERENCE.sub("", text)))
    )


def names_a_secret(key: str) -> bool:
    """Rule 1: the key's last words name a secret."""
    return _named(key) in ("secret", "weak")


def _named(key: str) -> str | None:
    """ "secret", "weak" (a credential or a method's name), "object" (a Secret object's
    name), or None."""
    words = _words(key)
    if not words or key.lower().replace("-", "_") in NOT_SECRET_KEYS:
        return None
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
    return None


def _auth_setting(text: str) -> bool:
    parts = [part for part in _AUTH_SEPARATORS.split(text.strip().lower()) if part]
    return bool(parts) and all(part in AUTH_METHODS for part in parts)


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
        re.match(r"^(/[\w.@-]+)+/?$", text) or re.match(r"^[a-z][a-z0-9+.-]*://[^\s@]+$", text)
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
    url = _URL_CREDENTIALS.search(text)
    host = _HOST_CREDENTIALS.match(text)
    oracle = _ORACLE_CREDENTIALS.search(text)
    if oracle and (
        _VERSION.match(oracle["host"])
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
    for pattern in WEBHOOKS:
        if pattern.search(text):
            return f"{what} is a webhook URL whose path is its key"
    hook = _HOOK_SEGMENT.search(text)
    if hook and _random(hook["segment"], 16):
        return f"{what} is a webhook URL whose path is its key"
    user = _URL_USER.search(text)
    if user and not PUBLIC_USERINFO_HOSTS.search(user["host"]) and _random(user["user"], 20):
        return f"{what} has a token as its URL's user"
    if _PASSWORD_HASH.search(text):
        return f"{what} holds a password hash"
    for header in _AUTH_HEADER.finditer(text):
        why = _authorization(header)
        if why:
            return f"{what} holds {why}"
    for flag in _FLAG_VALUE.finditer(text):
        if _named(flag["flag"]) == "secret" and not holds_nothing(flag["value"]):
            return f"{what} has a secret after its '--{flag['flag']}' flag"
    user_flag = _CLI_USER.search(text)
    if user_flag and not holds_nothing(user_flag["password"]):
        return f"{what} has a user:password after its '-u' flag"
    for pair in _PAIR.finditer(text):
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
    if text.startswith(("{", "[")) and not decoded:
        why = _judge_json(text, what)
        if why:
            return why
    if "\n" in value:  # a file's text, even of one line
        why = _in_lines(text, what, depth)
        if why:
            return why
    if decoded or not _TOKEN_CHARS.match(text) or _public(text):
        return None
    raw = _base64(text)
    if raw is not None:
        plain = _as_text(raw)
        if plain is not None:  # base64 of text is configuration: judge what it encodes
            return _judge_decoded(plain, f"{what} (base64)", depth)
        if raw.startswith(FILE_SIGNATURES):
            return None
        kind = _asn1_kind(raw)
        if kind == "private":
            return f"{what} holds a private key (DER)"
        if kind == "public":
            return None
    if public or _made_of_words(text) or _generated_name(text):
        return None
    if _entropy(text) >= _MIN_ENTROPY:
        return f"{what} looks like a random key (entropy {_entropy(text):.1f} bits/char)"
    return None


def _authorization(header: re.Match[str]) -> str | None:
    """`Basic` carries base64 of `user:password`; `Bearer` and `Token` a token (not a
    word, which is prose: "Bearer authentication")."""
    cred = header["cred"]
    if header["scheme"] == "Basic":
        raw = _base64(cred)
        plain = _as_text(raw) if raw is not None else None
        if plain is not None and re.match(r"^[^:\s]*:\S+$", plain):
            return "HTTP basic credentials"
        return None
    if _made_of_words(cred):
        return None
    return f"a {header['scheme']} token"


def _judge_decoded(plain: str, what: str, depth: int) -> str | None:
    """Decoded text: a JSON document is judged as catalog data (a docker config's
    `auths.<registry>.auth`), any other text by rules 2-4."""
    if plain.lstrip().startswith(("{", "[")):
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


def _in_lines(text: str, what: str, depth: int) -> str | None:
    """A configuration file's text: each `key = value`, `KEY=value`, `key: value` (and
    `key value`) line judged as if the key were a catalog key."""
    for number, line in enumerate(text.splitlines(), 1):
        entry = next((m for p in CREDENTIAL_LINES if (m := p.match(line))), None)
        if entry and not holds_nothing(entry["password"]):
            return f"{what} has a credentials entry on line {number}"
        match = _LINE.match(line) or _SPACED_LINE.match(line)
        if not match:
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
    if not value or holds_nothing(value):
        return None
    if re.search(r"\s", value) and re.fullmatch(r"[A-Z][a-z]+", key):
        return None
    if not _made_of_words(key) and not re.search(r"[_.-]", key):
        return None
    public = any(word in PUBLIC_WORDS for word in _words(key))
    why = looks_secret(key, value, public=public)
    return why.removeprefix("key ") if why else None


def _words(key: str) -> list[str]:
    """`DB_PWD` -> db, pwd; `apiKey` -> api, key; `tls-secret.name` -> tls, secret, name."""
    spaced = re.sub(r"([a-z0-9])([A-Z])", r"\1 \2", key)
    return [w.lower() for w in re.split(r"[^A-Za-z0-9]+", spaced) if w]


def _is_scheme(match: re.Match[str]) -> bool:
    return "user" in match.groupdict() and match["user"].lower() in _NOT_USERINFO


def _made_of_words(text: str) -> bool:
    in_words = sum(len(run) for run in _LETTER_RUN.findall(text) if len(run) >= 3)
    return in_words >= _WORDS_SHARE * sum(char.isalnum() for char in text)


def _random(text: str, length: int) -> bool:
    return len(text) >= length and not _made_of_words(text) and _entropy(text) >= _MIN_ENTROPY


def _public(text: str) -> bool:
    return any(pattern.match(text) for pattern in PUBLIC_VALUES) or _ulid(text)


def _ulid(text: str) -> bool:
    """A ULID: 26 Crockford base32 characters whose first ten are a plausible time."""
    alphabet = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
    if len(text) != 26 or any(char not in alphabet for char in text):
        return False
    millis = 0
    for char in text[:10]:
        millis = millis * 32 + alphabet.index(char)
    return 946684800000 <= millis <= 4102444800000  # 2000 to 2100


def _generated_name(text: str) -> bool:
    match = _GENERATED_NAME.match(text)
    return bool(match) and _made_of_words(match["stem"])


def _base64(text: str) -> bytes | None:
    """The bytes a base64 (or URL-safe base64) value encodes, or None."""
    if len(text) % 4:
        return None
    try:
        return base64.b64decode(text.replace("-", "+").replace("_", "/"), validate=True)
    except binascii.Error:
        return None


def _as_text(raw: bytes) -> str | None:
    try:
        decoded = raw.decode("utf-8")
    except UnicodeDecodeError:
        return None
    return decoded if all(char.isprintable() or char.isspace() for char in decoded) else None


def _asn1_kind(raw: bytes) -> str | None:
    """ "public" for DER a certificate, CSR or CRL (a SEQUENCE that ends in a signature
    BIT STRING), a SubjectPublicKeyInfo (algorithm, BIT STRING) or a PKCS#1 public key (two
    INTEGERs); "private" for a private key (PKCS#1, PKCS#8 and SEC1 begin with a version
    INTEGER; an encrypted PKCS#8 key is an algorithm and an OCTET STRING); else None."""
    top = _tlv(raw, 0)
    if top is None or top[0] != 0x30 or top[2] != len(raw):
        return None
    tags = []
    at = top[1]
    while at < top[2]:
        child = _tlv(raw, at)
        if child is None or child[2] > top[2]:
            return None
        tags.append(child[0])
        at = child[2]
    if len(tags) >= 2 and tags[0] == 0x30 and tags[-1] == 0x03:
        return "public"
    if tags == [0x02, 0x02]:
        return "public"
    if (tags and tags[0] == 0x02) or tags == [0x30, 0x04]:
        return "private"
    return None


def _tlv(raw: bytes, at: int) -> tuple[int, int, int] | None:
    """(tag, start, end) of the DER element at `at`."""
    if at + 2 > len(raw):
        return None
    tag, length, at = raw[at], raw[at + 1], at + 2
    if length & 0x80:
        size = length & 0x7F
        if not 0 < size <= 4 or at + size > len(raw):
            return None
        length, at = int.from_bytes(raw[at : at + size], "big"), at + size
    return (tag, at, at + length) if at + length <= len(raw) else None


def _entropy(text: str) -> float:
    counts: dict[str, int] = {}
    for char in text:
        counts[char] = counts.get(char, 0) + 1
    return -sum(n / len(text) * math.log2(n / len(text)) for n in counts.values())


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
        if why:
            yield path, why


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
    if key == UNNAMED_ENV:
        if isinstance(value, str) and not holds_nothing(value):
            why = secret_in_value(value, "the value")
            if why or not _PLAINLY_NOT_SECRET.match(value.strip()):
                return f"a patch sets an env entry by position ({steps[-2]}) to a literal"
        return None
    public = any(
        word in PUBLIC_WORDS
        for step in steps
        if not step.startswith("/")  # a file's path names folders, not the value
        for word in _words(step)
    )
    return looks_secret(key, value, public=public)


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
                yield (*path, index), name, value, None


def _name_of(mapping: dict, key: str) -> str:
    if key != "value":
        return key
    if isinstance(mapping.get("name"), str):
        return mapping["name"]
    if isinstance(mapping.get("op"), str) and isinstance(mapping.get("path"), str):
        if _ENV_BY_INDEX.search(mapping["path"]):
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
